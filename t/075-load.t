# Load, nothing lost.  2,000 mixed exec requests (allowed, denied, invalid)
# over 16 keep-alive connections to nginx with 2 workers, the mock upstream
# behind an upstream block with keepalive; then the same with 6 KB
# principals and one worker: a pass's lines do not fit its 64 KB batch, so
# lines are written to the batch until it is full, the batch is written,
# and the line that did not fit goes into the emptied batch.
#
# tools/load.pl (EciLoad::run) sets up, runs build/eci-load and reads the
# client's record, the audit file, eci-audit verify, the mock's record and
# the error log; the assertions are here.  `make load` (perl tools/load.pl)
# runs this file at its size (ECI_LOAD_REQUESTS, ECI_LOAD_CONNECTIONS,
# ECI_LOAD_SECONDS, ECI_LOAD_MIX) and prints the figures.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use EciTest;
use Time::HiRes ();

require "$FindBin::Bin/../tools/load.pl";

my $FULL = defined $ENV{ECI_LOAD_REQUESTS};

# the first few of what went wrong, for diag
sub first {
    my ($list) = @_;
    return join "\n", @$list[0 .. ($#$list < 9 ? $#$list : 9)];
}

sub nothing_lost {
    my ($f, $name) = @_;
    my $k = $f->{kinds};

    note("$name: eci-load: $f->{client_summary}") if $f->{client_summary};

    is($f->{workers}, $f->{workers_wanted},
       "$name: nginx runs $f->{workers_wanted} worker(s)");
    is($f->{client_rc}, 0, "$name: eci-load: every request got its expected"
                           . ' status and an X-Request-Id')
        or diag($f->{client_summary});

    # the requests
    is($f->{sent}, $f->{requests_wanted},
       "$name: all $f->{requests_wanted} requests were sent");
    is(scalar @{ $f->{bad_status} }, 0, "$name: every request got its"
       . ' expected status (allowed 200, denied 403, invalid 400) and an'
       . ' X-Request-Id') or diag(first($f->{bad_status}));
    is(scalar @{ $f->{duplicate_ids} }, 0,
       "$name: every X-Request-Id is unique");
    ok($k->{$_} > 0, "$name: the mix has $_ requests ($k->{$_})")
        for qw(allowed denied invalid);

    # the audit lines
    ok($f->{audit_ends_whole}, "$name: the audit file ends with a complete"
                               . ' line');
    is(scalar @{ $f->{invalid_lines} }, 0, "$name: every audit line is a"
       . " valid JSON object ($f->{lines} lines)")
        or diag(first($f->{invalid_lines}));
    is(scalar @{ $f->{unknown_lines} }, 0,
       "$name: no audit line for a request that was not sent")
        or diag(first($f->{unknown_lines}));
    is(scalar @{ $f->{missing} }, 0,
       "$name: every request has its audit line(s)")
        or diag(first($f->{missing}));
    is(scalar @{ $f->{wrong} }, 0, "$name: allowed: one intent then one"
       . ' result (allow, the status sent); refused: one result (deny)')
        or diag(first($f->{wrong}));
    is($f->{lines}, $f->{lines_expected}, "$name: the audit file holds"
       . ' exactly 2 lines per allowed and 1 per refused request');
    ok(!$f->{audit_has_key}, "$name: the API key is not in the audit file");

    # the chain
    is($f->{verify_rc}, 0, "$name: eci-audit verify: the chain is intact")
        or diag($f->{verify_out});
    unlike($f->{verify_out}, qr/without (?:a )?result|no result/i,
           "$name: eci-audit verify lists no intent without a result");
    my $read = $f->{lines_expected} + $f->{signed};
    like($f->{verify_out}, qr/\b\Q$read\E lines: intact\b/,
         "$name: eci-audit verify read $f->{lines_expected} lines and"
         . " $f->{signed} signed lines") or diag($f->{verify_out});

    # the upstream: each allowed exec once, with one key, nothing else
    is($f->{upstream}, $f->{allowed},
       "$name: the upstream received exactly the allowed execs");
    is(scalar @{ $f->{not_once} }, 0, "$name: each allowed exec reached the"
       . ' upstream exactly once (matched by X-Request-Id)')
        or diag(first($f->{not_once}));
    is(scalar @{ $f->{before_intent} }, 0, "$name: write-ahead: each exec"
       . ' reached the upstream after its intent line was in the audit file')
        or diag('forwarded before its intent was written: '
                . first($f->{before_intent}));
    is(scalar @{ $f->{bad_key} }, 0,
       "$name: each carried exactly one ECI-ApiKey, the key");
    is(scalar @{ $f->{not_canonical} }, 0, "$name: each in canonical form"
       . ' (POST, the authorised target)') or diag(first($f->{not_canonical}));

    # the error log
    is(scalar @{ $f->{crashes} }, 0, "$name: the error log shows no crash"
       . ' (alert, crit, emerg, signal, sanitizer)')
        or diag(first($f->{crashes}));
    ok(!$f->{log_has_key}, "$name: the API key is not in the error log");
    $f->{harness}->done;

    note("$name:\n" . EciLoad::figures($f)) if $FULL;
}

my $t0 = Time::HiRes::time();
nothing_lost(EciLoad::run(
                 requests    => $ENV{ECI_LOAD_REQUESTS} // 2000,
                 connections => $ENV{ECI_LOAD_CONNECTIONS} // 16,
                 max_seconds => $ENV{ECI_LOAD_SECONDS} // 50,
                 mix         => $ENV{ECI_LOAD_MIX} // '6:3:1',
                 keep        => $ENV{ECI_TEST_KEEP}),
             'mixed load');

nothing_lost(EciLoad::run(
                 requests => 600, connections => 48, max_seconds => 50,
                 workers => 1, principal => 'svc-' . ('L' x 6000),
                 denied => 'who-' . ('D' x 6000)),
             '6 KB principals');

note(sprintf('total time %.1f s (set-up, load, checks)',
             Time::HiRes::time() - $t0)) if $FULL;

done_testing;
