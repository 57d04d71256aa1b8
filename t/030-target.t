# The request target: only POST /api/v202106/reportdistribution/{id}/exec
# is ever forwarded, and only in canonical form.  Every other path, spelling,
# method, query, Content-Type and caller is refused with a JSON error, is
# audited as denied, and reaches the upstream not at all.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use Time::HiRes ();

my $KEY  = 'eci-target-key-5b1d0e77';
my $EXEC = $EciTest::EXEC;

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({
    principals => {
        'svc-all' => EciTest::grant('*', '*'),
        'alice' => EciTest::grant([42], [7]),
        'viewer' => {
            permissions           => ['DistributedReportsSettings (View)'],
            reportDistributionIds => '*',
        },
        'no-override' => EciTest::grant('*'),
        'member' => { groups => ['report-operators'] },
    },
    groups => {
        'report-operators' => EciTest::grant([5, 6]),
    },
});

# 10,000 ids in one request line need big header buffers
$t->write_config($t->gateway_config($acl, location => '/',
    http11 => 1, http => <<'EOF'));
client_header_buffer_size 1k;
large_client_header_buffers 4 512k;
EOF

$t->start;
my $mock = $t->mock;


# --- helpers ----------------------------------------------------------------

# A raw HTTP/1.1 request with bytes a normal client would not send.
sub raw {
    my ($method, $target, %o) = @_;
    my $req = "$method $target " . ($o{version} // 'HTTP/1.1') . "\r\n"
            . "Host: localhost\r\n";
    my @h = @{ $o{headers} || ['X-Caller' => 'svc-all'] };
    for (my $i = 0; $i < @h; $i += 2) {
        $req .= "$h[$i]: $h[$i + 1]\r\n";
    }
    $req .= "Content-Length: 0\r\nConnection: close\r\n\r\n";
    return EciTest::parse_response($t->raw_request($req), $method);
}

# The result line of the request with this id (bounded poll), or undef.

sub show {
    my ($s) = @_;
    $s =~ s/([^\x21-\x7e])/sprintf('\\x%02x', ord $1)/ge;
    return $s;
}

# What a refusal must look like to the caller, the upstream and the audit.
# The mock is cleared before the request.
sub refused {
    my ($name, $r, $status, $code, %o) = @_;
    my $rid = $r->{headers}{'x-request-id'};

    subtest $name => sub {
        is($r->{status}, $status, "$name: refused with $status");
        if ($o{head}) {
            my ($body) = $r->{raw} =~ /\r\n\r\n(.*)\z/s;
            is($body // '', '', "$name: a HEAD answer has no body");
        } else {
            my $err = $t->json($r) || {};
            is($err->{error}, $code, "$name: error is $code");
            ok(defined $err->{message} && length $err->{message},
               "$name: the error has a message");
            like($err->{message} // '', $o{message},
                 "$name: the message says why") if $o{message};
            is($err->{requestId}, $rid,
               "$name: error requestId equals X-Request-Id");
        }
        like($r->{headers}{'content-type'} // '', qr{^application/json},
             "$name: the answer is JSON");
        like($rid // '', qr/^[0-9a-f]{32}\z/, "$name: X-Request-Id is set");
        is(scalar(my @m = $mock->requests), 0,
           "$name: nothing reached the upstream");
        my $a = $t->audit_record($rid);
        ok($a, "$name: audited") or return;
        is($a->{decision}, 'deny', "$name: audited as deny");
        is($a->{error}, $code, "$name: audit error is $code");
        is($a->{status}, $status, "$name: audit status is $status");
        is($a->{upstreamStatus}, undef, "$name: audit has no upstream status");
    };
    $mock->clear;
}

# For bytes nginx's own parser may refuse first: either nginx's 400 or the
# module's JSON 400; never forwarded.
sub refused_by_either {
    my ($name, $r) = @_;
    if ($r->{headers}{'x-request-id'}) {
        refused($name, $r, 400, 'invalid_request');
        return;
    }
    subtest "$name (nginx refused it first)" => sub {
        is($r->{status}, 400, "$name: nginx answers 400");
        is(scalar(my @m = $mock->requests), 0,
           "$name: nothing reached the upstream");
    };
    $mock->clear;
}

# An allowed exec: forwarded once, with exactly this target.
sub forwarded {
    my ($name, $r, $target, $overrides) = @_;
    my @m = $mock->requests;
    my $rid = $r->{headers}{'x-request-id'};

    subtest $name => sub {
        is($r->{status}, 200, "$name: answered by the upstream");
        is(scalar @m, 1, "$name: forwarded once");
        is($m[0]{method}, 'POST', "$name: forwarded as POST") if @m;
        is($m[0]{target}, $target, "$name: upstream target is canonical")
            if @m;
        is_deeply([MockEci::header_values($m[0] || {}, 'ECI-ApiKey')], [$KEY],
                  "$name: exactly one ECI-ApiKey, the keystore's");
        my $a = $t->audit_record($rid);
        ok($a, "$name: audited") or return;
        is($a->{decision}, 'allow', "$name: audited as allow");
        is_deeply($a->{overrideUserIds}, $overrides,
                  "$name: audit overrideUserIds");
    };
    $mock->clear;
    return @m;
}

$mock->clear;


# --- other paths in the location: 404 ---------------------------------------

for my $p ("$EXEC/5", '/api/v202106/other/5/exec', '/api/health',
           "$EXEC/5/execute", '/')
{
    refused("POST $p is not the exec operation", raw('POST', $p),
            404, 'not_found');
}
refused('GET /api/health is not the exec operation (404 before 405)',
        raw('GET', '/api/health'), 404, 'not_found');


# --- non-canonical spellings of the exec path: 400 ---------------------------

my @invalid = (
    ['percent-encoded digits',       "$EXEC/%34%32/exec"],
    ['percent-encoded id and exec',  "$EXEC/42/%65xec"],
    ['an encoded slash',             '/api/v202106/reportdistribution%2F42/exec'],
    ['an encoded slash in the id',   "$EXEC/4%2F2/exec"],
    ['dot-dot segments',             "$EXEC/../reportdistribution/42/exec"],
    ['a dot segment',                "$EXEC/./42/exec"],
    ['a dot segment before exec',    "$EXEC/42/./exec"],
    ['a repeated slash before exec', "$EXEC/42//exec"],
    ['a repeated slash in the prefix', '/api//v202106/reportdistribution/42/exec'],
    ['a leading double slash',       "/$EXEC/42/exec"],
    ['upper-case API',               '/API/v202106/reportdistribution/42/exec'],
    ['upper-case ReportDistribution', '/api/v202106/ReportDistribution/42/exec'],
    ['upper-case Exec',              "$EXEC/42/Exec"],
    ['a ; parameter on the id',      "$EXEC/42;x=1/exec"],
    ['a ; parameter on exec',        "$EXEC/42/exec;x"],
    ['a trailing slash',             "$EXEC/42/exec/"],
    ['leading zeros',                "$EXEC/042/exec"],
    ['id 0',                         "$EXEC/0/exec"],
    ['id 2147483648',                "$EXEC/2147483648/exec"],
    ['id 99999999999',               "$EXEC/99999999999/exec"],
    ['a negative id',                "$EXEC/-42/exec"],
    ['a plus sign',                  "$EXEC/+42/exec"],
    ['a non-digit id',               "$EXEC/abc/exec"],
    ['a hex id',                     "$EXEC/0x2a/exec"],
    ['an empty id segment',          "$EXEC//exec"],
    ['two id segments',              "$EXEC/42/43/exec"],
    ['invalid UTF-8 in the id',      "$EXEC/4\xff2/exec"],
    ['a truncated UTF-8 sequence',   "$EXEC/42\xc3/exec"],
    ['UTF-8 fullwidth digits',       "$EXEC/\xef\xbc\x94\xef\xbc\x92/exec"],
    ['a backslash',                  "$EXEC/42\\exec"],
);

for my $c (@invalid) {
    refused("POST with $c->[0] (" . show($c->[1]) . ')',
            raw('POST', $c->[1]), 400, 'invalid_request');
}

refused('the id at the top of int32 is valid but 403 for alice, not 400',
        raw('POST', "$EXEC/2147483647/exec",
            headers => ['X-Caller' => 'alice']),
        403, 'forbidden');

# bytes nginx's own parser may refuse before the module sees them
for my $c (['a NUL byte',         "$EXEC/4\x002/exec"],
           ['an encoded NUL',     "$EXEC/42%00/exec"],
           ['a control byte',     "$EXEC/4\x012/exec"],
           ['a DEL byte',         "$EXEC/42\x7f/exec"],
           ['a tab',              "$EXEC/42\t/exec"])
{
    refused_by_either('POST with ' . $c->[0] . ' in the path',
                      raw('POST', $c->[1]));
}


# --- other methods on the exec path: 405 -------------------------------------

for my $m (qw(GET PUT DELETE PATCH OPTIONS)) {
    my $r = raw($m, "$EXEC/42/exec");
    refused("$m on the exec path", $r, 405, 'method_not_allowed');
    is($r->{headers}{allow}, 'POST', "$m is answered with Allow: POST");
}
{
    my $r = raw('HEAD', "$EXEC/42/exec");
    refused('HEAD on the exec path', $r, 405, 'method_not_allowed',
            head => 1);
    is($r->{headers}{allow}, 'POST', 'HEAD is answered with Allow: POST');
}


# --- the query ---------------------------------------------------------------

for my $c (['overrideUserIds=7&overrideUserIds=8', [7, 8]],
           ['overrideUserIds=7,8',                 [7, 8]],
           ['overrideUserIds=7%2C8',               [7, 8]],
           ['overrideuserids=7',                   [7]],
           ['OVERRIDEUSERIDS=7,8&overrideUserIds=8', [7, 8]],
           ['overrideUserIds=8,7',                 [8, 7]],
           ['overrideUserIds=2147483647',          [2147483647]])
{
    my ($q, $ids) = @$c;
    my $want = "$EXEC/42/exec?"
             . join('&', map { "overrideUserIds=$_" } @$ids);
    forwarded("query $q", raw('POST', "$EXEC/42/exec?$q"), $want, $ids);
}
forwarded('no query at all', raw('POST', "$EXEC/42/exec"),
          "$EXEC/42/exec", undef);

for my $q ('overrideUserIds[0]=7', 'overrideUserIds[]=7', 'foo=1',
           'overrideUserIds=7&foo=1', 'overrideUserIds=',
           'overrideUserIds=07', 'overrideUserIds=-7', 'overrideUserIds=+7',
           'overrideUserIds=0', 'overrideUserIds=7,,8', 'overrideUserIds=7,',
           'overrideUserIds=2147483648', 'overrideUserIds=abc',
           'overrideUserIds', '&&', 'overrideUserIds=7&&overrideUserIds=8',
           'overrideUserIds=7&', '&overrideUserIds=7',
           'overrideUserIds=7%00', 'overrideUserIds%00=7',
           'overrideUserIds=7%0a', 'overrideUserIds=7%20',
           'override%55serIds[0]=7', 'overrideUserIds=%37%ZZ')
{
    refused('query ' . show($q) . ' is refused',
            raw('POST', "$EXEC/42/exec?$q"), 400, 'invalid_request');
}
for my $q ("overrideUserIds=7\x00", "overrideUserIds=7\x01") {
    refused_by_either('query with a raw ' . show(substr $q, -1),
                      raw('POST', "$EXEC/42/exec?$q"));
}

{
    my @ids = (1 .. 10_000);
    my $q = 'overrideUserIds=' . join(',', @ids);
    my $want = "$EXEC/42/exec?"
             . join('&', map { "overrideUserIds=$_" } @ids);
    forwarded('10,000 override ids are accepted',
              raw('POST', "$EXEC/42/exec?$q"), $want, \@ids);

    refused('10,001 override ids are refused',
            raw('POST', "$EXEC/42/exec?$q,10001"), 400, 'invalid_request');
    refused('10,001 override ids as repeated parameters are refused',
            raw('POST', "$EXEC/42/exec?"
                . join('&', map { "overrideUserIds=$_" } 1 .. 10_001)),
            400, 'invalid_request');
}


# --- Content-Type --------------------------------------------------------------

for my $ct ('application/json', 'application/json; charset=utf-8',
            'Application/JSON')
{
    my $r = raw('POST', "$EXEC/42/exec",
                headers => ['X-Caller' => 'svc-all', 'Content-Type' => $ct]);
    my ($m) = forwarded("Content-Type: $ct is forwarded", $r,
                        "$EXEC/42/exec", undef);
    # no body goes upstream: the gateway sends its own one Content-Type
    is_deeply([MockEci::header_values($m || {}, 'Content-Type')],
              ['application/json'],
              "Content-Type: $ct: the upstream gets application/json");
}
{
    my $r = raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => 'svc-all']);
    my ($m) = forwarded('no Content-Type is forwarded', $r,
                        "$EXEC/42/exec", undef);
    is_deeply([MockEci::header_values($m || {}, 'Content-Type')],
              ['application/json'],
              'without a Content-Type the gateway sends application/json');
}
for my $ct ('text/plain', 'application/jsonx', 'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x')
{
    refused("Content-Type: $ct",
            raw('POST', "$EXEC/42/exec",
                headers => ['X-Caller' => 'svc-all', 'Content-Type' => $ct]),
            415, 'unsupported_media_type');
}
refused('two Content-Type headers',
        raw('POST', "$EXEC/42/exec",
            headers => ['X-Caller' => 'svc-all',
                        'Content-Type' => 'application/json',
                        'Content-Type' => 'application/json']),
        400, 'invalid_request');
refused('two Content-Type headers, the second not JSON',
        raw('POST', "$EXEC/42/exec",
            headers => ['X-Caller' => 'svc-all',
                        'Content-Type' => 'application/json',
                        'Content-Type' => 'text/plain']),
        400, 'invalid_request');


# --- the principal ---------------------------------------------------------------

refused('no X-Caller: eci_principal is empty',
        raw('POST', "$EXEC/42/exec", headers => []), 401, 'unauthenticated');
refused('an empty X-Caller',
        raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => '']),
        401, 'unauthenticated');
refused('an unknown principal',
        raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => 'mallory']),
        403, 'forbidden');
refused('principal match is case-sensitive: Alice is not alice',
        raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => 'Alice']),
        403, 'forbidden');
refused('a principal without the Manage permission',
        raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => 'viewer']),
        403, 'forbidden', message => qr/permission/i);
refused('a principal without the id',
        raw('POST', "$EXEC/43/exec", headers => ['X-Caller' => 'alice']),
        403, 'forbidden', message => qr/\b43\b/);
refused('an override outside the principal\'s grant',
        raw('POST', "$EXEC/42/exec?overrideUserIds=7,9",
            headers => ['X-Caller' => 'alice']),
        403, 'forbidden', message => qr/\b9\b/);
refused('a principal without overrideUserIds may not override',
        raw('POST', "$EXEC/42/exec?overrideUserIds=7",
            headers => ['X-Caller' => 'no-override']),
        403, 'forbidden', message => qr/\b7\b/);
refused('a group member outside the group\'s ids',
        raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => 'member']),
        403, 'forbidden');

forwarded('alice may exec her id with her override',
          raw('POST', "$EXEC/42/exec?overrideUserIds=7",
              headers => ['X-Caller' => 'alice']),
          "$EXEC/42/exec?overrideUserIds=7", [7]);
forwarded('a group grant allows the group\'s ids',
          raw('POST', "$EXEC/6/exec", headers => ['X-Caller' => 'member']),
          "$EXEC/6/exec", undef);
{
    my $r = raw('POST', "$EXEC/42/exec", headers => ['X-Caller' => 'alice']);
    my $a = $t->audit_record($r->{headers}{'x-request-id'}) || {};
    is($a->{principal}, 'alice', 'the audit names the principal');
    $mock->clear;
}


# --- HTTP/1.0 and the absolute form ----------------------------------------------

forwarded('an HTTP/1.0 request works',
          raw('POST', "$EXEC/42/exec?overrideUserIds=7",
              version => 'HTTP/1.0'),
          "$EXEC/42/exec?overrideUserIds=7", [7]);

{
    my $r = raw('POST', "http://localhost$EXEC/42/exec?overrideuserids=7,8");
    my @m = $mock->requests;
    if (@m) {
        forwarded('an absolute-form target is forwarded in origin form', $r,
                  "$EXEC/42/exec?overrideUserIds=7&overrideUserIds=8",
                  [7, 8]);
    } else {
        ok($r->{status} >= 400 && $r->{status} < 500,
           'an absolute-form target is refused');
        $mock->clear;
    }
}
{
    my $r = raw('POST', "http://localhost$EXEC/042/exec");
    is($r->{status}, 400, 'an absolute-form target with a non-canonical path '
       . 'is refused');
    is(scalar(my @m = $mock->requests), 0, 'and not forwarded');
    $mock->clear;
}


# --- the key stays in the gateway ------------------------------------------------

my $all = join "\n", $t->audit_raw('audit.log'), $t->error_log;
unlike($all, qr/\Q$KEY\E/, 'the key is in neither the audit nor the error log');

$t->done;
done_testing;
