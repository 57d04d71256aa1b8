#!/usr/bin/perl
# Load: nothing lost.  Starts nginx with the module and 2 workers, the mock
# ECI upstream behind an upstream block with keepalive, a sealed keystore
# and an ACL (all through t/lib/EciTest.pm, in a temp dir), runs
# build/eci-load against it, then checks that every request has its audit
# line(s), every line is valid JSON, `eci-audit verify` finds the chain
# intact, the upstream received each allowed exec exactly once (and nothing
# else), and the error log shows no crash.  Output is TAP (Test::More) plus
# the figures; the exit code is non-zero when anything was lost.
#
#   perl tools/load.pl [--requests 20000] [--connections 64]
#                      [--max-seconds 240] [--mix 6:3:1] [--keep]
#
# `make load` runs the full version; t/075-load.t runs a small one through
# EciLoad::run.  See docs/load.md.

package EciLoad;

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use Getopt::Long ();
use JSON::PP;
use Test::More;
use Time::HiRes ();

my $ROOT;
BEGIN {
    $ROOT = Cwd::abs_path(File::Basename::dirname(Cwd::abs_path(__FILE__))
                          . '/..');
}
use lib "$ROOT/t/lib";
use EciTest;

my $KEY  = 'eci-load-secret-key-5e1f0c77a9';
my $PERM = 'DistributedReportsSettings (Manage)';

# Runs the whole load test as Test::More assertions; returns the figures.
sub run {
    my (%o) = @_;
    my $requests    = $o{requests}    // 20000;
    my $connections = $o{connections} // 64;
    my $max_seconds = $o{max_seconds} // 240;
    my $mix         = $o{mix}         // '6:3:1';
    my $client      = $o{client}      // "$ROOT/build/eci-load";
    my $audit_tool  = $o{audit_tool}  // "$ROOT/build/eci-audit";
    my $workers     = $o{workers}     // 2;
    my $principal   = $o{principal}   // 'svc-load';
    my $denied      = $o{denied}      // 'svc-nobody';
    my %fig = (requests => $requests, connections => $connections);

    die "$client is missing: build it with make build/eci-load\n"
        unless -x $client;
    die "$audit_tool is missing: build it with make\n" unless -x $audit_tool;

    my $t = EciTest->new(keep => $o{keep});
    $t->requires_master;
    my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
    my $acl = $t->write_acl({
        principals => {
            $principal => { permissions => [$PERM],
                            reportDistributionIds => '*',
                            overrideUserIds => [7, 8] },
            'svc-other' => { permissions => [$PERM],
                             reportDistributionIds => [1] },
        },
    });

    (my $head = EciTest::conf_head())
        =~ s/worker_processes 1;/worker_processes $workers;/;
    $head =~ s/worker_connections 256;/worker_connections 1024;/;
    $t->write_config($head . <<"EOF");
http {
    access_log off;
    client_body_temp_path %%DIR%%/tmp;
    proxy_temp_path %%DIR%%/tmp;

    eci_keystore $store master=$master;

    upstream eci {
        server 127.0.0.1:%%MOCK%%;
        keepalive 16;
    }

    server {
        listen 127.0.0.1:%%PORT%% backlog=1024;
        keepalive_requests 100000;

        location / {
            eci_gateway   on;
            eci_principal \$http_x_caller;
            eci_acl       $acl;
            eci_audit_log %%DIR%%/audit.log;

            proxy_pass http://eci;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # lets the check match what the upstream got to the requests
            proxy_set_header X-Request-Id \$request_id;
        }
    }
}
EOF
    # the mock notes the audit file's size as each exec arrives: write-ahead
    $t->mock(watch => $t->path('audit.log'));
    $t->start;
    my @workers_before;
    for (1 .. 100) {
        last if (@workers_before = $t->worker_pids) >= $workers;
        Time::HiRes::sleep(0.05);
    }
    is(scalar @workers_before, $workers, "nginx runs $workers worker(s)");

    my $ids = $t->path('ids.txt');
    my $out = $t->path('eci-load.out');
    my @cmd = ($client, '--port', $t->port, '--connections', $connections,
               '--requests', $requests, '--max-seconds', $max_seconds,
               '--mix', $mix, '--principal-header', 'X-Caller',
               '--principal', $principal, '--denied-principal', $denied,
               '--override-ok', 7, '--override-bad', 9, '--ids', $ids);
    my $rc = system(join(' ', map { "'$_'" } @cmd) . " >'$out' 2>&1");
    my $summary = EciTest::_slurp($out) // '';
    $fig{client_summary} = $summary;
    is($rc >> 8, 0, 'eci-load: every request got its expected status and'
                    . ' an X-Request-Id') or diag($summary);
    ($fig{rate}) = $summary =~ /^rate\s+(\d+)/m;
    ($fig{elapsed}) = $summary =~ /^elapsed\s+([\d.]+)/m;
    @fig{qw(p50 p99 max)} = $summary
        =~ /^latency\s+p50 ([\d.]+) ms, p99 ([\d.]+) ms, max ([\d.]+) ms/m;

    # the gateway writes a result line when the response is finished: the
    # client has seen every response, so the lines are (nearly) all there
    my %want = read_ids($ids);
    my $expect_lines = 2 * $want{count}{allowed} + $want{count}{denied}
                     + $want{count}{invalid};
    my $found = $t->wait_for_lines('audit.log', $expect_lines, 10);
    $t->stop;   # the files are final now

    my $c = check(
        ids        => \%want,
        audit      => $t->path('audit.log'),
        error_log  => $t->path('error.log'),
        mock       => $t->mock->record_file,
        verify     => [$audit_tool, 'verify', $t->path('audit.log'),
                       '--pubkey', $t->pubkey($store, $master)],
        secret     => $KEY,
        requests   => $requests,
    );
    $fig{lines} = $c->{lines};
    $fig{kinds} = $want{count};
    $fig{upstream} = $c->{upstream};
    $fig{verify} = $c->{verify_out};
    $fig{workers} = scalar @workers_before;
    $t->done;
    return \%fig;
}

# id file of eci-load: request-id status kind expected latency
sub read_ids {
    my ($file) = @_;
    my %w = (list => [], count => { allowed => 0, denied => 0, invalid => 0 });
    open(my $fh, '<', $file) or return %w;
    while (<$fh>) {
        chomp;
        my ($rid, $status, $kind, $expect) = split / /;
        push @{ $w{list} }, { rid => $rid, status => $status, kind => $kind,
                              expect => $expect };
        $w{count}{$kind}++;
    }
    return %w;
}

# The checks, as assertions; returns what it found.
sub check {
    my (%o) = @_;
    my $w = $o{ids};
    my %r;

    # the requests
    my @list = @{ $w->{list} };
    is(scalar @list, $o{requests}, "all $o{requests} requests were sent");
    my @bad = grep { $_->{status} != $_->{expect} || $_->{rid} eq '-' } @list;
    is(scalar @bad, 0, 'every request got its expected status'
                       . ' (allowed 200, denied 403, invalid 400) and an'
                       . ' X-Request-Id')
        or diag(join "\n", map { "$_->{rid} $_->{kind}: got $_->{status},"
                                 . " expected $_->{expect}" }
                           @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
    my %by_rid;
    $by_rid{$_->{rid}}++ for @list;
    my @dup = grep { $by_rid{$_} > 1 && $_ ne '-' } keys %by_rid;
    is(scalar @dup, 0, 'every X-Request-Id is unique');
    ok($w->{count}{$_} > 0, "the mix has $_ requests ($w->{count}{$_})")
        for qw(allowed denied invalid);

    # the audit lines
    my (%lines, $n, $invalid, @unknown, $secret);
    my $json = JSON::PP->new->utf8;
    open(my $fh, '<:raw', $o{audit}) or die "$o{audit}: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;
    ok($text eq '' || substr($text, -1) eq "\n",
       'the audit file ends with a complete line');
    $secret = index($text, $o{secret}) >= 0;
    my ($end, $signed, %intent_end) = (0, 0);
    for my $line (split /\n/, $text) {
        $n++;
        $end += length($line) + 1;
        # a cheap screen before the (slow, pure-Perl) full decode of the
        # lines a request id is looked up by
        my $rec = eval { $json->decode($line) };
        if (ref $rec ne 'HASH') {
            $invalid++;
            diag("audit line $n is not a JSON object: $line") if $invalid <= 5;
            next;
        }
        # the chain's own signed lines (start, checkpoints, stop)
        if (defined $rec->{sig}) {
            $signed++;
            next;
        }
        my $rid = $rec->{requestId} // '';
        $intent_end{$rid} = $end if ($rec->{event} // '') eq 'intent';
        push @{ $lines{$rid} }, { n => $n, event => $rec->{event} // '',
                                  status => $rec->{status},
                                  decision => $rec->{decision} // '' };
        push @unknown, $n unless exists $by_rid{$rid};
    }
    $r{lines} = ($n // 0) - $signed;
    is($invalid // 0, 0, "every audit line is a valid JSON object ($r{lines} lines)");
    is(scalar @unknown, 0, 'no audit line for a request that was not sent')
        or diag("lines @unknown[0 .. ($#unknown < 9 ? $#unknown : 9)]");

    my (@missing, @wrong);
    for my $q (@list) {
        my $got = $lines{$q->{rid}} || [];
        my @intent = grep { $_->{event} eq 'intent' } @$got;
        my @result = grep { $_->{event} eq 'result' } @$got;
        my $ok;
        if ($q->{kind} eq 'allowed') {
            $ok = @$got == 2 && @intent == 1 && @result == 1
                  && $intent[0]{n} < $result[0]{n}
                  && $intent[0]{decision} eq 'allow'
                  && $result[0]{decision} eq 'allow'
                  && ($result[0]{status} // -1) == $q->{status};
        } else {
            $ok = @$got == 1 && @result == 1
                  && $result[0]{decision} eq 'deny'
                  && ($result[0]{status} // -1) == $q->{status};
        }
        next if $ok;
        if (@$got) { push @wrong, $q } else { push @missing, $q }
    }
    is(scalar @missing, 0, 'every request has its audit line(s)')
        or diag(join "\n", map { "no audit line: $_->{rid} ($_->{kind})" }
                           @missing[0 .. ($#missing < 9 ? $#missing : 9)]);
    is(scalar @wrong, 0, 'allowed: one intent then one result (allow, the'
                         . ' status sent); refused: one result (deny)')
        or diag(join "\n", map { my $q = $_;
                    "$q->{rid} ($q->{kind} $q->{status}): "
                    . join(', ', map { "line $_->{n} $_->{event}"
                                       . " $_->{decision} "
                                       . ($_->{status} // 'null') }
                                 @{ $lines{$q->{rid}} }) }
                @wrong[0 .. ($#wrong < 9 ? $#wrong : 9)]);
    my $expect = 2 * $w->{count}{allowed} + $w->{count}{denied}
               + $w->{count}{invalid};
    is($r{lines}, $expect, 'the audit file holds exactly 2 lines per allowed'
                           . ' and 1 per refused request');
    ok(!$secret, 'the API key is not in the audit file');

    # the chain
    my $vout = qx{@{[ join ' ', map { "'$_'" } @{ $o{verify} } ]} 2>&1};
    my $vrc = $? >> 8;
    $r{verify_out} = $vout;
    is($vrc, 0, 'eci-audit verify: the chain is intact') or diag($vout);
    unlike($vout, qr/without (?:a )?result|no result/i,
           'eci-audit verify lists no intent without a result')
        or diag($vout);
    like($vout, qr/\b\Q@{[ $expect + $signed ]}\E lines: intact\b/,
         "eci-audit verify read $expect lines and $signed signed lines")
        or diag($vout);

    # the upstream: each allowed exec once, with one key, nothing else
    my (%up, $up_n, $up_badkey, $up_other, @early);
    open(my $mh, '<:raw', $o{mock}) or die "$o{mock}: $!\n";
    while (my $line = <$mh>) {
        $up_n++;
        my $req = eval { $json->decode($line) } or next;
        my ($rid) = MockEci::header_values($req, 'X-Request-Id');
        $up{$rid // ''}++;
        # its intent line ended within what the file held on arrival
        push @early, $rid // '?'
            unless defined $req->{watched_size} && defined $rid
                   && defined $intent_end{$rid}
                   && $intent_end{$rid} <= $req->{watched_size};
        my @k = MockEci::header_values($req, 'ECI-ApiKey');
        $up_badkey++ unless @k == 1 && $k[0] eq $o{secret};
        $up_other++ unless ($req->{request_line} // '')
            =~ m{^POST /api/v202106/reportdistribution/[1-9][0-9]*/exec(?:\?overrideUserIds=7(?:&overrideUserIds=7)*)? HTTP/1\.1\z};
    }
    close $mh;
    $r{upstream} = $up_n // 0;
    my @allowed = grep { $_->{kind} eq 'allowed' } @list;
    is($r{upstream}, scalar @allowed,
       'the upstream received exactly the allowed execs');
    my @not_once = grep { ($up{$_->{rid}} // 0) != 1 } @allowed;
    is(scalar @not_once, 0, 'each allowed exec reached the upstream exactly'
                            . ' once (matched by X-Request-Id)');
    is(scalar @early, 0, 'write-ahead: each exec reached the upstream after'
                         . ' its intent line was in the audit file')
        or diag("forwarded before its intent was written: "
                . join(' ', @early[0 .. ($#early < 9 ? $#early : 9)]));
    is($up_badkey // 0, 0, 'each carried exactly one ECI-ApiKey, the key');
    is($up_other // 0, 0, 'each in canonical form (POST, the authorised'
                          . ' target)');

    # the error log
    my $log = EciTest::_slurp($o{error_log}) // '';
    my @crash = grep { /\[(?:alert|crit|emerg)\]|exited on signal|Sanitizer|runtime error:|core dumped/ }
                split /\n/, $log;
    is(scalar @crash, 0, 'the error log shows no crash (alert, crit, emerg,'
                         . ' signal, sanitizer)')
        or diag(join "\n", @crash[0 .. ($#crash < 9 ? $#crash : 9)]);
    ok(index($log, $o{secret}) < 0, 'the API key is not in the error log');
    return \%r;
}

sub main {
    my %o = (requests => 20000, connections => 64, max_seconds => 240,
             mix => '6:3:1');
    Getopt::Long::GetOptions(
        'requests=i'    => \$o{requests},
        'connections=i' => \$o{connections},
        'max-seconds=i' => \$o{max_seconds},
        'mix=s'         => \$o{mix},
        'keep'          => \$o{keep},
        'help'          => sub {
            print "usage: perl tools/load.pl [--requests N] [--connections N]"
                . " [--max-seconds S] [--mix A:D:I] [--keep]\n";
            exit 0;
        },
    ) or exit 2;

    my $t0 = Time::HiRes::time();
    my $f = run(%o);
    done_testing();
    my $k = $f->{kinds} || {};
    printf "\n--- load figures ---\n";
    printf "nginx workers   %s\n", $f->{workers} // '?';
    printf "requests        %d at concurrency %d (allowed %d, denied %d,"
         . " invalid %d)\n", $f->{requests}, $f->{connections},
           $k->{allowed} // 0, $k->{denied} // 0, $k->{invalid} // 0;
    printf "rate            %s req/s over %s s\n", $f->{rate} // '?',
           $f->{elapsed} // '?';
    printf "latency         p50 %s ms, p99 %s ms, max %s ms\n",
           map { $_ // '?' } @$f{qw(p50 p99 max)};
    printf "audit lines     %d checked\n", $f->{lines} // 0;
    printf "upstream        %d requests received\n", $f->{upstream} // 0;
    printf "eci-audit       %s", $f->{verify} // "?\n";
    printf "total time      %.1f s (set-up, load, checks)\n",
           Time::HiRes::time() - $t0;
    my $failed = grep { !$_ } Test::More->builder->summary;
    printf "result          %s\n", $failed ? "FAILED: $failed checks"
                                           : 'nothing lost';
}

main() unless caller;

1;
