# eci_audit_log syslog:…: each audit line goes to a syslog collector as one
# datagram, chained like the file; received here on a loopback UDP socket.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use IO::Socket::INET;
use Test::More;
use EciTest;

my $KEY = 'eci-syslog-test-key-77aa';

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => { alice => EciTest::grant([1, 2]) } });

my $collector = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
    or die "udp: $!";
my $udp = $collector->sockport;

$t->write_config($t->gateway_config($acl,
    audit => "syslog:server=127.0.0.1:$udp,tag=eci_audit", metrics => 1));

my ($rc, $out) = $t->nginx_test;
is($rc, 0, 'nginx -t accepts a syslog audit target') or diag $out;

$t->start;

my @r;
push @r, $t->request('POST', "/api/v202106/reportdistribution/$_/exec",
                     headers => ['X-Caller' => 'alice'])
    for 1, 2, 3;

is_deeply([map { $_->{status} } @r], [200, 200, 403],
          'two execs allowed, one refused');

# 2 x (intent + result) + 1 result, besides the chain's signed lines
my $sel = IO::Select->new($collector);
my (@msgs, @all);
while (@msgs < 5 && $sel->can_read(5)) {
    my $buf;
    $collector->recv($buf, 65536);
    push @all, $buf;
    push @msgs, $buf unless $buf =~ /"sig":"/;
}
is(scalar @msgs, 5, 'five datagrams of lines reached the collector');
like($all[0], qr/"event":"start"/, 'after the chain\'s start line');

my @lines;
for my $m (@msgs) {
    like($m, qr/^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ eci_audit: \{/,
         'a syslog header with the tag, then the line');
    (my $json = $m) =~ s/^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ eci_audit: //;
    unlike($json, qr/\n/, 'one line, no newline inside the datagram');
    push @lines, $json;
}

my @rec = map { JSON::PP->new->decode($_) } @lines;
is_deeply([map { $_->{seq} } @rec], [map { $_ + 1 } 1 .. 5],
          'one chained sequence after the start line');
is_deeply([map { $_->{event} } @rec],
          [qw(intent result intent result result)],
          'intent before result, refusal with its result only');
is($rec[4]{error}, 'forbidden', 'the refusal is there');
is($rec[1]{requestId}, $r[0]{headers}{'x-request-id'},
   'requestIds match the responses');

{
    # the target's name is shown as configured, not cut by NULs
    my $m = $t->request('GET', '/metrics')->{body} // '';
    unlike($m, qr/\0/, 'eci_status has no NUL byte');
    like($m, qr/^eci_audit_lines_total\{file="syslog:server=127\.0\.0\.1:$udp,tag=eci_audit"\} \d+$/m,
         'eci_status names the syslog target as configured');
}

# what the collector stored verifies like a file: the stop adds the
# chain's last signed lines
$t->stop;
while ($sel->can_read(1)) {
    my $buf;
    $collector->recv($buf, 65536);
    push @all, $buf;
}
like($all[-1], qr/"event":"stop"/, 'the stop line ends the chain');
s/^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ eci_audit: // for @all;
my $copy = $t->write_file('collected.log', join('', map { "$_\n" } @all));
my ($vrc, $vout) = $t->verify($t->pubkey($store, $master), $copy);
is($vrc, 0, 'the collected lines verify with eci-audit') or diag $vout;
like($vout, qr/signed to seq \d+, stopped$/m, 'all of them signed');

unlike(join('', @msgs), qr/\Q$KEY\E/, 'no key in what was shipped');

$t->done;
done_testing;
