#!/usr/bin/perl

# The audit writer on an operator's bad day (issue 17):
#  - a target that stops taking writes (a FIFO no one reads, standing in
#    for a hung disk or NFS mount) stalls the worker that writes to it, not
#    the others: /health is still served, and an exec that needs the audit
#    gets 503 audit_unavailable after eci_audit_timeout instead of hanging;
#  - a writer killed in the middle of a write (the OOM killer) leaves no
#    partial line and no broken chain: the next writer recovers from the
#    file's end and a signed discontinuity line says what happened;
#  - a deleted audit file is noticed, logged, counted and treated as
#    unwritable until nginx reopens it;
#  - reloads that keep naming new audit files do not use up the 64 chain
#    nodes: a target two configurations gone gives its node away.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Fcntl qw(O_RDONLY O_NONBLOCK);
use POSIX ();
use Time::HiRes ();
use Test::More;
use EciTest;

my $SANITIZED = $ENV{ECI_TEST_SANITIZER_DIR} || EciTest->valgrind;

# The config of these tests: the gateway at /api/ audits to $audit (it
# must), /health is nginx's alone; $o{server}: lines that open the server,
# $o{locations}: more locations, $o{workers}.
sub config_for {
    my ($t, $acl, $audit, %o) = @_;
    return $t->gateway_config($acl, access_log => 'off', audit => $audit,
        workers => $o{workers}, server => $o{server},
        directives => 'eci_audit_required on;', metrics => 1,
        locations => <<'EOF' . ($o{locations} // ''));
location = /health {
    return 200 "ok\n";
}
EOF
}

sub exec_id {
    my ($t, $id, %o) = @_;
    return $t->exec_as('alice', $id, timeout => $o{timeout} // 10,
        $o{overrides} ? (query => "?overrideUserIds=$o{overrides}") : ());
}

my $acl_doc = { principals => { alice => EciTest::grant('*', '*') } };


# --- a stalled target stalls only the worker that writes ----------------------

{
    my $t = EciTest->new;
    my ($store, $master) = $t->make_keystore;
    my $acl = $t->write_acl($acl_doc);
    my $fifo = $t->path('audit.fifo');

    POSIX::mkfifo($fifo, 0600) or die "mkfifo $fifo: $!";
    # the reader that stops reading; opened first, so nginx's open of the
    # write end does not wait
    sysopen(my $reader, $fifo, O_RDONLY | O_NONBLOCK) or die "$fifo: $!";

    $t->write_config(config_for($t, $acl, $fifo, workers => 2,
                                server => 'eci_audit_timeout 1s;'));
    $t->start;

    # lines of a few KB each fill the pipe's 64 KB within a few execs; the
    # worker whose write then blocks keeps its exec unanswered
    my $ids = join ',', 1000 .. 1600;
    my ($served, $stuck) = (0, 0);
    for my $n (1 .. 60) {
        my $r = exec_id($t, $n, overrides => $ids, timeout => 2);
        if (!defined $r->{status}) {
            $stuck = 1;
            last;
        }
        $served++;
    }
    ok($stuck, "with no one reading, a write blocked after $served execs");

    my @health = map { $t->request('GET', '/health', timeout => 3) } 1 .. 5;
    is(scalar(grep { ($_->{status} // 0) == 200 } @health), 5,
       '/health is still served by the other worker');

    my $t0 = Time::HiRes::time();
    my $r = exec_id($t, 4242, timeout => 8);
    my $took = Time::HiRes::time() - $t0;
    is($r->{status}, 503, 'an exec that needs the audit: 503');
    is($t->json($r)->{error}, 'audit_unavailable',
       'with audit_unavailable');
    ok($took < 8, sprintf('answered, not hung (after %.1f s; '
                          . 'eci_audit_timeout is 1s)', $took));
    @health = map { $t->request('GET', '/health', timeout => 3) } 1 .. 3;
    is(scalar(grep { ($_->{status} // 0) == 200 } @health), 3,
       'and still served after that exec (no worker waits on a lock)');
    like($t->wait_for_log(qr/another process has been writing to the file/,
                          1),
         qr/\[crit\].*audit intent line to ".*audit\.fifo" not written: another process/,
         'the lost intent is logged');
    ok(($t->metric('eci_audit_file_busy_total', '*', timeout => 3) // 0) > 0,
       'eci_status counts the file found busy');

    # the reader reads again: everything goes on
    my $got = '';
    my $ok = 0;
    for (1 .. 100) {
        my $buf;
        while (sysread($reader, $buf, 65536)) { $got .= $buf }
        if ($_ % 10 == 0) {
            my $s = exec_id($t, 5000 + $_, timeout => 3)->{status} // 0;
            if ($s == 200) { $ok = 1; last }
        }
        Time::HiRes::sleep(0.05);
    }
    ok($ok, 'once the target is read again, execs are served');

    $t->allow_log(qr/another process has been writing to the file/,
                  qr/not written/);
    $t->done;
    close $reader;
}


# --- a writer killed in the middle of a write ---------------------------------

SKIP: {
    skip 'the stand-in for the OOM killer is preloaded: not under the '
         . 'sanitizers or valgrind', 9 if $SANITIZED;

    my $t = EciTest->new;
    my $so = $t->path('killwrite.so');
    my $cc = $ENV{CC} || 'cc';
    system($cc, '-shared', '-fPIC', '-O', '-o', $so,
           "$FindBin::Bin/lib/killwrite.c", '-ldl') == 0
        or die "cannot build killwrite.so";

    my ($store, $master) = $t->make_keystore;
    my $acl = $t->write_acl($acl_doc);
    my $pub = $t->pubkey($store, $master);
    my $trigger = $t->path('kill-now');

    $t->write_config(config_for($t, $acl, '%%DIR%%/audit.log'));
    {
        local $ENV{LD_PRELOAD} = $so;
        local $ENV{ECI_KILLWRITE} = $trigger;
        $t->start;
    }

    is(exec_id($t, $_)->{status}, 200, "exec $_") for 1 .. 3;
    $t->audit_results(3);

    my ($worker) = $t->worker_pids;
    $t->write_file('kill-now', '');
    my $r = exec_id($t, 4, timeout => 5);
    ok(!defined $r->{status} || $r->{status} >= 500,
       'the exec whose intent was being written is not served');

    # the master starts another worker, which recovers the chain
    my $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.05)
        while Time::HiRes::time() < $deadline
           && !grep { $_ != $worker } $t->worker_pids;

    is(exec_id($t, 5)->{status}, 200, 'the next exec is served');
    $t->audit_results(4);

    my @raw = $t->audit_raw;
    is(scalar(grep { !eval { JSON::PP->new->decode($_); 1 } } @raw), 0,
       'no partial line is left in the file');
    my ($disc) = grep { /"event":"discontinuity"/ && /died while writing/ }
                 @raw;
    like($disc // '', qr/partial line of \d+ bytes was cut/,
         'a signed discontinuity line says a partial line was cut');
    like($t->error_log, qr/\[alert\].*discontinuity: process \d+ died/,
         'and the error log says it');
    is($t->metric('eci_audit_recoveries_total', '*', timeout => 3), 1,
       'eci_status counts the recovery');

    $t->stop;
    my ($rc, $out) = $t->verify($pub, $t->path('audit.log'));
    is($rc, 3, 'eci-audit verify: intact, with the reported discontinuity')
        or diag $out;

    $t->allow_log(qr/exited on signal 9/, qr/discontinuity/);
    $t->done;
}


# --- a deleted audit file -------------------------------------------------------

{
    my $t = EciTest->new;
    my ($store, $master) = $t->make_keystore;
    my $acl = $t->write_acl($acl_doc);

    $t->write_config(config_for($t, $acl, '%%DIR%%/audit.log'));
    $t->start;

    is(exec_id($t, 1)->{status}, 200, 'exec before the file is deleted');
    unlink $t->path('audit.log') or die "unlink: $!";
    # the worker looks at the file's link count with its next write
    Time::HiRes::sleep(1.2);

    my $r = exec_id($t, 2);
    is($r->{status}, 503, 'after the file is deleted, an exec gets 503');
    is($t->json($r)->{error}, 'audit_unavailable',
       'with audit_unavailable');
    like($t->error_log,
         qr/\[alert\].*audit file ".*audit\.log" was deleted/,
         'the deletion is logged at alert');
    is($t->metric('eci_audit_file_deleted_total', '*', timeout => 3), 1,
       'and counted in eci_status');
    is(scalar(my @m = grep { m{/2/exec} } map { $_->{target} }
              $t->mock->requests), 0, 'exec 2 did not go upstream');

    kill 'USR1', $t->master_pid;
    my $deadline = Time::HiRes::time() + 5;
    Time::HiRes::sleep(0.05)
        while !-e $t->path('audit.log') && Time::HiRes::time() < $deadline;
    Time::HiRes::sleep(0.2);

    is(exec_id($t, 3)->{status}, 200, 'after a reopen, execs are served');
    my @res = $t->audit_results(1);
    is($res[0]{reportDistributionId}, 3,
       'and audited in the new file');

    $t->allow_log(qr/was deleted/, qr/not written/);
    $t->done;
}


# --- reloads that name new audit files --------------------------------------------

{
    my $t = EciTest->new;
    my ($store, $master) = $t->make_keystore;
    my $acl = $t->write_acl($acl_doc);

    # 30 files a configuration: two configurations fit the 64 nodes, a
    # third only if the first gives its nodes away
    my $conf_for = sub {
        my ($gen) = @_;
        my $locs = join '', map { <<"EOF" } 1 .. 30;
location = /api/v202106/reportdistribution/$_/exec {
    ${\ EciTest::gateway_location($acl, audit => "%%DIR%%/g$gen-$_.log") }
}
EOF
        return config_for($t, $acl, 'off', locations => $locs);
    };

    $t->write_config($conf_for->(1));
    $t->start;

    for my $gen (2 .. 4) {
        $t->write_config($conf_for->($gen));
        ok($t->reload, "reload $gen with 30 new audit files");
        is(exec_id($t, 7)->{status}, 200, "reload $gen: exec 7 served");
        my @res = $t->audit_results(1, "g$gen-7.log");
        is(scalar @res, 1, "reload $gen: audited in its new file g$gen-7.log");
    }
    unlike($t->error_log, qr/more than \d+ audit logs/,
           'no reload was refused for want of chain nodes');

    $t->done;
}

done_testing;
