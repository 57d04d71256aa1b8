# Reflection (issue 12): an upstream that sends the key back, in any header,
# the status line, a Location or the body, never hands it to the caller.
# In the header: 502 upstream_reflected_key.  In a body already under way:
# the caller gets the bytes before the key, then the connection closes
# without the response's end (short of its Content-Length; no last chunk;
# over HTTP/2 the stream is reset).
# However the body arrives: in one piece, the key split over reads (with
# proxy_buffering on and off), chunked, or from proxy_pass's temporary
# file by sendfile.  Audited with the error and counted in eci_status;
# never the key in a response, the audit or the error log.  A body with
# only a beginning of the key passes byte-identical.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::SHA qw(sha256_hex);
use IO::Select;
use Time::HiRes ();
use EciTest;
use MockEci;

my $KEY = 'eci-reflect-key-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
my $FPR = substr(sha256_hex($KEY), 0, 16);

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });

#   PORT   proxy_pass, buffered (the default)
#   PORT1  proxy_buffering off: each read of the upstream goes on by itself
#   PORT3  HTTP/2 (prior knowledge)
#   PORT2  small proxy buffers and send buffer: a large body to a caller
#          that does not read at once goes through a temporary file, and
#          sendfile passes it on as file buffers
my %gw = (http11 => 1);
$t->write_config($t->http_config(servers => [
    EciTest::gateway_server($acl, %gw, metrics => '/status',
                            locations => <<'EOF'),
location /plain/ {
    proxy_pass http://127.0.0.1:%%MOCK%%;
}
EOF
    EciTest::gateway_server($acl, %gw, port => '%%PORT1%%', metrics => '/status',
                            directives => 'proxy_buffering off;'),
    EciTest::gateway_server($acl, %gw, port => '%%PORT3%%', listen => 'http2'),
    EciTest::gateway_server($acl, port => '%%PORT2%%', listen => 'sndbuf=4k',
                            server => 'sendfile on;', http11 => 1,
                            directives => <<'EOF'),
proxy_buffer_size 1k;
proxy_buffers 2 1k;
proxy_busy_buffers_size 1k;
EOF
]));

$t->start;
my $mock = $t->mock;
my $path = '/api/v202106/reportdistribution/42/exec';
my @raw;            # every response, for the key check at the end
my $results = 0;    # result lines so far

sub exec_req {
    my (%o) = @_;
    my $r = $t->request('POST', $path,
                        headers => ['X-Caller' => 'alice',
                                    @{ delete $o{headers} || [] }],
                        timeout => 5, %o);
    push @raw, $r->{raw};
    return $r;
}

# the newest result line, once there are $n
sub result {
    my @res = $t->audit_results(@_);
    return $res[-1] // {};
}

sub reflected_count {
    my $r = $t->request('GET', '/status');
    my ($n) = ($r->{body} // '')
        =~ /^eci_requests_total\{decision="allow",
            error="upstream_reflected_key"\}\ (\d+)$/xm;
    return $n // 0;
}

# %KEY:OFF:LEN% as the mock fills it in
sub fill {
    my ($s) = @_;
    $s =~ s{%KEY:(\d+):(\d+)%}{substr($KEY, $1, $2)}ge;
    return $s;
}

my $counted = reflected_count();
is($counted, 0, 'eci_status: nothing reflected yet');

# --- in the header: 502 upstream_reflected_key ------------------------------

my @header_cases = (
    ['a header of its own', headers => [['X-Echo', '%KEY%']]],
    ['the key inside a longer value',
     headers => [['Set-Cookie', 'sid=1; token=x%KEY%y; Path=/']]],
    ['an absolute Location', status => 302,
     headers => [['Location', 'https://eci.example/cb?apikey=%KEY%']]],
    ['a relative Location', status => 302,
     headers => [['Location', '/cb?apikey=%KEY%']]],
    ['Refresh', headers => [['Refresh', '0; url=/x?k=%KEY%']]],
    ["a header's name", headers => [['X-%KEY%', '1']]],
    ['the status line', reason => 'OK %KEY%'],
    ['Content-Type', content_type => 'application/json; k=%KEY%'],
    ['a header, with the key in the body too',
     headers => [['X-Echo', '%KEY%']], body => '{"echo":"%KEY%"}'],
);

for my $c (@header_cases) {
    my ($what, %b) = @$c;
    $mock->clear;
    $mock->set(%b);
    my $r = exec_req();

    is($r->{status}, 502, "key in $what: 502");
    my $j = $t->json($r);
    is(ref $j && $j->{error}, 'upstream_reflected_key',
       "key in $what: error upstream_reflected_key");
    like($r->{headers}{'content-type'} // '', qr{^application/json\b},
         "key in $what: the gateway's JSON");
    is(ref $j && $j->{requestId}, $r->{headers}{'x-request-id'},
       "key in $what: requestId is the X-Request-Id");
    ok(index($r->{raw} // q{}, $KEY) < 0, "key in $what: not in the response");
    ok(!exists $r->{headers}{location},
       "key in $what: no Location reaches the caller");
    is(scalar(my @g = $mock->requests), 1,
       "key in $what: the exec went upstream once");

    my $res = result(++$results);
    is($res->{error}, 'upstream_reflected_key', "key in $what: audited");
    is($res->{status}, 502, "key in $what: audit status 502");
    is($res->{upstreamStatus}, $b{status} // 200,
       "key in $what: audit upstreamStatus");
    is(reflected_count(), ++$counted, "key in $what: counted in eci_status");
}

# an upstream 401 stays upstream_rejected_key; a body it sent with the key
# (here as a well-formed response, which the audit would show) is dropped
# from the audit
$mock->clear;
my $named = MockEci::default_body(42);
$named =~ s/"Daily"/"%KEY%"/ or die 'default body without "Daily"';
$mock->set(status => 401, body => $named);
my $r = exec_req();
is($r->{status}, 502, 'a 401 with the key in its body: 502');
is(ref $t->json($r) && $t->json($r)->{error}, 'upstream_rejected_key',
   'a 401 with the key in its body: still upstream_rejected_key');
my $res = result(++$results);
is($res->{error}, 'upstream_rejected_key',
   'a 401 with the key in its body: audited as upstream_rejected_key');
ok(!defined $res->{response},
   'a 401 with the key in its body: the audit shows none of that body');
ok(index(join("\n", $t->audit_raw('audit.log')), $KEY) < 0,
   'a 401 with the key in its body: the key is not in the audit');

# the upstream's own ECI-ApiKey header is removed, as before: no 502
$mock->clear;
$mock->set(headers => [['ECI-ApiKey', '%KEY%']]);
$r = exec_req();
is($r->{status}, 200, 'an ECI-ApiKey response header is removed, not a 502');
ok(index($r->{raw} // q{}, $KEY) < 0, 'and its key does not reach the caller');
$results++;

# --- in the body: cut before the key, connection closed ---------------------

# the key is [a-z-]: a quote after a beginning of it never completes it
my $before = '{"reportDistributionLogId":1042,"echo":"';
my $after = '","status":"Complete"}';

# the caller keeps the connection open: only nginx closing it ends the read
my @ka = (headers => ['Connection' => 'keep-alive']);

my @body_cases = (
    # what, port, behaviour
    ['one piece, Content-Length', 0,
     body => "$before%KEY%$after"],
    ['one piece, chunked', 0,
     body => "$before%KEY%$after", chunked => 1],
    ['split over two reads, buffered', 0,
     body_parts => ["$before%KEY:0:9%", "%KEY:9%$after"], body_delay => 0.3],
    ['split over two reads, unbuffered', 1,
     body_parts => ["$before%KEY:0:9%", "%KEY:9%$after"], body_delay => 0.3],
    ['split over two chunks, unbuffered', 1, chunked => 1,
     body_parts => ["$before%KEY:0:20%", "%KEY:20%$after"],
     body_delay => 0.3],
    ['spread over four reads, unbuffered', 1,
     body_parts => ["$before%KEY:0:1%", '%KEY:1:1%', '%KEY:2:30%',
                    "%KEY:32%$after"],
     body_delay => 0.2],
    ['after a false start, unbuffered', 1,
     body_parts => ["$before%KEY:0:12%", "%KEY:0:5%", "%KEY:5%$after"],
     body_delay => 0.3,
     prefix => "$before%KEY:0:12%"],
    ['at the very start of the body, unbuffered', 1,
     body_parts => ['%KEY:0:3%', "%KEY:3%$after"], body_delay => 0.3,
     prefix => ''],
    ['in an upstream 500', 0, status => 500,
     body => "$before%KEY%$after"],
);

for my $c (@body_cases) {
    my ($what, $port, %b) = @$c;
    my $prefix = fill(delete $b{prefix} // $before);
    my $status = $b{status} // 200;

    $mock->clear;
    $mock->set(%b);
    my $t0 = Time::HiRes::time();
    my $r = exec_req(port => $t->port($port), @ka);

    ok(index($r->{raw} // q{}, $KEY) < 0, "key in the body, $what: not sent");
    ok(index($r->{body} // q{}, $KEY) < 0,
       "key in the body, $what: not in the body once de-chunked");
    is($r->{status}, $status, "key in the body, $what: the status was sent");
    is($r->{body}, $prefix,
       "key in the body, $what: exactly the bytes before the key");
    ok($r->{truncated}, "key in the body, $what: visibly cut short");
    unlike($r->{raw}, qr/\r\n0\r\n\r\n\z/,
           "key in the body, $what: no last chunk");
    ok(!$r->{error}, "key in the body, $what: the connection was closed")
        or diag("$r->{error} after " . (Time::HiRes::time() - $t0) . 's');

    my $res = result(++$results);
    is($res->{error}, 'upstream_reflected_key',
       "key in the body, $what: audited");
    is($res->{responseBytes}, length $prefix,
       "key in the body, $what: audit responseBytes is what was sent");
    is($res->{responseSha256}, sha256_hex($prefix),
       "key in the body, $what: audit responseSha256 is of what was sent");
    ok(defined $res->{responseValid} && !$res->{responseValid},
       "key in the body, $what: audit responseValid false");
    is(reflected_count(), ++$counted,
       "key in the body, $what: counted in eci_status");
}

# --- HTTP/2: the stream is reset, never ended ------------------------------

my $h2 = 0;     # 1 once the HTTP/2 exec ran

SKIP: {
    my $nghttp = $ENV{ECI_TEST_NGHTTP} // 'nghttp';
    skip 'nghttp is needed (apt-get install nghttp2-client)', 5
        unless system("$nghttp --version >/dev/null 2>&1") == 0;

    $mock->clear;
    $mock->set(body_parts => ["$before%KEY:0:9%", "%KEY:9%$after"],
               body_delay => 0.3);
    $t->write_file('empty.json', '');
    open(my $fh, '-|', $nghttp, '-v', '-d', $t->path('empty.json'),
         '-H', 'x-caller: alice',
         'http://127.0.0.1:' . $t->port(3) . $path)
        or die "$nghttp: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    push @raw, $out;

    ok(index($out, $KEY) < 0, 'HTTP/2, key in the body: not sent');
    my ($sid) = $out =~ /recv \(stream_id=(\d+)\) :status: 200/;
    ok($sid, 'HTTP/2, key in the body: the status was sent');
    $sid //= 'none';
    ok(index($out, $before) >= 0,
       'HTTP/2, key in the body: the bytes before the key were');
    like($out, qr/recv RST_STREAM frame <[^>]*stream_id=$sid>/,
         'HTTP/2, key in the body: the stream is reset')
        or diag($out);
    is(result(++$results)->{error}, 'upstream_reflected_key',
       'HTTP/2, key in the body: audited');
    $counted++;
    $h2 = 1;
}

# --- a large body from the temporary file (sendfile) ------------------------

# A caller that reads only after a second: nginx cannot send the body as
# it comes, and keeps it in its temporary file.
sub slow_exec {
    my $s = $t->exec_socket('alice', 42, port => $t->port(2));
    Time::HiRes::sleep(1);

    my ($raw, $err) = ('', undef);
    my $sel = IO::Select->new($s);
    my $deadline = Time::HiRes::time() + 10;
    while (1) {
        my $left = $deadline - Time::HiRes::time();
        if ($left <= 0) { $err = 'timeout'; last }
        next unless $sel->can_read($left);
        last unless sysread($s, $raw, 65536, length $raw);
    }
    close $s;

    my $r = EciTest::parse_response($raw, 'POST');
    $r->{error} = $err if $err;
    push @raw, $raw;
    return $r;
}

# the key straddles the 4 KiB pieces the scan reads the file in, far past
# what the socket buffers hold
my $filler = join '', map { sprintf "%07d,", $_ } 1 .. 160000;    # 1.25 MB
my $at = 4096 * 200 - 7;
$mock->clear;
$mock->set(body => substr($filler, 0, $at) . '%KEY%' . substr($filler, $at),
           content_type => 'text/plain');
$r = slow_exec();
ok(index($r->{raw} // q{}, $KEY) < 0, 'key in a large buffered body: not sent');
is(length($r->{body} // ''), $at,
   'key in a large buffered body: the bytes before it, and no more');
ok(defined $r->{body} && $r->{body} eq substr($filler, 0, $at),
   'key in a large buffered body: those bytes unchanged');
ok(!$r->{error}, 'key in a large buffered body: the connection was closed');
is(result(++$results)->{error}, 'upstream_reflected_key',
   'key in a large buffered body: audited');
is(reflected_count(), ++$counted,
   'key in a large buffered body: counted in eci_status');

# --- a beginning of the key is not the key ----------------------------------

my @clean_cases = (
    # what, port, behaviour
    ['a beginning of the key at the end of a read, buffered', 0,
     body_parts => ["$before%KEY:0:20%", "not the rest$after"],
     body_delay => 0.3],
    ['a beginning of the key at the end of a read, unbuffered', 1,
     body_parts => ["$before%KEY:0:20%", "not the rest$after"],
     body_delay => 0.3],
    ['a beginning of the key at the end of a chunk, unbuffered', 1,
     chunked => 1,
     body_parts => ["$before%KEY:0:20%", "not the rest$after"],
     body_delay => 0.3],
    ['all but its last byte, at the end of the body, unbuffered', 1,
     body_parts => [$before, '%KEY:0:39%'], body_delay => 0.3],
    ['all but its last byte, chunked, at the end', 1, chunked => 1,
     body_parts => [$before, '%KEY:0:39%'], body_delay => 0.3],
    ['beginnings over several reads, unbuffered', 1,
     body_parts => ['%KEY:0:1%', '%KEY:0:2%', '%KEY:0:3%', '%KEY:0:39%',
                    $after],
     body_delay => 0.2],
    ['its first byte, alone, unbuffered', 1,
     body_parts => ['%KEY:0:1%', '%KEY:0:1%'], body_delay => 0.2],
);

for my $c (@clean_cases) {
    my ($what, $port, %b) = @$c;
    my $want = fill(join '', @{ $b{body_parts} });

    $mock->clear;
    $mock->set(%b);
    my $r = exec_req(port => $t->port($port));
    is($r->{status}, 200, "$what: 200");
    ok(defined $r->{body} && $r->{body} eq $want,
       "$what: the body byte-identical") or diag($r->{raw});
    is($r->{truncated}, 0, "$what: complete");

    my $res = result(++$results);
    ok(!defined $res->{error}, "$what: audited without an error");
    is($res->{responseSha256}, sha256_hex($want),
       "$what: audit responseSha256 of the whole body");
}

$mock->clear;
my $large = substr($filler, 0, $at) . substr($KEY, 0, 30) . 'x'
            . substr($filler, $at);
$mock->set(body => $large, content_type => 'text/plain');
$r = slow_exec();
ok(defined $r->{body} && $r->{body} eq $large,
   'a large buffered body with a beginning of the key: byte-identical');
$results++;

# a held-back beginning is released with the response's end: the next
# request on the same connection is answered
$mock->clear;
$mock->set(body_parts => ["$before%KEY:0:20%", $after], body_delay => 0.2);
{
    my $raw = $t->raw_request(
        "POST $path HTTP/1.1\r\nHost: localhost\r\nX-Caller: alice\r\n"
        . "Content-Length: 0\r\n\r\n"
        . "GET /status HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n",
        port => $t->port(1));
    push @raw, $raw;
    like($raw, qr/\AHTTP\/1\.1 200 .*HTTP\/1\.1 200 .*eci_requests_total/s,
         'after a held-back beginning the connection goes on')
        or diag($raw);
    $results++;
}

# --- other locations are not the gateway's ----------------------------------

$mock->clear;
$mock->set(body => "plain $KEY", headers => [['X-Echo', $KEY]]);
$r = $t->request('GET', '/plain/x');
is($r->{status}, 200, 'a location without eci_gateway: unchanged');
is($r->{body}, "plain $KEY", 'a location without eci_gateway: body unchanged');

# --- the key stays in the gateway -------------------------------------------

result($results);
is(scalar(grep { /"event":"result"/ } $t->audit_raw('audit.log')), $results,
   'every exec has its result line');

my $log = $t->wait_for_log(qr/carried API key/,
                           @header_cases + @body_cases + 2 + $h2);
my @err = grep { /\[error\]/
                 && /carried API key "default" \(fingerprint \Q$FPR\E\)/ }
          split /\n/, $log;
is(scalar(@err), @header_cases + @body_cases + 2 + $h2,
   'the error log names the key by name and fingerprint, once a reflection');

my $all = join "\n", @raw, $t->audit_raw('audit.log'), $t->error_log,
                     $t->request('GET', '/status')->{raw};
ok(index($all, $KEY) < 0,
   'the key is in no response, audit line, error log line or eci_status');

$t->done;
done_testing;
