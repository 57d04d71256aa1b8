# The audit across restarts, rotations and upgrades: a file whose end was
# cut is found at the next start and said in a signed discontinuity line
# (and an alert); honest operations (mv + USR1 then a restart, a binary
# upgrade with USR2, several gateways' lines gathered in one file) verify,
# chain by chain.  And eci-audit show escapes what a caller put in a
# header before it reaches an auditor's terminal.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;

my $t = EciTest->new;
$t->requires_master;

my ($store, $master) = $t->make_keystore(keys => { default => 'k-072' });
my $pub = $t->pubkey($store, $master);
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });

sub config {
    my ($audit) = @_;
    return $t->gateway_config($acl, audit => $audit);
}

sub exec_as {
    my ($who, $id, $tt) = @_;
    return ($tt // $t)->exec_as($who, $id);
}



my $log = $t->path('audit.log');
$t->write_config(config());

# --- the end of the file cut, then a restart -------------------------------

my $cuts = 0;

for my $case (['at a checkpoint', 1], ['in unsigned lines', 0]) {
    my ($how, $at_checkpoint) = @$case;

    unlink $log;
    $t->start;
    exec_as('alice', 1);
    exec_as('alice', 2);
    ok($t->wait_for_checkpoint('audit.log'), "$how: a checkpoint");
    exec_as('alice', 3);
    $t->stop;

    # the cut takes the end: the stop line, and back to the checkpoint or
    # into the lines before it
    my @l = EciTest::file_lines($log);
    pop @l until $l[-1] =~ /"event":"checkpoint"/;
    pop @l if !$at_checkpoint;
    my ($chain, $seq) = $l[-1] =~ /"seq":(\d+),"chain":"([^"]+)"/
        ? ($2, $1) : die 'no seq';
    $t->write_lines($log, @l);

    # before the fix this verified clean: a checkpoint is a checkpoint
    $t->allow_log(qr/\[alert\].*audit file "\Q$log\E": discontinuity: chain \Q$chain\E ends at seq $seq without its stop line/);
    $t->start;
    my $alert = $t->wait_for_log(qr/\[alert\].*discontinuity/, ++$cuts);
    like($alert, qr/\[alert\] .*eci: audit file "\Q$log\E": discontinuity: chain \Q$chain\E ends at seq $seq without its stop line/,
         "$how: the restart finds the cut and logs an alert");

    my @all = $t->audit_lines('audit.log', all => 1);
    my ($gap) = grep { ($_->{event} // '') eq 'discontinuity' } @all;
    ok($gap, "$how: and writes a discontinuity line");
    ok($gap && $gap->{sig} && $gap->{seq} == 2 && $gap->{chain} ne $chain,
       "$how: signed, right after the new chain's start");
    like($gap->{found} // '', qr/chain \Q$chain\E ends at seq $seq without its stop line/,
         "$how: naming what it found");

    my ($rc, $out) = $t->verify($pub, $log);
    is($rc, 3, "$how: eci-audit verify exits 3: intact, with a reported "
               . 'discontinuity') or diag $out;
    like($out, qr/audit\.log:\d+: chain \S+ seq 2: the gateway reports a discontinuity: chain \Q$chain\E ends at seq $seq/,
         "$how: and shows it");
    $t->stop;
}

# a file whose end was never cut starts the next chain without an alert
unlink $log;
$t->start;
exec_as('alice', 4);
$t->stop;
$t->start;
exec_as('alice', 5);
$t->stop;
my ($rc, $out) = $t->verify($pub, $log);
is($rc, 0, 'stop and start: no discontinuity') or diag $out;
unlike($out, qr/discontinuity/, 'none reported');

# --- a file of the old HMAC chain goes on in the signed one ----------------

$t->write_lines($log, '{"time":"2026-11-29T07:05:03.101Z","event":"result",'
                  . '"requestId":"0123456789abcdef0123456789abcdef",'
                  . '"decision":"deny","seq":7,"chain":"' . ('ab' x 32)
                  . '"}' . "\n");
$t->start;
exec_as('alice', 4);
$t->stop;
like($t->error_log, qr/\[notice\].*audit file "\Q$log\E" ends in the old HMAC chain at seq 7/,
     'upgrade from the HMAC chain: the start notes the old chain');
($rc, $out) = $t->verify($pub, $log);
is($rc, 0, 'and the file verifies') or diag $out;
like($out, qr/^1 line of the old HMAC chain .* not checked/m,
     'saying the old line is not checked here');
my @l = EciTest::file_lines($log);
$t->write_lines($log, @l[1 .. $#l - 1], $l[0], $l[-1]);
($rc, $out) = $t->verify($pub, $log);
is($rc, 1, 'an old line after signed ones fails');

# --- rotation (mv, USR1), then a restart -----------------------------------

unlink $log;
my $rotated = $t->path('audit.log.1');
$t->start;
exec_as('alice', 6);
is($t->wait_for_lines('audit.log', 2), 2, 'rotation: lines before it');
rename($log, $rotated) or die "rename: $!";
kill 'USR1', $t->master_pid;
for (1 .. 50) {
    last if -e $log;
    select(undef, undef, undef, 0.1);
}
ok(-e $log, 'rotation: USR1 made a new audit.log');
$t->stop;
$t->start;
exec_as('alice', 7);
is($t->wait_for_lines('audit.log', 2), 2, 'rotation: lines after the restart');
$t->stop;

# before the fix the new file began at seq 1 again and this failed
($rc, $out) = $t->verify($pub, $rotated, $log);
is($rc, 0, 'rotation then restart: old and new file verify together')
    or diag $out;
like($out, qr/^2 chains, /m, 'as two chains, one after the other');
my @new = $t->audit_lines('audit.log', all => 1);
my ($start) = grep { ($_->{event} // '') eq 'start' } @new;
my ($old_chain) = map { $_->{chain} } $t->audit_lines('audit.log.1');
is($start->{follows}{chain}, $old_chain,
   'the new chain names the head of the one before');

# --- several gateways' lines in one file -------------------------------------

# two gateways of a fleet (one signing key), each with its own file, and
# their lines gathered in one, as a syslog collector does
my $t2 = EciTest->new;
$t2->write_config(config());
unlink $log;
$t->start;
$t2->start;
for my $i (1 .. 4) {
    exec_as('alice', $i);
    exec_as('alice', $i, $t2);
}
$t->stop;
$t2->stop;

my @a = EciTest::file_lines($log);
my @b = EciTest::file_lines($t2->path('audit.log'));
my @mixed;
while (@a || @b) {
    push @mixed, shift @a if @a;
    push @mixed, shift @b if @b;
}
my $mixed = $t->path('collected.log');
$t->write_lines($mixed, @mixed);

# before the fix: duplicate seq, "a line was inserted"
($rc, $out) = $t->verify($pub, $mixed);
is($rc, 0, 'two gateways\' chains interleaved in one file verify') or diag $out;
like($out, qr/^2 chains, /m, 'chain by chain');

# two record lines of one chain swapped
my ($first_chain) = $mixed[0] =~ /"chain":"([^"]+)"/;
my @mine = grep { $mixed[$_] =~ /"chain":"\Q$first_chain\E"/
                  && $mixed[$_] !~ /"sig":/ } 0 .. $#mixed;
my @swapped = @mixed;
@swapped[@mine[0, 1]] = @swapped[@mine[1, 0]];
$t->write_lines($mixed, @swapped);
($rc, $out) = $t->verify($pub, $mixed);
is($rc, 1, 'but two lines of one chain swapped fail');
like($out, qr/collected\.log:\d+: chain \Q$first_chain\E: seq jumps/,
     'naming the chain');

# --- a binary upgrade (USR2): two chains in one file at once ---------------

unlink $log;
my $from = length $t->error_log;
$t->start;
exec_as('alice', 8);
is($t->wait_for_lines('audit.log', 2), 2, 'upgrade: lines before it');
my $old = $t->master_pid;
kill 'USR2', $old;
my $newpid;
for (1 .. 100) {
    $newpid = $t->_read_pid;
    last if $newpid && $newpid != $old && -e $t->path('nginx.pid.oldbin');
    select(undef, undef, undef, 0.05);
}
isnt($newpid, $old, 'upgrade: a new master runs beside the old');
# both serve until the old one quits
for my $i (9 .. 12) {
    exec_as('alice', $i);
}
kill 'QUIT', $old;
for (1 .. 100) {
    last unless kill 0, $old;
    select(undef, undef, undef, 0.05);
}
$t->{master} = $newpid;
exec_as('alice', 13);
$t->stop;

($rc, $out) = $t->verify($pub, $log);
is($rc, 0, 'upgrade: the old and the new chain in one file verify')
    or diag $out;
like($out, qr/^2 chains, /m, 'as two chains');
unlike(substr($t->error_log, $from), qr/discontinuity/,
       'the upgrade is no discontinuity (the old chain went on)');
@new = $t->audit_lines('audit.log', all => 1);
($start) = grep { ($_->{event} // '') eq 'start' && $_->{follows} } @new;
ok($start, 'the new chain names the head it follows');

# --- eci-audit show escapes what callers send -------------------------------

unlink $log;
$t->start;
my $evil = "ev\x1b]0;owned\x07\x1b[2J\xc2\x9b31m";
my $r = exec_as($evil, 14);
cmp_ok($r->{status}, '>=', 400, 'a caller the ACL does not know is refused');
is($t->wait_for_lines('audit.log', 1), 1, 'and audited');
$t->stop;
my ($line) = grep { /"event":"result"/ } EciTest::file_lines($log);
like($line, qr/\\u001b\]0;owned\\u0007/,
     'the audit line holds the principal escaped as JSON');

my $tool = $ENV{ECI_TEST_AUDIT} || $t->root . '/build/eci-audit';
my $shown = `$tool show $log 2>/dev/null`;
unlike($shown, qr/[\x00-\x08\x0b-\x1f\x7f]/,
       'eci-audit show prints no control character');
unlike($shown, qr/\xc2[\x80-\x9f]/, 'nor a C1 control (CSI)');
like($shown, qr/ev\\x1b\]0;owned\\x07\\x1b\[2J\\u009b31m/,
     'but shows them escaped');

$t->done;
done_testing;
