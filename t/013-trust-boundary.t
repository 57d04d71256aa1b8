#!/usr/bin/perl

# Where the gateway meets the rest of nginx (issue 12, parts 1 and 2):
# the key goes only into the gateway's own upstream request (no internal
# redirect, X-Accel-Redirect, error_page or debug log carries it), only
# allowlisted caller headers and no body go upstream, and a principal is
# used only when something verified it (satisfy any refused, a client
# certificate only when $ssl_client_verify is SUCCESS).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use File::Find ();
use File::Path ();
use JSON::PP;
use Time::HiRes ();

plan skip_all => 'IO::Socket::SSL is needed (apt-get install'
                 . ' libio-socket-ssl-perl)'
    unless eval { require IO::Socket::SSL; 1 };
plan skip_all => 'the openssl command is needed (apt-get install openssl)'
    unless system('openssl version >/dev/null 2>&1') == 0;

my $KEY  = 'eci-boundary-key-7d41c0e9b2';
my $EXEC = $EciTest::EXEC;
my $DN   = 'CN=alice,O=Test';

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({
    principals => {
        'alice' => EciTest::grant([42]),
        $DN     => EciTest::grant([42]),
    },
});

# a second upstream: "/other/" and "@maintenance" proxy to it
File::Path::make_path($t->path('other'), { mode => 0755 });
my $other = MockEci->new(port => $t->port(9), dir => $t->path('other'));
$other->start;
my $down = $t->port(8);        # nothing listens there

my $nginx_bin = $t->nginx_bin;
my $debug = `$nginx_bin -V 2>&1` =~ /--with-debug/ ? 1 : 0;


# --- certificates: a CA, the server, a client the CA signed, a rogue ------

sub openssl {
    my @cmd = ('openssl', @_);
    my $out = `@cmd 2>&1`;
    die "openssl @_ failed: $out" if $?;
}

my $d = $t->dir;
openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
        '-subj', '/CN=eci-test-ca', '-keyout', "$d/ca.key",
        '-out', "$d/ca.pem");
for my $who (['server', '/CN=localhost'], ['client', '/O=Test/CN=alice'],
             ['rogue', '/O=Test/CN=alice'])
{
    my ($n, $subj) = @$who;
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', $subj,
            '-keyout', "$d/$n.key", '-out', "$d/$n.csr");
    if ($n eq 'rogue') {
        # the same subject, signed by itself
        openssl('x509', '-req', '-in', "$d/$n.csr", '-signkey', "$d/$n.key",
                '-days', '2', '-out', "$d/$n.pem");
    } else {
        openssl('x509', '-req', '-in', "$d/$n.csr", '-CA', "$d/ca.pem",
                '-CAkey', "$d/ca.key", '-CAcreateserial', '-days', '2',
                '-out', "$d/$n.pem");
    }
}
chmod 0644, map { "$d/$_.key" } qw(server client rogue);

my $maintenance = <<'EOF';
location @maintenance {
    proxy_pass http://127.0.0.1:%%PORT9%%;
}
EOF

$t->write_config($t->http_config(
    $debug ? (debug_log => '%%DIR%%/debug.log') : (),
    # the everyday maintenance page, inherited by every location
    http => 'error_page 502 503 504 = @maintenance;',
    servers => [
        EciTest::gateway_server($acl, http11 => 1, directives => <<'EOF',
eci_forward_header X-Trace;
proxy_set_header X-Gateway "eci";
EOF
            locations => <<"EOF" . $maintenance),
location /other/ {
    proxy_pass http://127.0.0.1:%%PORT9%%;
}

# a non-gateway location that sends its error to the gateway
location /elsewhere/ {
    error_page 418 = $EXEC/42/exec;
    return 418;
}
EOF
        # the upstream is down: nginx's 502 would go to \@maintenance
        EciTest::gateway_server($acl, port => '%%PORT2%%', http11 => 1,
                                proxy => "http://127.0.0.1:$down",
                                locations => $maintenance),
        EciTest::gateway_server($acl, port => '%%PORT1%%', listen => 'ssl',
                                principal => '$ssl_client_s_dn', http11 => 1,
                                server => <<'EOF'),
ssl_certificate        %%DIR%%/server.pem;
ssl_certificate_key    %%DIR%%/server.key;
ssl_client_certificate %%DIR%%/ca.pem;
ssl_verify_client      optional_no_ca;
EOF
    ]));

$t->start;
my $mock = $t->mock;
$mock->clear;
$other->clear;

my @responses;

sub exec_req {
    my (%o) = @_;
    my $r = $t->request('POST', $o{uri} // "$EXEC/42/exec",
                        port => $t->port($o{server} // 0),
                        headers => ['X-Caller' => $o{caller} // 'alice',
                                    @{ $o{headers} || [] }],
                        (defined $o{body} ? (body => $o{body}) : ()));
    push @responses, $r->{raw} // '';
    return $r;
}



# --- 1. X-Accel-Redirect cannot steer an exec ---------------------------------

{
    $mock->set(headers => [['X-Accel-Redirect', '/other/']]);
    my $r = exec_req();
    is($r->{status}, 200, 'X-Accel-Redirect: /other/: the exec is answered');
    is(scalar(my @m = $mock->requests), 1, 'X-Accel-Redirect: ECI got it once');
    is(scalar(my @o = $other->requests), 0,
       'X-Accel-Redirect: /other/ got nothing (no POST, no key)');
    like($r->{body} // '', qr/reportDistributionLogId/,
         'X-Accel-Redirect: the caller gets ECI\'s own answer');
    $mock->clear;
    $other->clear;
}

{
    $mock->set(headers => [['X-Accel-Redirect',
                            "$EXEC/43/exec?overrideUserIds=666"]]);
    my $r = exec_req();
    my @m = $mock->requests;
    is(scalar @m, 1, 'X-Accel-Redirect to exec 43: one request upstream');
    is($m[0] && $m[0]{target}, "$EXEC/42/exec",
       'X-Accel-Redirect to exec 43: only the authorised exec 42 went');
    ok(!grep({ ($_->{target} // '') =~ /43|666/ } @m),
       'X-Accel-Redirect to exec 43: exec 43 for user 666 was never sent');
    my $a = $t->audit_record($r->{headers}{'x-request-id'}) || {};
    is($a->{reportDistributionId}, 42, 'X-Accel-Redirect: audited as 42');
    $mock->clear;
    $mock->reset;
}


# --- 2. error_page does not take an allowed exec anywhere --------------------

{
    my $r = exec_req(server => 2);
    is($r->{status}, 502, 'upstream down: 502');
    is(($t->json($r) || {})->{error}, 'upstream_unavailable',
       'upstream down: the gateway\'s JSON error, not @maintenance\'s page');
    is(scalar(my @o = $other->requests), 0,
       'upstream down: error_page 502 = @maintenance sent nothing there');
    my $a = $t->audit_record($r->{headers}{'x-request-id'}) || {};
    is($a->{error}, 'upstream_unavailable', 'upstream down: audited');
    $other->clear;
}

{
    # an internal redirect into a gateway location is decided from scratch
    my $r = exec_req(uri => '/elsewhere/x');
    isnt($r->{status}, 200, 'redirect into the gateway: not served as is');
    is(scalar(my @m = $mock->requests), 0,
       'redirect into the gateway: nothing forwarded');
    my $a = $t->audit_record($r->{headers}{'x-request-id'});
    ok($a && $a->{decision} eq 'deny',
       'redirect into the gateway: checked and audited as deny');
    $mock->clear;
}


# --- 3. what the caller sends: only allowlisted headers, no body ----------------

{
    my $r = exec_req(headers => [
        'X-HTTP-Method-Override' => 'DELETE',
        'X-Original-URL'         => "$EXEC/43/exec?overrideUserIds=666",
        'X-Rewrite-URL'          => "$EXEC/43/exec",
        'Cookie'                 => 'session=caller',
        'X-Forwarded-For'        => '10.9.9.9',
        'Accept'                 => 'application/json',
        'Accept-Language'        => 'en',
        'User-Agent'             => 'bi-tool/2',
        'X-Trace'                => 't-1',
        'X-Gateway'              => 'spoofed',
    ]);
    is($r->{status}, 200, 'caller headers: the exec is served');
    my ($m) = $mock->requests;
    $m ||= { headers => [] };
    for my $h (qw(X-HTTP-Method-Override X-Original-URL X-Rewrite-URL Cookie
                  X-Forwarded-For X-Caller))
    {
        is_deeply([MockEci::header_values($m, $h)], [],
                  "caller header $h does not go upstream");
    }
    for my $h (['Accept', 'application/json'], ['Accept-Language', 'en'],
               ['User-Agent', 'bi-tool/2'], ['X-Trace', 't-1'])
    {
        is_deeply([MockEci::header_values($m, $h->[0])], [$h->[1]],
                  "allowlisted header $h->[0] goes upstream");
    }
    is_deeply([MockEci::header_values($m, 'X-Gateway')], ['eci'],
              'proxy_set_header still sets its header (the caller\'s is not '
              . 'forwarded)');
    is_deeply([MockEci::header_values($m, 'ECI-ApiKey')], [$KEY],
              'caller headers: exactly the one key');
    $mock->clear;
}

for my $c (['{"overrideUserIds":[666]}', 'a JSON body'],
           ['[]', 'an array'],
           ['{', 'half an object'],
           ['{}{}', 'two objects'],
           ['x' x 100, 'a large body'])
{
    my ($body, $what) = @$c;
    my $r = exec_req(body => $body,
                     headers => ['Content-Type' => 'application/json']);
    is($r->{status}, 400, "$what: refused with 400");
    my $e = $t->json($r) || {};
    is($e->{error}, 'invalid_request', "$what: invalid_request");
    like($e->{message} // '', qr/takes no request body/,
         "$what: the message says why");
    is(scalar(my @m = $mock->requests), 0, "$what: nothing forwarded");
    my $a = $t->audit_record($r->{headers}{'x-request-id'}) || {};
    is($a->{decision}, 'deny', "$what: audited as deny");
    $mock->clear;
}

{
    # chunked bodies are read the same way
    my $raw = $t->raw_request(
        "POST $EXEC/42/exec HTTP/1.1\r\nHost: x\r\nX-Caller: alice\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        . "19\r\n{\"overrideUserIds\":[666]}\r\n0\r\n\r\n");
    like($raw // '', qr{^HTTP/1\.1 400 }, 'a chunked JSON body: refused');
    my @m = $mock->requests;
    is(scalar @m, 0, 'a chunked JSON body: not sent');
    $raw = $t->raw_request(
        "POST $EXEC/42/exec HTTP/1.1\r\nHost: x\r\nX-Caller: alice\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        . "2\r\n{}\r\n0\r\n\r\n");
    like($raw // '', qr{^HTTP/1\.1 200 }, 'a chunked {}: served');
    @m = $mock->requests;
    is($m[0] && $m[0]{body}, '', 'a chunked {}: no body upstream');
    is_deeply([$m[0] ? MockEci::header_values($m[0], 'Transfer-Encoding')
                     : ('x')], [],
              'a chunked {}: not chunked upstream');
    $mock->clear;
}


# --- 4. a principal from a client certificate must be verified ------------------

sub tls_exec {
    my ($cert) = @_;
    my $s = IO::Socket::SSL->new(
        PeerAddr        => '127.0.0.1',
        PeerPort        => $t->port(1),
        SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE(),
        ($cert ? (SSL_cert_file => "$d/$cert.pem",
                  SSL_key_file  => "$d/$cert.key") : ()),
        Timeout         => 10,
    ) or die "TLS connect: " . IO::Socket::SSL::errstr() . "\n";
    print $s "POST $EXEC/42/exec HTTP/1.1\r\nHost: localhost\r\n"
           . "Content-Length: 0\r\nConnection: close\r\n\r\n";
    local $/;
    my $raw = <$s>;
    close $s;
    push @responses, $raw // '';
    return EciTest::parse_response($raw, 'POST');
}

{
    my $r = tls_exec('client');
    is($r->{status}, 200, 'client certificate the CA signed: served');
    is(scalar(my @v = $mock->requests), 1, 'verified certificate: forwarded');
    my $a = $t->audit_record($r->{headers}{'x-request-id'}) || {};
    is($a->{principal}, $DN, 'verified certificate: audited by its DN');
    $mock->clear;

    $r = tls_exec('rogue');
    is($r->{status}, 401,
       'optional_no_ca, a self-signed certificate with the same DN: 401');
    is(($t->json($r) || {})->{error}, 'unauthenticated',
       'unverified certificate: unauthenticated');
    is(scalar(my @n = $mock->requests), 0, 'unverified certificate: not sent');
    $a = $t->audit_record($r->{headers}{'x-request-id'}) || {};
    is($a->{decision}, 'deny', 'unverified certificate: audited as deny');

    $r = tls_exec(undef);
    is($r->{status}, 401, 'no client certificate: 401');
    $mock->clear;
}


# --- the key went nowhere else ---------------------------------------------------

my @leaks = grep { index($_, $KEY) >= 0 } @responses;
is(scalar @leaks, 0, 'the key is in no response (' . scalar(@responses)
   . ' responses)');
is(scalar(my @o = $other->requests), 0, 'the other upstream got nothing');

SKIP: {
    skip 'nginx is not built --with-debug', 2 unless $debug;
    ok(-s $t->path('debug.log') > 10_000,
       'the debug log was written (error_log debug, debug_connection)');
    my @files;
    File::Find::find(sub { push @files, $File::Find::name if -f }, $t->dir);
    my @with = grep {
        open(my $fh, '<:raw', $_) or die "$_: $!";
        local $/;
        my $c = <$fh>;
        index($c // '', $KEY) >= 0;
    } @files;
    is_deeply(\@with, [], 'no file of the server holds the key, the debug '
              . 'log included');
}

$t->allow_log(qr/SSL_do_handshake|client sent no required SSL certificate/);
$t->done;
$other->stop;


# --- nginx -t refuses what would let an unverified principal or the key out ----

my $c = EciTest->new;
$c->make_keystore(keys => { default => $KEY });
my $cacl = $c->write_acl({ principals => {
    alice => EciTest::grant('*') } });
$c->allow_log(qr/\[emerg\]/);

sub refused_conf {
    my ($name, $inside, $like) = @_;
    my $out = $c->config_refused($name,
        $c->gateway_config($cacl, principal => '$remote_user', proxy => '',
                           directives => $inside), $like);
    unlike($out, qr/\Q$KEY\E/, "$name: no key in the message");
}

refused_conf('satisfy any', <<'EOF', qr/"satisfy any" is not allowed/);
            satisfy any;
            allow 127.0.0.0/8;
            deny all;
            auth_basic "eci";
            auth_basic_user_file /dev/null;
            proxy_pass http://127.0.0.1:1;
EOF
refused_conf('post_action', <<'EOF', qr/"post_action" is not allowed/);
            post_action /api/v202106/reportdistribution/42/exec;
            proxy_pass http://127.0.0.1:1;
EOF
refused_conf('limit_except', <<'EOF', qr/"limit_except" is not allowed/);
            limit_except POST { deny all; }
            proxy_pass http://127.0.0.1:1;
EOF
refused_conf('no proxy_pass', '', qr/needs "proxy_pass"/);
# never twice by retry (issue 16): a sent exec is not tried on a 2nd server
refused_conf('proxy_next_upstream non_idempotent', <<'EOF',
            proxy_next_upstream error timeout non_idempotent;
            proxy_pass http://127.0.0.1:1;
EOF
             qr/"proxy_next_upstream non_idempotent" is not allowed/);
refused_conf('eci_forward_header of the key', <<'EOF',
            eci_forward_header ECI-ApiKey;
            proxy_pass http://127.0.0.1:1;
EOF
             qr/cannot be forwarded/);

$c->done;
done_testing;
