#!/usr/bin/perl

# Every exec that reaches ECI is completed, audited with its outcome, and
# never sent twice (issue 16): a caller that leaves does not cut the
# exchange short, every result line says "outcome" (sent, refused, failed,
# unknown), an exec is not retried on another server, and an intent left
# without a result by a killed worker is found as unknown.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use File::Path ();
use Time::HiRes ();

my $KEY  = 'eci-outcome-key-3b9e1f02';
my $EXEC = $EciTest::EXEC;

my $t = EciTest->new;
$t->requires_master;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => {
    alice => EciTest::grant('*', '*') } });

# a second ECI server, the backup a retry would go to
File::Path::make_path($t->path('backup'), { mode => 0755 });
my $backup = MockEci->new(port => $t->port(9), dir => $t->path('backup'));
$backup->start;

my %gw = (http11 => 1);
$t->write_config($t->http_config(access_log => 'off', servers => [
    <<'EOF',
upstream eci {
    server 127.0.0.1:%%MOCK%%;
    server 127.0.0.1:%%PORT9%% backup;
}
EOF
    EciTest::gateway_server($acl, %gw, proxy => 'http://eci'),
    EciTest::gateway_server($acl, %gw, port => '%%PORT1%%',
                            directives => 'proxy_read_timeout 1s;'),
    "server {\n    listen 127.0.0.1:%%PORT3%%;\n"
    . "    location = /eci_status { eci_status; }\n}\n",
    EciTest::gateway_server($acl, %gw, port => '%%PORT2%%',
                            proxy => 'http://127.0.0.1:%%PORT8%%'),
]));

$t->start;
my $mock = $t->mock;
$mock->clear;
$backup->clear;

sub exec_req {
    my (%o) = @_;
    return $t->request('POST', $o{uri} // "$EXEC/42/exec",
                       port => $t->port($o{server} // 0),
                       headers => ['X-Caller' => 'alice']);
}

sub result_of { $t->audit_record($_[0]->{headers}{'x-request-id'}) || {} }

# eci_exec_outcomes_total{outcome="..."} as eci_status serves it
sub outcomes {
    my $r = $t->request('GET', '/eci_status', port => $t->port(3));
    my %n = ($r->{body} // '') =~
        /^eci_exec_outcomes_total\{outcome="(\w+)"\} (\d+)$/mg;
    return \%n;
}


# --- the caller gives up: the exchange goes on and is audited in full ---------

{
    $mock->set(delay => 2);
    my $s = $t->exec_socket('alice', 42, forwarded => 1);
    my $rid;
    my $left = Time::HiRes::time();
    close $s;

    # the result line is written when ECI's answer is in, 2 s later
    my @res;
    my $deadline = Time::HiRes::time() + 8;
    while (Time::HiRes::time() < $deadline) {
        @res = grep { ($_->{event} // '') eq 'result' }
               $t->audit_lines('audit.log');
        last if @res;
        Time::HiRes::sleep(0.1);
    }
    is(scalar @res, 1, 'caller left: one result line');
    my $a = $res[0] || {};
    is($a->{upstreamStatus}, 200, 'caller left: ECI\'s status is recorded');
    is($a->{outcome}, 'sent', 'caller left: outcome sent');
    is($a->{response} && $a->{response}{reportDistributionLogId}, 1042,
       'caller left: ECI\'s reportDistributionLogId is in the result line');
    is($a->{clientClosed}, JSON::PP::true(), 'caller left: clientClosed');
    like($a->{clientClosedAt} // '', qr/^\d{4}-\d\d-\d\dT[\d:.]+Z\z/,
         'caller left: the time the caller left');
    is(scalar(my @m = $mock->requests), 1, 'caller left: ECI got it once');
    $mock->reset;
    $mock->clear;
}


# --- what is known, for each way an exec can end -----------------------------------

my $before = outcomes();
is(scalar(keys %$before), 4, 'eci_status serves the four outcomes');

for my $c ([{},                       200, 'sent',    'ECI answers 200'],
           [{ status => 400, body => '{"message":"bad"}' },
                                      400, 'refused', 'ECI answers 400'],
           [{ status => 404, body => '{"message":"no such"}' },
                                      404, 'refused', 'ECI answers 404'],
           [{ status => 500, body => '{"message":"boom"}' },
                                      500, 'failed',  'ECI answers 500'],
           [{ status => 503, body => '' },
                                      503, 'failed',  'ECI answers 503'])
{
    my ($b, $status, $outcome, $what) = @$c;
    $mock->set(%$b);
    my $r = exec_req();
    is($r->{status}, $status, "$what: the caller gets $status");
    my $a = result_of($r);
    is($a->{outcome}, $outcome, "$what: outcome $outcome");
    is($a->{clientClosed}, JSON::PP::false(), "$what: the caller stayed");
    $mock->reset;
    $mock->clear;
}

{
    my $r = exec_req(uri => "$EXEC/42/exec?foo=1");
    is(result_of($r)->{outcome}, 'refused', 'refused by the gateway: refused');

    $mock->set(status => 401);
    $r = exec_req();
    is($r->{status}, 502, 'ECI rejects the key: 502');
    is(result_of($r)->{outcome}, 'refused', 'ECI rejects the key: refused');
    $t->allow_log(qr/rejected API key/);
    $mock->reset;
    $mock->clear;
}

{
    # ECI takes 3 s, the gateway waits 1 s
    $mock->set(delay => 3);
    my $r = exec_req(server => 1);
    is($r->{status}, 504, 'timeout: 504');
    my $a = result_of($r);
    is($a->{error}, 'upstream_timeout', 'timeout: upstream_timeout');
    is($a->{outcome}, 'unknown', 'timeout: outcome unknown (ECI may have run '
       . 'it)');
    $t->allow_log(qr/upstream timed out/);
    $mock->reset;
    $mock->clear;
}

{
    # ECI takes the request and resets the connection without an answer
    $mock->set(close_without_response => 1);
    my $r = exec_req();
    is($r->{status}, 502, 'reset after send: 502');
    is(scalar(my @m = $mock->requests), 1, 'reset after send: ECI got it once');
    is(scalar(my @b = $backup->requests), 0,
       'reset after send: not retried on the backup server');
    is(result_of($r)->{outcome}, 'unknown', 'reset after send: unknown');
    $t->allow_log(qr/upstream prematurely closed/);
    $mock->reset;
    $mock->clear;
}

{
    # nothing listens: the request never left the gateway
    my $r = exec_req(server => 2);
    is($r->{status}, 502, 'ECI unreachable: 502');
    is(result_of($r)->{outcome}, 'failed',
       'ECI unreachable: failed (nothing was sent)');
    $t->allow_log(qr/Connection refused/);
}


{
    my $after = outcomes();
    my %delta = map { $_ => ($after->{$_} // 0) - ($before->{$_} // 0) }
                qw(sent refused failed unknown);
    is_deeply(\%delta, { sent => 1, refused => 4, failed => 3, unknown => 2 },
              'eci_status counted each result by its outcome');
}


# --- a killed worker: the intent without a result is an unknown -----------------

{
    # (server 1: one ECI server, which the reset above did not mark down)
    $mock->set(delay => 3);
    my $s = $t->exec_socket('alice', 77, port => $t->port(1),
                            forwarded => 1);
    kill 'KILL', $t->worker_pids;
    close $s;
    $t->allow_log(qr/exited on signal 9/);
    $mock->reset;

    my ($intent) = grep { ($_->{event} // '') eq 'intent'
                          && ($_->{reportDistributionId} // 0) == 77 }
                   $t->audit_lines('audit.log');
    ok($intent, 'killed worker: the intent is on disk');

    my ($rc, $out) = $t->_run([$t->root . '/build/eci-audit', 'show',
                               $t->path('audit.log'), '--outcome', 'unknown']);
    is($rc, 0, 'eci-audit show --outcome unknown runs');
    my $rid8 = substr($intent->{requestId} // 'x' x 8, 0, 8);
    like($out, qr/\Q$rid8\E.*\balice\b.*\b77\b/,
         'eci-audit show --outcome unknown lists the killed exec');
    unlike($out, qr/\b42\b.*\bsent\b/,
           '--outcome unknown lists no sent exec');

    # verify says so too (it needs only the public key)
    my $pub = $t->pubkey($store, $master);
    ($rc, $out) = $t->_run([$t->root . '/build/eci-audit', 'verify',
                            $t->path('audit.log'), '--pubkey', $pub]);
    like($out, qr/1 exec with an intent but no result, outcome unknown/,
         'eci-audit verify reports the killed exec as outcome unknown');
    like($out, qr/\Q$intent->{requestId}\E/, 'and names its requestId');

    ($rc, $out) = $t->_run([$t->root . '/build/eci-audit', 'show',
                            $t->path('audit.log'), '--outcome', 'failed']);
    like($out, qr/\bfailed\b/, 'eci-audit show --outcome failed lists them');
    unlike($out, qr/\b77\b/, '--outcome failed does not list the unknown');

    ($rc, $out) = $t->_run([$t->root . '/build/eci-audit', 'show',
                            $t->path('audit.log'), '--outcome', 'maybe']);
    isnt($rc, 0, 'eci-audit show --outcome with a bad value fails');
}

$t->done;
$backup->stop;


# nginx -t refusing proxy_next_upstream non_idempotent: t/013-trust-boundary.t

done_testing;
