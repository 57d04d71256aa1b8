#!/usr/bin/perl

# One key per team (issue 15): a grant's "apiKey" picks that keystore key
# for the execs it allows (the location's key otherwise); nginx -t refuses
# a name the keystore does not have; the audit names the key and its
# fingerprint, never the key; eci_status counts execs and upstream 401s by
# key name.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;

my $PERM = $EciTest::PERM;
my %KEY = (default => 'team-default-key-2b7e01', finance => 'team-finance-key-9c44aa',
           hr => 'team-hr-key-51d0e3');

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => \%KEY);
my $acl = $t->write_acl({
    principals => {
        alice => { permissions => [$PERM], reportDistributionIds => [42],
                   groups => ['finance-reports'] },
        bob   => { permissions => [$PERM], reportDistributionIds => [7],
                   apiKey => 'hr' },
    },
    groups => {
        'finance-reports' => { permissions => [$PERM],
                               reportDistributionIds => [100],
                               apiKey => 'finance' },
    },
});

$t->write_config($t->gateway_config($acl, access_log => 'off',
                                    metrics => 1));
$t->start;
my $mock = $t->mock;
$mock->clear;

my @raw;

sub exec_as {
    my ($who, $id) = @_;
    my $r = $t->exec_as($who, $id);
    push @raw, $r->{raw} // '';
    my ($m) = $mock->requests;
    $mock->clear;
    return ($r, $m || { headers => [] },
            $t->audit_record($r->{headers}{'x-request-id'}) || {});
}

sub fingerprint_of {
    my ($name) = @_;
    my $body = $t->request('GET', '/metrics')->{body} // '';
    return $body =~ /eci_keystore_key_info\{[^}]*name="\Q$name\E",fingerprint="([^"]+)"\}/
        ? $1 : undef;
}

for my $c (['alice', 42,  'default', 'its own grant names no key: the '
                                     . 'location\'s key'],
           ['alice', 100, 'finance', 'allowed by the group that names '
                                     . '"finance"'],
           ['bob',   7,   'hr',      'its own grant names "hr"'])
{
    my ($who, $id, $name, $what) = @$c;
    my ($r, $m, $a) = exec_as($who, $id);
    is($r->{status}, 200, "$who $id: served");
    is_deeply([MockEci::header_values($m, 'ECI-ApiKey')], [$KEY{$name}],
              "$who $id: $what");
    is($a->{apiKey}, $name, "$who $id: the result line names key $name");
    is($a->{apiKeyFingerprint}, fingerprint_of($name),
       "$who $id: and its fingerprint, as eci_status shows it");
    my $i = $t->audit_record($r->{headers}{'x-request-id'}, 'intent') || {};
    is($i->{apiKey}, $name, "$who $id: so does the intent line");
}

{
    my ($r, $m, $a) = exec_as('bob', 8);
    is($r->{status}, 403, 'a denied exec: refused');
    ok(!exists $a->{apiKey}, 'a denied exec names no key');
}

{
    # ECI revokes hr's key
    $mock->set(status => 401);
    my ($r) = exec_as('bob', 7);
    is($r->{status}, 502, 'hr\'s key rejected: 502 upstream_rejected_key');
    $mock->reset;
    $t->allow_log(qr/rejected API key/);

    my $body = $t->request('GET', '/metrics')->{body} // '';
    my %execs = $body =~ /^eci_key_execs_total\{name="([^"]+)"\} (\d+)$/mg;
    my %rej = $body =~ /^eci_key_upstream_rejected_total\{name="([^"]+)"\} (\d+)$/mg;
    is($execs{finance}, 1, 'eci_status: one exec with finance');
    is($execs{hr}, 2, 'eci_status: two execs with hr');
    is($execs{default}, 1, 'eci_status: one exec with default');
    is($rej{hr}, 1, 'eci_status: the 401 is counted for hr');
    is($rej{finance}, 0, 'eci_status: none for finance');
    ok(!exists $execs{'audit-chain'} || $execs{'audit-chain'} == 0,
       'the audit key sends nothing');
}

my $all = join "\n", @raw, $t->audit_raw('audit.log'), $t->error_log;
for my $name (sort keys %KEY) {
    unlike($all, qr/\Q$KEY{$name}\E/,
           "key $name is in no response, audit line or log");
}
$t->done;


# --- nginx -t: every "apiKey" must be a key of the keystore --------------------

my $c = EciTest->new;
$c->make_keystore(keys => { default => 'cfg-default-key-x1' });
$c->allow_log(qr/\[emerg\]/);
for my $bad (['payroll', qr/"apiKey": "payroll" is not an API key in keystore/],
             ['audit-chain', qr/"apiKey": "audit-chain" is not an API key/])
{
    my ($name, $like) = @$bad;
    my $cacl = $c->write_acl({ principals => {
        x => { permissions => [$PERM], apiKey => $name } } });
    $c->config_refused("apiKey $name",
        $c->gateway_config($cacl, audit => 'off',
                           proxy => 'http://127.0.0.1:1'), $like);
}
{
    my $cacl = $c->write_acl({ principals => {
        x => { permissions => [$PERM], apiKey => 'bad name!' } } });
    $c->write_config(EciTest::location_config("eci_acl $cacl;"));
    my ($rc, $out) = $c->nginx_test;
    like($out, qr/principals\."x"\.apiKey: must be the name of a keystore key/,
         'a malformed apiKey: nginx -t says where');
}
$c->done;

done_testing;
