#!/usr/bin/perl

# bench/run.pl: the ngx_eci benchmark (make bench).  Figures, never a test:
# it exits non-zero only when it could not measure (nginx did not start,
# wrk failed, a response was not 200), never because a goal was missed.
#
#   A  the mock ECI upstream direct (a second nginx: return 200 '<json>')
#   B  plain nginx proxy_pass + proxy_set_header ECI-ApiKey "<literal>"
#   C  ngx_eci, everything on (ACL, key injection, capture, intent + result
#      audit lines with the SHA-256 chain to a file on disk)
#
# In one run: A B C rounds alternating (medians and paired ratios), the
# candidate ACL off, off again (A/A), on and disagreeing (issue 15), the
# ACL scale (100,000 principals and 1,000 groups against 3 principals:
# nginx -t time, alternating throughput rounds with an A/A control, ns per
# eci_acl_check() from bench/acl_lookup.c), worker RSS over 200,000
# requests and the per-request allocations from nginx's debug log.  The
# tested nginx runs on core 0, wrk and the upstream on core 1.  See
# bench/README.md; environment: BENCH_ROUNDS, BENCH_SECONDS, ...

use strict;
use warnings;

use Cwd ();
use File::Temp ();
use FindBin;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes ();

use lib "$FindBin::Bin/../t/lib";

$| = 1;    # make bench | tee: figures as they come
use MockEci ();

my $ROOT   = Cwd::abs_path("$FindBin::Bin/..");
my $BENCH  = "$ROOT/bench";
my $NGINX  = $ENV{BENCH_NGINX}   || '/usr/sbin/nginx';
my $MODULE = $ENV{BENCH_MODULE}  || "$ROOT/build/ngx_http_eci_module.so";
my $TOOL   = $ENV{BENCH_KEYTOOL} || "$ROOT/build/eci-keytool";
my $AUDIT  = $ENV{BENCH_AUDIT}   || "$ROOT/build/eci-audit";
my $WRK    = $ENV{BENCH_WRK}     || 'wrk';
my $LOOKUP = $ENV{BENCH_ACL_LOOKUP} || "$ROOT/build/acl_lookup";
my $FLOOR  = $ENV{BENCH_FLOOR}      || "$ROOT/build/floor";

my $ROUNDS     = $ENV{BENCH_ROUNDS}      // 5;
my $SECONDS    = $ENV{BENCH_SECONDS}     // 10;
my $WARMUP     = $ENV{BENCH_WARMUP}      // 2;
our $CONNS      = $ENV{BENCH_CONNECTIONS} // 32;
my $PRINCIPALS = $ENV{BENCH_ACL_PRINCIPALS} // 100_000;
my $GROUPS     = $ENV{BENCH_ACL_GROUPS}     // 1_000;
my $MEM_TOTAL  = $ENV{BENCH_MEM_REQUESTS}   // 200_000;
my $MEM_STEP   = $ENV{BENCH_MEM_STEP}       // 20_000;
my $SKIP       = $ENV{BENCH_SKIP} // '';   # e.g. "acl,memory"

my $CORE_NGINX = 0;    # the tested nginx
my $CORE_LOAD  = 1;    # wrk and the upstream

my $KEY    = 'bench-api-key-0123456789abcdef';
my $TICK   = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
my $EXEC   = '/api/v202106/reportdistribution/42/exec';

die "rounds must be at least 1\n" unless $ROUNDS >= 1;

my $tmp = File::Temp->newdir('eci-bench-XXXXXX', TMPDIR => 1,
                             CLEANUP => !$ENV{BENCH_KEEP});
my $DIR = Cwd::abs_path("$tmp");
chmod 0755, $DIR;
mkdir "$DIR/tmp";

# make bench-acl: the lookup micro-benchmark alone, no nginx and no wrk
if (($ARGV[0] // '') eq 'acl-lookup') {
    -x $LOOKUP or die "$LOOKUP is missing: run make bench-acl\n";
    write_file("$DIR/acl-small.json", acl_small());
    write_file("$DIR/acl-large.json", acl_large($PRINCIPALS, $GROUPS));
    acl_lookup("$DIR/acl-small.json", "$DIR/acl-large.json");
    exit 0;
}

-x $_ or die "$_ is missing: run make first\n" for $TOOL, $AUDIT;
-e $MODULE or die "$MODULE is missing: run make first\n";

my %started;           # master PID => pid file, of every nginx we started
my %used_port;

$SIG{INT} = $SIG{TERM} = sub { stop_all(); exit 130 };
END { stop_all() }


# --- what we measure on ------------------------------------------------

# a private copy: a concurrent `make` rewrites build/'s .so in place,
# which would crash an nginx that has it mapped
system('cp', $MODULE, "$DIR/ngx_http_eci_module.so") == 0
    or die "cp $MODULE: failed\n";

my $body = MockEci::default_body(42);

run_cmd([$TOOL, 'genmaster', "$DIR/master.key"]);
run_cmd([$TOOL, 'set', "$DIR/keys.sealed", '--master', "$DIR/master.key",
         '--name', 'default'], $KEY);

write_file("$DIR/acl-small.json", acl_small());

my %port = map { $_ => free_port() } qw(up proxy gw large control mem dbg);

my $up = start_nginx('upstream', 'upstream.conf.in', $CORE_LOAD,
                     PORT => $port{up}, BODY => $body);
my $px = start_nginx('proxy', 'proxy.conf.in', $CORE_NGINX,
                     PORT => $port{proxy}, UPSTREAM => $port{up},
                     KEY => $KEY);
my $gw = start_gateway('gateway', $port{gw}, "$DIR/acl-small.json");

my %target = (
    A => { name => 'A mock ECI upstream direct', port => $port{up},
           pid => worker_of($up) },
    B => { name => 'B nginx proxy_pass + literal key', port => $port{proxy},
           pid => worker_of($px) },
    C => { name => 'C ngx_eci, everything on', port => $port{gw},
           pid => worker_of($gw), audit => "$DIR/gateway-audit.log" },
);

for my $t (sort keys %target) {
    my ($st, $rb) = http_post($target{$t}{port});
    die "$target{$t}{name}: answered $st, not 200\n" unless $st == 200;
    die "$target{$t}{name}: the body is not the upstream's\n"
        unless $rb eq $body;
}
# the result line is written at the end of the worker's event-loop pass,
# a moment after the response: give it a second
my $lines = 0;
for (1 .. 100) {
    last if ($lines = count_lines($target{C}{audit})) >= 2;
    Time::HiRes::sleep(0.01);
}
die "C wrote $lines audit lines for one exec, not 2\n" unless $lines == 2;

header();

# the modes after the common set-up; without one, the A B C run below
my %mode = (
    profile     => \&profile,
    perf        => \&perf_profile,
    syscalls    => \&syscalls,
    allocations => \&per_request_allocations,
    together    => \&together,
    candidate   => \&candidate_ab,
    ab          => sub {
        module_ab($ARGV[1] // die "usage: run.pl ab OTHER-MODULE.so\n");
    },
);

if (my $run = $mode{$ARGV[0] // ''}) {
    $run->();
    stop_all();
    exit 0;
}


# --- A B C -------------------------------------------------------------

section("A B C: $ROUNDS rounds of ${SECONDS}s, alternating; wrk -t1 "
        . "-c$CONNS on core $CORE_LOAD");

my %res;
for my $t (qw(A B C)) {
    wrk_round($target{$t}, $WARMUP);      # warm-up, not counted
}

for my $round (1 .. $ROUNDS) {
    for my $t (qw(A B C)) {
        truncate_audit($target{C}{audit}) if $t eq 'C';
        my $m = wrk_round($target{$t}, $SECONDS);
        push @{ $res{$t} }, $m;
        print_round($round, $t, $m);
    }
}

print "\n";
summary_table(\%res, [qw(A B C)], \%target);

my @ratio = map { $res{C}[$_]{rps} / $res{B}[$_]{rps} } 0 .. $ROUNDS - 1;
my @extra = map { $res{C}[$_]{cpu_us} - $res{B}[$_]{cpu_us} }
            0 .. $ROUNDS - 1;

printf "\nC/B throughput, paired by round: %s -> median %.3f"
       . "   (goal >= 0.80)\n", join(' ', map { sprintf '%.3f', $_ } @ratio),
       median(@ratio);
printf "C-B worker CPU per request, paired by round: %s -> median %.2f us"
       . "   (goal <= 4.00 us)\n",
       join(' ', map { sprintf '%.2f', $_ } @extra), median(@extra);
printf "C-B p50 latency: %+.0f us\n",
       median(map { $_->{p50} } @{ $res{C} })
       - median(map { $_->{p50} } @{ $res{B} });

check_audit($target{C}{audit});
metrics_check($port{gw});
floor($target{C}{audit}, \%res, median(@extra));

stop_nginx($px);

candidate_ab() if $SKIP !~ /\bcandidate\b/;


# --- ACL scale ---------------------------------------------------------

if ($SKIP !~ /\bacl\b/) {
    section("ACL scale: $PRINCIPALS principals, $GROUPS groups against "
            . "3 principals");

    my $t0 = Time::HiRes::time();
    my $size = write_file("$DIR/acl-large.json",
                          acl_large($PRINCIPALS, $GROUPS));
    printf "generated %s (%.1f MB) in %.2f s\n", "$DIR/acl-large.json",
           $size / 1e6, Time::HiRes::time() - $t0;

    my $conf_small = "$DIR/gateway.conf";
    my $conf_large = write_gateway_conf('large', $port{large},
                                        "$DIR/acl-large.json", 'warn');
    my (%tt);
    for (1 .. 3) {
        push @{ $tt{small} }, nginx_t($conf_small);
        push @{ $tt{large} }, nginx_t($conf_large);
    }
    printf "nginx -t, 3 runs each: 3 principals %s s, median %.3f s; "
           . "%d principals %s s, median %.3f s   (goal < 1 s)\n",
           join(' ', map { sprintf '%.3f', $_ } @{ $tt{small} }),
           median(@{ $tt{small} }), $PRINCIPALS,
           join(' ', map { sprintf '%.3f', $_ } @{ $tt{large} }),
           median(@{ $tt{large} });

    my $lg = start_nginx_conf('large', $conf_large, $CORE_NGINX);
    my $large = { name => "C with $PRINCIPALS principals",
                  port => $port{large}, pid => worker_of($lg),
                  audit => "$DIR/large-audit.log" };
    my ($st) = http_post($large->{port});
    die "the large-ACL gateway answered $st, not 200\n" unless $st == 200;

    my $m = metrics($port{large});
    my ($np) = $m =~ /^eci_acl_principals\{[^}]*\} (\S+)/m;
    my ($ls) = $m =~ /^eci_acl_load_seconds\{[^}]*\} (\S+)/m;
    printf "eci_status of the large gateway: eci_acl_principals %s, "
           . "eci_acl_load_seconds %s\n", $np // '?', $ls // '?';

    # A/A control: a second gateway with its own copy of the small ACL.
    # What control/small spreads is the benchmark's own noise: a
    # large/small difference inside it is not resolved.
    write_file("$DIR/acl-control.json", acl_small());
    my $ct = start_gateway('control', $port{control},
                           "$DIR/acl-control.json");
    my $control = { name => 'C with 3 principals, control copy',
                    port => $port{control}, pid => worker_of($ct),
                    audit => "$DIR/control-audit.log" };
    ($st) = http_post($control->{port});
    die "the control gateway answered $st, not 200\n" unless $st == 200;

    my $small = { %{ $target{C} }, name => 'C with 3 principals' };
    my @acl_order = (['small', $small], ['large', $large],
                     ['control', $control]);
    my %acl_res;

    wrk_round($_->[1], $WARMUP) for @acl_order;
    for my $round (1 .. $ROUNDS) {
        # each takes each place in the round in turn: the first round of a
        # triple ran faster than the others in the A/A control
        my $k = ($round - 1) % @acl_order;
        for my $t (@acl_order[$k .. $#acl_order, 0 .. $k - 1]) {
            truncate_audit($t->[1]{audit});
            my $r = wrk_round($t->[1], $SECONDS);
            push @{ $acl_res{$t->[0]} }, $r;
            print_round($round, $t->[0], $r);
        }
    }
    print "\n";
    summary_table(\%acl_res, [qw(small large control)],
                  { small => $small, large => $large, control => $control });

    my %ratio;
    my %dcpu;
    for my $t (qw(large control)) {
        $ratio{$t} = [map { $acl_res{$t}[$_]{rps} / $acl_res{small}[$_]{rps} }
                      0 .. $ROUNDS - 1];
        $dcpu{$t} = [map { $acl_res{$t}[$_]{cpu_us}
                           - $acl_res{small}[$_]{cpu_us} } 0 .. $ROUNDS - 1];
    }
    printf "\nlarge/small throughput, paired: %s -> median %.3f"
           . "   (goal within 2%%: 0.980 .. 1.020)\n",
           join(' ', map { sprintf '%.3f', $_ } @{ $ratio{large} }),
           median(@{ $ratio{large} });
    printf "control/small throughput, paired: %s -> median %.3f"
           . "   (A/A: the same gateway and ACL twice)\n",
           join(' ', map { sprintf '%.3f', $_ } @{ $ratio{control} }),
           median(@{ $ratio{control} });
    my @c = sort { $a <=> $b } @{ $ratio{control} };
    printf "the spread of control/small, %.3f .. %.3f, is this benchmark's "
           . "own noise floor: a large/small ratio inside it cannot be "
           . "told from noise\n", $c[0], $c[-1];
    printf "large-small worker CPU per request: median %+.2f us\n",
           median(@{ $dcpu{large} });
    printf "control-small worker CPU per request: median %+.2f us\n",
           median(@{ $dcpu{control} });

    stop_nginx($ct);
    unlink "$DIR/control-audit.log";
    stop_nginx($lg);
    unlink "$DIR/large-audit.log";

    # per lookup, without the noise: the small gateway's CPU per request
    # as the scale for the difference
    acl_lookup("$DIR/acl-small.json", "$DIR/acl-large.json",
               median(map { $_->{cpu_us} } @{ $acl_res{small} }));
}
stop_nginx($gw);


# --- memory ------------------------------------------------------------

if ($SKIP !~ /\bmemory\b/) {
    section("Memory: worker RSS of a fresh gateway (C) every $MEM_STEP "
            . "requests up to $MEM_TOTAL");

    my $mg = start_gateway('mem', $port{mem}, "$DIR/acl-small.json");
    my $w = worker_of($mg);
    my @series = ([0, rss($w)]);

    printf "%10s %10s %10s\n", 'requests', 'VmRSS kB', 'VmHWM kB';
    printf "%10d %10d %10d\n", 0, $series[0][1], hwm($w);

    while ($series[-1][0] < $MEM_TOTAL) {
        wrk_count($port{mem}, $MEM_STEP);
        my $n = served($port{mem});
        truncate_audit("$DIR/mem-audit.log");
        push @series, [$n, rss($w)];
        printf "%10d %10d %10d\n", $n, $series[-1][1], hwm($w);
    }

    my $first = $series[1];
    my $last = $series[-1];
    printf "growth from %d to %d requests: %+d kB (%.4f bytes per request);"
           . " from start: %+d kB\n",
           $first->[0], $last->[0], $last->[1] - $first->[1],
           ($last->[1] - $first->[1]) * 1024
               / (($last->[0] - $first->[0]) || 1),
           $last->[1] - $series[0][1];
    stop_nginx($mg);

    per_request_allocations();
}

stop_nginx($up);
print "\ndone; files in $DIR\n" if $ENV{BENCH_KEEP};
exit 0;


# --- rounds ------------------------------------------------------------

sub wrk_round {
    my ($t, $seconds) = @_;

    my $before = cpu_ticks($t->{pid});
    my $core0 = core_ticks($CORE_NGINX);
    my $w0 = write_calls($t->{pid});
    my $out = wrk_run($t->{port}, $seconds);
    my $w1 = write_calls($t->{pid});
    my $after = cpu_ticks($t->{pid});
    my $core1 = core_ticks($CORE_NGINX);

    my $m = wrk_measured($t, $out, $after - $before);
    my $cpu = ($after - $before) / $TICK;
    # core 0 is the tested worker's: anything else busy on it is another
    # process (or interrupts), and throughput means little then
    $m->{other} = (($core1 - $core0) / $TICK - $cpu) / $m->{seconds};
    $m->{other} = 0 if $m->{other} < 0;
    # write(2)-type system calls per request: C - B is its audit writes
    $m->{writes} = ($w1 - $w0) / $m->{requests} if defined $w0 && defined $w1;
    return $m;
}

# syscw of /proc/PID/io: the write, writev, ... calls the process made
sub write_calls {
    my ($pid) = @_;
    my $io = slurp("/proc/$pid/io") // return undef;
    return $io =~ /^syscw:\s*(\d+)/m ? $1 : undef;
}

# a timed wrk against $port on the load core
sub wrk_cmd {
    my ($port, $seconds) = @_;
    return ('taskset', '-c', $CORE_LOAD, $WRK, '-t1', "-c$CONNS",
            "-d${seconds}s", '--latency', '-s', "$BENCH/exec.lua",
            "http://127.0.0.1:$port");
}

# wrk's figures, and the worker's CPU per request from $ticks of it
sub wrk_measured {
    my ($t, $out, $ticks) = @_;

    my %m = parse_wrk($out);
    die "wrk against $t->{name}: $m{non2xx} responses were not 2xx\n$out"
        if $m{non2xx};
    die "wrk against $t->{name}: socket errors: $m{errors}\n$out"
        if $m{errors};
    die "wrk against $t->{name}: no requests\n$out" unless $m{requests};

    my $cpu = $ticks / $TICK;
    $m{cpu_us} = $cpu * 1e6 / $m{requests};
    $m{busy} = $cpu / $m{seconds};
    return \%m;
}

sub wrk_run {
    my ($port, $seconds) = @_;

    open(my $fh, '-|', wrk_cmd($port, $seconds)) or die "$WRK: $!\n";
    local $/;
    my $out = <$fh> // '';
    close $fh;
    die "wrk failed ($?):\n$out" if $?;
    return $out;
}

# exactly $n responses (on one thread), then SIGINT makes wrk report
sub wrk_count {
    my ($port, $n) = @_;
    my $flag = "$DIR/wrk-stopped";
    my $out = "$DIR/wrk-count.out";
    unlink $flag;

    local $ENV{BENCH_STOP_AFTER} = $n;
    local $ENV{BENCH_STOP_FILE} = $flag;
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open(STDOUT, '>', $out);
        open(STDERR, '>&', \*STDOUT);
        exec('taskset', '-c', $CORE_LOAD, $WRK, '-t1', "-c$CONNS", '-d3600s',
             '-s', "$BENCH/exec.lua", "http://127.0.0.1:$port")
            or POSIX::_exit(127);
    }
    my $deadline = Time::HiRes::time() + 1200;
    until (-e $flag) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            die "wrk exited early ($?):\n" . (slurp($out) // '');
        }
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            die "wrk did not finish $n requests in time\n";
        }
        Time::HiRes::sleep(0.05);
    }
    Time::HiRes::sleep(0.1);
    kill 'INT', $pid;
    waitpid($pid, 0);
    return slurp($out) // '';
}

sub parse_wrk {
    my ($out) = @_;
    my %m = (non2xx => 0, errors => '');

    ($m{requests}, $m{seconds}) = $out =~ /(\d+) requests in ([\d.]+)s/;
    if (!defined $m{seconds} && $out =~ /(\d+) requests in ([\d.]+)m/) {
        ($m{requests}, $m{seconds}) = ($1, $2 * 60);
    }
    ($m{rps}) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    $m{non2xx} = $1 if $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    $m{errors} = $1 if $out =~ /Socket errors:\s*(.*)/;
    for my $p (50, 99) {
        $m{"p$p"} = to_us($1, $2)
            if $out =~ /^\s+$p(?:\.000)?%\s+([\d.]+)(us|ms|s)\b/m;
    }
    return %m;
}

sub to_us {
    my ($v, $unit) = @_;
    return $v * ($unit eq 'us' ? 1 : $unit eq 'ms' ? 1e3 : 1e6);
}

sub print_round {
    my ($round, $t, $m) = @_;
    printf "round %d %-6s %9.0f req/s  p50 %7.0f us  p99 %7.0f us  "
           . "worker %6.2f us/req  busy %3.0f%%  core0 other %3.0f%%\n",
           $round, $t, $m->{rps}, $m->{p50}, $m->{p99}, $m->{cpu_us},
           $m->{busy} * 100, $m->{other} * 100;
}

sub summary_table {
    my ($res, $order, $targets) = @_;

    printf "%-36s %10s %9s %9s %12s %6s %11s\n", 'median of rounds',
           'req/s', 'p50 us', 'p99 us', 'CPU us/req', 'busy', 'core0 other';
    for my $t (@$order) {
        my @r = @{ $res->{$t} };
        printf "%-36s %10.0f %9.0f %9.0f %12.2f %5.0f%% %10.0f%%\n",
               $targets->{$t}{name},
               median(map { $_->{rps} } @r), median(map { $_->{p50} } @r),
               median(map { $_->{p99} } @r),
               median(map { $_->{cpu_us} } @r),
               100 * median(map { $_->{busy} } @r),
               100 * median(map { $_->{other} } @r);
    }
}


# --- checks ------------------------------------------------------------

sub truncate_audit {
    my ($file) = @_;
    truncate($file, 0) if -e $file;
}

# the lines of execs, not the chain's own signed lines (start, checkpoint)
sub count_lines {
    my ($file) = @_;
    open(my $fh, '<', $file) or return 0;
    my $n = 0;
    while (<$fh>) {
        $n++ unless /,"sig":"/;
    }
    close $fh;
    return $n;
}

# the last C round's file: whole chained lines, one intent + one result
# per request (a truncated file verifies from its first line on)
sub check_audit {
    my ($file) = @_;
    my ($rc, $out) = run_cmd([$TOOL, 'pubkey', "$DIR/keys.sealed",
                              '--master', "$DIR/master.key"], undef, 1);
    write_file("$DIR/audit.pub", $out) if !$rc;
    ($rc, $out) = run_cmd([$AUDIT, 'verify', $file, '--pubkey',
                           "$DIR/audit.pub"], undef, 1);
    $out =~ s/\s+\z//;
    $out = (split /\n/, $out)[-1] // '';
    printf "audit of the last C round: %d lines; eci-audit verify: %s\n",
           count_lines($file), $rc ? "FAILED ($rc) $out" : $out;
}

sub metrics_check {
    my ($port) = @_;
    my $m = metrics($port);
    my ($allow) = $m =~ /^eci_requests_total\{decision="allow"[^}]*\} (\d+)/m;
    my ($lines) = $m =~ /^eci_audit_lines_total\{[^}]*\} (\d+)/m;
    my ($fail) = $m =~ /^eci_audit_failures_total\{[^}]*\} (\d+)/m;
    $_ //= '?' for $allow, $lines, $fail;
    print "eci_status of C: $allow execs allowed, $lines audit lines "
          . "written, $fail failed\n";
}

sub metrics {
    my ($port) = @_;
    my ($st, $body) = http_req($port, "GET /eci-metrics HTTP/1.1\r\n"
                                      . "Host: bench\r\n"
                                      . "Connection: close\r\n\r\n");
    return $st == 200 ? $body : '';
}

sub served {
    my ($port) = @_;
    my $m = metrics($port);
    return $m =~ /^eci_requests_total\{decision="allow"[^}]*\} (\d+)/m
           ? $1 : die "no eci_requests_total in eci_status:\n$m";
}


# --- memory ------------------------------------------------------------

sub proc_status {
    my ($pid, $key) = @_;
    open(my $fh, '<', "/proc/$pid/status") or die "/proc/$pid/status: $!\n";
    while (<$fh>) {
        return $1 if /^$key:\s+(\d+)/;
    }
    return 0;
}

sub rss { proc_status($_[0], 'VmRSS') }
sub hwm { proc_status($_[0], 'VmHWM') }

# The request's heap: with error_log debug, nginx logs every pool block
# (posix_memalign) and large allocation (malloc) with its size.  One
# connection, one exec: the sum is what the request and its connection
# take while it runs (all of it is freed when it ends).
sub per_request_allocations {
    section('Per-request allocations (nginx debug log, one exec on a '
            . 'fresh keepalive connection)');

    my %conf = (
        B => write_conf("dbg-proxy.conf", 'proxy.conf.in',
                        PORT => $port{dbg}, UPSTREAM => $port{up},
                        KEY => $KEY),
        C => write_gateway_conf('dbg', $port{dbg}, "$DIR/acl-small.json",
                                'debug'),
    );
    # the proxy's error_log at debug level too
    my $p = slurp($conf{B});
    $p =~ s{proxy-error\.log warn}{dbg-proxy-error.log debug};
    $p =~ s{proxy\.pid}{dbg-proxy.pid};
    write_file($conf{B}, $p);

    for my $t (qw(B C)) {
        my $log = $t eq 'B' ? "$DIR/dbg-proxy-error.log"
                            : "$DIR/dbg-error.log";
        my $ng = start_nginx_conf("dbg-$t", $conf{$t}, $CORE_NGINX,
                                  $t eq 'B' ? "$DIR/dbg-proxy.pid"
                                            : "$DIR/dbg.pid");
        http_post($port{dbg});              # warms the upstream connection
        my $mark = -s $log;
        my ($st) = http_post($port{dbg});
        die "debug $t: answered $st\n" unless $st == 200;
        Time::HiRes::sleep(0.2);
        stop_nginx($ng);

        open(my $fh, '<', $log) or die "$log: $!\n";
        seek($fh, $mark, 0);
        my (%conn, $total, $blocks, $large);
        while (<$fh>) {
            next unless /\*(\d+) (malloc|posix_memalign): [0-9A-Fa-f]+:(\d+)/;
            $conn{$1} += $3;
            $blocks += $3 if $2 eq 'posix_memalign';
            $large += $3 if $2 eq 'malloc';
        }
        close $fh;
        $total = 0;
        $total += $_ for values %conn;
        printf "%s: %d bytes in pools and buffers for the exec "
               . "(pool blocks %d, malloc %d), %d connection(s)\n",
               $target{$t}{name}, $total, $blocks // 0, $large // 0,
               scalar keys %conn;
    }
    print "C also holds its capture buffer, min(Content-Length, "
          . "eci_audit_body_max), in that pool: here "
          . length($body) . " bytes\n";
}


# --- native profile (make bench-perf) -----------------------------------
#
# perf record -e cpu-clock (software sampling: this VM has no hardware
# counters) of the tested worker while wrk loads it, B then C, alternating
# BENCH_PERF_ROUNDS times; each sample is 1/F s of the worker's CPU, so
# samples x (1e6 / F) / requests is the worker's us per exec in that
# shared object or function.  Native, unlike callgrind: SHA-NI, the
# kernel and the cross-core wake-ups are all in it.

sub perf_profile {
    my $freq = $ENV{BENCH_PERF_FREQ} // 2000;
    my $secs = $ENV{BENCH_PERF_SECONDS} // 10;
    my $rounds = $ENV{BENCH_PERF_ROUNDS} // 2;
    my $top = $ENV{BENCH_PROFILE_TOP} // 25;

    section("Native profile: perf record -e cpu-clock -F $freq of the "
            . "tested worker, ${secs}s under wrk -c$CONNS, B and C "
            . "alternating, $rounds round(s); us of worker CPU per exec");

    for my $t (qw(B C)) {
        wrk_round($target{$t}, $WARMUP);
    }

    my (%dso, %sym, %req);
    for my $round (1 .. $rounds) {
        for my $t (qw(B C)) {
            my $data = "$DIR/perf.$t.$round.data";
            my $pid = fork() // die "fork: $!\n";
            if ($pid == 0) {
                open(STDOUT, '>', "$DIR/perf.$t.log");
                open(STDERR, '>&', \*STDOUT);
                exec('perf', 'record', '-q', '-e', 'cpu-clock', '-F', $freq,
                     '-p', $target{$t}{pid}, '-o', $data, '--', 'sleep',
                     $secs + 1)
                    or POSIX::_exit(127);
            }
            Time::HiRes::sleep(0.5);
            my $m = wrk_round($target{$t}, $secs);
            waitpid($pid, 0);
            die "perf record failed: " . (slurp("$DIR/perf.$t.log") // '')
                if $? || !-s $data;

            $req{$t} += $m->{requests};
            printf "round %d %s %9d req/s  worker %6.2f us/req (under perf)\n",
                   $round, $t, $m->{rps}, $m->{cpu_us};

            my ($rc, $rep) = run_cmd(['perf', 'report', '-i', $data,
                                      '--stdio', '--no-children',
                                      '--sort', 'dso,sym', '-g', 'none',
                                      '-F', 'sample,dso,sym'], undef, 1);
            for (split /\n/, $rep) {
                next unless /^\s*(\d+)\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$/;
                $dso{$t}{$2} += $1;
                $sym{$t}{"$2 $3"} += $1;
            }
        }
    }

    my $us = sub { my ($t, $n) = @_; $n * 1e6 / $freq / $req{$t} };
    my %names;
    $names{$_} = 1 for map { keys %{ $dso{$_} } } qw(B C);

    printf "\n%-28s %10s %10s %10s\n", 'us per exec, by object', 'B', 'C',
           'C - B';
    my ($tb, $tc) = (0, 0);
    for my $d (sort { $us->('C', $dso{C}{$b} // 0) - $us->('B', $dso{B}{$b} // 0)
                      <=> $us->('C', $dso{C}{$a} // 0)
                          - $us->('B', $dso{B}{$a} // 0) } keys %names)
    {
        my ($vb, $vc) = ($us->('B', $dso{B}{$d} // 0),
                         $us->('C', $dso{C}{$d} // 0));
        $tb += $vb;
        $tc += $vc;
        next if $vb < 0.01 && $vc < 0.01;
        printf "%-28s %10.2f %10.2f %+10.2f\n", $d, $vb, $vc, $vc - $vb;
    }
    printf "%-28s %10.2f %10.2f %+10.2f\n", 'total', $tb, $tc, $tc - $tb;

    my %all;
    $all{$_} = 1 for map { keys %{ $sym{$_} } } qw(B C);
    my @diff = sort { $b->[1] <=> $a->[1] }
               map { [$_, $us->('C', $sym{C}{$_} // 0)
                          - $us->('B', $sym{B}{$_} // 0)] } keys %all;
    splice(@diff, $top) if @diff > $top;

    print "\nthe $top functions C spends most more on than B (us per exec):\n";
    printf "  %+7.3f  %s\n", $_->[1], $_->[0] for @diff;
    print "perf data: $DIR/perf.{B,C}.N.data (BENCH_KEEP=1 keeps them); "
          . "perf adds its own overhead, so compare B and C, not the "
          . "absolute figures with make bench\n";
}


# --- module A/B (make bench-ab BASE=...) ---------------------------------
#
# Two builds of the module in the same window: B, C (this build) and C0
# (another .so, e.g. the last commit's) in turn, each gateway with the
# same configuration and ACL, its own port and audit file.  What one
# change saves is C - C0 paired by round; C - B and C0 - B are the same
# figures make bench prints, for both builds.

sub module_ab {
    my ($other) = @_;
    -e $other or die "$other is missing\n";
    system('cp', $other, "$DIR/base_module.so") == 0
        or die "cp $other: failed\n";

    my $port = free_port();
    my $conf = write_gateway_conf('base', $port, "$DIR/acl-small.json",
                                  'warn', "$DIR/base_module.so");
    my $base = start_nginx_conf('base', $conf, $CORE_NGINX);
    my %t = (%target, C0 => { name => "C0 ngx_eci, $other", port => $port,
                              pid => worker_of($base),
                              audit => "$DIR/base-audit.log" });
    my @order = qw(B C C0);

    section("module A/B: $ROUNDS rounds of ${SECONDS}s of B, C (this "
            . "build) and C0 ($other), the order rotating; wrk -t1 "
            . "-c$CONNS on core $CORE_LOAD");

    wrk_round($t{$_}, $WARMUP) for @order;

    my %res;
    for my $round (1 .. $ROUNDS) {
        my @o = @order;
        push @o, shift @o for 1 .. ($round - 1) % 3;
        for my $n (@o) {
            truncate_audit($t{$n}{audit}) if $t{$n}{audit};
            my $m = wrk_round($t{$n}, $SECONDS);
            push @{ $res{$n} }, $m;
            print_round($round, $n, $m);
        }
    }

    print "\n";
    summary_table(\%res, \@order, \%t);

    for my $pair (['C', 'B'], ['C0', 'B'], ['C', 'C0']) {
        my ($x, $y) = @$pair;
        my @d = map { $res{$x}[$_]{cpu_us} - $res{$y}[$_]{cpu_us} }
                0 .. $ROUNDS - 1;
        my @r = map { $res{$x}[$_]{rps} / $res{$y}[$_]{rps} }
                0 .. $ROUNDS - 1;
        printf "%-2s-%-2s worker CPU per request: %s -> median %+.2f us; "
               . "%s/%s throughput median %.3f\n", $x, $y,
               join(' ', map { sprintf '%+.2f', $_ } @d), median(@d),
               $x, $y, median(@r);
    }
}


# --- the candidate ACL (issue 15; make bench-candidate) -----------------

# eci_acl_candidate off and on, end to end: four gateways of this build
# with the same configuration as C, the order rotating by round:
#   off      no eci_acl_candidate (C itself)
#   off2     the same again, its own nginx, port and audit file: off2/off
#            is an A/A comparison, this benchmark's own noise floor
#   on       eci_acl_candidate with a copy of the enforced ACL: a second
#            lookup per exec, the two always agree (the usual roll-out)
#   on-diff  a candidate that denies the exec: every result line carries
#            candidateDecision and candidateReason, and the disagreement
#            counter is bumped (the worst case)
# and with BENCH_CAND_BASE=other.so a fifth, "nofeat": the same
# configuration as off on a module built without the feature (make
# bench-candidate-absent: bench/candidate-absent.patch).  Against nofeat,
# "off" adds a pointer test in the access handler, two pointer copies
# into the audit record and three NULL tests in the audit line, 14
# instructions per exec; an end-to-end run cannot resolve that
# (docs/performance.md has the count), so what it can show is whether
# on/off, on-diff/off and nofeat/off lie inside off2/off's noise.
sub candidate_ab {
    my $rounds = $ENV{BENCH_CAND_ROUNDS} // 4;
    my $seconds = $ENV{BENCH_CAND_SECONDS} // 6;
    my $base = $ENV{BENCH_CAND_BASE};

    write_file("$DIR/candidate-same.json", acl_small());
    (my $deny = acl_small()) =~ s/\[1, 2, 42\]/[1, 2, 43]/
        or die "acl_small(): no grant of 42 to change\n";
    write_file("$DIR/candidate-deny.json", $deny);

    my %t = (off => { %{ $target{C} },
                      name => 'off (no eci_acl_candidate)' });
    my @order = qw(off off2 on on-diff);
    my %spec = (
        off2      => [ undef, 'off2 (the same, A/A control)' ],
        on        => [ "$DIR/candidate-same.json",
                       'on (candidate = enforced ACL)' ],
        'on-diff' => [ "$DIR/candidate-deny.json",
                       'on-diff (candidate denies)' ],
    );
    if (defined $base && $base ne '') {
        -e $base or die "BENCH_CAND_BASE $base is missing\n";
        system('cp', $base, "$DIR/nofeat_module.so") == 0
            or die "cp $base: failed\n";
        $spec{nofeat} = [ undef, 'nofeat (module without the feature)',
                          "$DIR/nofeat_module.so" ];
        push @order, 'nofeat';
    }

    my @gw;
    for my $n (grep { $_ ne 'off' } @order) {
        my ($cand, $name, $module) = @{ $spec{$n} };
        (my $file = "cand-$n") =~ s/-diff$/diff/;
        my $port = free_port();
        my $conf = write_gateway_conf($file, $port, "$DIR/acl-small.json",
                                      'warn', $module);
        if (defined $cand) {
            my $c = slurp($conf);
            $c =~ s/^([ \t]*)(eci_acl\s+\S+;\n)
                   /$1$2$1eci_acl_candidate $cand;\n/mx
                or die "$conf: no eci_acl line\n";
            write_file($conf, $c);
        }
        my $master = start_nginx_conf($file, $conf, $CORE_NGINX);
        push @gw, $master;
        $t{$n} = { name => $name, port => $port, pid => worker_of($master),
                   audit => "$DIR/$file-audit.log" };
        my ($st) = http_post($port);
        die "$name: answered $st, not 200\n" unless $st == 200;
    }

    section("Candidate ACL: $rounds rounds of ${seconds}s of "
            . join(' ', @order) . ", the order rotating; wrk -t1 -c$CONNS"
            . " on core $CORE_LOAD");

    wrk_round($t{$_}, $WARMUP) for @order;

    my %res;
    for my $round (1 .. $rounds) {
        my @o = @order;
        push @o, shift @o for 1 .. ($round - 1) % @order;
        for my $n (@o) {
            truncate_audit($t{$n}{audit});
            my $m = wrk_round($t{$n}, $seconds);
            push @{ $res{$n} }, $m;
            print_round($round, $n, $m);
        }
    }

    print "\n";
    summary_table(\%res, \@order, \%t);

    # paired with off in the same round; off2 gives the noise's range
    my %d;
    print "\npaired with off by round (X/off throughput, X-off worker CPU "
          . "per request): median [min .. max]\n";
    for my $n (grep { $_ ne 'off' } @order) {
        my @i = 0 .. $rounds - 1;
        $d{$n}{rps} = [ map { $res{$n}[$_]{rps} / $res{off}[$_]{rps} } @i ];
        $d{$n}{cpu} = [ map { $res{$n}[$_]{cpu_us} - $res{off}[$_]{cpu_us} }
                        @i ];
        for my $p (qw(p50 p99)) {
            $d{$n}{$p} = [ map { $res{$n}[$_]{$p} - $res{off}[$_]{$p} } @i ];
        }
        printf "%-8s throughput %.3f [%.3f .. %.3f]  CPU %+.2f us "
               . "[%+.2f .. %+.2f]  p50 %+.0f us  p99 %+.0f us\n", $n,
               median(@{ $d{$n}{rps} }), minmax(@{ $d{$n}{rps} }),
               median(@{ $d{$n}{cpu} }), minmax(@{ $d{$n}{cpu} }),
               median(@{ $d{$n}{p50} }), median(@{ $d{$n}{p99} });
    }

    my ($lo, $hi) = minmax(@{ $d{off2}{cpu} });
    my $cpu_off = median(map { $_->{cpu_us} } @{ $res{off} });
    print "\n";
    for my $n (grep { $_ ne 'off' && $_ ne 'off2' } @order) {
        my $m = median(@{ $d{$n}{cpu} });
        printf "%s - off: %+.2f us of worker CPU per exec (%+.1f%% of off's "
               . "%.2f); the A/A range is %+.2f .. %+.2f us: %s\n", $n, $m,
               100 * $m / $cpu_off, $cpu_off, $lo, $hi,
               $m > $hi ? 'above it, larger than this run\'s A/A spread'
               : $m < $lo ? 'below it (faster than off: noise)'
               : 'inside it, not told from noise';
    }

    # the candidate really ran: on-diff disagreed on every exec, on never
    my %dis;
    for my $n (qw(on on-diff)) {
        my $mt = metrics($t{$n}{port});
        my $sum = 0;
        $sum += $1 while $mt =~ /^eci_acl_candidate_disagreements_total
                                  \{[^}]*\}\ (\d+)/mgx;
        $dis{$n} = $sum;
    }
    my $served = served($t{'on-diff'}{port});
    printf "eci_status: on disagreed %d times; on-diff %d times in %d "
           . "execs\n", $dis{on}, $dis{'on-diff'}, $served;
    die "on-diff: the candidate did not disagree on every exec\n"
        unless $dis{'on-diff'} == $served && $dis{on} == 0;

    stop_nginx($_) for @gw;
}

sub minmax {
    my @s = sort { $a <=> $b } @_;
    return ($s[0], $s[-1]);
}


# --- B and C at once (make bench-together) ------------------------------

# B's and C's workers share core 0 and are loaded at the same time, each
# by its own wrk on core 1, so that whatever the machine does in a round
# (this VM's speed drifts 20-30% within minutes) it does to both: their
# difference in CPU per request is then paired within the round itself,
# not across two rounds 10 s apart.  Each worker gets about half of core
# 0, so the absolute figures are not make bench's; C-B is the point.
sub together {
    section("B and C at once: $ROUNDS rounds of ${SECONDS}s, both workers "
            . "on core $CORE_NGINX, two wrk -t1 -c$CONNS on core "
            . "$CORE_LOAD");

    my @pair = ($target{B}, $target{C});
    wrk_pair(\@pair, $WARMUP);

    my (@d, @b, @c);
    for my $round (1 .. $ROUNDS) {
        truncate_audit($target{C}{audit});
        my ($mb, $mc) = wrk_pair(\@pair, $SECONDS);
        push @b, $mb->{cpu_us};
        push @c, $mc->{cpu_us};
        push @d, $mc->{cpu_us} - $mb->{cpu_us};
        printf "round %d  B %6.0f req/s %6.2f us/req busy %3.0f%%   "
               . "C %6.0f req/s %6.2f us/req busy %3.0f%%   C-B %+.2f us\n",
               $round, $mb->{rps}, $mb->{cpu_us}, 100 * $mb->{busy},
               $mc->{rps}, $mc->{cpu_us}, 100 * $mc->{busy}, $d[-1];
    }

    printf "\nmedians: B %.2f us/req, C %.2f us/req; C-B paired within "
           . "the round: %s -> median %.2f us   (goal <= 4.00 us)\n",
           median(@b), median(@c), join(' ', map { sprintf '%.2f', $_ } @d),
           median(@d);
    printf "C-B as a share of B's CPU per request: median %.1f%%   (the "
           . "issue's 4 us of 17 us: 23.5%%)\n",
           100 * median(map { $d[$_] / $b[$_] } 0 .. $#d);

    check_audit($target{C}{audit});
    metrics_check($port{gw});
}

# wrk against each target at once, for $seconds; the workers' CPU from
# /proc/<pid>/stat around both runs
sub wrk_pair {
    my ($targets, $seconds) = @_;
    my (@pid, @before, @out);

    for my $i (0 .. $#$targets) {
        $before[$i] = cpu_ticks($targets->[$i]{pid});
    }
    for my $i (0 .. $#$targets) {
        $out[$i] = "$DIR/wrk-pair.$i.out";
        my $pid = fork() // die "fork: $!\n";
        if ($pid == 0) {
            open(STDOUT, '>', $out[$i]);
            open(STDERR, '>&', \*STDOUT);
            exec(wrk_cmd($targets->[$i]{port}, $seconds))
                or POSIX::_exit(127);
        }
        push @pid, $pid;
    }
    for my $pid (@pid) {
        waitpid($pid, 0);
        die "wrk failed ($?)\n" if $?;
    }

    return map {
        wrk_measured($targets->[$_], slurp($out[$_]) // '',
                     cpu_ticks($targets->[$_]{pid}) - $before[$_])
    } 0 .. $#$targets;
}


# --- syscalls (make bench-syscalls) -------------------------------------

# strace -c of the tested worker while wrk loads it, B then C: system
# calls per exec, by name.  strace slows the worker many times over, so
# the counts mean something and the timings do not.
sub syscalls {
    my $secs = $ENV{BENCH_STRACE_SECONDS} // 5;

    section("System calls per exec: strace -c of the tested worker, "
            . "${secs}s under wrk -c$CONNS each, B then C");

    my (%calls, %req);
    for my $t (qw(B C)) {
        my $out = "$DIR/strace.$t.txt";
        my $pid = fork() // die "fork: $!\n";
        if ($pid == 0) {
            open(STDERR, '>', "$DIR/strace.$t.log");
            exec('strace', '-c', '-o', $out, '-p', $target{$t}{pid})
                or POSIX::_exit(127);
        }
        Time::HiRes::sleep(0.5);
        my $m = wrk_round($target{$t}, $secs);
        kill 'INT', $pid;
        waitpid($pid, 0);
        die "strace failed: " . (slurp("$DIR/strace.$t.log") // '')
            unless -s $out;
        $req{$t} = $m->{requests};
        for (split /\n/, slurp($out)) {
            # % time, seconds, usecs/call, calls, [errors,] syscall
            next unless /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/;
            $calls{$t}{$2} = $1 unless $2 eq 'total';
        }
    }

    my %names = map { $_ => 1 } map { keys %{ $calls{$_} } } qw(B C);
    printf "%-20s %10s %10s %10s\n", 'per exec', 'B', 'C', 'C - B';
    my ($tb, $tc) = (0, 0);
    for my $n (sort keys %names) {
        my ($b, $c) = map { ($calls{$_}{$n} // 0) / $req{$_} } qw(B C);
        $tb += $b;
        $tc += $c;
        printf "%-20s %10.3f %10.3f %+10.3f\n", $n, $b, $c, $c - $b;
    }
    printf "%-20s %10.3f %10.3f %+10.3f\n", 'total', $tb, $tc, $tc - $tb;
    printf "(%d execs under B, %d under C)\n", $req{B}, $req{C};
}


# --- profile (make bench-profile) ----------------------------------------

# B and C, each one nginx process (master_process off, daemon off) under
# callgrind with instrumentation off until it serves; then exactly
# $n execs over one connection (-c1) with instrumentation on: the counts
# are those of the requests only, the same from run to run.
sub profile {
    my $n = $ENV{BENCH_PROFILE_REQUESTS} // 5000;
    my $top = $ENV{BENCH_PROFILE_TOP} // 30;

    section("Profile: callgrind instruction counts, $n execs each "
            . "(wrk -c1), tested nginx in one process");

    my %ir;
    for my $t (qw(B C)) {
        my $conf = $t eq 'B'
            ? write_conf('prof-B.conf', 'proxy.conf.in', PORT => $port{dbg},
                         UPSTREAM => $port{up}, KEY => $KEY)
            : write_gateway_conf('prof-C', $port{dbg}, "$DIR/acl-small.json",
                                 'warn');
        my $c = slurp($conf);
        $c =~ s/^daemon on;/daemon off;/m;
        $c =~ s/^master_process on;/master_process off;/m;
        write_file($conf, $c);

        my $out = "$DIR/callgrind.$t.out";
        my $pid = fork() // die "fork: $!\n";
        if ($pid == 0) {
            open(STDOUT, '>', "$DIR/callgrind.$t.log");
            open(STDERR, '>&', \*STDOUT);
            exec('taskset', '-c', $CORE_NGINX, 'valgrind',
                 '--tool=callgrind', '--instr-atstart=no',
                 "--callgrind-out-file=$out", $NGINX, '-p', "$DIR/",
                 '-c', $conf, '-e', "$DIR/prof-$t-error.log")
                or POSIX::_exit(127);
        }
        my $deadline = Time::HiRes::time() + 60;
        until (can_connect($port{dbg})) {
            die "callgrind $t did not start\n"
                if Time::HiRes::time() > $deadline
                   || waitpid($pid, POSIX::WNOHANG()) == $pid;
            Time::HiRes::sleep(0.2);
        }
        http_post($port{dbg});                  # warm: one of each path
        run_cmd(['callgrind_control', '-i', 'on', $pid]);
        {
            local $CONNS = 1;
            wrk_count($port{dbg}, $n);
        }
        run_cmd(['callgrind_control', '-i', 'off', $pid]);
        kill 'QUIT', $pid;
        waitpid($pid, 0);

        my ($rc, $ann) = run_cmd(['callgrind_annotate', '--inclusive=no',
                                  "--threshold=99.9", $out], undef, 1);
        my ($total) = $ann =~ /^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS/m;
        ($total) = $ann =~ /^\s*([\d,]+)\s+PROGRAM TOTALS/m unless $total;
        $total =~ tr/,//d if defined $total;
        $total //= 0;
        $ir{$t} = $total / $n;
        printf "\n%s: %.0f instructions per exec (total %s over %d)\n",
               $target{$t}{name}, $ir{$t}, $total, $n;

        my @rows;
        for (split /\n/, $ann) {
            next unless /^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(\S.*)$/;
            my ($c, $pct, $fn) = ($1, $2, $3);
            next if $fn =~ /PROGRAM TOTALS/;
            $c =~ tr/,//d;
            push @rows, [$c, $pct, $fn];
        }
        splice(@rows, $top) if @rows > $top;
        printf "  %8.0f  %5.1f%%  %s\n", $_->[0] / $n, $_->[1], $_->[2]
            for @rows;

        # the module's own functions, grouped by file
        my %file;
        for (split /\n/, $ann) {
            next unless /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S+):(\S+)/;
            my ($c, $f) = ($1, $2);
            next unless $f =~ m{ngx_eci_module/};
            $c =~ tr/,//d;
            $file{$f} += $c;
        }
        printf "  module file %-40s %8.0f per exec\n", $_, $file{$_} / $n
            for sort { $file{$b} <=> $file{$a} } keys %file;
    }
    printf "\nC - B: %.0f instructions per exec (C/B %.2f)\n",
           $ir{C} - $ir{B}, $ir{B} ? $ir{C} / $ir{B} : 0;
    print "callgrind files: $DIR/callgrind.{B,C}.out (BENCH_KEEP=1 keeps "
          . "them)\n";
}

sub can_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1)
        or return 0;
    close $s;
    return 1;
}


# --- nginx -------------------------------------------------------------

sub start_gateway {
    my ($name, $port, $acl) = @_;
    my $conf = write_gateway_conf($name, $port, $acl, 'warn');
    return start_nginx_conf($name, $conf, $CORE_NGINX);
}

sub write_gateway_conf {
    my ($name, $port, $acl, $level, $module) = @_;
    my $conf = write_conf("$name.conf", 'gateway.conf.in',
                          NAME => $name, PORT => $port,
                          UPSTREAM => $port{up}, ACL => $acl,
                          MODULE => $module
                                    // "$DIR/ngx_http_eci_module.so");
    if ($level ne 'warn') {
        my $c = slurp($conf);
        $c =~ s{(\Q$name\E-error\.log) warn}{$1 $level};
        write_file($conf, $c);
    }
    return $conf;
}

sub write_conf {
    my ($file, $template, %v) = @_;
    my $conf = slurp("$BENCH/$template");
    $v{DIR} = $DIR;
    $conf =~ s/%%(\w+)%%/defined $v{$1} ? $v{$1}
                                         : die "$template: no value for $1\n"/ge;
    write_file("$DIR/$file", $conf);
    return "$DIR/$file";
}

sub start_nginx {
    my ($name, $template, $core, %v) = @_;
    my $conf = write_conf("$name.conf", $template, %v);
    return start_nginx_conf($name, $conf, $core);
}

sub start_nginx_conf {
    my ($name, $conf, $core, $pidfile) = @_;
    ($pidfile) = slurp($conf) =~ /^pid\s+(\S+);/m unless $pidfile;

    unlink $pidfile;
    my ($rc, $out) = run_cmd(['taskset', '-c', $core, $NGINX, '-p', "$DIR/",
                              '-c', $conf, '-e', "$DIR/$name-start.log"],
                             undef, 1);
    die "nginx $name did not start ($rc):\n$out" if $rc;

    my $deadline = Time::HiRes::time() + 10;
    while (Time::HiRes::time() < $deadline) {
        my $pid = slurp($pidfile);
        if (defined $pid && $pid =~ /^(\d+)/ && kill 0, $1) {
            $started{$1} = $pidfile;
            my $w = eval { worker_of($1) };
            return $1 if $w;
        }
        Time::HiRes::sleep(0.05);
    }
    die "nginx $name: no worker within 10 s\n";
}

sub worker_of {
    my ($master) = @_;
    opendir(my $dh, '/proc') or die "/proc: $!\n";
    my @w = grep { my @s = proc_stat($_); @s && $s[1] == $master && $s[0] ne 'Z' }
            grep { /^\d+\z/ } readdir $dh;
    closedir $dh;
    die "nginx $master has " . scalar(@w) . " workers, not 1\n"
        unless @w == 1;
    return $w[0];
}

# (state, ppid, utime, stime) from /proc/PID/stat
sub proc_stat {
    my ($pid) = @_;
    my $s = slurp("/proc/$pid/stat") // return;
    $s =~ s/^.*\)\s+//s;
    my @f = split /\s+/, $s;
    return ($f[0], $f[1], $f[11], $f[12]);
}

# busy ticks of one core from /proc/stat (all but idle and iowait)
sub core_ticks {
    my ($core) = @_;
    my ($line) = (slurp('/proc/stat') // '') =~ /^cpu$core (.*)$/m
        or die "/proc/stat: no cpu$core\n";
    my @f = split ' ', $line;
    my $busy = 0;
    $busy += $f[$_] // 0 for 0, 1, 2, 5, 6, 7;
    return $busy;
}

sub cpu_ticks {
    my ($pid) = @_;
    my @s = proc_stat($pid) or die "worker $pid is gone\n";
    return $s[2] + $s[3];
}

sub stop_nginx {
    my ($pid) = @_;
    return unless $pid && delete $started{$pid};
    my @workers = eval { (worker_of($pid)) };
    kill 'QUIT', $pid;
    my $deadline = Time::HiRes::time() + 10;
    while (Time::HiRes::time() < $deadline) {
        return unless kill 0, $pid;
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', $pid, grep { kill 0, $_ } @workers;
}

sub stop_all {
    stop_nginx($_) for keys %started;
}

sub nginx_t {
    my ($conf) = @_;
    my $t0 = Time::HiRes::time();
    my ($rc, $out) = run_cmd([$NGINX, '-t', '-q', '-p', "$DIR/", '-c', $conf,
                              '-e', "$DIR/nginx-t.log"], undef, 1);
    my $dt = Time::HiRes::time() - $t0;
    die "nginx -t $conf failed:\n$out" if $rc;
    return $dt;
}


# --- ACLs --------------------------------------------------------------

# bench/acl_lookup.c: ns per eci_acl_check(), small and large ACL, warm
# and with many callers; optionally the gateway's us of CPU per request to
# express the difference in.  On the tested core, which is idle here.
sub acl_lookup {
    my ($small, $large, $request_us) = @_;

    section('ACL lookup: ns per eci_acl_check() (bench/acl_lookup.c)');
    unless (-x $LOOKUP) {
        print "$LOOKUP is missing: make bench-acl builds and runs it\n";
        return;
    }
    my @cmd = ('taskset', '-c', $CORE_NGINX, $LOOKUP, $small, $large);
    push @cmd, '0', sprintf('%.0f', $request_us * 1000) if $request_us;
    my ($rc, $out) = run_cmd(\@cmd, undef, 1);
    print $out;
    die "$LOOKUP failed ($rc)\n" if $rc;
}

# What the audit contract costs by itself on this machine (bench/floor.c):
# the SHA-256 of an exec's body and lines, and appending its two lines to a
# growing file in the batches the C rounds wrote (their audit write calls
# per exec, from /proc/PID/io), with the line sizes of the last C round.
sub floor {
    my ($audit, $res, $cb) = @_;

    section('Floor: what the audit contract costs by itself here '
            . '(bench/floor.c)');
    unless (-x $FLOOR) {
        print "$FLOOR is missing: make bench builds it\n";
        return;
    }

    my (%len, %n);
    open(my $fh, '<', $audit) or die "$audit: $!\n";
    while (my $l = <$fh>) {
        my ($e) = $l =~ /"event":"(intent|result)"/ or next;
        $len{$e} += length $l;
        $n{$e}++;
        last if ($n{intent} // 0) >= 10000 && ($n{result} // 0) >= 10000;
    }
    close $fh;
    die "floor: no intent and result lines in $audit\n"
        unless $n{intent} && $n{result};

    my @w = map { $res->{C}[$_]{writes} - $res->{B}[$_]{writes} }
            grep { defined $res->{C}[$_]{writes}
                   && defined $res->{B}[$_]{writes} }
            0 .. $#{ $res->{C} };
    my $per = @w && median(@w) > 0 ? 1 / median(@w) : 8;
    $per = int($per + 0.5) || 1;
    printf "C made %s audit write calls per exec: %d execs a write\n",
           @w ? sprintf('%.3f', median(@w)) : 'an unknown number of', $per;

    my @cmd = ('taskset', '-c', $CORE_NGINX, $FLOOR, $DIR,
               int($len{intent} / $n{intent} + 0.5),
               int($len{result} / $n{result} + 0.5), length($body), $per);
    my ($rc, $out) = run_cmd(\@cmd, undef, 1);
    print $out;
    die "$FLOOR failed ($rc)\n" if $rc;

    # What the goal leaves the gateway once the contract is paid for:
    # whatever C-B has above the floor is the module's own code and the
    # kernel's work around it (wake-ups, pages), which no goal can go under.
    my ($fl) = $out =~ /floor of the contract.*?([\d.]+) us/;
    return unless defined $fl;
    printf "C-B above the floor: %.2f - %.2f = %.2f us per exec (the "
           . "module's code and the kernel around it; the goal leaves "
           . "4.00 - %.2f = %.2f us for that)\n", $cb, $fl, $cb - $fl, $fl,
           4 - $fl;
}

# The benchmark's caller reaches report 42 through the second of its two
# groups, in both ACLs: only the size differs.
sub acl_small {
    return <<'EOF';
{
  "principals": {
    "svc-bench": { "groups": ["report-readers", "report-operators"] },
    "svc-reporting": {
      "permissions": ["DistributedReportsSettings (Manage)"],
      "reportDistributionIds": "*",
      "overrideUserIds": [7, 8]
    },
    "CN=bi-batch,O=Acme": { "groups": ["report-operators"] }
  },
  "groups": {
    "report-readers": {
      "permissions": ["DistributedReportsSettings (View)"],
      "reportDistributionIds": [1, 2, 3]
    },
    "report-operators": {
      "permissions": ["DistributedReportsSettings (Manage)"],
      "reportDistributionIds": [1, 2, 42]
    }
  }
}
EOF
}

# $np principals: every other one in two groups, the rest with a grant of
# their own (ten ids, half of them with overrides); $ng groups with ten
# ids each; plus svc-bench and its two groups as in the small ACL.
sub acl_large {
    my ($np, $ng) = @_;
    my (@p, @g);

    for my $i (0 .. $ng - 3) {
        my @ids = map { 1 + ($i * 10 + $_) % 100000 } 0 .. 9;
        push @g, sprintf('"group-%04d":{"permissions":["DistributedReports'
                         . 'Settings (Manage)"],"reportDistributionIds":[%s]}',
                         $i, join(',', @ids));
    }
    push @g, '"report-readers":{"permissions":["DistributedReportsSettings'
             . ' (View)"],"reportDistributionIds":[1,2,3]}',
             '"report-operators":{"permissions":["DistributedReports'
             . 'Settings (Manage)"],"reportDistributionIds":[1,2,42]}';

    for my $i (0 .. $np - 2) {
        my $name = sprintf('CN=svc-%06d,OU=batch,O=Acme', $i);
        if ($i % 2) {
            push @p, sprintf('"%s":{"groups":["group-%04d","group-%04d"]}',
                             $name, $i % ($ng - 2), ($i * 7) % ($ng - 2));
        } else {
            my @ids = map { 1 + ($i + $_ * 97) % 1000000 } 0 .. 9;
            push @p, sprintf('"%s":{"permissions":["DistributedReports'
                             . 'Settings (Manage)"],"reportDistributionIds"'
                             . ':[%s]%s}', $name, join(',', @ids),
                             $i % 4 ? '' : ',"overrideUserIds":[7,8,9]');
        }
    }
    # the benchmark's caller in the middle of the file
    splice(@p, int(@p / 2), 0,
           '"svc-bench":{"groups":["report-readers","report-operators"]}');

    return "{\n\"principals\":{\n" . join(",\n", @p) . "\n},\n\"groups\":{\n"
           . join(",\n", @g) . "\n}\n}\n";
}


# --- small things ------------------------------------------------------

sub http_post {
    my ($port) = @_;
    return http_req($port, "POST $EXEC HTTP/1.1\r\nHost: bench\r\n"
                           . "Content-Type: application/json\r\n"
                           . "X-ECI-Caller: svc-bench\r\n"
                           . "Connection: close\r\n\r\n");
}

sub http_req {
    my ($port, $req) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or die "connect 127.0.0.1:$port: $@\n";
    print $s $req;
    local $/;
    my $resp = <$s> // '';
    close $s;
    my ($st) = $resp =~ m{^HTTP/1\.\d (\d{3})};
    my (undef, $b) = split /\r\n\r\n/, $resp, 2;
    if (($resp =~ /^Transfer-Encoding: chunked/mi) && defined $b) {
        my $out = '';
        while ($b =~ s/^([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last unless $n;
            $out .= substr($b, 0, $n, '');
            $b =~ s/^\r\n//;
        }
        $b = $out;
    }
    return ($st // 0, $b // '');
}

sub free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or die "bind 127.0.0.1:0: $@\n";
        my $p = $s->sockport;
        close $s;
        return $p unless $used_port{$p}++;
    }
    die "no free port\n";
}

sub run_cmd {
    my ($cmd, $stdin, $tolerate) = @_;
    my $out = File::Temp->new(TMPDIR => 1);
    my $in = File::Temp->new(TMPDIR => 1);
    print $in $stdin if defined $stdin;
    close $in;

    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        open(STDIN, '<', "$in") or POSIX::_exit(126);
        open(STDOUT, '>', "$out") or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
        exec { $cmd->[0] } @$cmd or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $rc = $? >> 8 || ($? & 127 ? 128 + ($? & 127) : 0);
    my $text = slurp("$out") // '';
    die "@$cmd: failed ($rc):\n$text" if $rc && !$tolerate;
    return ($rc, $text);
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

sub write_file {
    my ($f, $s) = @_;
    open(my $fh, '>', $f) or die "$f: $!\n";
    print $fh $s;
    close $fh or die "$f: $!\n";
    return -s $f;
}

sub median {
    my @s = sort { $a <=> $b } grep { defined } @_;
    return 0 unless @s;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

sub section {
    print "\n== $_[0]\n";
}

sub header {
    my ($model) = (slurp('/proc/cpuinfo') // '') =~ /^model name\s*:\s*(.*)$/m;
    my $nv = `$NGINX -v 2>&1`;
    chomp $nv;
    my $wv = (split /\n/, `$WRK -v 2>&1`)[0] // '';
    my $rev = `git -C $ROOT rev-parse --short HEAD 2>/dev/null` // '';
    chomp $rev;
    my $dirty = `git -C $ROOT status --porcelain ngx_eci_module 2>/dev/null`;

    print "ngx_eci benchmark, ", POSIX::strftime('%Y-%m-%d %H:%M:%S %Z',
                                                 localtime), "\n";
    printf "machine: %s, %d cores, %s; %s; %s\n", $model // '?',
           scalar(() = (slurp('/proc/cpuinfo') // '') =~ /^processor/mg),
           (POSIX::uname())[2], $nv, $wv;
    printf "module: %s (git %s%s)\n", $MODULE, $rev || '?',
           $dirty ? ', ngx_eci_module/ modified' : '';
    print "tested nginx on core $CORE_NGINX (worker_processes 1); wrk and "
          . "the upstream on core $CORE_LOAD; $DIR (audit files on "
          . fs_type($DIR) . ")\n";
    print "exec: POST $EXEC, caller svc-bench (ACL: two groups, the "
          . "second grants 42); upstream body " . length($body)
          . " bytes; eci_exec_guard off (wrk repeats one exec)\n";
}

sub fs_type {
    my ($path) = @_;
    my $t = `stat -f -c %T \Q$path\E 2>/dev/null` // '?';
    chomp $t;
    return $t;
}
