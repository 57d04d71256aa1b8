# Faults: an upstream that refuses, times out, fails or breaks its body, a
# caller that leaves early, and an audit log that cannot be written.  Each
# case asserts what the caller got, what the audit says, that nothing was
# lost (every request its result line, every allowed exec its intent) and,
# at teardown, that no worker crashed.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use Digest::SHA ();
use File::Path ();
use JSON::PP;
use Time::HiRes ();

my $KEY  = 'eci-faults-key-3e8a51c0';
my $EXEC = $EciTest::EXEC;

my $t = EciTest->new;
$t->requires_master;

my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });
my $AUDIT_TOOL = $t->root . '/build/eci-audit';

my @MOUNTS;     # tmpfs mounts to remove at the end, whatever happens
END { system('umount', '-l', $_) for reverse @MOUNTS; }

# a 64 KB tmpfs mounted at DIR/$name (unmounted at the end); undef when it
# cannot be mounted
sub small_tmpfs {
    my ($name) = @_;
    my $mnt = $t->path($name);
    File::Path::make_path($mnt);
    return undef if system("mount -t tmpfs -o size=64k,mode=0755 tmpfs"
                           . " '$mnt' 2>/dev/null") != 0;
    push @MOUNTS, $mnt;
    return $mnt;
}

# port 0: the mock, generous timeout; port 2: the mock, 1 s read timeout;
# port 3: an upstream nobody listens on (port 1 is reserved, never bound)
sub config {
    my (%o) = @_;
    my $req = defined $o{required} ? "eci_audit_required $o{required};" : '';
    my $gw = sub {
        my ($port, $upstream, $timeout) = @_;
        return EciTest::gateway_server($acl, port => $port, location => '/',
            audit => $o{audit}, proxy => "http://127.0.0.1:$upstream",
            keepalive => 1, directives => <<"EOF");
$req
proxy_connect_timeout 2s;
proxy_read_timeout $timeout;
EOF
    };
    return $t->http_config(servers => [
        $gw->('%%PORT%%', '%%MOCK%%', '10s'),
        $gw->('%%PORT2%%', '%%MOCK%%', '1s'),
        $gw->('%%PORT3%%', '%%PORT1%%', '1s'),
    ]);
}

my $mock = $t->mock;
my $sent = 0;           # requests sent to the gateway in the current file

sub exec_req {
    my ($id, %o) = @_;
    $sent++;
    return $t->exec_as('alice', $id, %o);
}

sub lines_of {
    my ($file) = @_;
    return $t->audit_lines($file // 'audit.log');
}

sub audit_of { $t->audit_record(@_) }

sub json_error {
    my ($name, $r, $status, $code) = @_;
    is($r->{status}, $status, "$name: the caller gets $status");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         "$name: as JSON");
    my $err = $t->json($r) || {};
    is($err->{error}, $code, "$name: error $code");
    is($err->{requestId}, $r->{headers}{'x-request-id'},
       "$name: the error names the request id");
}

sub nothing_lost {
    my ($name, $file) = @_;
    # lines_of() reads the file once the worker's last pass has written it
    my @l = eval { lines_of($file) };
    ok(!$@, "$name: every audit line is valid JSON") or diag($@);
    my @res = grep { $_->{event} eq 'result' } @l;
    my %intent = map { $_->{requestId} => 1 } grep { $_->{event} eq 'intent' } @l;
    is(scalar @res, $sent, "$name: every request has its result line");
    is(scalar(grep { $_->{decision} eq 'allow' && !$intent{$_->{requestId}} } @res),
       0, "$name: every allowed exec has its intent");
}


# === the upstream misbehaves ===============================================

$t->write_config(config());
$t->start;

# refused connection
{
    $sent++;
    my $r = $t->request('POST', "$EXEC/5/exec", headers => ['X-Caller' => 'alice'],
                        port => $t->port(3));
    json_error('upstream refuses the connection', $r, 502, 'upstream_unavailable');
    my $a = audit_of($r->{headers}{'x-request-id'});
    is($a && $a->{status}, 502, 'refused connection: audit status 502');
    is($a && $a->{error}, 'upstream_unavailable', 'refused connection: audit error');
    ok(audit_of($r->{headers}{'x-request-id'}, 'intent'),
       'refused connection: the intent was written first');
}

# read timeout: the mock answers after 2 s, proxy_read_timeout is 1 s
{
    $mock->clear;
    $mock->set(delay => 2);
    $sent++;
    my $r = $t->request('POST', "$EXEC/6/exec", headers => ['X-Caller' => 'alice'],
                        port => $t->port(2));
    json_error('upstream times out', $r, 504, 'upstream_timeout');
    Time::HiRes::sleep(1.5);            # a retry would have come by now
    is(scalar(my @m = $mock->requests), 1, 'timeout: the upstream got it once, no retry');
    my $a = audit_of($r->{headers}{'x-request-id'});
    is($a && $a->{status}, 504, 'timeout: audit status 504');
    is($a && $a->{error}, 'upstream_timeout', 'timeout: audit error upstream_timeout');
    $mock->reset;
}

# 5xx passed through
for my $st (500, 503) {
    $mock->clear;
    my $body = qq({"message":"upstream says $st"});
    $mock->set(status => $st, body => $body);
    my $r = exec_req(7);
    is($r->{status}, $st, "upstream $st: passed through");
    is($r->{body}, $body, "upstream $st: body byte-identical");
    is(scalar(my @m = $mock->requests), 1, "upstream $st: forwarded once");
    my $a = audit_of($r->{headers}{'x-request-id'});
    is($a && $a->{upstreamStatus}, $st, "upstream $st: audited upstreamStatus");
    is($a && $a->{status}, $st, "upstream $st: audited status");
    is($a && $a->{responseValid}, JSON::PP::false, "upstream $st: responseValid false");
    $mock->reset;
}

# non-JSON and truncated JSON bodies
for my $c (['a non-JSON body', '<html><body>oops</body></html>', 'text/html'],
           ['a truncated JSON body', '{"reportDistributionLogId": 1', undef])
{
    $mock->set(body => $c->[1],
               defined $c->[2] ? (content_type => $c->[2]) : ());
    my $r = exec_req(8);
    is($r->{status}, 200, "$c->[0]: passed through");
    is($r->{body}, $c->[1], "$c->[0]: byte-identical");
    my $a = audit_of($r->{headers}{'x-request-id'});
    is($a && $a->{responseValid}, JSON::PP::false, "$c->[0]: responseValid false");
    is($a && $a->{responseBytes}, length $c->[1], "$c->[0]: responseBytes");
    is($a && $a->{responseSha256}, Digest::SHA::sha256_hex($c->[1]),
       "$c->[0]: responseSha256 of what was sent");
    ok($a && !defined $a->{response}, "$c->[0]: no parsed response");
    $mock->reset;
}

# the upstream closes in the middle of a chunked body
{
    $mock->set(chunked => 1, close_mid_body => 1);
    my $r = exec_req(9);
    my $full = MockEci::default_body(9);
    ok($r->{truncated} || ($r->{status} // 0) >= 500 || $r->{error},
       'chunked body cut by the upstream: the caller sees an incomplete response');
    isnt($r->{body} // '', $full, 'and not the whole body');
    my $a = audit_of($r->{headers}{'x-request-id'});
    ok($a, 'cut chunked body: audited');
    is($a && $a->{responseValid}, JSON::PP::false, 'cut chunked body: responseValid false');
    is($a && $a->{upstreamStatus}, 200, 'cut chunked body: upstreamStatus 200');
    $mock->reset;
}

# the caller leaves before the response
{
    $mock->clear;
    $mock->set(delay => 2);
    $sent++;
    # once the exec is upstream, leave
    close $t->exec_socket('alice', 499, forwarded => 1);
    my ($a, $i);
    my $deadline = Time::HiRes::time() + 6;
    while (Time::HiRes::time() < $deadline) {
        my @l = grep { ($_->{reportDistributionId} // 0) == 499 } lines_of();
        ($i) = grep { $_->{event} eq 'intent' } @l;
        ($a) = grep { $_->{event} eq 'result' } @l;
        last if $a;
        Time::HiRes::sleep(0.05);
    }
    is(scalar(my @m = $mock->requests), 1, 'caller gone: the exec was forwarded once');
    ok($i, 'caller gone: the intent is on disk');
    ok($a, 'caller gone: the result line is written');
    # the exec is finished all the same (issue 16): ECI's answer is audited
    is($a && $a->{upstreamStatus}, 200, 'caller gone: ECI\'s status 200');
    is($a && $a->{outcome}, 'sent', 'caller gone: outcome sent');
    is($a && $a->{clientClosed}, JSON::PP::true, 'caller gone: clientClosed');
    is($a && $a->{requestId}, $i && $i->{requestId}, 'caller gone: both lines carry one requestId');
    $mock->reset;
}

{
    my $r = exec_req(10);
    is($r->{status}, 200, 'after all faults nginx still serves');
    nothing_lost('upstream faults');
    my ($rc, $out) = $t->verify($t->pubkey($store, $master),
                                $t->path('audit.log'));
    is($rc, 0, 'upstream faults: the audit chain verifies') or diag($out);
}
$t->stop;


# === the audit log cannot be written =======================================

# (a) /dev/full
$t->allow_log(qr/audit (intent|result|start|checkpoint|stop) line to "\/dev\/full" not written/);
for my $required ('on', 'off') {
    $mock->clear;
    $t->write_config(config(audit => '/dev/full', required => $required));
    $t->start;
    my $r = exec_req(11);
    if ($required eq 'on') {
        json_error('/dev/full, audit required', $r, 503, 'audit_unavailable');
        is(scalar(my @m = $mock->requests), 0, '/dev/full, audit required: nothing forwarded');
    } else {
        is($r->{status}, 200, '/dev/full, audit not required: served');
        is(scalar(my @m = $mock->requests), 1, '/dev/full, audit not required: forwarded');
    }
    $t->stop;
}
like($t->error_log, qr/\[crit\].*audit intent line to "\/dev\/full" not written/,
     '/dev/full: the failed write is logged at crit');

# (b) a full tmpfs
SKIP: {
    my $mnt = small_tmpfs('small');
    skip 'cannot mount a tmpfs (needs root and mount permission)', 1
        unless $mnt;
    $t->allow_log(qr/audit (intent|result|start|checkpoint|stop) line to "\Q$mnt\E\/audit\.log" not written/);

    my $fill = sub {
        open(my $fh, '>', "$mnt/filler") or die "$mnt/filler: $!";
        my $chunk = 'x' x 512;
        1 while syswrite($fh, $chunk);
        close $fh;
    };

    for my $required ('on', 'off') {
        unlink "$mnt/filler", "$mnt/audit.log";
        $mock->clear;
        $sent = 0;
        $t->write_config(config(audit => "$mnt/audit.log", required => $required));
        $t->start;
        my $r = exec_req(12);
        is($r->{status}, 200, "tmpfs ($required): served while there is room");
        $fill->();
        # the last page of the file may still hold a few lines
        my (@st, $forwarded_before);
        for (1 .. 40) {
            my $before = () = $mock->requests;
            $r = exec_req(13);
            my $after = () = $mock->requests;
            push @st, $r->{status};
            if ($r->{status} == 503) {
                is($after, $before, "tmpfs full, audit required: the refused exec was not forwarded");
                last;
            }
            last if $required eq 'off' && $t->error_log =~ /\Q$mnt\E\/audit\.log" not written/;
        }
        if ($required eq 'on') {
            is($st[-1], 503, 'tmpfs full, audit required: 503 once the disk is full');
            is($t->json($r) && $t->json($r)->{error}, 'audit_unavailable',
               'tmpfs full: error audit_unavailable');
            my @l = eval { $t->audit_lines("$mnt/audit.log") };
            ok(!$@, 'tmpfs full: no broken line in the audit file (no partial write left behind)')
                or diag($@);
            # read what can be read: a broken line must not hide the rest
            my $json = JSON::PP->new->utf8;
            my %intent = map { $_->{requestId} => 1 }
                         grep { ref $_ && ($_->{event} // '') eq 'intent' }
                         map { eval { $json->decode($_) } }
                         $t->audit_raw("$mnt/audit.log");
            my @fw = $mock->requests;
            is(scalar(@fw), scalar(keys %intent),
               'tmpfs full: every forwarded exec has its intent line');
            unlink "$mnt/filler";
            $r = exec_req(14);
            is($r->{status}, 200, 'tmpfs with room again: served');
            my ($vrc, $out) = $t->verify($t->pubkey($store, $master),
                                         "$mnt/audit.log");
            is($vrc, 0, 'tmpfs: the chain still verifies after the full disk') or diag($out);
        } else {
            is($st[-1], 200, 'tmpfs full, audit not required: still served');
            like($t->error_log, qr/\[crit\].*audit \w+ line to "\Q$mnt\E\/audit\.log" not written/,
                 'tmpfs full, audit not required: the failure is logged at crit');
        }
        $t->stop;
    }
}

# (c) a read-only file: the master cannot open it
SKIP: {
    my $mnt = small_tmpfs('ro');
    skip 'cannot mount a tmpfs (needs root and mount permission)', 3
        unless $mnt;
    open(my $fh, '>', "$mnt/audit.log") or die $!;
    close $fh;
    system("mount -o remount,ro '$mnt'") == 0 or skip 'cannot remount read-only', 3;

    $t->write_config(config(audit => "$mnt/audit.log"));
    $t->allow_log(qr/\Q$mnt\E\/audit\.log/);
    my ($rc, $out) = $t->nginx_test;
    isnt($rc, 0, 'read-only audit file: nginx -t fails');
    like($out, qr/\Q$mnt\E\/audit\.log.*(Read-only file system|Permission denied)/,
         'read-only audit file: the message names the file and why');
    $mock->clear;
    ok(!eval { $t->start; 1 }, 'read-only audit file: nginx does not start');
    $t->stop;
}

# (d) the audit directory removed while running, then nginx -s reopen
{
    my $dir = $t->path('auditdir');
    File::Path::make_path($dir);
    my $file = "$dir/audit.log";
    $sent = 0;
    $mock->clear;
    $t->write_config(config(audit => $file));
    $t->allow_log(qr/\[emerg\].*open\(\) "\Q$file\E" failed/);
    # the directory removed takes the file with it: a write that sees it
    # says so (alert) and refuses the lines, the 503 branch below
    $t->allow_log(qr/audit file "\Q$file\E" was deleted/,
                  qr/audit \w+ line to "\Q$file\E" not written/);
    $t->start;
    my $r = exec_req(15);
    is($r->{status}, 200, 'audit dir: served before it is removed');
    File::Path::remove_tree($dir);
    kill 'USR1', $t->master_pid;
    my $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.05)
        until $t->error_log =~ /open\(\) "\Q$file\E" failed.*\n(?s:.*)open\(\) "\Q$file\E" failed/
              || Time::HiRes::time() > $deadline;
    like($t->error_log, qr/open\(\) "\Q$file\E" failed/, 'reopen without the directory fails, logged');

    $mock->clear;
    $r = exec_req(16);
    my @fw = $mock->requests;
    my $rid = $r->{headers}{'x-request-id'} // '';
    if ($r->{status} == 503) {
        is(scalar @fw, 0, 'audit dir gone: the refused exec was not forwarded');
    } else {
        is($r->{status}, 200, 'audit dir gone: served (the old file stays open)');
        # the worker still writes to the old, now unlinked, file
        my $old = '';
        for my $w ($t->worker_pids) {
            for my $fd (glob "/proc/$w/fd/*") {
                my $to = readlink($fd) // '';
                next unless $to eq "$file (deleted)";
                open(my $fh, '<', $fd) or next;
                local $/;
                $old = <$fh>;
            }
        }
        like($old, qr/"event":"intent","requestId":"$rid"/,
             'audit dir gone: the forwarded exec has its intent in the still-open file');
        like($old, qr/"event":"result","requestId":"$rid"/,
             'audit dir gone: and its result');
    }
    File::Path::make_path($dir);
    kill 'USR1', $t->master_pid;
    $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.05) until -e $file || Time::HiRes::time() > $deadline;
    $mock->clear;
    $r = exec_req(17);
    is($r->{status}, 200, 'audit dir back, reopened: served');
    my $a = audit_of($r->{headers}{'x-request-id'}, 'result', $file);
    ok($a, 'audit dir back: the new file gets the lines');
    ok(audit_of($r->{headers}{'x-request-id'}, 'intent', $file), 'and the intent');
}

$t->stop;
my $all = join '', map { -f $_ ? do { local (@ARGV, $/) = ($_); <> } : '' }
                   $t->path('audit.log'), $t->path('error.log');
unlike($all, qr/\Q$KEY\E/, 'the key is in neither the audit nor the error log');

$t->done;
done_testing;
