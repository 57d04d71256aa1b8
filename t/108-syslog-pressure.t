# eci_audit_log syslog:… under pressure (issue 17): a line too long for a
# datagram goes in its bounded form (the override ids' count and digest),
# and a collector whose port is closed (ECONNREFUSED on the next send)
# costs no exec and no line the gateway could still send: the send is
# tried again and counted in eci_status.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use IO::Select;
use IO::Socket::INET;
use Test::More;
use EciTest;

my $KEY  = 'eci-syslog-pressure-key-5c1e';
my $EXEC = '/api/v202106/reportdistribution';
my $HEAD = qr/^<\d+>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ eci_audit: /;

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => { all => EciTest::grant('*', '*') } });

my $collector = IO::Socket::INET->new(
    LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
    or die "udp: $!";
my $udp = $collector->sockport;

# a port nobody listens on: the kernel answers ICMP port unreachable
my $closed = do {
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'udp')
        or die "udp: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};

my $SYSLOG = "syslog:server=127.0.0.1:$udp,tag=eci_audit";
my $CLOSED = "syslog:server=127.0.0.1:$closed,tag=eci_audit";

#   PORT   audit to the collector (eci_audit_required on, the default)
#   PORT1  audit to a closed port
#   PORT2  audit to a file, for the full list
$t->write_config($t->http_config(
    # 10,000 override ids (the limit) fit in one request line
    http => 'large_client_header_buffers 4 128k;',
    servers => [
        EciTest::gateway_server($acl, audit => $SYSLOG, metrics => 1),
        EciTest::gateway_server($acl, port => '%%PORT1%%', audit => $CLOSED),
        EciTest::gateway_server($acl, port => '%%PORT2%%'),
    ]));

$t->start;

my $sel = IO::Select->new($collector);
my @all;            # every datagram, header stripped, in arrival order

# the audit lines of request $rid that reached the collector
sub lines_of {
    my ($rid, $n) = @_;
    my @got = grep { /"requestId":"\Q$rid\E"/ } @all;
    while (@got < $n && $sel->can_read(5)) {
        my $buf;
        $collector->recv($buf, 70000);
        like($buf, $HEAD, 'a syslog header, then the line');
        ok(length($buf) <= 65507, 'the datagram fits UDP over IPv4 ('
           . length($buf) . ' bytes)');
        $buf =~ s/$HEAD//;
        push @all, $buf;
        push @got, $buf if $buf =~ /"requestId":"\Q$rid\E"/;
    }
    return map { JSON::PP->new->decode($_) } @got;
}

sub metric {
    my ($name, $target) = @_;
    return $t->metric($name, qq{file="$target"});
}

# --- a line too long for a datagram: its bounded form ---------------------

my @ids = map { 1_000_000 + $_ * 7 } 1 .. 10_000;
my $list = '[' . join(',', @ids) . ']';
my $digest = 'sha256:' . sha256_hex($list);
my $query = 'overrideUserIds=' . join(',', @ids);

{
    my $r = $t->request('POST', "$EXEC/42/exec?$query",
                        headers => ['X-Caller' => 'all']);
    is($r->{status}, 200, 'an exec with 10,000 override ids is allowed '
       . '(its lines are longer than a datagram)');

    my @l = lines_of($r->{headers}{'x-request-id'}, 2);
    is_deeply([map { $_->{event} } @l], [qw(intent result)],
              'its intent and result lines reached the collector');

    for my $l (@l) {
        ok(!exists $l->{overrideUserIds}, "$l->{event}: no list");
        is($l->{overrideUserIdCount}, 10_000, "$l->{event}: the count");
        is($l->{overrideUserIdsDigest}, $digest,
           "$l->{event}: SHA-256 of the list as the full line writes it");
    }

    is(metric('eci_audit_syslog_bounded_total', $SYSLOG), 2,
       'eci_status counts the two bounded lines');
    is(metric('eci_audit_failures_total', $SYSLOG), 0, 'and no failure');

    # the same exec to a file: the full list
    $r = $t->request('POST', "$EXEC/42/exec?$query",
                     headers => ['X-Caller' => 'all'], port => $t->port(2));
    is($r->{status}, 200, 'the same exec audited to a file');
    my $f = $t->audit_record($r->{headers}{'x-request-id'});
    is_deeply($f && $f->{overrideUserIds}, \@ids, 'the file has the list');
    ok($f && !exists $f->{overrideUserIdCount}, 'and no count');

    # a short list goes as it is
    $r = $t->request('POST', "$EXEC/42/exec?overrideUserIds=5,6",
                     headers => ['X-Caller' => 'all']);
    @l = lines_of($r->{headers}{'x-request-id'}, 2);
    is_deeply($l[1] && $l[1]{overrideUserIds}, [5, 6],
              'a short list is sent as the list');
}

# --- a line too long even in its bounded form ------------------------------

{
    # 11,000 control bytes, six bytes each escaped: 66 KB however bounded
    $t->allow_log(qr/\[crit\] .*audit result line to "\Q$SYSLOG\E" not written: \d+ bytes, more than a datagram carries/);
    my $before = metric('eci_audit_failures_total', $SYSLOG);
    my $r = $t->request('POST', "$EXEC/42/exec",
                        headers => ['X-Caller' => "\x01" x 11_000]);
    is($r->{status}, 403, 'a refusal whose principal is 11,000 control bytes');
    like($t->wait_for_log(qr/more than a datagram carries/, 1),
         qr/\[crit\] .*result line to "\Q$SYSLOG\E" not written: \d+ bytes, more than a datagram carries/,
         'its line is not sent, and that is logged at "crit"');
    is(metric('eci_audit_failures_total', $SYSLOG), $before + 1,
       'and counted as an audit failure');
    unlike($t->error_log, qr/Message too long/,
           'no datagram too long was tried (no EMSGSIZE)');
}

# --- a collector whose port is closed --------------------------------------

{
    my @status;
    for my $i (1 .. 40) {
        push @status, $t->request('POST', "$EXEC/$i/exec",
                                  headers => ['X-Caller' => 'all'],
                                  port => $t->port(1))->{status};
    }
    is_deeply(\@status, [(200) x 40],
              '40 execs to a closed collector port are all allowed');

    # each result line's send met the refusal of the intent before it
    my $errors = metric('eci_audit_syslog_send_errors_total', $CLOSED);
    ok(defined $errors && $errors >= 40,
       "eci_status counts the refused sends ($errors)");
    is(metric('eci_audit_failures_total', $CLOSED), 0,
       'no line counted as failed: each was sent again');
    is(metric('eci_audit_syslog_send_errors_total', $SYSLOG), 0,
       'the collector that listens has no send error');

    my $log = $t->wait_for_log(qr/\Q$CLOSED\E": \d+ syslog send error/, 1);
    like($log, qr/\[error\] .*\Q$CLOSED\E": \d+ syslog send errors? .*Connection refused/,
         'the refusals are logged at "error"');
    unlike($log, qr/\[(?:crit|alert)\].*\Q$closed\E/,
           'and no line is logged as lost');

    # the port opens: the next line meets the refusal of the one before
    # it, and is sent again, so it arrives
    my $late = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1', LocalPort => $closed, Proto => 'udp')
        or die "udp $closed: $!";
    my $before = metric('eci_audit_syslog_send_errors_total', $CLOSED);

    my $r = $t->request('POST', "$EXEC/41/exec",
                        headers => ['X-Caller' => 'all'],
                        port => $t->port(1));
    is($r->{status}, 200, 'an exec as the collector comes back');

    my ($rid, @got) = ($r->{headers}{'x-request-id'});
    my $lsel = IO::Select->new($late);
    while (@got < 2 && $lsel->can_read(5)) {
        my $buf;
        $late->recv($buf, 70000);
        push @got, $buf if $buf =~ /"requestId":"\Q$rid\E"/;
    }
    like($got[0] // '', qr/"event":"intent"/,
         'its intent line arrives, though its first send was refused');
    ok(metric('eci_audit_syslog_send_errors_total', $CLOSED) > $before,
       'that refusal was counted too');
}

# the collected lines (bounded ones included) verify as one chain
$t->stop;
while ($sel->can_read(1)) {
    my $buf;
    $collector->recv($buf, 70000);
    $buf =~ s/$HEAD//;
    push @all, $buf;
}
my $copy = $t->write_file('collected.log', join('', map { "$_\n" } @all));
my ($vrc, $vout) = $t->verify($t->pubkey($store, $master), $copy);
is($vrc, 0, 'the collected lines verify with eci-audit') or diag $vout;

my ($src, $sout) = $t->_run([$t->root . '/build/eci-audit', 'show', $copy,
                             '--event', 'result']);
like($sout, qr/ 10000 ids \Q@{[substr($digest, 0, 23)]}\E\.\.\.$/m,
     'eci-audit show gives a bounded line\'s count and digest');

unlike(join('', @all), qr/\Q$KEY\E/, 'no key in what was shipped');

$t->done;
done_testing;
