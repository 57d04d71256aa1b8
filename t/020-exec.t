# The exec path end to end: an allowed exec is forwarded in canonical form
# with exactly the keystore's key, answered unchanged and audited.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;

my $KEY = 'eci-live-key-7f3a9c1e';

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({
    principals => {
        'svc-reporting' => EciTest::grant('*', [7, 8]),
        'CN=bi-batch,O=Acme' => { groups => ['report-operators'] },
    },
    groups => {
        'report-operators' => EciTest::grant([1, 2, 42]),
    },
});

$t->write_config($t->gateway_config($acl, http11 => 1,
    directives => 'proxy_set_header X-Request-Id $request_id;',
    locations => <<'EOF',
location /plain/ {
    proxy_pass http://127.0.0.1:%%MOCK%%;
}
EOF
    # $request_id evaluated before the gateway (rewrite phase) is kept
    servers => EciTest::gateway_server($acl, port => '%%PORT1%%',
                                       audit => 'off', directives => <<'EOF')));
set $early $request_id;
add_header X-Early-Id $early always;
EOF

$t->start;
my $mock = $t->mock;

my $path = '/api/v202106/reportdistribution';

# --- an allowed exec --------------------------------------------------------

my $r = $t->request('POST', "$path/42/exec?overrideUserIds=7",
                    headers => ['X-Caller' => 'svc-reporting',
                                'Content-Type' => 'application/json']);

is($r->{status}, 200, 'allowed exec is answered by the upstream');
my @got = $mock->requests;
is(scalar @got, 1, 'the upstream received the exec once');
like($r->{body}, qr/"reportDistributionLogId":1042/,
     'the upstream body reaches the caller');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}$/,
     'the response carries X-Request-Id');
is($got[0]{method}, 'POST', 'forwarded as POST');
is($got[0]{target}, "$path/42/exec?overrideUserIds=7",
   'forwarded target is the canonical one');
is_deeply([MockEci::header_values($got[0], 'ECI-ApiKey')], [$KEY],
          'exactly one ECI-ApiKey, the keystore key, went upstream');
is_deeply([MockEci::header_values($got[0], 'X-Request-Id')],
          [$r->{headers}{'x-request-id'}],
          '$request_id in proxy_set_header is the X-Request-Id');

is($t->wait_for_lines('audit.log', 2), 2,
   'an allowed exec has two audit lines');
my ($intent, $line) = $t->audit_lines('audit.log');
is($intent->{event}, 'intent', 'the first, written before forwarding, '
   . 'is the intent');
is($intent->{requestId}, $line->{requestId}, 'both carry one requestId');
is_deeply([@$intent{qw(principal reportDistributionId)}],
          ['svc-reporting', 42], 'the intent says who and what');
is($line->{event}, 'result', 'the second is the result');
is($line->{decision}, 'allow', 'audited as allowed');
is($line->{principal}, 'svc-reporting', 'audit names the principal');
is($line->{requestId}, $r->{headers}{'x-request-id'},
   'audit requestId is the X-Request-Id the caller got');
is($line->{reportDistributionId}, 42, 'audit names the id');
is_deeply($line->{overrideUserIds}, [7], 'audit names the overrides');
is($line->{response}{reportDistributionLogId}, 1042,
   'audit carries the parsed ReportDistributionLogResponse');

# --- a group grant ----------------------------------------------------------

$mock->clear;
$r = $t->request('POST', "$path/2/exec",
                 headers => ['X-Caller' => 'CN=bi-batch,O=Acme']);
is($r->{status}, 200, 'a group grant allows its ids');
is(scalar(my @a = $mock->requests), 1, 'and the exec was forwarded');

$r = $t->request('POST', "$path/3/exec",
                 headers => ['X-Caller' => 'CN=bi-batch,O=Acme']);
is($r->{status}, 403, 'an id outside the group grant is refused');
my $err = $t->json($r);
is($err->{error}, 'forbidden', 'refusal says forbidden');
is($err->{requestId}, $r->{headers}{'x-request-id'},
   'error body requestId matches X-Request-Id');
like($r->{headers}{'content-type'}, qr{^application/json},
     'error body is JSON');
is(scalar(my @b = $mock->requests), 1, 'the refused exec was not forwarded');

# --- overrides are opt-in ---------------------------------------------------

$r = $t->request('POST', "$path/2/exec?overrideUserIds=7",
                 headers => ['X-Caller' => 'CN=bi-batch,O=Acme']);
is($r->{status}, 403, 'a principal without overrideUserIds may not override');
like($t->json($r)->{message}, qr/\b7\b/, 'the message names the user id');

$r = $t->request('POST', "$path/42/exec?overrideUserIds=7,9",
                 headers => ['X-Caller' => 'svc-reporting']);
is($r->{status}, 403, 'one override outside the grant refuses the exec');
is(scalar(my @c = $mock->requests), 1, 'neither was forwarded');

# --- the key stays in the gateway ------------------------------------------

$r = $t->request('POST', "$path/1/exec",
                 headers => ['X-Caller' => 'svc-reporting',
                             'ECI-ApiKey' => 'caller-key']);
is($r->{status}, 200, 'a caller-sent key does not stop the exec');
@got = $mock->requests;
is_deeply([MockEci::header_values($got[-1], 'ECI-ApiKey')], [$KEY],
          'the caller-sent key was replaced by the keystore key');

$mock->clear;
$r = $t->request('POST', '/plain/x',
                 headers => ['X-Caller' => 'svc-reporting']);
@got = $mock->requests;
is(scalar @got, 1, 'a location without eci_gateway proxies as usual');
is_deeply([MockEci::header_values($got[0], 'ECI-ApiKey')], [],
          'and attaches no key');
ok(!exists $r->{headers}{'x-request-id'}, 'and adds no X-Request-Id');

# --- request ids: nginx's format, unique, one per request -------------------

# the gateway draws $request_id from a per-worker random buffer of 256 ids;
# 600 requests cross two refills
my (%ids, $bad, $early_same);
$bad = 0;
$early_same = 0;
for my $i (1 .. 600) {
    my $q = $t->request('POST', "$path/42/exec",
                        headers => ['X-Caller' => 'svc-reporting'],
                        port => $t->port(1));
    my $id = $q->{headers}{'x-request-id'} // '';
    $bad++ unless $q->{status} == 200 && $id =~ /^[0-9a-f]{32}\z/;
    $ids{$id}++;
    $early_same++ if ($q->{headers}{'x-early-id'} // '') eq $id;
}
is($bad, 0, '600 execs: each answered 200 with a 32-hex-digit request id');
is(scalar(keys %ids), 600, 'and no id was handed out twice');
is($early_same, 600, 'a $request_id evaluated before the gateway is the '
   . 'one the gateway uses');
$mock->clear;

is($t->wait_for_lines('audit.log', 9), 9,
   'every request in the gateway location was audited, none outside');
my @events = map { $_->{event} } $t->audit_lines('audit.log');
is(scalar(grep { $_ eq 'result' } @events), 6, 'one result line a request');
is(scalar(grep { $_ eq 'intent' } @events), 3,
   'and an intent line for each of the three allowed execs');
my @all = $t->audit_lines('audit.log', all => 1);
is_deeply([map { $_->{seq} } @all], [1 .. @all],
          'the lines carry one sequence');
my $all = join '', $t->audit_raw('audit.log'), $t->error_log;
unlike($all, qr/\Q$KEY\E/,
       'the key is in neither the audit nor the error log');

$t->done;
done_testing;
