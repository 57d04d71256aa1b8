#!/usr/bin/perl

# The harness and the mock upstream, proved with plain nginx (no module):
# every other test relies on what is checked here.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;

my $t = EciTest->new;
my $m = $t->start_mock;

ok($m->running, 'mock upstream runs');
isnt($t->mock_port, $t->port(0), 'mock port differs from the listen port');
isnt($t->port(0), $t->port(1), 'ports are distinct');

# --- the mock on its own -------------------------------------------------

my $r = $t->request(POST => '/api/v202106/reportdistribution/77/exec',
                    port => $m->port, body => '{}',
                    headers => ['Content-Type' => 'application/json']);
is($r->{status}, 200, 'mock answers directly');
my $j = $t->json($r);
is($j->{reportDistribution}{reportDistributionId}, 77,
   'default body carries the path id');
is($j->{reportDistributionLogId}, 1077, 'log id is 1000 + id');
is($j->{status}, 'Complete', 'default status is Complete');
is($j->{reportDistribution}{createdByUser}{userId}, 1, 'created by user 1');

my $req = $m->last_request;
is($req->{request_line},
   'POST /api/v202106/reportdistribution/77/exec HTTP/1.1',
   'mock records the request line');
is($req->{body}, '{}', 'mock records the body');
$m->clear;
is(scalar($m->requests), 0, 'clear empties the record');

# a chunked request body, sent raw
my $raw = $t->raw_request(
    "POST /x HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n"
    . "Connection: close\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
    port => $m->port);
like($raw, qr{^HTTP/1\.1 200 OK\r\n}, 'raw_request returns the raw response');
is($m->last_request->{body}, 'abcde', 'mock decodes a chunked request body');

# --- nginx in front of the mock ------------------------------------------

$t->write_config(EciTest::conf_head(module => 0) . <<'EOF');
http {
    access_log %%DIR%%/access.log;
    client_body_temp_path %%DIR%%/tmp;
    proxy_temp_path %%DIR%%/tmp;

    upstream mock_ka {
        server 127.0.0.1:%%MOCK%%;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:%%PORT%%;

        location / {
            proxy_pass http://127.0.0.1:%%MOCK%%;
        }

        location /v11/ {
            proxy_http_version 1.1;
            proxy_pass http://127.0.0.1:%%MOCK%%;
        }

        location /slow/ {
            proxy_read_timeout 1s;
            proxy_pass http://127.0.0.1:%%MOCK%%;
        }

        location /ka/ {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://mock_ka;
        }
    }
}
EOF

my $conf = do { local (@ARGV, $/) = $t->path('nginx.conf'); <> };
unlike($conf, qr/%%/, 'every placeholder replaced');
like($conf, qr/listen 127\.0\.0\.1:${\ $t->port(0)};/, '%%PORT%% is port 0');
ok(-d $t->path('tmp'), 'write_config creates tmp/');

my ($rc, $out) = $t->nginx_test;
is($rc, 0, 'nginx -t accepts the config') or diag($out);
like($out, qr/syntax is ok/, 'nginx -t output is captured');

$t->start;
ok($t->master_pid, 'nginx master runs');
my @workers = $t->worker_pids;
is(scalar(@workers), 1, 'one worker');

# status, body, headers, and exactly what was forwarded
$m->clear;
$r = $t->request(POST => '/api/v202106/reportdistribution/42/exec'
                         . '?overrideUserIds=1&overrideUserIds=2',
                 headers => ['Content-Type' => 'application/json',
                             'X-MiXeD-CaSe' => 'Value  With Spaces'],
                 body => '{"a":1}');
is($r->{status}, 200, 'proxied request succeeds');
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
   'response headers are parsed, names lowercased');
is($r->{header_list}[0][0], 'Server', 'header_list keeps order and case');
is($t->json($r)->{reportDistribution}{reportDistributionId}, 42,
   'body is parsed');
is($r->{truncated}, 0, 'body complete');

$req = $m->last_request;
is($req->{request_line}, 'POST /api/v202106/reportdistribution/42/exec'
                         . '?overrideUserIds=1&overrideUserIds=2 HTTP/1.0',
   'mock saw the request line nginx sent');
is_deeply([MockEci::header_values($req, 'x-mixed-case')],
          ['Value  With Spaces'], 'header value kept exactly');
ok((grep { $_->[0] eq 'X-MiXeD-CaSe' } @{ $req->{headers} }),
   'header name case kept');
is($req->{body}, '{"a":1}', 'request body forwarded');
is($m->requests, 1, 'exactly one request recorded');

# repeated response headers
$m->set(headers => [['X-Rep', 'a'], ['X-Rep', 'b'], ['ECI-ApiKey', 'k']]);
$r = $t->request(GET => '/api/v202106/reportdistribution/1/exec');
is_deeply($r->{headers}{'x-rep'}, ['a', 'b'],
          'repeated headers become an arrayref');
is($r->{headers}{'eci-apikey'}, 'k', 'mock sends extra headers');

# behaviours
$m->set(status => 500, body => '{"error":"boom %ID%"}');
$r = $t->request(GET => '/api/v202106/reportdistribution/9/exec');
is($r->{status}, 500, 'status 500 passes through');
is($r->{body}, '{"error":"boom 9"}', '%ID% substituted in the body');

$m->set(chunked => 1, body_delay => 0.05);
$r = $t->request(GET => '/v11/api/v202106/reportdistribution/5/exec');
is($r->{status}, 200, 'chunked upstream response');
is($r->{headers}{'transfer-encoding'}, 'chunked', 'client got chunked');
is($t->json($r)->{reportDistributionLogId}, 1005, 'chunked body decoded');
is($r->{body}, MockEci::default_body(5), 'chunked body exact');
ok(@{ $r->{chunks} } >= 1, 'chunk sizes recorded');

$m->set(close_mid_body => 1);
$r = $t->request(GET => '/api/v202106/reportdistribution/5/exec');
ok($r->{truncated} || ($r->{status} // 0) >= 500,
   'close_mid_body gives a truncated or failed response');

$m->set(close_without_response => 1);
$r = $t->request(GET => '/api/v202106/reportdistribution/5/exec');
is($r->{status}, 502, 'close_without_response gives 502');

$m->set(delay => 3);
$r = $t->request(GET => '/slow/x');
is($r->{status}, 504, 'delay beyond proxy_read_timeout gives 504');

$m->reset;
$r = $t->request(GET => '/api/v202106/reportdistribution/6/exec',
                 http10 => 1);
is($r->{status}, 200, 'reset restores the defaults; HTTP/1.0 works');
is($r->{protocol}, 'HTTP/1.1', 'protocol parsed');

# upstream keep-alive: two requests on one mock connection
$m->clear;
$t->request(GET => "/ka/$_") for 1 .. 2;
my @ka = $m->requests;
is(scalar(@ka), 2, 'two keep-alive requests recorded');
is($ka[0]{connection}, $ka[1]{connection}, 'mock kept the connection');
is_deeply([map { $_->{seq} } @ka], [0, 1], 'sequence on the connection');

# raw requests through nginx
$raw = $t->raw_request("GET /api/v202106/reportdistribution/3/exec HTTP/1.0"
                       . "\r\n\r\n");
like($raw, qr{^HTTP/1\.1 200 OK\r\n.*"reportDistributionId":3}s,
     'raw_request through nginx');

# files: wait_for_lines, audit_lines
my $n = $t->wait_for_lines('access.log', 5, 5);
ok($n >= 5, 'wait_for_lines sees the access log');
$t->write_file('audit.log', qq({"a":1}\n{"b":"\xc3\xa9"}\n));
my @a = $t->audit_lines('audit.log');
is(scalar(@a), 2, 'audit_lines decodes every line');
is($a[1]{b}, "\x{e9}", 'audit lines are UTF-8');
is_deeply([$t->audit_raw('audit.log')], ['{"a":1}', qq({"b":"\xc3\xa9"})],
          'audit_raw returns the lines');
$t->write_file('bad.log', qq({"a":1}\nnot json\n));
ok(!eval { $t->audit_lines('bad.log'); 1 }, 'invalid audit line dies');
like($@, qr/bad\.log line 2 is not valid JSON/, 'and names the line');
is($t->wait_for_lines('never.log', 1, 0.2), 0,
   'wait_for_lines gives up after its timeout');

# reload changes the worker
ok($t->reload, 'reload succeeds');
my @new = $t->worker_pids;
is(scalar(@new), 1, 'one worker after reload');
isnt($new[0], $workers[0], 'reload replaced the worker');
is($t->request(GET => '/api/v202106/reportdistribution/8/exec')->{status},
   200, 'requests work after reload');

# --- the error-log check, on a fake log ----------------------------------

{
    my $s = EciTest->new;
    $s->write_file('error.log', <<'EOF');
2026/03/30 10:00:00 [notice] 1#1: start worker processes
2026/03/30 10:00:01 [alert] 1#1: injected problem
2026/03/30 10:00:02 [error] 2#2: *1 upstream timed out
2026/03/30 10:00:03 [alert] 1#1: worker process 2 exited on signal 11
==12==ERROR: AddressSanitizer: heap-use-after-free
x.c:1:2: runtime error: signed integer overflow
EOF
    my @p = $s->log_problems;
    is(scalar(@p), 4, 'log_problems finds alert, signal, ASan, UBSan');
    like($p[0], qr/injected problem/, 'offending line returned');
    is(scalar($s->log_problems("[crit] x\n[warn] y\n")), 1,
       'log_problems takes text too');
    $s->allow_log(qr/injected problem|exited on signal|AddressSanitizer/,
                  qr/runtime error/);
    is(scalar($s->log_problems), 0, 'allow_log excuses expected lines');
    $s->done;    # "error log is clean" passes now
    $s->done;    # idempotent
}

# --- the config builders (text only) ---------------------------------------

{
    my $c = EciTest->new;
    $c->{keystore} = ['/k/store', '/k/master'];  # as make_keystore leaves it
    my $conf = $c->gateway_config('/k/acl.json', workers => 2,
        access_log => 'off', listen => 'http2', location => '/gw/',
        keepalive => 1, metrics => 1,
        http => 'large_client_header_buffers 4 16k;',
        server => 'underscores_in_headers on;',
        directives => "                    eci_exec_guard 2s;\n",
        servers => EciTest::gateway_server('/k/b.json', port => '%%PORT1%%',
                                           audit => 'off', proxy => ''));
    like($conf, qr/^worker_processes 2;$/m, 'gateway_config: workers');
    like($conf,
         qr/^ {4}large_client_header_buffers 4 16k;\n {4}access_log off;$/m,
         'http lines before the paths, the access log replaced');
    like($conf, qr{^    eci_keystore /k/store master=/k/master;$}m,
         'the keystore make_keystore made last');
    like($conf, qr/^\x20{8}listen\ 127\.0\.0\.1:%%PORT%%\ http2;\n
                   \x20{8}underscores_in_headers\ on;$/mx,
         'listen parameters, then the server lines');
    my ($gw) = $conf =~ m{^        location /gw/ \{\n(.*?)^        \}$}ms;
    ok(defined $gw, 'the gateway location at the path given');
    is_deeply([($gw // q{}) =~ /^ {12}(\S+)/mg],
              [qw(eci_gateway eci_principal eci_acl eci_audit_log proxy_pass
                  proxy_http_version proxy_set_header eci_exec_guard)],
              'its directives, each indented 12 whatever they came with');
    like($gw // '', qr{eci_acl +/k/acl\.json;}, 'with the ACL');
    like($conf, qr{^        location = /metrics \{ eci_status; \}$}m,
         'metrics: an eci_status location');
    my ($second) = $conf =~ /^(\x20{4}server\ \{\n
                                \x20{8}listen\ 127\.0\.0\.1:%%PORT1%%;
                                .*?^\x20{4}\})$/msx;
    ok(defined $second, 'servers: after the first, indented 4');
    like($second // '', qr{eci_audit_log off;}, 'audit passed on');
    unlike($second // '', qr/proxy_pass/, "proxy => '': no proxy_pass");
    like(EciTest::conf_head(debug_log => '/d.log'),
         qr/^error_log \/d\.log debug;\n.*debug_connection 127\.0\.0\.1;/ms,
         'conf_head: a debug log of the test\'s connections');
    unlike(EciTest::conf_head(), qr/debug/, 'none unless asked for');
    like(EciTest::location_config('eci_acl /x;'),
         qr{^        location / \{ eci_acl /x; \}$}m,
         'location_config: the directives in location /');
    $c->{keystore} = undef;
    ok(!eval { $c->http_config; 1 } && $@ =~ /make_keystore first/,
       'http_config without a keystore dies');
    unlike($c->http_config(keystore => 0), qr/eci_keystore/,
           'unless told there is none');
    $c->done;
}

# --- teardown ------------------------------------------------------------

my $master = $t->master_pid;
my $mock   = $m->pid;
$t->done;
ok(!kill(0, $master) || !$t->master_pid, 'nginx stopped');
ok(!$m->running && !kill(0, $mock), 'mock stopped');
$t->done;

done_testing;
