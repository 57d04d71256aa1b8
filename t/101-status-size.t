#!/usr/bin/perl

# eci_status sizes its buffer from what it prints (issue 17): a keystore of
# 2,000 keys is scraped whole, and the worker's address space does not grow
# by the 67 MB a path-sized guess per key took.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes ();
use EciTest;

my $t = EciTest->new;
my %keys = map { sprintf('team-%04d', $_) => "status-size-key-$_-0f3a9c" }
           1 .. 2000;
$keys{default} = 'status-size-default-key-77c1';
my ($store) = $t->make_keystore(sealed => 0, keys => \%keys);
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });

$t->write_config($t->gateway_config($acl, access_log => 'off',
                                    audit => 'off', metrics => 1));
$t->start;

sub vm_peak_kb {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/status") or return undef;
    while (<$fh>) { return $1 if /^VmPeak:\s+(\d+) kB/ }
    return undef;
}

# the master listens before it forks its worker: wait for the worker
my ($worker) = $t->worker_pids;
for (1 .. 100) {
    last if defined $worker;
    Time::HiRes::sleep(0.05);
    ($worker) = $t->worker_pids;
}
my $before = vm_peak_kb($worker);

my $r = $t->request('GET', '/metrics');
is($r->{status}, 200, 'eci_status answers');
my @info = ($r->{body} // '') =~ /^eci_keystore_key_info\{/mg;
is(scalar @info, 2002, 'every key is listed (2,000 + default + audit-chain)');
like($r->{body} // '', qr/^eci_keystore_load_seconds\{/m,
     'the output is complete to its last metric');

my $after = vm_peak_kb($worker);
ok(defined $before && defined $after, 'the worker\'s VmPeak is readable');
my $grew = ($after // 0) - ($before // 0);
cmp_ok($grew, '<', 8 * 1024,
       "a scrape of 2,000 keys grows the worker by less than 8 MB "
       . "($grew kB)");

unlike($r->{body} // '', qr/status-size-key/, 'no key value is printed');

$t->done;
done_testing;
