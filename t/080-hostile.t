# Hostile input: request forms, path and query spellings, principals and
# headers a caller could use to fool the gateway.  Every case asserts what
# the caller got, what the upstream did or did not receive, and the audit.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use IO::Select;
use JSON::PP;
use Time::HiRes ();

my $KEY  = 'eci-hostile-key-91c4e2d8';
my $EXEC = $EciTest::EXEC;
my $PERM = $EciTest::PERM;

my $QUOTED  = qq{svc "quoted" \\back\\slash};
my $UNICODE = "J\xc3\xbcrgen-\xe2\x82\xac";            # UTF-8 bytes
my $LONG    = 'p' x 4096;

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
# written by hand: the principals hold raw UTF-8 bytes and quotes
my $acl = $t->write_acl(
    '{"principals": {'
  . '"only42": {"permissions": ["' . $PERM . '"],'
  .            ' "reportDistributionIds": [42], "overrideUserIds": [7]},'
  . '"pair": {"permissions": ["' . $PERM . '"],'
  .          ' "reportDistributionIds": [42], "overrideUserIds": [7, 8]},'
  . '"all": {"permissions": ["' . $PERM . '"],'
  .         ' "reportDistributionIds": "*", "overrideUserIds": "*"},'
  . '"svc \"quoted\" \\\\back\\\\slash": {"permissions": ["' . $PERM . '"],'
  .         ' "reportDistributionIds": [42]},'
  . qq{"$UNICODE": {"permissions": ["$PERM"], "reportDistributionIds": [42]},}
  . qq{"$LONG": {"permissions": ["$PERM"], "reportDistributionIds": [42]}}
  . '}}');

$t->write_config($t->gateway_config($acl, location => '/', keepalive => 1,
    # 10,000 override ids fit in one request line; 300 KB does not
    http => <<'EOF'));
client_header_buffer_size 1k;
large_client_header_buffers 4 128k;
underscores_in_headers on;
EOF

$t->start;
my $mock = $t->mock;

# the number of requests that reached the gateway location: each has
# exactly one result line at the end
my $handled = 0;


# --- helpers ----------------------------------------------------------------

sub show {
    my ($s) = @_;
    $s = substr($s, 0, 80) . '...' if length $s > 80;
    $s =~ s/([^\x21-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# One request as raw bytes: request line, Host, the given headers,
# Content-Length: 0, Connection: close.
sub req_bytes {
    my ($method, $target, %o) = @_;
    my $req = "$method $target " . ($o{version} // 'HTTP/1.1') . "\r\n";
    $req .= "Host: localhost\r\n" unless $o{no_host};
    my @h = @{ $o{headers} // ['X-Caller' => 'only42'] };
    for (my $i = 0; $i < @h; $i += 2) {
        $req .= "$h[$i]: $h[$i + 1]\r\n";
    }
    $req .= "Content-Length: 0\r\n" unless $o{no_length};
    $req .= "Connection: " . ($o{connection} // 'close') . "\r\n\r\n";
    return $req;
}

sub raw {
    my ($method, $target, %o) = @_;
    return EciTest::parse_response($t->raw_request(req_bytes(@_)), $method);
}

sub results {
    return grep { ($_->{event} // '') eq 'result' } $t->audit_lines('audit.log');
}

# The audit line of this request id and event (bounded poll), or undef.
sub audit_of { $t->audit_record(@_) }

# A refusal by the gateway: JSON error, nothing forwarded, audited as deny.
sub refused {
    my ($name, $r, $status, $code) = @_;
    my $rid = $r->{headers}{'x-request-id'};
    $handled++;

    my @st = ref $status ? @$status : ($status);
    ok((grep { ($r->{status} // 0) == $_ } @st),
       "$name: refused with @st") or diag("got: " . show($r->{raw} // ''));
    my $err = $t->json($r) || {};
    if (defined $code) {
        is($err->{error}, $code, "$name: error is $code");
    } else {
        like($err->{error} // '', qr/^(invalid_request|forbidden|not_found)\z/,
             "$name: a refusal error code");
    }
    is($err->{requestId}, $rid, "$name: error requestId is the X-Request-Id");
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         "$name: the answer is JSON");
    is(scalar(my @m = $mock->requests), 0, "$name: nothing reached the upstream");
    my $a = audit_of($rid);
    ok($a, "$name: audited") and do {
        is($a->{decision}, 'deny', "$name: audited as deny");
        is($a->{status}, $r->{status}, "$name: audit status is the answer's");
        is($a->{upstreamStatus}, undef, "$name: audit has no upstream status");
    };
    ok(!grep({ ($_->{event} // '') eq 'intent'
               && ($_->{requestId} // '') eq ($rid // '') }
             $t->audit_lines('audit.log')),
       "$name: no intent line for a refusal") if $a;
    $mock->clear;
}

# Refused by nginx itself before any location: not forwarded, no audit line,
# and nginx still answers afterwards.
sub refused_by_nginx {
    my ($name, $r, @status) = @_;
    my $before = () = results();
    ok((grep { ($r->{status} // 0) == $_ } @status),
       "$name: nginx refuses it (@status)")
        or diag("got: " . show($r->{raw} // ''));
    is(scalar(my @m = $mock->requests), 0, "$name: nothing reached the upstream");
    my $after = () = results();
    is($after, $before, "$name: no request reached the gateway location");
    my $ok = raw('POST', "$EXEC/42/exec");
    $handled++;
    is($ok->{status}, 200, "$name: nginx still serves afterwards");
    $mock->clear;
}

# Forwarded: 200, exactly one upstream request in canonical form with
# exactly one key, audited as allow with an intent and a result line.
sub forwarded {
    my ($name, $r, $target, $ids) = @_;
    my $rid = $r->{headers}{'x-request-id'};
    $handled++;

    is($r->{status}, 200, "$name: served") or diag("got: " . show($r->{raw} // ''));
    my @m = $mock->requests;
    is(scalar @m, 1, "$name: forwarded once");
    is($m[0] && $m[0]{request_line}, "POST $target HTTP/1.1",
       "$name: forwarded in canonical form");
    is_deeply([$m[0] ? MockEci::header_values($m[0], 'ECI-ApiKey') : ()],
              [$KEY], "$name: with exactly one key");
    my $a = audit_of($rid);
    ok($a, "$name: audited") and do {
        is($a->{decision}, 'allow', "$name: audited as allow");
        is_deeply($a->{overrideUserIds}, $ids, "$name: audited overrides")
            if @_ > 3;
    };
    ok(audit_of($rid, 'intent'), "$name: the intent was written");
    $mock->clear;
}

# Either refused by the gateway, or forwarded exactly as $target.
sub refused_or_canonical {
    my ($name, $r, $target) = @_;
    if (($r->{status} // 0) == 200) {
        forwarded("$name (accepted)", $r, $target);
    } else {
        refused("$name (refused)", $r, [400, 403, 404]);
    }
}

# Bytes nginx's own URI parser may refuse before any location (%00, bad
# percent-encoding): nginx's 400, or the gateway's JSON refusal.
sub refused_by_either {
    my ($name, $r) = @_;
    if (($r->{headers}{'content-type'} // '') =~ m{^application/json}) {
        refused("$name (by the gateway)", $r, [400, 403, 404]);
    } else {
        refused_by_nginx("$name (by nginx)", $r, 400);
    }
}

# Reads one response from a socket; returns (raw, rest of buffer).
sub read_one {
    my ($s, $bufref) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = Time::HiRes::time() + 10;
    my $need;
    while (1) {
        if (!defined $need && $$bufref =~ /\r\n\r\n/) {
            my $hlen = $+[0];
            my $head = substr($$bufref, 0, $hlen);
            if ($head =~ /^Content-Length:\s*(\d+)/mi) {
                $need = $hlen + $1;
            } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
                $need = -1;
            } else {
                $need = $hlen;
            }
        }
        if (defined $need && $need >= 0 && length $$bufref >= $need) {
            return substr($$bufref, 0, $need, '');
        }
        if (defined $need && $need < 0 && $$bufref =~ /\r\n0\r\n\r\n/) {
            return substr($$bufref, 0, $+[0], '');
        }
        my $left = $deadline - Time::HiRes::time();
        return substr($$bufref, 0, length $$bufref, '') if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($s, $$bufref, 65536, length $$bufref);
        return substr($$bufref, 0, length $$bufref, '') unless $n;
    }
}

sub connect_gw { $t->open_socket }


# === request forms =========================================================

{
    my $r = raw('POST', "$EXEC/42/exec", version => 'HTTP/1.0', no_host => 1);
    forwarded('HTTP/1.0 exec', $r, "$EXEC/42/exec");
}

{
    my $r = raw('POST', "$EXEC/43/exec", version => 'HTTP/1.0');
    refused('HTTP/1.0 exec of a forbidden id', $r, 403, 'forbidden');
}

# pipelined: two execs in one write
{
    my $s = connect_gw();
    syswrite($s, req_bytes('POST', "$EXEC/42/exec", connection => 'keep-alive')
               . req_bytes('POST', "$EXEC/42/exec?overrideUserIds=7"));
    my $buf = '';
    my $r1 = EciTest::parse_response(read_one($s, \$buf), 'POST');
    my $r2 = EciTest::parse_response(read_one($s, \$buf), 'POST');
    close $s;
    $handled += 2;
    is($r1->{status}, 200, 'pipelined: first exec served');
    is($r2->{status}, 200, 'pipelined: second exec served');
    isnt($r1->{headers}{'x-request-id'}, $r2->{headers}{'x-request-id'},
         'pipelined: two request ids');
    my @m = $mock->requests;
    is_deeply([map { $_->{request_line} } @m],
              ["POST $EXEC/42/exec HTTP/1.1",
               "POST $EXEC/42/exec?overrideUserIds=7 HTTP/1.1"],
              'pipelined: both forwarded, canonical, in order');
    is_deeply([map { [MockEci::header_values($_, 'ECI-ApiKey')] } @m],
              [[$KEY], [$KEY]], 'pipelined: each with exactly one key');
    for my $pair ([first => $r1], [second => $r2]) {
        my $a = audit_of($pair->[1]{headers}{'x-request-id'});
        is($a && $a->{decision}, 'allow', "pipelined: $pair->[0] audited");
        ok(audit_of($pair->[1]{headers}{'x-request-id'}, 'intent'),
           "pipelined: $pair->[0] has its intent");
    }
    $mock->clear;
}

# keep-alive: allowed, denied, allowed on one connection
{
    my $s = connect_gw();
    my $buf = '';
    my @r;
    for my $c (['42', 'only42'], ['43', 'only42'], ['42', 'pair']) {
        syswrite($s, req_bytes('POST', "$EXEC/$c->[0]/exec",
                               headers => ['X-Caller' => $c->[1]],
                               connection => 'keep-alive'));
        push @r, EciTest::parse_response(read_one($s, \$buf), 'POST');
    }
    close $s;
    $handled += 3;
    is_deeply([map { $_->{status} } @r], [200, 403, 200],
              'keep-alive: allowed, refused, allowed on one connection');
    my @m = $mock->requests;
    is_deeply([map { $_->{request_line} } @m],
              ["POST $EXEC/42/exec HTTP/1.1", "POST $EXEC/42/exec HTTP/1.1"],
              'keep-alive: only the two allowed execs were forwarded');
    is_deeply([map { scalar(my @k = MockEci::header_values($_, 'ECI-ApiKey')) } @m],
              [1, 1], 'keep-alive: each with exactly one key');
    is_deeply([map { my $a = audit_of($_->{headers}{'x-request-id'});
                     $a ? "$a->{decision} $a->{principal}" : undef } @r],
              ['allow only42', 'deny only42', 'allow pair'],
              'keep-alive: each request audited with its own principal');
    $mock->clear;
}

# Content-Length with Transfer-Encoding (request smuggling)
{
    my $raw = "POST $EXEC/42/exec HTTP/1.1\r\nHost: localhost\r\n"
            . "X-Caller: only42\r\nContent-Length: 4\r\n"
            . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            . "0\r\n\r\n"
            . "POST $EXEC/43/exec HTTP/1.1\r\nHost: localhost\r\n"
            . "X-Caller: only42\r\nContent-Length: 0\r\n\r\n";
    my $r = EciTest::parse_response($t->raw_request($raw), 'POST');
    refused_by_nginx('Content-Length with Transfer-Encoding', $r, 400);
}

{
    my $raw = "POST $EXEC/42/exec HTTP/1.1\r\nHost: localhost\r\n"
            . "X-Caller: only42\r\nContent-Length: 0\r\nContent-Length: 5\r\n"
            . "Connection: close\r\n\r\nhello";
    my $r = EciTest::parse_response($t->raw_request($raw), 'POST');
    refused_by_nginx('two Content-Length headers', $r, 400);
}

# absolute-form targets
{
    my $r = raw('POST', "http://localhost$EXEC/42/exec");
    refused_or_canonical('absolute-form target', $r, "$EXEC/42/exec");
    $r = raw('POST', "http://localhost$EXEC/43/exec");
    refused('absolute-form target of a forbidden id', $r, [400, 403]);
    $r = raw('POST', "http://evil.example$EXEC/42/exec?overrideUserIds=8");
    refused('absolute-form target, other host, forbidden override', $r,
            [400, 403]);
}

# oversized request line and headers
{
    my $r = raw('POST', "$EXEC/42/exec?overrideUserIds=" . ('7,' x 150_000) . '7');
    refused_by_nginx('a 300 KB request line', $r, 414, 400);
    $r = raw('POST', "$EXEC/42/exec",
             headers => ['X-Caller' => 'only42', 'X-Big' => 'b' x 300_000]);
    refused_by_nginx('a 300 KB header', $r, 400, 494);
    $r = raw('POST', "$EXEC/42/exec",
             headers => ['X-Caller' => 'only42',
                         map { ("X-H$_" => 'h' x 100_000) } 1 .. 6]);
    refused_by_nginx('600 KB of headers', $r, 400, 494);
}

# NUL and control bytes: raw in the request line nginx refuses them itself;
# percent-encoded they reach the gateway
{
    my $r = raw('POST', "$EXEC/42\x00/exec");
    refused_by_nginx('a raw NUL in the path', $r, 400);
    $r = raw('POST', "$EXEC/42/exec?overrideUserIds=7\x01");
    refused_by_nginx('a raw control byte in the query', $r, 400);
    $r = raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => "only42\x00"]);
    refused_by_nginx('a NUL in the principal header', $r, 400);

    refused_by_either('an encoded NUL in the path', raw('POST', "$EXEC/42%00/exec"));
    refused_by_either('an encoded NUL after exec', raw('POST', "$EXEC/42/exec%00"));
    for my $c (["$EXEC/42%0d%0aX-Injected:%201/exec", 'encoded CRLF in the path'],
               ["$EXEC/42/exec?overrideUserIds=7%00", 'an encoded NUL in the query'],
               ["$EXEC/42/exec?overrideUserIds=7%0d%0aECI-ApiKey:%20x",
                'encoded CRLF header injection in the query'],
               ["$EXEC/42/exec?overrideUserIds%00=7", 'an encoded NUL in the parameter name'],
               ["$EXEC/42/exec?overrideUserIds=%1b7", 'an encoded ESC in the query'])
    {
        refused($c->[1], raw('POST', $c->[0]), 400, 'invalid_request');
    }

    # control bytes nginx passes in a header value
    $r = raw('POST', "$EXEC/42/exec",
             headers => ['X-Caller' => "only42\x01\x1b[31m\x7f"]);
    refused('control bytes in the principal', $r, 403, 'forbidden');
    my $a = audit_of($r->{headers}{'x-request-id'});
    is($a && $a->{principal}, "only42\x01\x1b[31m\x7f",
       'the audit records the principal with its control bytes, escaped');
}

# invalid UTF-8
{
    refused('invalid UTF-8 in the path', raw('POST', "$EXEC/42\xff\xfe/exec"),
            400, 'invalid_request');
    refused('encoded invalid UTF-8 in the path',
            raw('POST', "$EXEC/42%ff%fe/exec"), 400, 'invalid_request');
    refused('invalid UTF-8 in the query',
            raw('POST', "$EXEC/42/exec?overrideUserIds=7\xc3\x28"), 400,
            'invalid_request');
    refused('encoded invalid UTF-8 in the query',
            raw('POST', "$EXEC/42/exec?overrideUserIds=7%c3%28"), 400,
            'invalid_request');
    my $r = raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => "\xff\xfeonly42"]);
    refused('invalid UTF-8 in the principal', $r, 403, 'forbidden');
    my $a = audit_of($r->{headers}{'x-request-id'});
    is($a && $a->{principal}, "\x{fffd}\x{fffd}only42",
       'the audit replaces invalid UTF-8 with U+FFFD');
}

# 10,000 override ids is the documented limit
{
    my $ids = join ',', 1 .. 10_000;
    my $r = raw('POST', "$EXEC/42/exec?overrideUserIds=$ids",
                headers => ['X-Caller' => 'all']);
    forwarded('10,000 override ids', $r,
              "$EXEC/42/exec?" . join('&', map { "overrideUserIds=$_" } 1 .. 10_000),
              [1 .. 10_000]);
    $r = raw('POST', "$EXEC/42/exec?overrideUserIds=$ids,10001",
             headers => ['X-Caller' => 'all']);
    refused('10,001 override ids', $r, 400, 'invalid_request');
    $r = raw('POST', "$EXEC/42/exec?overrideUserIds=$ids&overrideUserIds=10001",
             headers => ['X-Caller' => 'all']);
    refused('10,001 override ids, the last one repeated', $r, 400,
            'invalid_request');
}

# parameter pollution in the spellings ASP.NET would bind
{
    for my $c (['overrideuserids=7',        'only42', '?overrideUserIds=7', [7]],
               ['OVERRIDEUSERIDS=7',        'only42', '?overrideUserIds=7', [7]],
               ['OverrideUserIds=7',        'only42', '?overrideUserIds=7', [7]],
               ['overrideUser%49ds=7',      'only42', '?overrideUserIds=7', [7]],
               ['%6FverrideUserIds=7',      'only42', '?overrideUserIds=7', [7]],
               ['overrideUserIds=7&overrideUserIds=7,7', 'only42',
                '?overrideUserIds=7', [7]],
               ['overrideUserIds=7&OVERRIDEUSERIDS=8', 'pair',
                '?overrideUserIds=7&overrideUserIds=8', [7, 8]],
               ['overrideUserIds=8,7',     'pair',
                '?overrideUserIds=8&overrideUserIds=7', [8, 7]],
               ['overrideUserIds=1,2&overrideuserids=3&OverrideUserIds=4,5', 'all',
                '?' . join('&', map { "overrideUserIds=$_" } 1 .. 5), [1 .. 5]])
    {
        my $r = raw('POST', "$EXEC/42/exec?$c->[0]", headers => ['X-Caller' => $c->[1]]);
        my $rid = $r->{headers}{'x-request-id'};
        forwarded("query $c->[0] ($c->[1])", $r, "$EXEC/42/exec$c->[2]");
    }

    # a spelling the caller may not use: an id it may not send to
    for my $q ('overrideuserids=8', 'OVERRIDEUSERIDS=7,8', 'overrideUser%49ds=8',
               'overrideUserIds=7&overrideUserIds=8', 'overrideUserIds=7%2C8',
               'overrideUserIds=7&OverrideUserIds=8')
    {
        refused("query $q (only42 may override 7 only)",
                raw('POST', "$EXEC/42/exec?$q"), 403, 'forbidden');
    }

    for my $q ('overrideUserIds[0]=7', 'overrideUserIds[]=7',
               'overrideUserIds[0]=7&overrideUserIds=8',
               'overrideUserIds=7&overrideUserIds[1]=8',
               'overrideUserIds%5B0%5D=7', 'overrideUserIds%5b%5d=7',
               '[0]=7', '[]=7', 'overrideUserIds.0=7', 'overrideUserIds%20=7',
               '%20overrideUserIds=7', 'overrideUserIds=7;overrideUserIds=8',
               'overrideUserIds=7&reportDistributionId=43',
               'overrideUserIds=7&overrideUserIdsX=8', 'overrideUserIds',
               'overrideUserIds=7&=8', 'overrideUserIds=7,,8',
               'overrideUserIds=%2B7', 'overrideUserIds=07',
               'overrideUserIds=4294967303', 'overrideUserIds=-7')
    {
        refused("query $q", raw('POST', "$EXEC/42/exec?$q",
                                headers => ['X-Caller' => 'all']),
                400, 'invalid_request');
    }
}


# === path forms: only42 tries to reach 43 =================================

for my $p ("$EXEC/4%33/exec", "$EXEC/%34%33/exec", "$EXEC/42/../43/exec",
           "$EXEC/42/%2e%2e/43/exec", "$EXEC/42%2F..%2F43/exec",
           "$EXEC/42/exec/../../43/exec", "$EXEC/./43/exec",
           "$EXEC/43;42/exec", "$EXEC/42;/../43/exec", "$EXEC/43/exec;42",
           "$EXEC//43/exec", "$EXEC/43//exec", '/api//v202106/reportdistribution/43/exec',
           "$EXEC/043/exec", "$EXEC/0043/exec", "$EXEC/+43/exec", "$EXEC/%2B43/exec",
           "$EXEC/43/exec/", "$EXEC/43/EXEC", '/api/v202106/ReportDistribution/43/exec',
           '/API/V202106/REPORTDISTRIBUTION/43/EXEC', "$EXEC/42\\..\\43/exec",
           "$EXEC/42%5c..%5c43/exec",
           "$EXEC/%EF%BC%94%EF%BC%93/exec", "$EXEC/4294967339/exec",
           "$EXEC/43%2Fexec", "$EXEC/43/exec%3F", "$EXEC/43/exec#42",
           "$EXEC/43/exec%23", "$EXEC/42/../43/exec?overrideUserIds=7",
           "$EXEC/43.0/exec", "$EXEC/0x2b/exec", "$EXEC/43%20/exec")
{
    my $r = raw('POST', $p);
    refused('only42 smuggles 43 as ' . show($p), $r, [400, 403, 404]);
}
# IIS's %u encoding: nginx refuses the bad percent-encoding itself
refused_by_either('only42 smuggles 43 as %u0034%u0033',
                  raw('POST', "$EXEC/%u0034%u0033/exec"));

# the same spellings of the id it may use: refused, or forwarded canonically
for my $p ("$EXEC/4%32/exec", "$EXEC/042/exec", "$EXEC/42/./exec",
           "$EXEC//42/exec", "$EXEC/42/exec/", "$EXEC/42;x=1/exec",
           "$EXEC/42/EXEC", '/api/v202106/reportDistribution/42/exec',
           "$EXEC/42%2Fexec", "$EXEC/42/exec;")
{
    refused_or_canonical('a non-canonical spelling of 42: ' . show($p),
                         raw('POST', $p), "$EXEC/42/exec");
}


# === principals ============================================================

refused('no principal header', raw('POST', "$EXEC/42/exec", headers => []),
        401, 'unauthenticated');
refused('an empty principal', raw('POST', "$EXEC/42/exec",
                                  headers => ['X-Caller' => '']),
        401, 'unauthenticated');

for my $c ([$LONG,    'a 4 KiB principal'],
           [$QUOTED,  'a principal with quotes and backslashes'],
           [$UNICODE, 'a non-ASCII principal'])
{
    my $r = raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => $c->[0]]);
    forwarded("$c->[1] in the ACL", $r, "$EXEC/42/exec");
    my $a = audit_of($r->{headers}{'x-request-id'});
    my $want = $c->[0];
    utf8::decode($want);
    is($a && $a->{principal}, $want, "$c->[1]: audited exactly");

    $r = raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => "$c->[0]x"]);
    refused("$c->[1] not in the ACL (one byte more)", $r, 403, 'forbidden');
}

refused('principals are case-sensitive',
        raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => 'ONLY42']),
        403, 'forbidden');


# === headers that must never reach the upstream ===========================

{
    my $r = raw('POST', "$EXEC/42/exec",
                headers => ['X-Caller'      => 'only42',
                            'ECI-ApiKey'    => 'caller-key-1',
                            'eci-apikey'    => 'caller-key-2',
                            'ECI-APIKEY'    => 'caller-key-3',
                            'Eci-ApiKey'    => '',
                            'ECI_ApiKey'    => 'caller-key-4',
                            'eci_apikey'    => 'caller-key-5',
                            'Authorization' => 'Basic Y2FsbGVyOnB3ZA==',
                            'User-Agent'    => 'kept']);
    my @m = $mock->requests;
    forwarded('caller ECI-ApiKey in every case and count', $r, "$EXEC/42/exec");
    my $up = $m[0] || { headers => [], raw_head => '' };
    my @keyish = grep { my $n = lc $_->[0]; $n =~ tr/_/-/; $n eq 'eci-apikey' }
                 @{ $up->{headers} };
    is_deeply(\@keyish, [['ECI-ApiKey', $KEY]],
              'the upstream got exactly one key header: the gateway\'s');
    is_deeply([MockEci::header_values($up, 'Authorization')], [],
              'no Authorization header reached the upstream');
    unlike($up->{raw_head}, qr/caller-key|caller-token|Y2FsbGVyOnB3ZA/,
           'no caller credential reached the upstream');
    is_deeply([MockEci::header_values($up, 'User-Agent')], ['kept'],
              'allowlisted caller headers are forwarded');
}

# nginx itself refuses a second Authorization header
refused_by_nginx('two Authorization headers',
                 raw('POST', "$EXEC/42/exec",
                     headers => ['X-Caller' => 'only42',
                                 'Authorization' => 'Basic Y2FsbGVyOnB3ZA==',
                                 'authorization' => 'Bearer caller-token']),
                 400);

{
    $mock->set(headers => [['ECI-ApiKey', 'upstream-leak-1'],
                           ['eci-apikey', 'upstream-leak-2'],
                           ['ECI-APIKEY', 'upstream-leak-3'],
                           ['X-Upstream', 'kept']]);
    my $r = raw('POST', "$EXEC/42/exec");
    forwarded('upstream answers with ECI-ApiKey headers', $r, "$EXEC/42/exec");
    my @keyish = grep { my $n = lc $_->[0]; $n =~ tr/_/-/; $n eq 'eci-apikey' }
                 @{ $r->{header_list} };
    is_deeply(\@keyish, [], 'no ECI-ApiKey response header reaches the caller');
    unlike($r->{raw}, qr/upstream-leak/, 'nor any of their values');
    is($r->{headers}{'x-upstream'}, 'kept', 'other upstream headers pass');
    $mock->reset;
}


# === the audit and error log stay well-formed =============================

{
    my @raw = $t->audit_raw('audit.log');
    my $json = JSON::PP->new->utf8;
    my @bad = grep { !eval { ref $json->decode($_) eq 'HASH' } } @raw;
    is(scalar @bad, 0, 'every audit line is one valid JSON object')
        or diag(show($bad[0]));
    is(scalar(grep { /[\x00-\x1f\x7f]/ } @raw), 0,
       'no audit line holds a raw control byte');
    my @res = results();
    is(scalar @res, $handled,
       'one result line for every request that reached the gateway');
    my %seen;
    is(scalar(grep { $seen{$_->{requestId}}++ } @res), 0,
       'no request has two result lines');

    my $log = $t->error_log;
    # nginx's own "client sent invalid request" line quotes the refused
    # request line as received: that is nginx, not the gateway
    my @ctl = grep { /[\x00-\x08\x0b-\x1f\x7f]/
                     && !/\] \d+#\d+: \*\d+ client sent invalid request while reading client request line/ }
              split /\n/, $log;
    is(scalar @ctl, 0, 'no error log line of the gateway holds a raw control byte')
        or diag(show($ctl[0]));
    my @cont = grep { !/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[\w+\] / }
               split /\n/, $log;
    is(scalar @cont, 0, 'every error log line starts a new event')
        or diag(show($cont[0]));
    my $audit = join "\n", @raw;
    ok(index($audit, $KEY) < 0 && index($log, $KEY) < 0,
       'the key is in neither the audit nor the error log');
}

$t->done;
done_testing;
