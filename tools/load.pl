#!/usr/bin/perl
# Load: nothing lost.  Starts nginx with the module and 2 workers, the mock
# ECI upstream behind an upstream block with keepalive, a sealed keystore
# and an ACL (all through t/lib/EciTest.pm, in a temp dir), runs
# build/eci-load against it, then checks that every request has its audit
# line(s), every line is valid JSON, `eci-audit verify` finds the chain
# intact, the upstream received each allowed exec exactly once (and nothing
# else), and the error log shows no crash.
#
#   perl tools/load.pl [--requests 20000] [--connections 64]
#                      [--max-seconds 240] [--mix 6:3:1] [--keep]
#
# EciLoad::run sets up, runs the client and gathers what it finds, without
# judging it; t/075-load.t states the assertions.  Run as a script (`make
# load`), this runs t/075-load.t at the size given: TAP plus the figures,
# non-zero when anything was lost.  See docs/load.md.

package EciLoad;

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use Getopt::Long ();
use JSON::PP;
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

# Runs the load and returns what was found (see facts()) and the figures.
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
    $fig{workers_wanted} = $workers;

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
    $fig{client_rc} = $rc >> 8;
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

    my $c = facts(
        ids        => \%want,
        audit      => $t->path('audit.log'),
        error_log  => $t->path('error.log'),
        mock       => $t->mock->record_file,
        verify     => [$audit_tool, 'verify', $t->path('audit.log'),
                       '--pubkey', $t->pubkey($store, $master)],
        secret     => $KEY,
        requests   => $requests,
    );
    %fig = (%fig, %$c);
    $fig{kinds} = $want{count};
    $fig{workers} = scalar @workers_before;
    # the harness's own check of the error log is the caller's to see
    $fig{harness} = $t;
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

# What the files say, unjudged: the lists are what is wrong (empty when
# nothing was lost).
sub facts {
    my (%o) = @_;
    my $w = $o{ids};
    my %r = (requests_wanted => $o{requests});

    # the requests
    my @list = @{ $w->{list} };
    $r{sent} = scalar @list;
    $r{bad_status} = [map { "$_->{rid} $_->{kind}: got $_->{status},"
                            . " expected $_->{expect}" }
                      grep { $_->{status} != $_->{expect} || $_->{rid} eq '-' }
                      @list];
    my %by_rid;
    $by_rid{$_->{rid}}++ for @list;
    $r{duplicate_ids} = [grep { $by_rid{$_} > 1 && $_ ne '-' } keys %by_rid];

    # the audit lines
    my (%lines, $n, @invalid, @unknown);
    my $json = JSON::PP->new->utf8;
    open(my $fh, '<:raw', $o{audit}) or die "$o{audit}: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;
    $r{audit_ends_whole} = $text eq '' || substr($text, -1) eq "\n";
    $r{audit_has_key} = index($text, $o{secret}) >= 0;
    my ($end, $signed, %intent_end) = (0, 0);
    for my $line (split /\n/, $text) {
        $n++;
        $end += length($line) + 1;
        my $rec = eval { $json->decode($line) };
        if (ref $rec ne 'HASH') {
            push @invalid, "line $n: $line";
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
        push @unknown, "line $n" unless exists $by_rid{$rid};
    }
    $r{lines} = ($n // 0) - $signed;
    $r{signed} = $signed;
    $r{invalid_lines} = \@invalid;
    $r{unknown_lines} = \@unknown;

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
        if (!@$got) {
            push @missing, "no audit line: $q->{rid} ($q->{kind})";
            next;
        }
        push @wrong, "$q->{rid} ($q->{kind} $q->{status}): "
                     . join(', ', map { "line $_->{n} $_->{event}"
                                        . " $_->{decision} "
                                        . ($_->{status} // 'null') } @$got);
    }
    $r{missing} = \@missing;
    $r{wrong} = \@wrong;
    $r{lines_expected} = 2 * $w->{count}{allowed} + $w->{count}{denied}
                       + $w->{count}{invalid};

    # the chain
    $r{verify_out} = qx{@{[ join ' ', map { "'$_'" } @{ $o{verify} } ]} 2>&1};
    $r{verify_rc} = $? >> 8;

    # the upstream
    my (%up, $up_n, @badkey, @other, @early);
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
        push @badkey, $rid // '?' unless @k == 1 && $k[0] eq $o{secret};
        push @other, $req->{request_line} // '?'
            unless ($req->{request_line} // '')
            =~ m{^POST /api/v202106/reportdistribution/[1-9][0-9]*/exec(?:\?overrideUserIds=7(?:&overrideUserIds=7)*)? HTTP/1\.1\z};
    }
    close $mh;
    $r{upstream} = $up_n // 0;
    my @allowed = grep { $_->{kind} eq 'allowed' } @list;
    $r{allowed} = scalar @allowed;
    $r{not_once} = [map { $_->{rid} }
                    grep { ($up{$_->{rid}} // 0) != 1 } @allowed];
    $r{before_intent} = \@early;
    $r{bad_key} = \@badkey;
    $r{not_canonical} = \@other;

    # the error log
    my $log = EciTest::_slurp($o{error_log}) // '';
    $r{crashes} = [grep { /\[(?:alert|crit|emerg)\]|exited on signal|Sanitizer|runtime error:|core dumped/ }
                   split /\n/, $log];
    $r{log_has_key} = index($log, $o{secret}) >= 0;
    return \%r;
}

# The figures of a run, as lines of text.
sub figures {
    my ($f) = @_;
    my $k = $f->{kinds} || {};
    return join '',
        sprintf("nginx workers   %s\n", $f->{workers} // '?'),
        sprintf("requests        %d at concurrency %d (allowed %d, denied"
                . " %d, invalid %d)\n", $f->{requests}, $f->{connections},
                $k->{allowed} // 0, $k->{denied} // 0, $k->{invalid} // 0),
        sprintf("rate            %s req/s over %s s\n", $f->{rate} // '?',
                $f->{elapsed} // '?'),
        sprintf("latency         p50 %s ms, p99 %s ms, max %s ms\n",
                map { $_ // '?' } @$f{qw(p50 p99 max)}),
        sprintf("audit lines     %d checked\n", $f->{lines} // 0),
        sprintf("upstream        %d requests received\n",
                $f->{upstream} // 0),
        sprintf("eci-audit       %s", $f->{verify_out} // "?\n");
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

    # one list of assertions: t/075-load.t's, at this size
    $ENV{ECI_LOAD_REQUESTS}    = $o{requests};
    $ENV{ECI_LOAD_CONNECTIONS} = $o{connections};
    $ENV{ECI_LOAD_SECONDS}     = $o{max_seconds};
    $ENV{ECI_LOAD_MIX}         = $o{mix};
    $ENV{ECI_TEST_KEEP}        = 1 if $o{keep};
    exec($^X, "$ROOT/t/075-load.t") or die "$ROOT/t/075-load.t: $!\n";
}

main() unless caller;

1;
