# eci-audit's bounds (issue 17): a line longer than --max-line (1 MiB) is
# not parsed (jansson takes ~25 times a line's size): verify fails on it,
# naming it, and show skips it; both read on after it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => 'eci-limits-key-1' });
my $pub = $t->pubkey($store, $master);
my $tool = $ENV{ECI_TEST_AUDIT} || $t->root . '/build/eci-audit';

my $rid = 'a' x 32;
my $line = qq({"time":"2026-12-03T10:00:00.000Z","event":"result",)
         . qq("requestId":"$rid","principal":"alice","decision":"deny"});
my $ids = '[' . join(',', (1) x 1_000_000) . ']';      # 2 MB
my $rid2 = 'b' x 32;
my $long = qq({"time":"2026-12-03T10:00:01.000Z","event":"result",)
         . qq("requestId":"$rid2","overrideUserIds":$ids});

my $big = $t->write_file('long.log', "$long\n$line\n");

{
    my ($rc, $out) = $t->verify($pub, $big);
    is($rc, 1, 'verify fails on a line longer than 1 MiB');
    my $n = length($long) + 1;
    like($out, qr/^\Q$big\E:1: line of $n bytes, longer than 1048576 \(--max-line\): not parsed/m,
         'and names it, its length and the limit');

    ($rc, $out) = $t->_run([$tool, 'verify', $big, '--pubkey', $pub,
                            '--max-line', 4 * 1024 * 1024]);
    is($rc, 1, 'with --max-line 4 MiB it is parsed');
    like($out, qr/^\Q$big\E:1: no seq, chain and hash/m,
         'and checked as a line (this one has no place in a chain)');

    ($rc, $out) = $t->_run([$tool, 'verify', $big, '--pubkey', $pub,
                            '--max-line', 100]);
    is($rc, 2, '--max-line below 4096 is a usage error');
    like($out, qr/--max-line takes bytes from 4096/, 'and says so');
}

{
    my $file = $t->write_file('show.log', "$line\n$long\n$line\n");
    my ($rc, $out) = $t->_run([$tool, 'show', $file]);
    is($rc, 1, 'show fails on the long line');
    like($out, qr/\Q$file\E:2: line of \d+ bytes, longer than 1048576 \(--max-line\): not shown/,
         'and names it');
    is(scalar(() = $out =~ /^\S+\s+aaaaaaaa\s+result\s+alice\b/mg), 2,
       'the lines around it are shown: it was read to its end');
    like($out, qr/^2 lines shown$/m, 'two lines');
}

$t->done;
done_testing;
