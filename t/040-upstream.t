# What reaches the caller from the upstream: status, headers and body pass
# through unchanged (the body byte-identical), except that an ECI-ApiKey
# response header is removed, an upstream 401 becomes 502
# upstream_rejected_key, and nginx's own 502/504 are JSON.  Also: keepalive
# upstreams, proxy_pass with a URI part or $request_uri, and callers that
# leave before the answer.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Time::HiRes ();
use EciTest;
use MockEci;

my $KEY = 'eci-upstream-key-4b1d8e20';
my $FPR = substr(sha256_hex($KEY), 0, 16);

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => {
    alice => EciTest::grant('*', [7, 8]) } });

# One server per upstream set-up: the gateway only forwards the exec path,
# so the set-ups cannot share a server by location prefix.
#   PORT   proxy_pass to the mock, HTTP/1.1
#   PORT1  proxy_pass to a port nothing listens on (PORT5, never bound)
#   PORT2  proxy_read_timeout 1s
#   PORT3  an upstream {} block with keepalive
#   PORT4  proxy_pass with a URI part
#   PORT6  proxy_pass with $request_uri
my %h11 = (http11 => 1);
$t->write_config($t->http_config(servers => [
    <<'EOF',
upstream mock_ka {
    server 127.0.0.1:%%MOCK%%;
    keepalive 4;
}
EOF
    EciTest::gateway_server($acl, %h11),
    EciTest::gateway_server($acl, %h11, port => '%%PORT1%%',
                            proxy => 'http://127.0.0.1:%%PORT5%%'),
    EciTest::gateway_server($acl, %h11, port => '%%PORT2%%',
                            directives => 'proxy_read_timeout 1s;'),
    EciTest::gateway_server($acl, port => '%%PORT3%%',
                            proxy => 'http://mock_ka', keepalive => 1),
    EciTest::gateway_server($acl, %h11, port => '%%PORT4%%',
                            proxy => 'http://127.0.0.1:%%MOCK%%/api/'),
    EciTest::gateway_server($acl, %h11, port => '%%PORT6%%',
                            proxy => 'http://127.0.0.1:%%MOCK%%$request_uri'),
]));

$t->start;
my $mock = $t->mock;
my $path = '/api/v202106/reportdistribution';
my @caller = ('X-Caller' => 'alice', 'Content-Type' => 'application/json');
my @responses;      # every response, for the key check at the end

sub exec_req {
    my (%o) = @_;
    my $id = delete $o{id} // 42;
    my $q  = delete $o{query} // '';
    my $r  = $t->request('POST', "$path/$id/exec$q",
                         headers => [@caller, @{ delete $o{headers} || [] }],
                         %o);
    push @responses, $r;
    return $r;
}

# the result lines of the audit file, waiting until there are $n of them
sub results {
    my ($n) = @_;
    my $deadline = Time::HiRes::time() + 5;
    my @res;
    while (1) {
        @res = grep { ($_->{event} // 'result') eq 'result' }
               $t->audit_lines('audit.log');
        last if @res >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
    return @res;
}

my $results = 0;    # result lines so far

# the JSON error the gateway sends itself
sub is_json_error {
    my ($r, $status, $code, $what) = @_;
    is($r->{status}, $status, "$what: status $status");
    like($r->{headers}{'content-type'} // '', qr{^application/json\b},
         "$what: Content-Type application/json");
    my $rid = $r->{headers}{'x-request-id'};
    like($rid // '', qr/^[0-9a-f]{32}\z/, "$what: X-Request-Id");
    my $j = $t->json($r);
    is(ref $j && $j->{error}, $code, "$what: error $code");
    ok(ref $j && defined $j->{message} && length $j->{message},
       "$what: a message");
    is(ref $j && $j->{requestId}, $rid,
       "$what: requestId is the X-Request-Id");
    return $j;
}

# --- 200 with the default body ---------------------------------------------

$mock->clear;
$mock->set(headers => [['X-Eci-Trace', 't1']]);
my $r = exec_req();
is($r->{status}, 200, 'upstream 200 reaches the caller');
is($r->{body}, MockEci::default_body(42),
   'the body is byte-identical to what the upstream sent');
is($r->{headers}{'x-eci-trace'}, 't1',
   "the upstream's own headers pass through");
is($r->{headers}{'content-type'}, 'application/json; charset=utf-8',
   "the upstream's Content-Type passes through");
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}\z/,
     'a passed-through response carries X-Request-Id too');
is(scalar(my @g = $mock->requests), 1, 'the upstream got the exec once');
$results++;

# --- the upstream's ECI-ApiKey never reaches the caller --------------------

$mock->clear;
$mock->set(headers => [['ECI-ApiKey', 'upstream-echo-1'],
                       ['eci-apikey', 'upstream-echo-2'],
                       ['X-Eci-Trace', 't2']]);
$r = exec_req();
is($r->{status}, 200, 'a response with ECI-ApiKey headers is passed on');
ok(!(grep { lc $_->[0] eq 'eci-apikey' } @{ $r->{header_list} }),
   'no ECI-ApiKey response header, in any case, reaches the caller');
unlike($r->{raw}, qr/upstream-echo/, 'nor its value anywhere');
is($r->{headers}{'x-eci-trace'}, 't2', 'the other headers still pass');
is($r->{body}, MockEci::default_body(42), 'and the body is unchanged');
$results++;

# --- upstream 401: the gateway's key was rejected ---------------------------

$mock->clear;
$mock->set(status => 401, body => '{"message":"upstream-401-secret-body"}');
$r = exec_req();
my $j = is_json_error($r, 502, 'upstream_rejected_key', 'upstream 401');
unlike($r->{raw}, qr/upstream-401-secret-body/,
       "the upstream's 401 body does not reach the caller");
is(scalar(@g = $mock->requests), 1, 'the exec went upstream once');
my @err = grep { /\[error\]/ && /\Q$FPR\E/ } split /\n/, $t->error_log;
ok(@err >= 1, 'the error log has an [error] line with the key fingerprint')
    or diag($t->error_log);
my @res = results(++$results);
is($res[-1]{status}, 502, 'audit: status 502');
is($res[-1]{upstreamStatus}, 401, 'audit: upstreamStatus 401');
is($res[-1]{error}, 'upstream_rejected_key', 'audit: upstream_rejected_key');
is($res[-1]{requestId}, $r->{headers}{'x-request-id'},
   'audit: the requestId of the refused answer');

# --- upstream errors other than 401 pass through ----------------------------

for my $st (500, 503) {
    $mock->clear;
    my $body = "upstream failure $st: <b>not json</b>\n";
    $mock->set(status => $st, body => $body, content_type => 'text/html');
    $r = exec_req();
    is($r->{status}, $st, "upstream $st passes through");
    is($r->{body}, $body, "upstream $st body passes through unchanged");
    is($r->{headers}{'content-type'}, 'text/html',
       "upstream $st Content-Type passes through");
    $results++;
}

$mock->clear;
my $nf = '{"message":"The report distribution 42 was not found.","code":404}';
$mock->set(status => 404, body => $nf);
$r = exec_req();
is($r->{status}, 404, 'upstream 404 passes through');
is($r->{body}, $nf, 'upstream 404 JSON body passes through unchanged');
is(scalar(@g = $mock->requests), 1, 'the 404 came from the upstream');
$results++;

# --- upstream unreachable ---------------------------------------------------

$mock->clear;
$mock->reset;
$r = exec_req(port => $t->port(1));
is_json_error($r, 502, 'upstream_unavailable', 'unreachable upstream');
@res = results(++$results);
is($res[-1]{status}, 502, 'audit: unreachable upstream is status 502');
is($res[-1]{requestId}, $r->{headers}{'x-request-id'},
   'audit: the requestId of the 502');
is($res[-1]{error}, 'upstream_unavailable',
   'audit: error upstream_unavailable');

# --- upstream too slow ------------------------------------------------------

$mock->clear;
$mock->set(delay => 3);
$r = exec_req(port => $t->port(2));
is_json_error($r, 504, 'upstream_timeout', 'slow upstream');
# the mock records a request on arrival: a retry would be a second record
is(scalar(@g = $mock->requests), 1,
   'the timed-out exec reached the upstream exactly once (no retry)');
@res = results(++$results);
is($res[-1]{status}, 504, 'audit: status 504');
is($res[-1]{error}, 'upstream_timeout', 'audit: error upstream_timeout');

# --- chunked body -----------------------------------------------------------

$mock->clear;
$mock->set(chunked => 1);
$r = exec_req(id => 7);
is($r->{status}, 200, 'a chunked upstream response is passed on');
is($r->{body}, MockEci::default_body(7),
   'the chunked body arrives whole and byte-identical');
is($r->{truncated}, 0, 'and complete');
$results++;

# --- a non-JSON 200 ---------------------------------------------------------

$mock->clear;
# the mock sends strings UTF-8 encoded: $html is the bytes on the wire
my $html = "<html><body>ECI maintenance \xc3\xa9t\xc3\xa9</body></html>\n";
$mock->set(body => "<html><body>ECI maintenance \x{e9}t\x{e9}</body></html>\n",
           content_type => 'text/html');
$r = exec_req();
is($r->{status}, 200, 'a non-JSON 200 passes through');
is($r->{body}, $html, 'its body byte-identical');
@res = results(++$results);
ok(defined $res[-1]{responseValid} && !$res[-1]{responseValid},
   'audit: responseValid false for a non-JSON body');
is($res[-1]{responseBytes}, length($html),
   'audit: responseBytes is the body length');
is($res[-1]{responseSha256}, sha256_hex($html),
   'audit: responseSha256 is the SHA-256 of the body');
ok(!defined $res[-1]{response}, 'audit: no parsed response');

# --- the upstream closes in the middle of the body --------------------------

$mock->clear;
$mock->set(close_mid_body => 1);
$r = exec_req();
ok($r->{truncated} || ($r->{status} // 0) >= 500
   || length($r->{body} // '') < length(MockEci::default_body(42)),
   'an upstream that closes mid-body gives a truncated or failed response');
@res = results(++$results);
is(scalar(@res), $results, 'the broken response is audited');
ok(defined $res[-1]{responseValid} && !$res[-1]{responseValid},
   'audit: responseValid false for a half body');

# --- upstream keepalive -----------------------------------------------------

$mock->clear;
$mock->reset;
for my $i (1 .. 3) {
    $r = exec_req(port => $t->port(3));
    is($r->{status}, 200, "keepalive upstream: exec $i answered");
    $results++;
}
my @ka = $mock->requests;
is(scalar(@ka), 3, 'keepalive upstream: three execs forwarded');
is(scalar(keys %{{ map { $_->{connection} => 1 } @ka }}), 1,
   'keepalive upstream: all three on one upstream connection');
is_deeply([map { [MockEci::header_values($_, 'ECI-ApiKey')] } @ka],
          [[$KEY], [$KEY], [$KEY]],
          'keepalive upstream: each exec carries exactly the key');
is_deeply([map { $_->{http_version} } @ka], [('HTTP/1.1') x 3],
          'keepalive upstream: HTTP/1.1');

# --- proxy_pass with a URI part ---------------------------------------------

$mock->clear;
$r = exec_req(port => $t->port(4), query => '?overrideUserIds=7');
is($r->{status}, 200, 'proxy_pass with a URI part: allowed');
my @u = $mock->requests;
is(scalar(@u), 1, 'proxy_pass with a URI part: forwarded once');
is($u[0]{target}, "$path/42/exec?overrideUserIds=7",
   'proxy_pass with a URI part: the canonical target mapped through it');
$results++;

# --- proxy_pass with $request_uri -------------------------------------------

$mock->clear;
$r = exec_req(port => $t->port(6), query => '?OverrideUserIds=7,8');
is($r->{status}, 200, 'proxy_pass with $request_uri: allowed');
@u = $mock->requests;
is(scalar(@u), 1, 'proxy_pass with $request_uri: forwarded once');
is($u[0]{target}, "$path/42/exec?overrideUserIds=7&overrideUserIds=8",
   'proxy_pass with $request_uri: the upstream gets the canonical target, '
   . 'not the raw one');
is_deeply([MockEci::header_values($u[0], 'ECI-ApiKey')], [$KEY],
          'proxy_pass with $request_uri: the key is attached');
$results++;

# --- a caller that leaves before the answer ---------------------------------

$mock->clear;
$mock->set(delay => 2);
{
    # once the exec reached the upstream, go away
    close $t->exec_socket('alice', 42, forwarded => 1);
}
is(scalar(@g = $mock->requests), 1,
   'the abandoned exec reached the upstream once');
@res = results(++$results);
is(scalar(@res), $results, 'a caller that left early is still audited');
is($res[-1]{principal}, 'alice', 'audit: the abandoned exec names alice');
is($res[-1]{decision}, 'allow', 'audit: it was allowed');
$mock->reset;

# nginx is still serving after all of this
$r = exec_req();
is($r->{status}, 200, 'nginx still serves after the broken exchanges');
$results++;

# --- the key stays in the gateway -------------------------------------------

results($results);
my $all = join "\n", (map { $_->{raw} } @responses),
                     $t->audit_raw('audit.log'), $t->error_log;
unlike($all, qr/\Q$KEY\E/,
       'the key is in no response, audit line or error log line');

# upstream failures log at error level, not crit/alert: the log check
$t->done;
done_testing;
