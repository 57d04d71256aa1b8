#!/usr/bin/perl

# eci-acl (issue 15): check validates as nginx -t does, with the same
# messages, and sums the ACL up; explain gives the decision and why; diff
# says what changes for whom.  Hostile files included.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use JSON::PP;

my $PERM = $EciTest::PERM;

my $t = EciTest->new;
my $tool = $t->root . '/build/eci-acl';
die "$tool is missing: build it with make\n" unless -x $tool;

sub acl {
    my ($name, $acl) = @_;
    return $t->write_acl($acl, $name);
}

sub run { $t->_run([$tool, @_]) }

my $old = acl('old.json', {
    principals => {
        'svc-etl'  => EciTest::grant([7, 42]),
        'bi-batch' => { groups => ['reporting'], permissions => [$PERM],
                        reportDistributionIds => [1], overrideUserIds => [5, 6] },
        'ops'      => { permissions => [$PERM], reportDistributionIds => '*',
                        allowDuplicateExec => JSON::PP::true() },
        "evil\e[31m" => EciTest::grant([3]),
    },
    groups => {
        reporting => EciTest::grant([100, 101], [9]),
    },
});
my $new = acl('new.json', {
    principals => {
        'svc-etl'  => EciTest::grant([42, 43]),
        'bi-batch' => { groups => ['reporting'], permissions => [$PERM],
                        reportDistributionIds => [1] },
        'svc-new'  => EciTest::grant('*', '*'),
        "evil\e[31m" => EciTest::grant([3]),
    },
    groups => {
        reporting => EciTest::grant([100, 101], [9]),
    },
});


# --- check ---------------------------------------------------------------------

{
    my ($rc, $out) = run('check', $old);
    is($rc, 0, 'check: a valid ACL exits 0');
    like($out, qr/^principals: 4$/m, 'check: counts the principals');
    like($out, qr/^groups: 1$/m, 'check: counts the groups');
    like($out, qr/^ids granted: every id \("\*"\), and 6 named$/m,
         'check: the ids granted');
    like($out, qr/^may override recipients: "bi-batch"$/m,
         'check: who may override recipients');
    like($out, qr/^may bypass the duplicate guard: "ops"$/m,
         'check: who may bypass the duplicate guard');
    unlike($out, qr/\e/, 'check: a hostile principal name is escaped');
}

# the same messages as nginx -t, for every kind of bad file
$t->allow_log(qr/\[emerg\]/);
for my $bad (["syntax.json", qq({"principals": {"a": {\n  "permissions": [}}}\n),
              qr/line 2 column \d+/],
             ["unknown.json", {principals => {x => {colour => 1}}},
              qr/principals\."x"\.colour: unknown key/],
             ["onechar.json", {principals => {x => EciTest::grant('5')}},
              qr/reportDistributionIds/],
             ["badgroup.json", {principals => {x => {groups => ['nope'],
                                                     permissions => [$PERM]}}},
              qr/nope/])
{
    my ($name, $acl, $like) = @$bad;
    my $path = acl($name, $acl);
    my ($rc, $out) = run('check', $path);
    is($rc, 1, "check $name: exits 1");
    like($out, $like, "check $name: says where and what");

    $t->write_config(EciTest::location_config("eci_acl $path;"));
    my (undef, $nginx) = $t->nginx_test;
    my ($msg) = $out =~ /^eci-acl: (eci_acl .*)$/m;
    ok(defined $msg && index($nginx, $msg) >= 0,
       "check $name: nginx -t says the same")
        or diag("eci-acl: $out\nnginx: $nginx");
}

{
    my ($rc, $out) = run('check', $t->path('missing.json'));
    is($rc, 1, 'check: a missing file exits 1');
    like($out, qr/missing\.json/, 'check: names the missing file');
}


# --- explain ---------------------------------------------------------------------

{
    my ($rc, $out) = run('explain', $old, 'bi-batch', '100', '--override', '9');
    is($rc, 0, 'explain: allowed exits 0');
    like($out, qr/^allow: allowed by group "reporting"$/m,
         'explain: names the group that allows it');

    ($rc, $out) = run('explain', $old, 'bi-batch', '1', '--override', '5');
    like($out, qr/^allow: allowed by its own entry$/m,
         'explain: names the principal\'s own entry');

    ($rc, $out) = run('explain', $old, 'bi-batch', '100', '--override', '9',
                      '--override', '5');
    is($rc, 1, 'explain: denied exits 1');
    like($out, qr/^deny: no single grant covers distribution 100 and every recipient; user 5 is not allowed$/m,
         'explain: says which recipient is missing');
    like($out, qr/closest: group "reporting" covers distribution 100 but not 1 of the 2 recipients \(first: user 5\)/,
         'explain: the closest grant first');

    ($rc, $out) = run('explain', $old, 'svc-etl', '8');
    like($out, qr/^deny: no grant with the permission covers distribution 8$/m,
         'explain: an id no grant covers');

    ($rc, $out) = run('explain', $old, 'nobody', '8');
    like($out, qr/^deny: the principal is not in the ACL$/m,
         'explain: an unknown principal');

    ($rc, $out) = run('explain', $old, 'svc-etl', '7', '--json');
    my $j = eval { JSON::PP->new->decode($out) } || {};
    is($j->{decision}, 'allow', 'explain --json: decision');
    is($j->{grant}, 'its own entry', 'explain --json: grant');

    ($rc, $out) = run('explain', $old, 'svc-etl', '0');
    is($rc, 2, 'explain: a bad id is a usage error');
}


# --- diff --------------------------------------------------------------------------

{
    my ($rc, $out) = run('diff', $old, $new);
    is($rc, 1, 'diff: changes exit 1');
    my @l = sort grep { length } split /\n/, $out;
    is_deeply(\@l, [sort
        '"bi-batch" loses override user 5',
        '"bi-batch" loses override user 6',
        '"ops" is removed and loses every exec',
        '"svc-etl" gains distribution 43',
        '"svc-etl" loses distribution 7',
        '"svc-new" gains every distribution',
        '"svc-new" gains recipient overrides (any user)',
        '"svc-new" is added',
    ], 'diff: one sentence per change, for each principal');

    ($rc, $out) = run('diff', $old, $old);
    is($rc, 0, 'diff: no change exits 0');
    like($out, qr/no principal's access changes/, 'diff: says so');

    ($rc, $out) = run('diff', $old, acl('bad2.json', '{'));
    is($rc, 2, 'diff: an unreadable ACL exits 2');
}

{
    my ($rc, $out) = run('--help');
    is($rc, 0, '--help exits 0');
    like($out, qr/usage: eci-acl check FILE/, '--help prints the usage');
    ($rc) = run('frobnicate');
    is($rc, 2, 'an unknown command exits 2');
}

$t->done;
done_testing;
