# The tamper-evident audit: one chain across workers, carried over
# reloads, a new chain at each start that names the head it follows;
# SHA-256 links every line, Ed25519 checkpoints sign them, and eci-audit
# verify needs nothing but the gateway's public key.  Write-ahead intent
# lines; and no exec without an audit when eci_audit_required is on.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use Time::HiRes ();
use File::Copy qw(copy);
use Test::More;
use EciTest;
use MockEci;

my $KEY = 'eci-chain-test-key-31c9';

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => { alice => EciTest::grant('*') } });

my $audit_tool = $t->root . '/build/eci-audit';
$audit_tool = $ENV{ECI_TEST_AUDIT} if $ENV{ECI_TEST_AUDIT};

# the auditor's copy of the public key, away from the keystore
my $pub = $t->path('auditor.pub');
copy($t->pubkey($store, $master), $pub) or die "copy: $!";

sub config {
    my (%o) = @_;
    my $required = $o{required} // 'on';

    return $t->gateway_config($acl, workers => $o{workers} // 2,
                              audit => $o{audit}, directives => <<"EOF");
eci_audit_required $required;
proxy_read_timeout 10s;
EOF
}

sub exec_as { $t->exec_as(@_) }

# eci-audit verify with the public key only: no keystore, no master key
sub verify {
    my (@files) = @_;
    my $out = `$audit_tool verify @files --pubkey $pub 2>&1`;
    return ($? >> 8, $out);
}



# What a forger without the signing key can do: make every hash anew from
# $prev on, as eci_chain.h defines them.
sub rehash {
    my ($prev, @l) = @_;
    for my $line (@l) {
        my ($body) = $line =~ /^(.*),"hash":"[0-9a-f]{64}"\}\n\z/s
            or die "no hash: $line";
        $prev = sha256_hex($prev . $body);
        $line = $body . ',"hash":"' . $prev . "\"}\n";
    }
    return @l;
}

sub hash_of { ($_[0] =~ /"hash":"([0-9a-f]{64})"\}$/)[0] }

my $log = $t->path('audit.log');

# --- one chain across two workers ------------------------------------------

$t->write_config(config());
$t->start;
is(scalar(my @w = $t->worker_pids), 2, 'two workers');

for my $i (1 .. 20) {
    exec_as($i % 4 ? 'alice' : 'mallory', $i);
}

# 15 allowed execs (intent + result) and 5 refused (result)
is($t->wait_for_lines('audit.log', 35), 35, 'every line was written');
my @all = $t->audit_lines('audit.log', all => 1);
is_deeply([map { $_->{seq} } @all], [1 .. @all],
          'one gapless sequence across the workers, in file order');
is($all[0]{event}, 'start', 'the chain begins with its start line');
is($all[0]{follows}, undef, 'which follows nothing: the file was new');
my $chain = $all[0]{chain};
like($chain, qr/^\d{8}T\d{6}Z-[0-9a-f]{16}$/,
     'the chain id is the start time and a random instance');
ok(!(grep { ($_->{chain} // '') ne $chain
            || ($_->{hash} // '') !~ /^[0-9a-f]{64}$/ } @all),
   'every line carries the chain id and a hash');

ok($t->wait_for_checkpoint('audit.log'),
   'a checkpoint follows the lines within a second');
# while lines keep coming, both workers' timers sign within a second of
# them, and the chain is signed at most once a second, whichever signs
my $until = Time::HiRes::time() + 3.2;
exec_as('alice', 3) while Time::HiRes::time() < $until;
ok($t->wait_for_checkpoint('audit.log'), 'and after a stream of lines');
sub ms_of {
    my ($d, $h, $m, $sec) = $_[0]{time} =~ /T(\d\d):(\d\d):(\d\d)\.(\d{3})Z/
        ? (0, $1, $2, $3 * 1000 + $4) : die 'no time';
    return (($h * 60) + $m) * 60000 + $sec;
}
@all = $t->audit_lines('audit.log', all => 1);
my @cp = map { ms_of($_) } grep { $_->{event} eq 'checkpoint' } @all;
cmp_ok(scalar @cp, '>=', 3, 'a checkpoint a second while lines are written');
my @gaps = map { $cp[$_] - $cp[$_ - 1] } 1 .. $#cp;
ok(!(grep { $_ < 1000 } @gaps), 'and no two within a second (two workers)')
    or diag "gaps between checkpoints, ms: @gaps";
my ($late, $signed_at) = (0, undef);
for my $l (reverse @all) {
    if ($l->{sig}) { $signed_at = ms_of($l); next; }
    $late++ if defined $signed_at && $signed_at - ms_of($l) > 1200;
}
is($late, 0, 'every line is signed within a second or so');

my ($rc, $out) = verify($log);
is($rc, 0, 'eci-audit verify with the public key only: intact') or diag $out;
like($out, qr/^chain \Q$chain\E: seq 1 to (\d+), \d+ lines, signed to seq \1$/m,
     'every line is signed');
like($out, qr/^1 chain, \d+ lines: intact$/m, 'and it says so');
unlike($out, qr/not yet signed|intent but no result/,
       'nothing unsigned, no intent lacks its result');

# --- reload carries the chain on; a restart begins the next ------------------

my $so_far = () = $t->audit_lines('audit.log');
ok($t->reload, 'reload');
exec_as('alice', 1);
$t->stop;
my @raw = EciTest::file_lines($log);
like($raw[-1], qr/"event":"stop"/, 'a stop ends the chain with its stop line');
$t->start;
exec_as('alice', 2);
is($t->wait_for_lines('audit.log', $so_far + 4), $so_far + 4,
   'lines after reload and restart');
@all = $t->audit_lines('audit.log', all => 1);
my @first = grep { $_->{chain} eq $chain } @all;
my @second = grep { $_->{chain} ne $chain } @all;
ok(@first && @second, 'two chains');
is_deeply([map { $_->{seq} } @first], [1 .. @first],
          'the sequence goes on after a reload');
is($second[0]{event}, 'start', 'the restart begins a new chain');
is_deeply($second[0]{follows},
          { chain => $chain, seq => $first[-1]{seq}, hash => $first[-1]{hash} },
          'whose start line names the head it follows');
($rc, $out) = verify($log);
is($rc, 0, 'and the whole file verifies') or diag $out;
like($out, qr/^2 chains, /m, 'as two chains');
unlike($t->error_log, qr/discontinuity/, 'a clean stop is no discontinuity');

# --- tampering is found, with its line number ------------------------------

$t->stop;
@raw = EciTest::file_lines($log);
my $copy = $t->path('copy.log');

my @changed = @raw;
$changed[9] =~ s/"principal":"alice"/"principal":"alicf"/ or die;
$t->write_lines($copy, @changed);
($rc, $out) = verify($copy);
is($rc, 1, 'a changed line fails verification');
like($out, qr/copy\.log:10: chain \S+: seq 10: hash does not match/,
     'and is named: line 10');

$t->write_lines($copy, @raw[0 .. 11], @raw[13 .. $#raw]);
($rc, $out) = verify($copy);
is($rc, 1, 'a removed line fails verification');
like($out, qr/copy\.log:13: chain \S+: seq jumps from 12 to 14/,
     'at the line after it');

$t->write_lines($copy, @raw[0 .. 4], $raw[2], @raw[5 .. $#raw]);
($rc, $out) = verify($copy);
is($rc, 1, 'an inserted (replayed) line fails verification');
like($out, qr/copy\.log:6: chain \S+: seq 3 after 5/, 'and is named: line 6');

$t->write_lines($copy, @raw[0 .. 6], $raw[8], $raw[7], @raw[9 .. $#raw]);
($rc, $out) = verify($copy);
is($rc, 1, 'reordered lines fail verification');
like($out, qr/copy\.log:8: chain \S+: seq jumps from 7 to 9: .*moved/,
     'named at the first line out of place');

# A forger with the public key only rewrites line 5 and makes every hash
# after it anew: the hashes agree, the next signature does not.  (With the
# HMAC chain, whoever could verify could also do this undetected.)
my ($cp) = grep { $_ > 4 && $raw[$_] =~ /"event":"checkpoint"/ } 0 .. $#raw;
my @forged = @raw;
$forged[4] =~ s/"reportDistributionId":(\d+)/'"reportDistributionId":' . ($1 + 1)/e
    or die 'line 5 has no id to forge';
@forged[4 .. $cp - 1] = rehash(hash_of($raw[3]), @forged[4 .. $cp - 1]);
$t->write_lines($copy, @forged[0 .. $cp - 1]);
($rc, $out) = verify($copy);
is($rc, 0, 'a line forged after the last signature in a file chains on')
    or diag $out;
like($out, qr/signed to seq 1: \d+ lines not yet signed/,
     'but is reported as not yet signed');
$t->write_lines($copy, @forged);
($rc, $out) = verify($copy);
is($rc, 1, 'a line forged with all hashes made anew fails verification');
like($out, qr/copy\.log:@{[ $cp + 1 ]}: chain \S+: seq \d+ signs another head/,
     'at the checkpoint that signed the original');

# after the last signature, lines are only as good as what they say
my @cut = @raw;
pop @cut while $cut[-1] =~ /"sig":/;
$t->write_lines($copy, @cut);
($rc, $out) = verify($copy);
is($rc, 0, 'a file whose last signed lines are gone verifies') or diag $out;
like($out, qr/signed to seq \d+: \d+ lines? not yet signed/,
     'but says which lines are not yet signed');

# another key cannot verify
my $t2 = EciTest->new;
my ($store2, $master2) = $t2->make_keystore(keys => { default => 'x' });
my $pub2 = $t2->pubkey($store2, $master2);
$out = `$audit_tool verify $log --pubkey $pub2 2>&1`;
is($? >> 8, 1, 'another key does not verify the file');
like($out, qr/signature does not verify/, 'saying so');

# a rotated file verifies from its first line on, and together with the
# file before it
# cut before an unsigned line: a file that begins with a signed line
# needs no anchor (where the checkpoints fall depends on the machine)
my $cut = 20;
$cut++ while $raw[$cut] =~ /"sig":/;
$t->write_lines($t->path('a.log'), @raw[0 .. $cut - 1]);
$t->write_lines($t->path('b.log'), @raw[$cut .. $#raw]);
($rc, $out) = verify($t->path('b.log'));
is($rc, 0, 'a rotated file verifies on its own') or diag $out;
like($out, qr/taken as given/, 'saying its first line is the anchor');
($rc, $out) = verify($t->path('a.log'), $t->path('b.log'));
is($rc, 0, 'rotated files verify together, oldest first') or diag $out;
($rc, $out) = verify($t->path('b.log'), $t->path('a.log'));
is($rc, 1, 'but not in the wrong order');

$t->start;

# --- write-ahead: a worker killed mid-exec leaves its intent ---------------

$t->mock->set(delay => 3);
my $pid = fork() // die "fork: $!";
if ($pid == 0) {
    exec_as('alice', 77, timeout => 5);
    exit 0;
}
my $intent_seen = 0;
for (1 .. 50) {
    if (grep { ($_->{event} // '') eq 'intent'
               && ($_->{reportDistributionId} // 0) == 77 }
        $t->audit_lines('audit.log'))
    {
        $intent_seen = 1;
        last;
    }
    select(undef, undef, undef, 0.1);
}
ok($intent_seen, 'the intent is on disk before the upstream answers');
my @got = $t->mock->requests;
is($got[-1]{target}, '/api/v202106/reportdistribution/77/exec',
   'and the exec was forwarded after it');
$t->allow_log(qr/exited on signal 9/);
kill 'KILL', $t->worker_pids;
waitpid($pid, 0);
$t->mock->reset;

($rc, $out) = verify($log);
is($rc, 0, 'the chain is intact after a killed worker');
like($out, qr/1 exec with an intent but no result/,
     'and eci-audit verify lists the exec that has no result');
my ($last_intent) = grep { ($_->{reportDistributionId} // 0) == 77 }
                    $t->audit_lines('audit.log');
like($out, qr/\Q$last_intent->{requestId}\E/, 'by its requestId');

$t->stop;

# --- eci-audit show ---------------------------------------------------------

$out = `$audit_tool show $log --principal mallory 2>&1`;
is($?, 0, 'eci-audit show runs');
is(scalar(() = $out =~ /^\S+Z .* mallory /mg), 5,
   'and filters by principal: mallory\'s five refusals');
$out = `$audit_tool show $log --id 77 --event intent 2>&1`;
like($out, qr/intent\s+alice\s+77\b/, 'filters by id and event');
like($out, qr/^1 line shown$/m, 'one line');

# --- no exec without an audit ----------------------------------------------

$t->mock->clear;
$t->write_config(config(audit => '/dev/full', workers => 1));
$t->allow_log(qr/audit .* line to "\/dev\/full" not written/);
$t->start;
my $r = exec_as('alice', 5);
is($r->{status}, 503, 'audit unwritable, eci_audit_required on: 503');
is($t->json($r)->{error}, 'audit_unavailable', 'error audit_unavailable');
is(scalar(my @none = $t->mock->requests), 0, 'and nothing was forwarded');
like($t->error_log, qr/\[crit\].*audit intent line to "\/dev\/full" not written/,
     'the error log says why');
$t->stop;

$t->write_config(config(audit => '/dev/full', workers => 1,
                        required => 'off'));
$t->start;
$r = exec_as('alice', 5);
is($r->{status}, 200, 'eci_audit_required off: the exec is served');
is(scalar(@got = $t->mock->requests), 1, 'and forwarded');
my $unwritten = qr/audit (?:intent|result) line to "\/dev\/full" not written/;
is(scalar(() = $t->wait_for_log($unwritten, 4) =~ /$unwritten/g),
   4, 'each failed audit write is logged (intent and result, both runs)');

my $all = join '', map { -f $_ ? do { local (@ARGV, $/) = ($_); <> } : '' }
                   $log, $t->path('error.log');
unlike($all, qr/\Q$KEY\E/, 'the key is in neither the audit nor the error log');

$t->done;
done_testing;
