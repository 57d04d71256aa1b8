# eci_status: Prometheus text counted across all workers, checked against
# the requests this test made; and it never shows a key.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA ();
use Test::More;
use EciTest;

my $KEY = 'eci-status-test-key-5d2e';

my $t = EciTest->new;
$t->requires_master if $t->can('requires_master');

my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({
    principals => {
        alice => EciTest::grant([1, 2, 3]),
        bob => {},
    },
});

$t->write_config($t->gateway_config($acl, workers => 2, metrics => 1));

$t->start;

sub exec_as { $t->exec_as(@_) }

sub metrics { $t->metrics }

my ($r, $m) = metrics();
is($r->{status}, 200, 'eci_status answers');
like($r->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
     'in Prometheus text format');
is($m->{'eci_requests_total{decision="allow",error=""}'}, 0,
   'nothing counted before any request');

exec_as('alice', $_) for 1 .. 3;                    # 3 allowed
exec_as('alice', 9);                                # forbidden
exec_as('bob', 1);                                  # forbidden
exec_as('', 1);                                     # unauthenticated
exec_as('alice', 1, method => 'GET');               # method_not_allowed
$t->request('POST', '/api/v202106/reportdistribution/01/exec',
            headers => ['X-Caller' => 'alice']);     # invalid_request
$t->request('POST', '/api/other', headers => ['X-Caller' => 'alice']);
$t->mock->set(status => 500, body => 'oops');
exec_as('alice', 2);                                # allowed, upstream 5xx
$t->mock->reset;

$t->wait_for_lines('audit.log', 4 * 2 + 6);
($r, $m) = metrics();

for my $c (
    ['decision="allow",error=""', 4, 'allowed execs counted, across two workers'],
    ['decision="deny",error="forbidden"', 2, 'refusals counted by error code'],
    ['decision="deny",error="unauthenticated"', 1, 'unauthenticated counted'],
    ['decision="deny",error="method_not_allowed"', 1,
     'method_not_allowed counted'],
    ['decision="deny",error="invalid_request"', 1, 'invalid_request counted'],
    ['decision="deny",error="not_found"', 1, 'not_found counted'])
{
    is($m->{"eci_requests_total{$c->[0]}"}, $c->[1], $c->[2]);
}
for my $c (['2xx', 3, 'upstream 2xx answers counted'],
           ['5xx', 1, 'upstream 5xx answers counted'],
           ['none', 6, 'requests that were never forwarded counted'])
{
    is($m->{"eci_upstream_responses_total{class=\"$c->[0]\"}"}, $c->[1],
       $c->[2]);
}

# once a checkpoint has signed them, no line comes without a request
sub signed_lines {
    $t->wait_for_checkpoint('audit.log');
    return $t->audit_lines('audit.log', all => 1);
}

my $audit = $t->path('audit.log');
my @all = signed_lines();
($r, $m) = metrics();
is(scalar(grep { !$_->{sig} } @all), 14,
   'audit lines: one intent and one result an exec, one a refusal');
is($m->{qq{eci_audit_lines_total{file="$audit"}}}, scalar @all,
   'all of them counted, and the chain\'s own signed lines');
is($m->{qq{eci_audit_failures_total{file="$audit"}}}, 0,
   'no audit failure');
is($m->{qq{eci_audit_chain_seq{file="$audit"}}}, $all[-1]{seq},
   'the chain sequence is the last line\'s seq');
is($m->{qq{eci_audit_chain_signed_seq{file="$audit"}}}, $all[-1]{seq},
   'and a checkpoint signed it');

is($m->{qq{eci_acl_principals{file="$acl"}}}, 2, 'ACL principals loaded');
like($m->{qq{eci_acl_load_seconds{file="$acl"}}} // '', qr/^\d+\.\d{6}$/,
     'ACL load time');
my $fpr = substr(Digest::SHA::sha256_hex($KEY), 0, 16);
is($m->{qq{eci_keystore_key_info{keystore="$store",name="default",fingerprint="$fpr"}}},
   1, 'the key is shown by its fingerprint');
like($m->{qq{eci_keystore_load_seconds{keystore="$store"}}} // '',
     qr/^\d+\.\d{6}$/, 'keystore load time');
unlike($r->{body}, qr/\Q$KEY\E/, 'the key itself is never shown');

# counters survive a reload
ok($t->reload, 'reload');
exec_as('alice', 1);
$t->wait_for_lines('audit.log', 16);
my $before = $all[-1]{seq};
@all = signed_lines();
($r, $m) = metrics();
is($m->{'eci_requests_total{decision="allow",error=""}'}, 5,
   'counters go on after a reload');
is($m->{qq{eci_audit_chain_seq{file="$audit"}}}, $all[-1]{seq},
   'and so does the chain');
cmp_ok($all[-1]{seq}, '>=', $before + 2, 'one chain, on from before');

$r = $t->request('POST', '/metrics');
is($r->{status}, 405, 'eci_status takes GET only');

$t->done;
done_testing;
