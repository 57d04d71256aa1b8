# The tamper-evident audit: one chained sequence across workers, carried
# over reloads and restarts, checked by eci-audit verify; write-ahead
# intent lines; and no exec without an audit when eci_audit_required is on.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;

my $KEY = 'eci-chain-test-key-31c9';

my $t = EciTest->new;
my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({
    principals => {
        alice => {
            permissions           => ['DistributedReportsSettings (Manage)'],
            reportDistributionIds => '*',
        },
    },
});

my $audit_tool = $t->root . '/build/eci-audit';
$audit_tool = $ENV{ECI_TEST_AUDIT} if $ENV{ECI_TEST_AUDIT};

sub config {
    my (%o) = @_;
    my $workers  = $o{workers} // 2;
    my $audit    = $o{audit} // '%%DIR%%/audit.log';
    my $required = $o{required} // 'on';

    return EciTest::conf_head() =~ s/worker_processes 1;/worker_processes $workers;/r
        . <<"EOF";
http {
    access_log %%DIR%%/access.log;
    client_body_temp_path %%DIR%%/tmp;
    proxy_temp_path %%DIR%%/tmp;

    eci_keystore $store master=$master;

    server {
        listen 127.0.0.1:%%PORT%%;

        location /api/ {
            eci_gateway        on;
            eci_principal      \$http_x_caller;
            eci_acl            $acl;
            eci_audit_log      $audit;
            eci_audit_required $required;
            proxy_pass         http://127.0.0.1:%%MOCK%%;
            proxy_read_timeout 10s;
        }
    }
}
EOF
}

sub exec_as {
    my ($who, $id, %o) = @_;
    return $t->request('POST', "/api/v202106/reportdistribution/$id/exec",
                       headers => ['X-Caller' => $who], %o);
}

sub verify {
    my (@files) = @_;
    my $out = `$audit_tool verify @files --keystore $store --master $master 2>&1`;
    return ($? >> 8, $out);
}

sub lines_of {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "$file: $!";
    my @l = <$fh>;
    return @l;
}

sub write_lines {
    my ($file, @l) = @_;
    open(my $fh, '>', $file) or die "$file: $!";
    print $fh @l;
    close $fh;
}

my $log = $t->path('audit.log');

# --- one sequence across two workers --------------------------------------

$t->write_config(config());
$t->start;
is(scalar(my @w = $t->worker_pids), 2, 'two workers');

for my $i (1 .. 20) {
    exec_as($i % 4 ? 'alice' : 'mallory', $i);
}

# 15 allowed execs (intent + result) and 5 refused (result)
is($t->wait_for_lines('audit.log', 35), 35, 'every line was written');
my @lines = $t->audit_lines('audit.log');
is_deeply([map { $_->{seq} } @lines], [1 .. 35],
          'one gapless sequence across the workers, in file order');
ok(!(grep { ($_->{chain} // '') !~ /^[0-9a-f]{64}$/ } @lines),
   'every line carries a chain');

my ($rc, $out) = verify($log);
is($rc, 0, 'eci-audit verify: the chain is intact') or diag $out;
like($out, qr/35 lines, seq 1 to 35: chain intact/, 'and says so');
unlike($out, qr/intent but no result/, 'no intent lacks its result');

# --- reload and restart carry the chain on ---------------------------------

ok($t->reload, 'reload');
exec_as('alice', 1);
$t->stop;
$t->start;
exec_as('alice', 2);
is($t->wait_for_lines('audit.log', 39), 39, 'lines after reload and restart');
@lines = $t->audit_lines('audit.log');
is_deeply([map { $_->{seq} } @lines[35 .. 38]], [36 .. 39],
          'the sequence goes on after a reload and after a restart');
($rc, $out) = verify($log);
is($rc, 0, 'and the whole file still verifies') or diag $out;

# --- tampering is found, with its line number ------------------------------

my @raw = lines_of($log);
my $copy = $t->path('copy.log');

my @changed = @raw;
$changed[9] =~ s/"principal":"alice"/"principal":"alicf"/;
write_lines($copy, @changed);
($rc, $out) = verify($copy);
is($rc, 1, 'a changed line fails verification');
like($out, qr/copy\.log:10: chain does not match/, 'and is named: line 10');

write_lines($copy, @raw[0 .. 11], @raw[13 .. $#raw]);
($rc, $out) = verify($copy);
is($rc, 1, 'a removed line fails verification');
like($out, qr/copy\.log:13: seq jumps from 12 to 14/, 'at the line after it');

write_lines($copy, @raw[0 .. 4], $raw[2], @raw[5 .. $#raw]);
($rc, $out) = verify($copy);
is($rc, 1, 'an inserted (replayed) line fails verification');
like($out, qr/copy\.log:6: seq 3 after 5/, 'and is named: line 6');

write_lines($copy, @raw[0 .. 6], $raw[8], $raw[7], @raw[9 .. $#raw]);
($rc, $out) = verify($copy);
is($rc, 1, 'reordered lines fail verification');
like($out, qr/copy\.log:8: seq jumps from 7 to 9: .*moved/,
     'named at the first line out of place');

my $forged = $raw[4];
$forged =~ s/"reportDistributionId":(\d+)/'"reportDistributionId":' . ($1 + 1)/e
    or die 'line 5 has no id to forge';
write_lines($copy, @raw[0 .. 3], $forged, @raw[5 .. $#raw]);
($rc, $out) = verify($copy);
is($rc, 1, 'an edited line with its seq kept fails verification');

# a wrong key cannot verify
my $t2 = EciTest->new;
my ($store2, $master2) = $t2->make_keystore(keys => { default => 'x' });
$out = `$audit_tool verify $log --keystore $store2 --master $master2 2>&1`;
is($? >> 8, 1, 'another keystore\'s chain key does not verify the file');

# a rotated file verifies from its first line on, and together with the
# file before it
my @first = @raw[0 .. 19];
my @second = @raw[20 .. $#raw];
write_lines($t->path('a.log'), @first);
write_lines($t->path('b.log'), @second);
($rc, $out) = verify($t->path('b.log'));
is($rc, 0, 'a rotated file verifies on its own');
like($out, qr/taken as given/, 'saying its first line is the anchor');
($rc, $out) = verify($t->path('a.log'), $t->path('b.log'));
is($rc, 0, 'rotated files verify together, oldest first') or diag $out;
($rc, $out) = verify($t->path('b.log'), $t->path('a.log'));
is($rc, 1, 'but not in the wrong order');

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
