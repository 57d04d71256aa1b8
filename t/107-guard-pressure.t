#!/usr/bin/perl

# The duplicate guard under pressure (issue 17): entries whose rbtree keys
# collide are still found after rotations; a full zone evicts the oldest
# entries, which is logged and counted, and eci_exec_guard's zone= sizes it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore;
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });

$t->write_config($t->gateway_config($acl, access_log => 'off',
    audit => 'off', metrics => 1,
    # the smallest zone: a burst evicts
    directives => 'eci_exec_guard 60s zone=32k;'));

$t->start;
my $mock = $t->mock;

sub exec_id {
    my ($id, $server) = @_;
    return $t->exec_as('alice', $id, port => $t->port($server // 0))->{status};
}


# --- keys that collide -------------------------------------------------------

# 46973 and 80183 share the first 32 bits of their digest (the rbtree key);
# with exec 4 in between, the tree rotates and puts the equal keys so that
# one is found on the left
is(exec_id(46973), 200, 'exec 46973');
is(exec_id(80183), 200, 'exec 80183 (the same rbtree key)');
is(exec_id(4), 200, 'exec 4 (a rotation)');
is(exec_id(46973), 409, 'exec 46973 again: refused as a duplicate');
is(exec_id(80183), 409, 'exec 80183 again: refused as a duplicate');
is(exec_id(4), 409, 'exec 4 again: refused as a duplicate');
is(scalar(my @m = $mock->requests), 3, 'only the three firsts went upstream');
$mock->clear;


# --- a full zone evicts, says so, and counts ---------------------------------

is($t->metric('eci_exec_guard_evictions_total'), 0, 'no eviction yet');

my $t0 = time;
my @status = map { exec_id(1000 + $_) } 1 .. 300;
my $elapsed = time - $t0 + 1;
is(scalar(grep { $_ != 200 } @status), 0, '300 distinct execs: all served');

my $evicted = $t->metric('eci_exec_guard_evictions_total');
ok(defined $evicted && $evicted > 0,
   "a 32k zone evicted unexpired entries (${\ ($evicted // 'none')})");
like($t->error_log,
     qr/exec guard zone is full: \d+ entries evicted before their window/,
     'the eviction is logged');
# rate-limited to once per 10 s: a slow machine may take longer than that
my $logged = () = $t->error_log =~ /exec guard zone is full/g;
ok($logged >= 1 && $logged <= 1 + int($elapsed / 10) && $logged < $evicted,
   "and logged once per 10 s ($logged in ${elapsed}s), not once per "
   . 'eviction');

is(exec_id(1001), 200,
   'the oldest exec was evicted: its repeat is no longer refused');
is(exec_id(1300), 409, 'a recent exec is still refused');
$mock->clear;

$t->allow_log(qr/exec guard zone is full/);
$t->done;


# --- zone= is checked ----------------------------------------------------------

my $c = EciTest->new;
$c->allow_log(qr/\[emerg\]/);
for my $bad (['zone=1k', qr/invalid eci_exec_guard zone size "1k"/],
             ['zone=lots', qr/invalid eci_exec_guard zone size "lots"/],
             ['size=1m', qr/invalid parameter "size=1m"/])
{
    my ($arg, $like) = @$bad;
    $c->config_refused("eci_exec_guard 60s $arg",
        EciTest::location_config("eci_exec_guard 60s $arg;"), $like);
}
$c->done;

done_testing;
