#!/usr/bin/perl
# make bench-simd's report: lines "sse2|portable PARSE LINES HEX" (ns per
# exec, bench/simd.c) in; the medians of each side and what SSE2 saves,
# also as a share of the worker CPU per exec make bench measures for C
# (BENCH_SIMD_EXEC_US, default 18 us: docs/performance.md) out.
use strict;
use warnings;

my $exec_ns = 1000 * ($ENV{BENCH_SIMD_EXEC_US} // 18);
my %v;
while (<STDIN>) {
    my ($side, @ns) = split;
    next unless defined $side && @ns == 3;
    push @{ $v{$side}[$_] }, $ns[$_] for 0 .. 2;
}
die "bench-simd: no figures\n" unless $v{sse2} && $v{portable};

sub median {
    my @s = sort { $a <=> $b } @_;
    return $s[$#s / 2];
}

printf "%-34s %9s %9s %9s %14s\n", 'ns per exec (median of runs)', 'SSE2',
       'portable', 'saved', 'of C\'s CPU';
my @what = ('response scanner (314 B body)', 'intent + result lines',
            'eci_hex (16 + 2 x 32 bytes)');
for my $i (0 .. 2) {
    my ($s, $p) = (median(@{ $v{sse2}[$i] }), median(@{ $v{portable}[$i] }));
    printf "%-34s %9.1f %9.1f %9.1f %13.2f%%\n", $what[$i], $s, $p, $p - $s,
           100 * ($p - $s) / $exec_ns;
}
printf "(1%% of %.0f us per exec is %.0f ns)\n", $exec_ns / 1000,
       $exec_ns / 100;
