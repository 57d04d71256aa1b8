#!/usr/bin/perl

# eci_acl_candidate (issue 15): a candidate ACL decides every request
# beside the enforced one; only the enforced one decides, a disagreement
# is in the result line and counted by direction.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;


my $t = EciTest->new;
my ($store, $master) = $t->make_keystore;
my $enforced = $t->write_acl({ principals => {
    alice => EciTest::grant([42, 44]),
} }, 'acl.json');
my $candidate = $t->write_acl({ principals => {
    alice => EciTest::grant([42, 43]),
    bob   => EciTest::grant([42]),
} }, 'candidate.json');

$t->write_config($t->http_config(access_log => 'off', servers => [
    EciTest::gateway_server($enforced, metrics => 1,
                            directives => "eci_acl_candidate $candidate;"),
    # the same without a candidate
    EciTest::gateway_server($enforced, port => '%%PORT1%%'),
]));
$t->start;

sub exec_as {
    my ($who, $id, $server) = @_;
    my $r = $t->exec_as($who, $id, port => $t->port($server // 0));
    return ($r->{status}, $t->audit_record($r->{headers}{'x-request-id'}) || {});
}

sub disagreements {
    my $m = $t->request('GET', '/metrics')->{body} // '';
    my %n;
    while ($m =~ /^eci_acl_candidate_disagreements_total\{enforced="(\w+)",candidate="(\w+)"\} (\d+)$/mg) {
        $n{"$1/$2"} = $3;
    }
    return \%n;
}

is_deeply(disagreements(), { 'allow/deny' => 0, 'deny/allow' => 0 },
          'no disagreement yet');

my ($s, $a) = exec_as('alice', 42);
is($s, 200, 'both allow: served');
ok(!exists $a->{candidateDecision}, 'both allow: no candidate field');

($s, $a) = exec_as('alice', 44);
is($s, 200, 'enforced allows, candidate denies: served (enforced decides)');
is($a->{candidateDecision}, 'deny', 'the result line says the candidate '
   . 'would deny');
is($a->{candidateReason},
   'report distribution id is not allowed for the principal',
   'and why');

($s, $a) = exec_as('alice', 43);
is($s, 403, 'enforced denies, candidate allows: refused');
is($a->{candidateDecision}, 'allow', 'the result line says the candidate '
   . 'would allow');
is($a->{candidateReason}, 'allowed', 'its reason');

($s, $a) = exec_as('bob', 42);
is($s, 403, 'a principal only the candidate knows: refused');
is($a->{candidateDecision}, 'allow', 'the candidate would allow bob');

is_deeply(disagreements(), { 'allow/deny' => 1, 'deny/allow' => 2 },
          'eci_status counts the disagreements by direction');

($s, $a) = exec_as('alice', 44, 1);
is($s, 200, 'without a candidate: served');
ok(!exists $a->{candidateDecision}, 'without a candidate: no field');
is_deeply(disagreements(), { 'allow/deny' => 1, 'deny/allow' => 2 },
          'without a candidate: nothing counted');

$t->done;


# --- nginx -t checks the candidate as it checks the ACL -----------------------

my $c = EciTest->new;
$c->allow_log(qr/\[emerg\]/);
my $bad = $c->write_acl({ principals => { x => { colour => 1 } } }, 'bad.json');
$c->write_config(EciTest::location_config("eci_acl_candidate $bad;"));
my ($rc, $out) = $c->nginx_test;
isnt($rc, 0, 'a bad candidate ACL: nginx -t fails');
like($out, qr/eci_acl_candidate "[^"]*bad\.json": principals\."x"\.colour: unknown key in \S+nginx\.conf:\d+/,
     'a bad candidate ACL: the file, the place and the problem');
$c->done;

done_testing;
