#!/usr/bin/perl

# Reload and reopen with nginx running: a reload with a broken ACL or a
# tampered keystore fails and the running configuration keeps serving with
# the old ACL and key; a rotated key (eci-keytool set + reload) and a
# changed ACL take effect; `nginx -s reopen` moves the audit to a new file.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use MockEci;
use Time::HiRes ();

my $OLD  = 'eci-reload-test-old-key-3c1f9a';
my $NEW  = 'eci-reload-test-new-key-b72e05';
my $EXEC = $EciTest::EXEC;

my $t = EciTest->new;
$t->requires_master;
# the failed reloads below say why at emerg level, naming the bad file
$t->allow_log(qr/\[emerg\].*(?:eci_acl|eci_keystore)/);

my ($store, $master) = $t->make_keystore(keys => { default => $OLD });

my %GOOD_ACL = (
    principals => {
        alice => EciTest::grant('*'),
    },
);
my $acl = $t->write_acl(\%GOOD_ACL);

$t->write_config($t->gateway_config($acl, keepalive => 1));

$t->start;
my $mock = $t->mock;
my @responses;


# --- helpers -------------------------------------------------------------


sub exec_as {
    my ($caller, $id) = @_;
    my $r = $t->exec_as($caller, $id, json => 1);
    push @responses, $r;
    return $r;
}

# An allowed exec: 200, one request upstream carrying exactly $key
sub forwarded_with {
    my ($caller, $id, $key, $what) = @_;
    $mock->clear;
    my $r = exec_as($caller, $id);
    is($r->{status}, 200, "$what: $caller is allowed");
    my @got = $mock->requests;
    is(scalar @got, 1, "$what: the exec was forwarded once");
    is($got[0]{target}, "$EXEC/$id/exec",
       "$what: the upstream got the canonical exec") if @got;
    is_deeply([MockEci::header_values($got[0] // {}, 'ECI-ApiKey')], [$key],
              "$what: exactly one ECI-ApiKey went upstream, the "
              . ($key eq $OLD ? 'old' : 'new') . ' key');
    return $r;
}

# A refused exec: 403 JSON error, nothing forwarded, audited as a denial
sub refused {
    my ($caller, $id, $what) = @_;
    $mock->clear;
    my $r = exec_as($caller, $id);
    is($r->{status}, 403, "$what: $caller is refused");
    like($r->{headers}{'content-type'} // '', qr{^application/json\b},
         "$what: the error is JSON");
    my $j = $t->json($r) // {};
    is($j->{error}, 'forbidden', "$what: error is forbidden");
    ok(defined $j->{requestId} && defined $r->{headers}{'x-request-id'}
       && $j->{requestId} eq $r->{headers}{'x-request-id'},
       "$what: requestId equals X-Request-Id");
    is(scalar($mock->requests), 0, "$what: nothing was forwarded");
    my $line = result_line($r);
    is($line && $line->{decision}, 'deny', "$what: audited as a denial");
    return $r;
}

# The audit result line of a response, waited for (bounded)
sub result_line {
    my ($r, $file) = @_;
    my $id = $r->{headers}{'x-request-id'} // return undef;
    my $deadline = Time::HiRes::time() + 5;
    while (1) {
        my ($line) = grep { ($_->{requestId} // '') eq $id
                            && ($_->{event} // '') eq 'result' }
                     $t->audit_lines($file // 'audit.log');
        return $line if $line || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
}

# HUP, then wait (bounded) for the master to log why the reload failed.
# Returns the error log written since, and whether the workers stayed.
sub reload_fails {
    my $from = length $t->error_log;
    my @before = $t->worker_pids;
    kill 'HUP', $t->master_pid or die "no master\n";

    my $deadline = Time::HiRes::time() + 5;
    my $log = '';
    while (Time::HiRes::time() < $deadline) {
        $log = substr($t->error_log, $from);
        last if $log =~ /\[emerg\]/;
        Time::HiRes::sleep(0.05);
    }
    # a successful reload would start new workers by now, or soon
    my @after = $t->worker_pids;
    return ($log, "@before" eq "@after" && @after > 0);
}

sub keytool_set {
    my ($name, $key) = @_;
    my $tool = $t->keytool;
    open(my $p, '|-', "'$tool' set '$store' --master '$master' "
                      . "--name '$name' >/dev/null 2>&1")
        or die "$tool: $!\n";
    print $p $key;
    close $p;
    return $? == 0;
}


# --- serving before any reload -------------------------------------------

forwarded_with('alice', 42, $OLD, 'before any reload');
refused('bob', 42, 'before any reload');


# --- reload with a broken ACL --------------------------------------------

my $good_acl_text = EciTest::slurp($acl);

for my $broken (
    ['a JSON syntax error', <<'EOF', qr/line 4 column \d+/],
{
  "principals": {
    "alice": { "permissions": ["DistributedReportsSettings (Manage)"] }
    "bob":   { "permissions": ["DistributedReportsSettings (Manage)"] }
  }
}
EOF
    ['an unknown key', <<'EOF', qr/principals\."?bob"?\.colour/])
{
  "principals": {
    "alice": { "permissions": ["DistributedReportsSettings (Manage)"] },
    "bob":   { "permissions": ["DistributedReportsSettings (Manage)"],
               "colour": "red" }
  }
}
EOF
{
    my ($what, $text, $where) = @$broken;
    my $ctx = "broken ACL ($what)";

    $t->write_acl($text);
    my ($log, $same) = reload_fails();
    like($log, qr/\[emerg\][^\n]*eci_acl[^\n]*\Q$acl\E[^\n]*$where/,
         "$ctx: the reload fails and the error log says where and why");
    ok($same, "$ctx: the running workers were not replaced");

    forwarded_with('alice', 42, $OLD, "$ctx, after the failed reload");
    refused('bob', 42, "$ctx, a principal only the broken file adds");
}
$t->write_acl($good_acl_text);


# --- reload with a tampered keystore -------------------------------------

{
    my $ctx = 'tampered keystore';
    my $sealed = EciTest::slurp($store);
    my $bad = $sealed;
    my $at = int(length($bad) / 2);
    substr($bad, $at, 1) = chr(ord(substr($bad, $at, 1)) ^ 0x20);
    $t->write_file($store, $bad, 0600);

    my ($log, $same) = reload_fails();
    like($log, qr/\[emerg\][^\n]*eci_keystore[^\n]*\Q$store\E/,
         "$ctx: the reload fails and the error log names the keystore");
    like($log, qr/wrong master key|modified|authenticat/i,
         "$ctx: the error log says the store does not authenticate");
    ok($same, "$ctx: the running workers were not replaced");

    forwarded_with('alice', 43, $OLD, "$ctx, after the failed reload");
    $t->write_file($store, $sealed, 0600);
}


# --- key rotation -------------------------------------------------------

{
    my $ctx = 'key rotation';
    ok(keytool_set('default', $NEW),
       "$ctx: eci-keytool set stores a new default key (read from stdin)");

    forwarded_with('alice', 44, $OLD,
                   "$ctx, before the reload (the store is read at load)");

    ok($t->reload, "$ctx: the reload starts new workers");

    $mock->clear;
    my @status;
    push @status, exec_as('alice', 100 + $_)->{status} for 1 .. 5;
    is_deeply(\@status, [(200) x 5], "$ctx: five execs after the reload "
                                     . 'are allowed');
    my @keys = map { [MockEci::header_values($_, 'ECI-ApiKey')] }
               $mock->requests;
    is(scalar @keys, 5, "$ctx: all five were forwarded");
    is_deeply(\@keys, [([$NEW]) x 5],
              "$ctx: each carried exactly one ECI-ApiKey, the new key "
              . '(never none, never the old one)');
}


# --- ACL change ----------------------------------------------------------

{
    my $ctx = 'ACL change';
    refused('carol', 7, "$ctx, before the reload");

    my %acl = %GOOD_ACL;
    $acl{principals} = { %{ $GOOD_ACL{principals} },
                         carol => EciTest::grant([7]) };
    $t->write_acl(\%acl);
    refused('carol', 7, "$ctx, written but not reloaded");

    ok($t->reload, "$ctx: the reload starts new workers");
    my $r = forwarded_with('carol', 7, $NEW, "$ctx, after the reload");
    my $line = result_line($r);
    is($line && $line->{principal}, 'carol',
       "$ctx: the allowed exec is audited with its principal");
    is($line && $line->{decision}, 'allow',
       "$ctx: the exec is audited as allowed");
    refused('carol', 8, "$ctx, an id outside the new grant");
}


# --- reopen --------------------------------------------------------------

{
    my $ctx = 'reopen';
    my $audit = $t->path('audit.log');
    my $rotated = $t->path('audit.log.1');

    rename($audit, $rotated) or die "rename $audit: $!\n";
    my $lines_before = () = $t->audit_lines($rotated);

    # the master and each worker log "reopening logs" when they have
    my $from = length $t->error_log;
    my $workers = () = $t->worker_pids;
    kill 'USR1', $t->master_pid or die "no master\n";
    my $deadline = Time::HiRes::time() + 5;
    my $reopened = 0;
    while (Time::HiRes::time() < $deadline) {
        $reopened = () = substr($t->error_log, $from) =~ /reopening logs/g;
        last if $reopened >= 1 + $workers && -e $audit;
        Time::HiRes::sleep(0.05);
    }
    ok(-e $audit, "$ctx: nginx -s reopen creates a new audit.log");

    my $r = forwarded_with('alice', 45, $NEW, "$ctx, after the reopen");
    is($t->wait_for_lines('audit.log', 2), 2,
       "$ctx: the exec's intent and result lines are in the new audit.log");
    my @new = $t->audit_lines('audit.log');
    is_deeply([map { $_->{event} } @new], ['intent', 'result'],
              "$ctx: an intent line, then a result line");
    is_deeply([map { $_->{requestId} } @new],
              [($r->{headers}{'x-request-id'} // 'none') x 2],
              "$ctx: both for this exec's request id");
    is(scalar(() = $t->audit_lines($rotated)), $lines_before,
       "$ctx: nothing more went to the moved file");

    # the worker sees the new descriptor and reserves room in the new file
    # with its first write there (docs/audit.md), not a megabyte later
    SKIP: {
        skip "this file system keeps no room beyond a file's end", 1
            unless $t->can_reserve_room;
        my @st = stat($audit);
        cmp_ok($st[12] * 512, '>=', $st[7] + 3 * 1024 * 1024,
               "$ctx: the new audit.log has room reserved beyond its end "
               . "($st[7] bytes, " . $st[12] * 512 . ' allocated)');
    }

    my ($rc, $out) = $t->verify($t->pubkey($store, $master), $rotated,
                                $audit);
    is($rc, 0, "$ctx: the chain runs intact across reloads and the reopen")
        or diag($out);
    like($out, qr/^1 chain, /m, "$ctx: one chain across the two files");
    like((split /\n/, EciTest::slurp($audit))[0], qr/"event":"checkpoint"/,
         "$ctx: the new file begins with a checkpoint");
}

$t->done;

# --- the key never leaks ---------------------------------------------------

my $everything = join("\n", $t->error_log,
                      map({ $_->{raw} // '' } @responses),
                      $t->audit_raw('audit.log'),
                      $t->audit_raw('audit.log.1'),
                      EciTest::slurp($t->path('access.log')));
for my $key ([$OLD, 'old'], [$NEW, 'new']) {
    ok(index($everything, $key->[0]) < 0,
       "the $key->[1] key is in no response, error log, audit or access "
       . 'log line');
}

done_testing;
