# HTTP/2: execs sent as concurrent streams on one connection (prior
# knowledge, no TLS).  Each stream's intent line waits in the
# worker's audit batch while the others are read, and the stream resumes
# through its own (fake) connection's write event: every exec must be
# answered, forwarded once with the key and audited intent then result.
# The client is nghttp (nghttp2-client): curl 7.88's -Z over h2c fails.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;

my $KEY = 'eci-h2-key-0c61d2a8';
my $N   = 12;

my $NGHTTP = $ENV{ECI_TEST_NGHTTP} // 'nghttp';
plan skip_all => 'nghttp is needed (apt-get install nghttp2-client)'
    unless system("$NGHTTP --version >/dev/null 2>&1") == 0;

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });

$t->write_config($t->gateway_config($acl, access_log => 'off',
    listen => 'http2', http11 => 1,
    directives => 'proxy_set_header X-Request-Id $request_id;'));
$t->start;

my $base = 'http://127.0.0.1:' . $t->port . '/api/v202106/reportdistribution';
my @urls = map { "$base/" . (100 + $_) . '/exec' } 1 .. $N;

# nghttp sends every URI as a stream of one connection, all at once
my $body = $t->write_file('body.json', '{}');
my @cmd = ($NGHTTP, '-n', '-v', '-d', $t->path('body.json'),
           '-H', 'x-caller: alice', '-H', 'content-type: application/json',
           @urls);
open(my $fh, '-|', @cmd) or die "$NGHTTP: $!";
my $out = do { local $/; <$fh> } // '';
close $fh;
is($? >> 8, 0, 'nghttp ran');

my @status = $out =~ /recv \(stream_id=(\d+)\) :status: (\d+)/g;
my %status = @status;
is(scalar(keys %status), $N, "$N streams answered") or diag($out);
is(scalar(grep { $_ == 200 } values %status), $N, 'each 200');
my $connects = () = $out =~ /\] Connected/g;
is($connects, 1, 'over one connection');

my @got = $t->mock->requests;
is(scalar @got, $N, "the upstream received $N execs");
my %target = map { $_->{target} => 1 } @got;
is(scalar(grep { $target{"/api/v202106/reportdistribution/" . (100 + $_)
                           . '/exec'} } 1 .. $N), $N,
   'one of each id');
is(scalar(grep { my @k = MockEci::header_values($_, 'ECI-ApiKey');
                 @k == 1 && $k[0] eq $KEY } @got), $N,
   'each with exactly the key');

$t->wait_for_lines('audit.log', 2 * $N);
my @l = $t->audit_lines('audit.log');
is(scalar @l, 2 * $N, 'two audit lines per exec');

my %first;
for my $i (0 .. $#l) {
    $first{ $l[$i]{requestId} }{ $l[$i]{event} } //= $i;
}
my @rid = map { (MockEci::header_values($_, 'X-Request-Id'))[0] // '' } @got;
is(scalar(grep { defined $first{$_}{intent} && defined $first{$_}{result}
                 && $first{$_}{intent} < $first{$_}{result} } @rid), $N,
   'each forwarded exec has its intent, then its result');
my @all = $t->audit_lines('audit.log', all => 1);
is_deeply([map { $_->{seq} } @all], [1 .. @all],
          'the file is in chain order');

$t->done;
done_testing;
