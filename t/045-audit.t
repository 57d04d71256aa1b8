# The audit line: one result line per request in a gateway location (and an
# intent line before each allowed exec), every field with the right type and
# value, the body capture and its bound, escaping, eci_audit_log off, the
# $eci_* variables, and no key anywhere.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Time::HiRes ();
use Time::Local ();
use EciTest;
use MockEci;

my $KEY = 'eci-audit-key-91c0e5d7a2';

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $perm = ['DistributedReportsSettings (Manage)'];
my $acl = $t->write_acl({
    principals => {
        alice => { permissions => $perm, reportDistributionIds => [42, 43],
                   overrideUserIds => [7, 8] },
        bob   => { permissions => $perm, reportDistributionIds => [42] },
    },
});

#   PORT   the gateway, eci_audit_body_max default, an access_log of the
#          $eci_* variables
#   PORT1  eci_audit_body_max 100
#   PORT2  eci_audit_log off
$t->write_config($t->gateway_config($acl,
    http => <<'EOF',
large_client_header_buffers 4 16k;

log_format eci '$request_id $eci_principal $eci_decision $eci_error '
               '$eci_report_distribution_id '
               '$eci_report_distribution_log_id';
EOF
    server => 'access_log %%DIR%%/eci-access.log eci;',
    http11 => 1,
    servers => [
        EciTest::gateway_server($acl, port => '%%PORT1%%',
                                http11 => 1,
                                directives => 'eci_audit_body_max 100;'),
        EciTest::gateway_server($acl, port => '%%PORT2%%', audit => 'off',
                                http11 => 1),
    ]));

$t->start;
my $mock = $t->mock;
my $path = '/api/v202106/reportdistribution';

my @sent;          # X-Request-Id of every request to an audited location
my $allowed = 0;   # how many of them were allowed execs
my @responses;

sub req {
    my ($method, $uri, %o) = @_;
    my $r = $t->request($method, $uri, %o);
    push @responses, $r;
    push @sent, $r->{headers}{'x-request-id'} // 'none'
        unless $o{port} && $o{port} == $t->port(2);
    return $r;
}

# (record, raw line) of the result line for a request id, waiting for it
sub result_for {
    my ($rid) = @_;
    my $deadline = Time::HiRes::time() + 5;
    while (1) {
        for my $raw ($t->audit_raw('audit.log')) {
            my $rec = eval { JSON::PP->new->utf8->decode($raw) } or next;
            return ($rec, $raw)
                if ($rec->{requestId} // '') eq ($rid // '')
                && ($rec->{event} // 'result') eq 'result';
        }
        return () if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
}

# the JSON token a top-level scalar field has in the raw line: the fields
# before "response" come first, so the first match is the top-level one
sub token {
    my ($raw, $key) = @_;
    return $1 if ($raw // '') =~ /"\Q$key\E":(null|true|false|-?[0-9]+
                                   (?:\.[0-9]+)?|"(?:[^"\\]|\\.)*")/x;
    return undef;
}

sub slurp {
    open(my $fh, '<:raw', $t->path($_[0])) or return '';
    local $/;
    return <$fh> // '';
}

sub is_null_upstream {
    my ($raw, $what) = @_;
    is_deeply([map { token($raw, $_) } qw(upstreamStatus upstreamTimeMs
              responseBytes responseSha256 responseTruncated responseValid)],
              [('null') x 6], "$what: upstream fields are null");
    unlike($raw // '', qr/"response":/, "$what: no response object");
}

# --- an allowed exec: every field -------------------------------------------

$mock->clear;
my $uri = "$path/42/exec?overrideuserids=7,8";
my $r = req('POST', $uri, headers => ['X-Caller' => 'alice',
                                      'Content-Type' => 'application/json']);
$allowed++;
is($r->{status}, 200, 'allowed exec is answered');
my $body = MockEci::default_body(42);
is($r->{body}, $body, 'the caller got the upstream body');
is($mock->last_request->{target},
   "$path/42/exec?overrideUserIds=7&overrideUserIds=8",
   'the upstream got the canonical target');

my $rid = $r->{headers}{'x-request-id'};
my ($line, $raw) = result_for($rid);
ok($line, 'the allowed exec has a result line') or diag($t->audit_raw);
$line ||= {};

like($line->{time} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\z/,
     'time: RFC 3339, UTC, milliseconds');
if (($line->{time} // '') =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)/) {
    my $ts = Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1);
    ok(abs($ts - time) < 60, 'time: close to now');
} else {
    fail('time: close to now');
}
is($line->{requestId}, $rid, 'requestId is the X-Request-Id');
is($line->{principal}, 'alice', 'principal');
is($line->{client}, '127.0.0.1', 'client');
is($line->{method}, 'POST', 'method');
is($line->{uri}, $uri, 'uri as received, with its query spelling');
is(token($raw, 'reportDistributionId'), '42',
   'reportDistributionId, a number');
is_deeply($line->{overrideUserIds}, [7, 8], 'overrideUserIds [7,8]');
like($raw // '', qr/"overrideUserIds":\[7,8\]/, 'overrideUserIds numbers');
is($line->{decision}, 'allow', 'decision allow');
is(token($raw, 'error'), 'null', 'error null');
is(token($raw, 'status'), '200', 'status 200, a number');
is(token($raw, 'upstreamStatus'), '200', 'upstreamStatus 200');
like(token($raw, 'upstreamTimeMs') // '', qr/^[0-9]+\z/,
     'upstreamTimeMs an integer >= 0');
is(token($raw, 'responseBytes'), length($body),
   'responseBytes is the body length');
is($line->{responseSha256}, sha256_hex($body),
   'responseSha256 is the SHA-256 of the body');
is(token($raw, 'responseTruncated'), 'false', 'responseTruncated false');
is(token($raw, 'responseValid'), 'true', 'responseValid true');
is_deeply($line->{response}, {
    reportDistributionLogId => 1042,
    status                  => 'Complete',
    numberOfRecipients      => 1,
    beginDate               => '2026-03-30T10:00:00Z',
    endDate                 => '2026-03-30T10:00:05Z',
    reportDistributionId    => 42,
    reportCode              => 'RPT',
    reportDistributionName  => 'Daily',
    createdByUserId         => 1,
}, 'response holds the fields of the upstream body') or diag($raw);

my @intent = grep { ($_->{event} // '') eq 'intent'
                     && ($_->{requestId} // '') eq $rid }
             $t->audit_lines('audit.log');
is(scalar(@intent), 1, 'the allowed exec has one intent line too');

# --- "In Progress": endDate null or absent ----------------------------------

my $dflt = JSON::PP->new->decode(MockEci::default_body(42));
for my $case ('null', 'absent') {
    my %b = (%$dflt, status => 'In Progress');
    if ($case eq 'null') { $b{endDate} = undef } else { delete $b{endDate} }
    my $text = JSON::PP->new->canonical->encode(\%b);
    $mock->set(body => $text);
    $r = req('POST', "$path/42/exec", headers => ['X-Caller' => 'alice']);
    $allowed++;
    is($r->{body}, $text, "In Progress, endDate $case: body passed on");
    my ($p, $praw) = result_for($r->{headers}{'x-request-id'});
    $p ||= {};
    is(token($praw, 'responseValid'), 'true',
       "In Progress, endDate $case: responseValid true");
    is($p->{response}{status}, 'In Progress',
       "In Progress, endDate $case: response.status");
    ok(ref $p->{response} && exists $p->{response}{endDate}
       && !defined $p->{response}{endDate},
       "In Progress, endDate $case: response.endDate null");
}
$mock->reset;

# --- eci_audit_body_max 100 with a 1000-byte body ---------------------------

my %big = %$dflt;
$big{reportDistribution} = { %{ $dflt->{reportDistribution} },
                             reportDistributionName => '' };
my $base = length JSON::PP->new->canonical->encode(\%big);
$big{reportDistribution}{reportDistributionName} = 'n' x (1000 - $base);
my $bigtext = JSON::PP->new->canonical->encode(\%big);
is(length $bigtext, 1000, 'the test body is 1000 bytes of valid JSON');
$mock->set(body => $bigtext);
$r = req('POST', "$path/42/exec", headers => ['X-Caller' => 'alice'],
         port => $t->port(1));
$allowed++;
is($r->{status}, 200, 'body over eci_audit_body_max: answered');
is($r->{body}, $bigtext, 'body over eci_audit_body_max: the caller gets '
   . 'the whole body byte-identical');
my ($c, $craw) = result_for($r->{headers}{'x-request-id'});
is(token($craw, 'responseTruncated'), 'true', 'responseTruncated true');
is(token($craw, 'responseValid'), 'false', 'responseValid false');
is(token($craw, 'responseBytes'), '1000', 'responseBytes 1000');
is(($c || {})->{responseSha256}, sha256_hex($bigtext),
   'responseSha256 over the whole body');
unlike($craw // '', qr/"response":/, 'no response object');
$mock->reset;

# --- denied and invalid requests --------------------------------------------

$mock->clear;
my @bad = (
    [403, 'forbidden', 'POST', "$path/43/exec", 'bob', 43],
    [400, 'invalid_request', 'POST', "$path/042/exec", 'alice'],
    [404, 'not_found', 'POST', '/api/v202106/somethingelse', 'alice'],
    [405, 'method_not_allowed', 'GET', "$path/42/exec", 'alice', 42],
    [401, 'unauthenticated', 'POST', "$path/42/exec", undef, 42],
);
my %denied_rid;
for my $b (@bad) {
    my ($st, $code, $m, $u, $who, $id) = @$b;
    $r = req($m, $u, headers => [defined $who ? ('X-Caller' => $who) : ()]);
    my $what = "$st $code";
    is($r->{status}, $st, "$what: refused");
    my $rrid = $r->{headers}{'x-request-id'};
    $denied_rid{$st} = $rrid;
    my ($d, $draw) = result_for($rrid);
    ok($d, "$what: audited") or next;
    is($d->{decision}, 'deny', "$what: decision deny");
    is($d->{error}, $code, "$what: error $code");
    is(token($draw, 'status'), $st, "$what: status $st");
    is($d->{method}, $m, "$what: method");
    is($d->{uri}, $u, "$what: uri");
    is($d->{reportDistributionId}, $id, "$what: reportDistributionId")
        if defined $id;
    is($d->{principal}, $who, "$what: principal") if $st == 403 || $st == 401;
    is_null_upstream($draw, $what);
}
is(scalar(my @none = $mock->requests), 0, 'no refused request went upstream');

# --- a uri over 2 KiB is cut ------------------------------------------------

my $long = "$path/42/exec?overrideUserIds=" . join(',', (7, 8) x 800);
ok(length($long) > 3000, 'the long uri is over 2 KiB');
$r = req('POST', $long, headers => ['X-Caller' => 'alice']);
$allowed++;
is($r->{status}, 200, 'a long (duplicate-id) override list is served');
my ($l) = result_for($r->{headers}{'x-request-id'});
is(($l || {})->{uri}, substr($long, 0, 2048),
   'the audit uri is the received one cut at 2048 bytes');
is_deeply(($l || {})->{overrideUserIds}, [7, 8],
          'its overrideUserIds are the distinct ids');

# --- principals that need escaping ------------------------------------------

my @who = (
    ['a"quote',            qq(a"quote)],
    ['back\\slash',        'back\\slash'],
    ["tab\there",          "tab\there"],
    ["caf\xc3\xa9",        "caf\x{e9}"],
    ["bad\xffbyte",        "bad\x{fffd}byte"],
    ['p' x 4096,           'p' x 4096],
);
for my $w (@who) {
    my ($sent, $want) = @$w;
    my $label = length($sent) > 40 ? '4 KiB principal'
                                   : 'principal ' . JSON::PP->new->ascii
                                         ->encode([$want]);
    $r = req('POST', "$path/42/exec", headers => ['X-Caller' => $sent]);
    is($r->{status}, 403, "$label: unknown, refused");
    my $prid = $r->{headers}{'x-request-id'};
    # result_for waits; then count the lines that carry the id
    my ($p, $praw) = result_for($prid);
    my @lines = grep { /\Q$prid\E/ } $t->audit_raw('audit.log');
    is(scalar(@lines), 1, "$label: exactly one audit line");
    ok($praw && eval { JSON::PP->new->utf8->decode($praw); 1 },
       "$label: the line is valid JSON");
    is(($p || {})->{principal}, $want, "$label: principal recorded exactly");
}

# --- eci_audit_log off -------------------------------------------------------

my $before = () = $t->audit_lines('audit.log');
opendir(my $dh, $t->dir) or die;
my %files = map { $_ => 1 } readdir $dh;
closedir $dh;
$mock->clear;
$r = req('POST', "$path/42/exec", headers => ['X-Caller' => 'alice'],
         port => $t->port(2));
is($r->{status}, 200, 'eci_audit_log off: the exec works');
is(scalar(my @o = $mock->requests), 1, 'eci_audit_log off: forwarded');
# a later audited request proves the writer has caught up
$r = req('POST', "$path/42/exec", headers => ['X-Caller' => 'bob']);
$allowed++;
result_for($r->{headers}{'x-request-id'});
my $after = () = $t->audit_lines('audit.log');
is($after - $before, 2,
   'eci_audit_log off: no line (only the next audited exec\'s two)');
opendir($dh, $t->dir) or die;
my @new = grep { !$files{$_} } readdir $dh;
closedir $dh;
is_deeply(\@new, [], 'eci_audit_log off: no audit file written');

# --- one line per request ---------------------------------------------------

my @recs = $t->audit_lines('audit.log');
my @res  = grep { ($_->{event} // 'result') eq 'result' } @recs;
is(scalar(@res), scalar(@sent),
   'one result line for each of the ' . scalar(@sent) . ' requests');
is_deeply([sort map { $_->{requestId} } @res], [sort @sent],
          'each request id has its own result line');
is(scalar(grep { ($_->{event} // '') eq 'intent' } @recs), $allowed,
   "and one intent line for each of the $allowed allowed execs");

# --- the $eci_* variables in access_log --------------------------------------

$mock->clear;
my $ok = req('POST', "$path/42/exec", headers => ['X-Caller' => 'alice']);
$allowed++;
my $no = req('POST', "$path/43/exec", headers => ['X-Caller' => 'bob']);
my %var;
my $deadline = Time::HiRes::time() + 5;
while (1) {
    open(my $fh, '<', $t->path('eci-access.log'));
    for my $line (<$fh>) {
        chomp $line;
        my ($id, $rest) = split / /, $line, 2;
        $var{$id} = $rest;
    }
    last if (defined $var{ $ok->{headers}{'x-request-id'} // '' }
             && defined $var{ $no->{headers}{'x-request-id'} // '' })
         || Time::HiRes::time() > $deadline;
    Time::HiRes::sleep(0.05);
}
is($var{ $ok->{headers}{'x-request-id'} // '' }, 'alice allow - 42 1042',
   'variables of an allowed exec: alice allow - 42 1042');
is($var{ $no->{headers}{'x-request-id'} // '' }, 'bob deny forbidden 43 -',
   'variables of a denied exec: bob deny forbidden 43 -');

# --- room reserved ahead -----------------------------------------------------
#
# A worker keeps 4 MB allocated beyond the audit file's end (fallocate with
# FALLOC_FL_KEEP_SIZE), so appends need no block allocation at writeback;
# the file's size and bytes stay exactly its lines.

SKIP: {
    skip "this file system keeps no room beyond a file's end", 3
        unless $t->can_reserve_room;

    my @st = stat($t->path('audit.log'));
    my $data = slurp($t->path('audit.log'));
    cmp_ok($st[12] * 512, '>=', $st[7] + 3 * 1024 * 1024,
           "the audit file has room reserved beyond its end ($st[7] bytes, "
           . $st[12] * 512 . ' allocated)');
    is(length($data), $st[7], 'its size is what reading it gives');
    ok($data =~ /\n\z/ && $data !~ /\0/,
       'and its end is the end of its last line: no reserved byte in it');
}

# --- the key is nowhere -------------------------------------------------------

result_for($no->{headers}{'x-request-id'});
my $all = join "\n", $t->audit_raw('audit.log'),
    map({ slurp($_) } qw(access.log eci-access.log)),
    $t->error_log, map { $_->{raw} } @responses;
unlike($all, qr/\Q$KEY\E/,
       'the key is in no audit line, access log, error log or response');

$t->done;
done_testing;
