# eci-audit's bounds (issue 17): a line longer than --max-line (1 MiB) is
# not parsed (jansson takes ~25 times a line's size): verify fails on it,
# naming it, and show skips it; both read on after it.  verify tracks at
# most 100,000 intents waiting for their result and counts the rest.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use MIME::Base64 qw(encode_base64);
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

# 100,005 intents without a result, in a chain signed at its end (by
# openssl, with the plain stores' signing key): the last 5 are not tracked
{
    my $seed = pack('H*', $EciTest::PLAIN_SIGNING);
    my $key = $t->write_file('sign.pem', "-----BEGIN PRIVATE KEY-----\n"
        . encode_base64(pack('H*', '302e020100300506032b657004220420')
                        . $seed)
        . "-----END PRIVATE KEY-----\n");
    my ($rc, $pem) = $t->_run(['openssl', 'pkey', '-in', $key, '-pubout']);
    my $cpub = $t->write_file('chain.pub', $pem);

    my $chain = '20261203T100000Z-0123456789abcdef';
    my $prev = '0' x 64;
    my $text = '';
    my $seq = 1;            # the first line here is seq 2, taken as given

    for my $i (1 .. 100_005) {
        $seq++;
        my $body = qq({"time":"2026-12-03T10:00:00.000Z","event":"intent",)
                 . sprintf('"requestId":"%032x"', $i)
                 . qq(,"decision":"allow","seq":$seq,"chain":"$chain");
        $prev = sha256_hex($prev . $body);
        $text .= qq($body,"hash":"$prev"}\n);
    }

    $seq++;
    my $signed = qq({"time":"2026-12-03T10:00:01.000Z","event":"stop",)
               . qq("head":"$prev","seq":$seq,"chain":"$chain");
    my $msg = $t->write_file('signed.bin', $signed);
    ($rc, my $sig) = $t->_run(['openssl', 'pkeyutl', '-sign', '-inkey', $key,
                               '-rawin', '-in', $msg]);
    my $body = $signed . ',"sig":"' . unpack('H*', $sig) . '"';
    $text .= $body . ',"hash":"' . sha256_hex($prev . $body) . qq("}\n);

    my $file = $t->write_file('pending.log', $text);
    my $out;
    ($rc, $out) = $t->verify($cpub, $file);
    is($rc, 0, '100,005 intents without a result: the chain verifies')
        or diag substr($out, -2000);
    like($out, qr/^100000 execs with an intent but no result/m,
         '100,000 of them are listed');
    like($out, qr/^5 more intents came while 100000 were waiting for their result and were not tracked/m,
         'the 5 beyond are counted, not tracked');
}

$t->done;
done_testing;
