# Caller headers: every caller-sent ECI-ApiKey (any case, any count, the
# underscore spelling) and the caller's Authorization are removed, exactly
# one ECI-ApiKey with the keystore's key goes upstream, Accept-Encoding
# becomes identity, only allowlisted caller headers pass (Accept,
# Accept-Language, User-Agent, eci_forward_header's), no body goes upstream
# (t/013-trust-boundary.t has the refusals), and
# every answer carries an X-Request-Id that the error body and the audit
# repeat.  The key never reaches the caller.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use MIME::Base64 ();
use Time::HiRes ();

my $KEY  = 'eci-header-key-c04f19a2';
my $EXEC = $EciTest::EXEC;

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({
    principals => {
        'alice' => EciTest::grant([42], [7]),
    },
});
$t->write_file('htpasswd', "alice:{PLAIN}secret\n", 0644);

my %gw = (location => '/', http11 => 1);
$t->write_config($t->http_config(servers => [
    # the default: headers with '_' are dropped by nginx itself
    EciTest::gateway_server($acl, %gw,
                            directives => 'eci_forward_header X-Trace X-Multi;'),
    EciTest::gateway_server($acl, %gw, port => '%%PORT1%%',
                            server => 'underscores_in_headers on;',
                            directives => 'eci_forward_header X_Trace;'),
    EciTest::gateway_server($acl, %gw, port => '%%PORT2%%',
                            server => 'ignore_invalid_headers off;'),
    EciTest::gateway_server($acl, %gw, port => '%%PORT3%%',
                            principal => '$remote_user', directives => <<'EOF'),
auth_basic           "eci";
auth_basic_user_file %%DIR%%/htpasswd;
EOF
]));

$t->start;
my $mock = $t->mock;
$mock->clear;

my @responses;      # every raw answer, to look for the key at the end


# --- helpers ----------------------------------------------------------------

sub req {
    my ($method, $uri, %o) = @_;
    my $r = $t->request($method, $uri, %o);
    push @responses, $r->{raw} // '';
    return $r;
}

sub exec42 {
    my (%o) = @_;
    my $port = delete $o{server};
    return req('POST', $o{uri} // "$EXEC/42/exec",
               port => $t->port($port // 0),
               headers => ['X-Caller' => 'alice', @{ $o{headers} || [] }],
               (defined $o{body} ? (body => $o{body}) : ()));
}

# The one request the upstream got for this exchange, and a fresh record.
sub upstream_got {
    my ($name) = @_;
    my @m = $mock->requests;
    $mock->clear;
    is(scalar @m, 1, "$name: forwarded once");
    return $m[0] || { headers => [] };
}

# Names of the headers that spell the API key some way (case, '_' or '-').
sub key_headers {
    my ($req) = @_;
    return grep { my $n = lc $_->[0]; $n =~ tr/_/-/; $n eq 'eci-apikey' }
           @{ $req->{headers} };
}

sub one_key_upstream {
    my ($req, $name) = @_;
    is_deeply([map { [@$_] } key_headers($req)], [['ECI-ApiKey', $KEY]],
              "$name: exactly one ECI-ApiKey, the keystore's, went upstream");
}

# The result line of the request with this id (bounded poll), or undef.


# --- caller-sent ECI-ApiKey headers -------------------------------------------

for my $h (['ECI-ApiKey'], ['eci-apikey'], ['ECI-APIKEY'], ['Eci-ApiKey'],
           ['ECI-ApiKey', 'eci-apikey', 'ECI-APIKEY'],
           ['ECI-ApiKey', 'ECI-ApiKey'])
{
    my $name = 'caller sends ' . join(', ', @$h);
    my $i = 0;
    my $r = exec42(headers => [map { $_ => 'caller-key-' . $i++ } @$h]);
    is($r->{status}, 200, "$name: the exec is served");
    one_key_upstream(upstream_got($name), $name);
}

{
    my $r = exec42(headers => ['ECI-ApiKey' => $KEY]);
    is($r->{status}, 200, 'a caller sending the real key is served');
    one_key_upstream(upstream_got('caller sends the real key'),
                     'caller sends the real key');
}

for my $s ([0, 'default server (nginx drops "_" headers)'],
           [1, 'underscores_in_headers on'],
           [2, 'ignore_invalid_headers off'])
{
    my ($server, $what) = @$s;
    for my $h (['ECI_ApiKey'], ['eci_apikey'],
               ['ECI_ApiKey', 'ECI-ApiKey', 'eci_APIKEY'])
    {
        my $name = "$what: caller sends " . join(', ', @$h);
        my $r = exec42(server => $server,
                       headers => [map { $_ => 'caller-key' } @$h]);
        is($r->{status}, 200, "$name: the exec is served");
        one_key_upstream(upstream_got($name), $name);
    }
}

{
    # the underscore servers must still pass other underscore headers
    my $r = exec42(server => 1, headers => ['X_Trace' => 'u1']);
    my $m = upstream_got('underscores_in_headers on: X_Trace');
    is_deeply([MockEci::header_values($m, 'X_Trace')], ['u1'],
              'underscores_in_headers on: other "_" headers pass');
}


# --- Authorization -----------------------------------------------------------

{
    my $basic = 'Basic ' . MIME::Base64::encode_base64('alice:pw', '');
    my $r = exec42(headers => ['Authorization' => $basic]);
    is($r->{status}, 200, 'a caller sending Authorization is served');
    my $m = upstream_got('caller Authorization');
    is_deeply([MockEci::header_values($m, 'Authorization')], [],
              'the caller\'s Authorization is not forwarded');
    one_key_upstream($m, 'caller Authorization');

    # nginx itself refuses a duplicate Authorization header (400)
    $r = exec42(headers => ['Authorization' => 'Bearer abc',
                            'authorization' => 'Basic eDp5']);
    is($r->{status}, 400, 'two Authorization headers are refused');
    is(scalar(my @m = $mock->requests), 0,
       'two Authorization headers: nothing is forwarded');
    $mock->clear;
    $t->allow_log(qr/duplicate header line/);
}

# auth_basic checks the password; the gateway takes $remote_user
{
    my $ok = 'Basic ' . MIME::Base64::encode_base64('alice:secret', '');
    my $r = req('POST', "$EXEC/42/exec", port => $t->port(3),
                headers => ['Authorization' => $ok]);
    is($r->{status}, 200, 'auth_basic: the right password is served');
    my $m = upstream_got('auth_basic, right password');
    is_deeply([MockEci::header_values($m, 'Authorization')], [],
              'auth_basic: the password is not forwarded');
    one_key_upstream($m, 'auth_basic, right password');
    my $a = $t->audit_record($r->{headers}{'x-request-id'}) || {};
    is($a->{principal}, 'alice', 'auth_basic: audited as $remote_user');

    my $bad = 'Basic ' . MIME::Base64::encode_base64('alice:wrong', '');
    for my $c (['a wrong password', ['Authorization' => $bad]],
               ['no credentials',   []])
    {
        my ($what, $h) = @$c;
        $r = req('POST', "$EXEC/42/exec", port => $t->port(3), headers => $h);
        is($r->{status}, 401, "auth_basic: $what is refused with 401");
        like($r->{headers}{'www-authenticate'} // '', qr/^Basic/i,
             "auth_basic: $what gets the Basic challenge");
        is(scalar(my @m = $mock->requests), 0,
           "auth_basic: $what is not forwarded");
        my $rid = $r->{headers}{'x-request-id'};
        like($rid // '', qr/^[0-9a-f]{32}\z/,
             "auth_basic: the 401 for $what carries X-Request-Id too");
        my $err = $t->json($r) || {};
        is($err->{error}, 'unauthenticated',
           "auth_basic: the 401 for $what says unauthenticated");
        is($err->{requestId}, $rid,
           "auth_basic: the 401 body's requestId is the X-Request-Id");
        my $a = $t->audit_record($rid) || {};
        is($a->{decision}, 'deny', "auth_basic: $what is audited as deny");
        is($a->{status}, 401, "auth_basic: $what is audited with 401");
        $mock->clear;
    }
    $t->allow_log(qr/user "alice": password mismatch/);
}


# --- Accept-Encoding, other headers, the body ----------------------------------

{
    my $r = exec42(headers => ['Accept-Encoding' => 'gzip']);
    is($r->{status}, 200, 'a caller accepting gzip is served');
    is_deeply([MockEci::header_values(upstream_got('Accept-Encoding: gzip'),
                                      'Accept-Encoding')], ['identity'],
              'Accept-Encoding: gzip becomes identity upstream');

    $r = exec42(headers => ['Accept-Encoding' => 'gzip, deflate, br',
                            'accept-encoding' => 'zstd']);
    is_deeply([MockEci::header_values(upstream_got('two Accept-Encoding'),
                                      'Accept-Encoding')], ['identity'],
              'several Accept-Encoding headers become one identity');

    $r = exec42();
    is_deeply([MockEci::header_values(upstream_got('no Accept-Encoding'),
                                      'Accept-Encoding')], ['identity'],
              'without Accept-Encoding the gateway asks for identity');
}

{
    my $r = exec42(headers => ['X-Trace' => 'abc',
                               'X-Multi' => 'one', 'X-Multi' => 'two',
                               'User-Agent' => 'report-bot/1.0 (x; y)']);
    is($r->{status}, 200, 'a caller with extra headers is served');
    my $m = upstream_got('extra headers');
    is_deeply([MockEci::header_values($m, 'X-Trace')], ['abc'],
              'X-Trace is forwarded unchanged');
    is_deeply([MockEci::header_values($m, 'X-Multi')], ['one', 'two'],
              'a repeated header is forwarded as sent');
    is_deeply([MockEci::header_values($m, 'User-Agent')],
              ['report-bot/1.0 (x; y)'], 'User-Agent is forwarded unchanged');
    is_deeply([MockEci::header_values($m, 'X-Caller')], [],
              'the principal header is not forwarded (not allowlisted)');
}

for my $c (['an empty JSON object', '{}'], ['white space', " { \r\n} "],
           ['no body', ''])
{
    my ($what, $body) = @$c;
    my $r = exec42(headers => ['Content-Type' => 'application/json'],
                   body => $body);
    is($r->{status}, 200, "$what: the exec is served");
    my $m = upstream_got($what);
    is($m->{body} // '', '', "$what: no body reaches the upstream");
    is_deeply([MockEci::header_values($m, 'Content-Length')], ['0'],
              "$what: the upstream gets Content-Length: 0");
}


# --- X-Request-Id on every answer -----------------------------------------------

my @cases = (
    [200, 'allowed exec',      'POST', "$EXEC/42/exec", 'alice'],
    [403, 'id not granted',    'POST', "$EXEC/43/exec", 'alice'],
    [403, 'unknown principal', 'POST', "$EXEC/42/exec", 'mallory'],
    [401, 'no principal',      'POST', "$EXEC/42/exec", undef],
    [404, 'another path',      'POST', '/api/health',   'alice'],
    [400, 'leading zeros',     'POST', "$EXEC/042/exec", 'alice'],
    [400, 'a bad query',       'POST', "$EXEC/42/exec?foo=1", 'alice'],
    [405, 'GET on exec',       'GET',  "$EXEC/42/exec", 'alice'],
    [415, 'text/plain',        'POST', "$EXEC/42/exec", 'alice',
     ['Content-Type' => 'text/plain']],
);
my %seen;
for my $c (@cases) {
    my ($status, $what, $method, $uri, $who, $extra) = @$c;
    my $r = req($method, $uri,
                headers => [(defined $who ? ('X-Caller' => $who) : ()),
                            @{ $extra || [] }]);
    my $rid = $r->{headers}{'x-request-id'};
    is($r->{status}, $status, "$what: answered $status");
    like($rid // '', qr/^[0-9a-f]{32}\z/,
         "$what: X-Request-Id is 32 hex characters");
    ok(defined $rid && !$seen{$rid}++, "$what: X-Request-Id is new");
    if ($status != 200) {
        is(($t->json($r) || {})->{requestId}, $rid,
           "$what: the error body's requestId is the X-Request-Id");
    }
    my $a = $t->audit_record($rid);
    is($a && $a->{requestId}, $rid,
       "$what: the audit line carries the X-Request-Id");
    is($a && $a->{status}, $status, "$what: the audit line says $status");
    $mock->clear;
}


# --- the key never reaches the caller --------------------------------------------

{
    # an upstream echoing the key back must not leak it
    $mock->set(headers => [['ECI-ApiKey', $KEY], ['eci-apikey', $KEY]]);
    my $r = exec42();
    is($r->{status}, 200, 'an upstream echoing the key is answered');
    is_deeply([grep { lc($_->[0]) eq 'eci-apikey' } @{ $r->{header_list} }],
              [], 'the echoed ECI-ApiKey response headers are removed');
    $mock->reset;
    $mock->clear;
}

my @leaks = grep { index($_, $KEY) >= 0 } @responses;
is(scalar @leaks, 0, 'the key is in no response header or body ('
   . scalar(@responses) . ' responses)');
my $all = join "\n", $t->audit_raw('audit.log'), $t->error_log;
unlike($all, qr/\Q$KEY\E/, 'the key is in neither the audit nor the error log');

$t->done;
done_testing;
