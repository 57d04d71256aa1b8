#!/usr/bin/perl
#
# Mutation testing of the nginx-free core (ngx_eci_module/eci_*.c): one
# small change at a time (a flipped comparison, a negated condition, a
# changed constant, a deleted statement) is made to a copy of a core file
# in a work copy of the tree (build/mutation/w<N>/), the copy is rebuilt
# and the unit tests, the fuzz regressions and the t/ files that cover the
# file are run against it.  A mutant that no test notices "survives": a
# behaviour no test pins down.  The tree itself is never changed.
#
#   perl tools/mutate.pl                     every mutant (make mutation)
#   perl tools/mutate.pl --list              list the mutants, run nothing
#   perl tools/mutate.pl --sample 20 --seed <hash> --fail-on-security
#   perl tools/mutate.pl --only 'eci_acl.c:*,eci_target.c:*' --jobs 2
#   perl tools/mutate.pl --id eci_acl.c:751:38:compare   (one, again)
#   perl tools/mutate.pl --rescore build/mutation/report.txt (equivalents
#                                                          edited since)
#   perl tools/mutate.pl --check-equivalents (each entry of
#       tools/mutation-equivalent.txt still names a mutant; make test)
#
# Options: --files GLOB (default ngx_eci_module/eci_*.c without eci_common
# and eci_sha256, or $MUTATION_FILES), --jobs N (2), --timeout S (per
# command, 60), --no-t (skip the t/ stage), --no-fuzz, --only PATTERNS
# (file:function globs, comma-separated), --report FILE
# (build/mutation/report.txt), --work DIR (the work copies,
# build/mutation: another DIR runs beside a run already going), --resume
# (keep the kills and no-builds of the last run in the work copies, try
# its survivors again: for a run stopped, or tests added since),
# --deadline +SECONDS|EPOCH (start no mutant after it; the report covers
# those run, a sample's being in random order).
#
# The last line printed is the score.  See docs/development.md, "Mutation
# testing".  Core Perl only.

use strict;
use warnings;
use Cwd qw(abs_path getcwd);
use Digest::SHA qw(sha1_hex);
use File::Path qw(make_path remove_tree);
use Getopt::Long;
use POSIX qw(:sys_wait_h setsid);
use Time::HiRes qw(time);

my $ROOT = abs_path(__FILE__ =~ m{^(.*)/tools/} ? $1 : '.');
chdir $ROOT or die "mutate: cd $ROOT: $!\n";

my %o = (
    files   => $ENV{MUTATION_FILES} || '',
    jobs    => 2,
    timeout => 60,
    report  => 'build/mutation/report.txt',
    equiv   => 'tools/mutation-equivalent.txt',
);
GetOptions(\%o, 'files=s', 'jobs=i', 'timeout=i', 'list', 'sample=i',
    'seed=s', 'fail-on-security', 'no-t', 'no-fuzz', 'only=s', 'report=s',
    'equiv=s', 'id=s', 'rescore=s', 'verbose', 'work=s', 'resume',
    'deadline=s', 'check-equivalents') or die "mutate: bad options\n";

# Functions whose survivors fail CI (--fail-on-security): the ACL decision
# and the target parser.  A survivor there may let an unauthorised exec
# through or read past the request.
my $SECURITY = qr/^(?:eci_acl_(?:check|check_key|ids_cover|grant_has
    |entry_grant|override_denied|permission_index|table_find|table_insert
    |hash|allow_duplicate|ids_load|permissions_load|permission_add
    |permission_intern|groups_load|entry_load|id_cmp|array_alloc|item_string
    |check_indexed|prefix|postings_row|row_and|row_any|covers_all)
    |eci_target_\w+)$/x;

# The t/ files run for a mutant that the unit tests and the fuzz
# regressions did not kill, by core file (a name finds its row by prefix:
# eci_acl_table.c uses eci_acl's).  A file split out of another keeps the
# rows of the file it came from.
my %T_FILES = (
    eci_target   => [qw(t/030-target.t)],
    eci_acl      => [qw(t/020-exec.t)],
    eci_arena    => [qw(t/020-exec.t)],
    eci_keystore => [qw(t/015-keytool.t t/120-key-hygiene.t)],
    eci_seal     => [qw(t/015-keytool.t t/120-key-hygiene.t)],
    eci_file     => [qw(t/015-keytool.t t/120-key-hygiene.t)],
    eci_secret   => [qw(t/120-key-hygiene.t)],
    eci_jansson  => [qw(t/015-keytool.t t/120-key-hygiene.t t/020-exec.t)],
    eci_audit    => [qw(t/045-audit.t t/070-audit-chain.t)],
    eci_response => [qw(t/045-audit.t t/070-audit-chain.t)],
    eci_json     => [qw(t/045-audit.t t/070-audit-chain.t)],
    eci_chain    => [qw(t/070-audit-chain.t)],
);

# The unit tests tried first for a file split out of another: those of
# the file it came from (t/unit/test_<area>*.c).
my %UNIT_AREA = (
    acl_load     => 'acl',
    acl_fields   => 'acl',
    acl_table    => 'acl',
    arena        => 'acl',
    audit_line   => 'audit',
    response     => 'audit',
    json         => 'audit',
    json_int     => 'audit',
    seal         => 'keystore',
    file         => 'keystore',
    secret       => 'keystore',
    jansson      => 'keystore',
    chain_verify => 'chain',
);

# --- the mutants ------------------------------------------------------------

my @files = core_files();
my @mutants;
for my $f (@files) {
    push @mutants, generate($f);
}

# the same mutation of the same text can occur more than once in one
# function: the second is told apart by its occurrence (sig())
my (%seen, %occ_by_id);
for my $m (@mutants) {
    $m->{occ} = ++$seen{"$m->{base}\t$m->{func}\t$m->{kind}\t$m->{desc}"};
    $occ_by_id{$m->{id}} = $m->{occ};
}
my $n_all = @mutants;

if (defined $o{only}) {
    my @re = map { glob_re($_) } split /,/, $o{only};
    @mutants = grep { my $k = "$_->{base}:$_->{func}"; grep { $k =~ $_ } @re }
        @mutants;
}

# --id file:line:col:kind[,...]: the mutants a report named, again
if (defined $o{id}) {
    my %want = map { $_ => 1 } split /,/, $o{id};
    @mutants = grep { $want{$_->{id}} } @mutants;
}

if ($o{sample}) {
    my $seed = $o{seed} // 'mutation';
    @mutants = (sort { $a->{key} cmp $b->{key} }
                map { { %$_, key => sha1_hex("$seed:$_->{id}") } } @mutants);
    splice @mutants, $o{sample} if @mutants > $o{sample};
    # kept in that random order: a run stopped early (--deadline) has
    # tried a random part of the sample, not its first files only
}

if ($o{list}) {
    for my $m (@mutants) {
        printf "%s:%d: %s %s: %s [%s]\n", $m->{file}, $m->{line},
            $m->{func}, $m->{kind}, $m->{desc}, $m->{id};
    }
    printf "%d mutants (of %d) in %s\n", scalar @mutants, $n_all,
        join(' ', @files);
    exit 0;
}

my %equiv = read_equivalents($o{equiv});

# --check-equivalents: every entry still names a mutant the generator
# makes (an entry left behind by a change of the code counts nothing and
# hides nothing: it is dead, and says so here)
if ($o{'check-equivalents'}) {
    my %have = map { sig($_) => 1 } @mutants;
    my @dead = grep { !$have{$_} } sort keys %equiv;
    print "equivalent entry matches no mutant: $_\n" for @dead;
    printf "%d equivalent entries, %d dead\n", scalar keys %equiv,
        scalar @dead;
    exit(@dead ? 1 : 0);
}

# --rescore REPORT: a report again, with the equivalents as they are now
if ($o{rescore}) {
    exit rescore($o{rescore});
}

# --- work copies ------------------------------------------------------------

my $WORK = $o{work} ? ($o{work} =~ m{^/} ? $o{work} : "$ROOT/$o{work}")
    : "$ROOT/build/mutation";
make_path($WORK);
my $jobs = $o{jobs} < 1 ? 1 : $o{jobs};
$jobs = @mutants if @mutants < $jobs;
$jobs = 1 if $jobs < 1;

my $have_fuzz = !$o{'no-fuzz'} && system('command -v clang >/dev/null 2>&1') == 0;
my @children;
my $stop = 0;

$SIG{INT} = $SIG{TERM} = sub {
    $stop = 1;
    kill 'TERM', @children;
};

my $t0 = time;
my $deadline = !defined $o{deadline} ? undef
    : $o{deadline} =~ /^\+(\d+)$/ ? $t0 + $1 : $o{deadline};
print "mutate: ", scalar @mutants, " mutants (of $n_all) in ",
    join(' ', map { s{.*/}{}r } @files), ", $jobs jobs\n";

for my $w (0 .. $jobs - 1) {
    my $pid = fork // die "mutate: fork: $!\n";
    if ($pid == 0) {
        $SIG{INT} = $SIG{TERM} = 'DEFAULT';
        worker($w, [ grep { $_->{n} % $jobs == $w } @mutants ],
               $deadline);
        exit 0;
    }
    push @children, $pid;
}
my $failed_worker = 0;
for my $pid (@children) {
    waitpid $pid, 0;
    $failed_worker = 1 if $? != 0;
}
exit 130 if $stop;
die "mutate: a worker failed (see $WORK/w*/mutate.log)\n" if $failed_worker;

# --- the report -------------------------------------------------------------

my %res;
for my $w (0 .. $jobs - 1) {
    open my $fh, '<', "$WORK/w$w/results" or die "mutate: $WORK/w$w/results: $!\n";
    while (<$fh>) {
        chomp;
        my ($n, $status, $by, $secs) = split /\t/;
        $res{$n} = { status => $status, by => $by, secs => $secs // 0 };
    }
}

my (%per, @surv, $bad_security, $not_run);
$not_run = 0;
for my $m (@mutants) {
    my $r = $res{$m->{n}};
    if (!$r) {
        # not started before the deadline
        die "mutate: no result for mutant $m->{n}\n" unless $deadline;
        $not_run++;
        next;
    }
    my $st = $r->{status};
    if ($st eq 'survived' && $equiv{sig($m)}) {
        $st = 'equivalent';
        $m->{why} = $equiv{sig($m)};
    }
    $m->{status} = $st;
    $m->{by} = $r->{by};
    $per{$m->{base}}{$st}++;
    push @surv, $m if $st eq 'survived' || $st eq 'equivalent';
    $bad_security = 1 if $st eq 'survived' && $m->{func} =~ $SECURITY;
}

my %by;
$by{$_->{by}}++ for grep { ($_->{status} // '') eq 'killed' } @mutants;
my $extra = %by ? 'killed by: ' . join(', ', map { "$_ $by{$_}" } sort keys %by)
    : '';
$extra .= sprintf "\n\ntime: %ds, %d mutants, %d jobs%s", time - $t0,
    scalar @mutants, $jobs, $o{sample}
    ? ", sample of $o{sample} with seed " . ($o{seed} // 'mutation') : '';
# a worker's seconds per mutant (the baseline build apart), by outcome
my %secs;
for my $m (grep { defined $_->{status} } @mutants) {
    my $k = $m->{status} eq 'killed' ? 'killed' : 'not killed';
    $secs{$k}{n}++;
    $secs{$k}{s} += $res{$m->{n}}{secs};
}
$extra .= "\nseconds a mutant: " . join(', ', map {
    sprintf '%s %.1f (%d)', $_, $secs{$_}{s} / $secs{$_}{n}, $secs{$_}{n}
} sort keys %secs) if %secs;
$extra .= "\nnot run (--deadline): $not_run of " . scalar(@mutants)
    if $not_run;
my @out = report_lines(\%per, \@surv, $extra);

make_path($1) if $o{report} =~ m{^(.*)/};
open my $rep, '>', $o{report} or die "mutate: $o{report}: $!\n";
print $rep "$_\n" for @out;
close $rep;
print "$_\n" for @out;

if ($o{'fail-on-security'} && $bad_security) {
    print STDERR "mutate: a mutant of the ACL decision or the target "
        . "parser survived (SECURITY above): add a test that kills it, or "
        . "explain it in $o{equiv}\n";
    exit 1;
}
exit 0;

# --- a worker ---------------------------------------------------------------

sub worker {
    my ($w, $list, $deadline) = @_;
    my $dir = "$WORK/w$w";
    my $log;

    make_path($dir);
    open $log, '>', "$dir/mutate.log" or die "mutate: $dir/mutate.log: $!\n";
    $log->autoflush(1);
    # --resume: the last run's kills (and no-builds) stand, the rest is run
    my %done;
    if ($o{resume} && open my $old, '<', "$dir/results") {
        while (<$old>) {
            chomp;
            my @f = split /\t/;
            $done{$f[0]} = $_ if $f[1] eq 'killed' || $f[1] eq 'invalid';
        }
        close $old;
    }
    open my $res, '>', "$dir/results" or die "mutate: $dir/results: $!\n";
    print $res "$done{$_->{n}}\n" for grep { $done{$_->{n}} } @$list;
    $list = [ grep { !$done{$_->{n}} } @$list ];
    $res->autoflush(1);

    copy_tree($dir, $log);

    my $cur;                      # the file currently mutated, restored
    my $restore = sub {
        return unless $cur;
        write_file("$dir/$cur->{file}", $cur->{text});
        $cur = undef;
    };
    local $SIG{TERM} = local $SIG{INT} = sub { $restore->(); exit 130 };

    # the baseline: it must build and pass, or every mutant is "killed";
    # how long each test takes orders them (the quick ones first)
    run($dir, $log, 600, 'make', '-s', 'asan-unit') == 0
        or die "mutate: w$w: the unmutated copy does not build\n";
    my (%secs, %kills);
    for my $u (unit_bins($dir)) {
        my $t = time;
        run($dir, $log, $o{timeout}, $u) == 0
            or die "mutate: w$w: $u fails on the unmutated copy\n";
        $secs{$u} = time - $t;
    }
    if ($have_fuzz) {
        run($dir, $log, 900, 'make', '-s', 'fuzz-regress') == 0
            or die "mutate: w$w: make fuzz-regress fails unmutated\n";
    }
    my $t_ready = 0;

    for my $m (@$list) {
        last if defined $deadline && time >= $deadline;
        my $t = time;
        my $text = read_file("$ROOT/$m->{file}");
        $cur = { file => $m->{file}, text => $text };
        write_file("$dir/$m->{file}", apply($text, $m));
        print $log "=== mutant $m->{n}: $m->{file}:$m->{line} $m->{desc}\n";

        my ($status, $by) = ('survived', '');
        # each test linked only when its turn comes: most mutants die in
        # the file's own tests, the rest are never relinked for them
        (my $obj = $m->{base}) =~ s/\.c$/.o/;
        if (run($dir, $log, 300, 'make', '-s', "build/asan/core/$obj") != 0)
        {
            ($status, $by) = ('invalid', 'build');
        } else {
            for my $u (unit_bins($dir, $m->{base}, \%secs,
                                 $kills{$m->{base}} //= {}))
            {
                if (run($dir, $log, 300, 'make', '-s', $u) != 0) {
                    ($status, $by) = ('invalid', 'build');
                    last;
                }
                if (run($dir, $log, $o{timeout}, $u) != 0) {
                    ($status, $by) = ('killed', 'unit');
                    $kills{$m->{base}}{$u}++;
                    last;
                }
            }
        }
        if ($status eq 'survived' && $have_fuzz) {
            if (run($dir, $log, 600, 'make', '-s', 'fuzz-regress') != 0) {
                ($status, $by) = ('killed', 'fuzz');
            }
        }
        my @t = t_files($m->{base});
        if ($status eq 'survived' && !$o{'no-t'} && @t) {
            if (!$t_ready) {
                # the module, the tools (t/ runs eci-keytool), eci-load
                $t_ready = run($dir, $log, 1800, 'make', '-s', 'all') == 0;
            }
            if (run($dir, $log, 600, 'make', '-s', 'all') != 0) {
                ($status, $by) = ('invalid', 'build');
            } elsif (run($dir, $log, 600, 'prove', @t) != 0) {
                ($status, $by) = ('killed', 't');
            }
        }
        $restore->();
        printf $res "%d\t%s\t%s\t%.1f\n", $m->{n}, $status, $by, time - $t;
        printf $log "=== mutant %d: %s %s (%.1fs)\n", $m->{n}, $status, $by,
            time - $t;
        if ($o{verbose} || $status eq 'survived') {
            printf "%s:%d: %s %s: %s [%s]\n", $m->{file}, $m->{line},
                $status, $m->{kind}, $m->{desc}, $m->{id};
        }
    }

    # leave the copy built from the unmutated sources
    run($dir, $log, 600, 'make', '-s', 'asan-unit');
    close $res;
}

# The unit test binaries, for a mutant of base: the file's own tests first
# (they kill most mutants soonest), then the others; in each group those
# that killed more of this file's mutants so far first, then the quicker.
sub unit_bins {
    my ($dir, $base, $secs, $kills) = @_;
    my @all = sort map { s{^\Q$dir\E/}{}r } glob "$dir/build/asan/unit/test_*";
    @all = grep { !/\.o$/ } @all;
    return @all unless $base;

    # the file's own tests first (a file split out of another: that
    # file's tests), then those that killed most so far, then the quickest
    (my $area = $base) =~ s/^eci_//;
    $area =~ s/\.[ch]$//;
    $area = $UNIT_AREA{$area} // $area;
    my %own = map { $_ => 1 } grep { m{/test_\Q$area\E} } @all;
    return sort {
        ($own{$b} // 0) <=> ($own{$a} // 0)
        || ($kills->{$b} // 0) <=> ($kills->{$a} // 0)
        || ($secs->{$a} // 0) <=> ($secs->{$b} // 0)
        || $a cmp $b
    } @all;
}

sub t_files {
    my ($base) = @_;
    (my $name = $base) =~ s/\.[ch]$//;
    for my $k (sort { length $b <=> length $a } keys %T_FILES) {
        return @{ $T_FILES{$k} } if $name eq $k || $name =~ /^\Q$k\E_/;
    }
    return ();
}

# the tracked sources, or everything but build/ without git
sub copy_tree {
    my ($dir, $log) = @_;
    my @list;
    if (-e "$ROOT/.git" && open my $g, '-|', 'git', 'ls-files', '-co',
        '--exclude-standard')
    {
        @list = grep { !m{^build/} } map { chomp; $_ } <$g>;
        close $g;
    }
    if (!@list) {
        @list = grep { !m{^build(/|$)} } map { s{^\./}{}r }
            split /\n/, `find . -type f -not -path './build/*'`;
    }
    for my $f (@list) {
        next unless -f "$ROOT/$f";
        my $to = "$dir/$f";
        make_path($1) if $to =~ m{^(.*)/};
        my $new = read_file("$ROOT/$f");
        next if -f $to && read_file($to) eq $new;
        write_file($to, $new);
        chmod((stat "$ROOT/$f")[2] & 07777, $to);
    }
}

# runs a command in dir with a timeout, its process group killed on expiry
sub run {
    my ($dir, $log, $timeout, @cmd) = @_;
    my $pid = fork // die "mutate: fork: $!\n";
    if ($pid == 0) {
        setsid();
        chdir $dir or exit 127;
        # the unit tests stop at the first sanitizer report (a leak too)
        # and at the first failure (t/unit/tap.h); figures are skipped
        if ($cmd[0] =~ m{/unit/}) {
            $ENV{ECI_TAP_BAIL} = 1;
            $ENV{ECI_UNIT_NO_FIGURES} = 1;
            $ENV{ASAN_OPTIONS} = 'detect_leaks=1:abort_on_error=0:'
                . 'detect_odr_violation=0';
            $ENV{LSAN_OPTIONS} = "suppressions=$dir/t/lsan.supp:"
                . 'print_suppressions=0';
            $ENV{UBSAN_OPTIONS} = 'print_stacktrace=1:halt_on_error=1:'
                . "suppressions=$dir/t/ubsan.supp";
        }
        open STDOUT, '>>', "$dir/run.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or exit 127;
    }
    my ($rc, $t) = (undef, time);
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm $timeout;
        waitpid $pid, 0;
        $rc = $?;
        alarm 0;
    };
    if (!defined $rc) {
        kill 'KILL', -$pid;
        waitpid $pid, 0;
        print $log "timeout after ${timeout}s: @cmd\n";
        return 124 << 8;
    }
    printf $log "rc=%d (%.1fs): %s\n", $rc, time - $t, "@cmd"
        if $rc != 0 || $o{verbose};
    return $rc;
}

# --- generation -------------------------------------------------------------

sub core_files {
    my @f;
    if ($o{files}) {
        @f = map { glob $_ } split ' ', $o{files};
    } else {
        @f = grep { !m{/eci_(?:common|sha256)\.c$} }
            glob('ngx_eci_module/eci_*.c'),
            # the scanner loop inlined into its two callers
            'ngx_eci_module/eci_json_int.h';
    }
    die "mutate: no core files\n" unless @f;
    return sort @f;
}

# Returns the mutants of one file, in order: line, then column, then kind.
sub generate {
    my ($file) = @_;
    my $text = read_file($file);
    my @lines = split /\n/, $text, -1;
    my @mask = mask_lines(@lines);
    (my $base = $file) =~ s{.*/}{};
    my (@m, $func, $depth, $pending, $macro);
    $depth = 0;

    for my $i (0 .. $#lines) {
        my $l = $mask[$i];

        if ($macro || $l =~ /^\s*#/) {
            $macro = $l =~ /\\\s*$/;
            next;
        }
        if ($depth == 0 && $l =~ /^([a-z_]\w*)\(/) {
            $pending = $1;
        }
        my $in = $depth > 0 && defined $func;
        my $opens = () = $l =~ /\{/g;
        my $closes = () = $l =~ /\}/g;
        if ($depth == 0 && $l =~ /^\{/ && defined $pending) {
            $func = $pending;
            $pending = undef;
        }
        $depth += $opens - $closes;
        if ($depth <= 0) {
            $depth = 0;
            $func = undef if $l =~ /^\}/;
        }
        next unless $in;
        next if is_declaration($l);

        my @found;
        my $add = sub {
            my ($kind, $col, $len, $new, $extra) = @_;
            push @found, { kind => $kind, col => $col, len => $len,
                new => $new, %{ $extra // {} } };
        };

        # comparisons: the boundary and the sense
        while ($l =~ / (==|!=|<=|>=|<|>) /g) {
            my %to = ('==' => '!=', '!=' => '==', '<' => '<=', '<=' => '<',
                      '>' => '>=', '>=' => '>');
            $add->('compare', $-[1], length $1, $to{$1});
        }
        while ($l =~ / (&&|\|\|) /g) {
            $add->('logic', $-[1], 2, $1 eq '&&' ? '||' : '&&');
        }

        # conditions: if (c) / while (c) -> if (!(c)), over several lines
        while ($l =~ /\b(if|while) \(/g) {
            my $col = $+[0];
            my ($el, $ec) = close_paren(\@mask, $i, $col);
            next unless defined $el;
            # a lone == or != is already flipped by 'compare'
            my $c = join ' ', @mask[$i .. $el];
            next if $el == $i && substr($l, $col, $ec - $col) !~ / (?:&&|\|\|) /
                && substr($l, $col, $ec - $col) =~ /^[^<>=!]* (?:==|!=) [^<>=!]*$/;
            $add->('negate', $col, 0, '!(', { end_line => $el,
                end_col => $ec });
        }

        # constants: 0 -> 1, 1 -> 0, n -> n + 1
        my $is_case = $l =~ /^\s*case\b/;
        while ($l =~ /(?<![\w.])(\d+)(?![\w.])/g) {
            my ($v, $col) = ($1, $-[1]);
            next if $is_case && $v > 1;
            my $new = $v eq '0' ? 1 : $v eq '1' ? 0 : $v + 1;
            $add->('constant', $col, length $v, "$new");
        }

        # deleted statements: a call or an assignment, whole
        if ($l =~ /^\s+([A-Za-z_(*][\w.\->\[\]()*]*?)\s*(\(|=[^=]|\+=|-=|\|=|&=|\+\+|--)/
            && $l !~ /^\s+(?:return|break|continue|goto|case|default|else
                |if|for|while|do|switch|sizeof)\b/x
            && starts_statement(\@mask, $i))
        {
            my $end = statement_end(\@mask, $i);
            $add->('delete', 0, 0, '', { end_line => $end }) if defined $end;
        }

        for my $f (sort { $a->{col} <=> $b->{col} } @found) {
            my $m = { file => $file, base => $base, line => $i + 1,
                func => $func, %$f };
            $m->{desc} = describe(\@lines, $m);
            push @m, $m;
        }
    }

    my $k = 0;
    for my $m (@m) {
        $m->{n} = scalar(@mutants) + $k++;
        $m->{id} = "$base:$m->{line}:$m->{col}:$m->{kind}";
    }
    return @m;
}

# comments, strings and character literals blanked, columns kept
sub mask_lines {
    my @in = @_;
    my @out;
    my $comment = 0;
    for my $l (@in) {
        my $o = '';
        my $i = 0;
        my $n = length $l;
        while ($i < $n) {
            my $c = substr $l, $i, 1;
            if ($comment) {
                if (substr($l, $i, 2) eq '*/') {
                    $o .= '  '; $i += 2; $comment = 0;
                } else { $o .= ' '; $i++ }
            } elsif (substr($l, $i, 2) eq '/*') {
                $o .= '  '; $i += 2; $comment = 1;
            } elsif (substr($l, $i, 2) eq '//') {
                $o .= ' ' x ($n - $i); $i = $n;
            } elsif ($c eq '"' || $c eq "'") {
                my $j = $i + 1;
                while ($j < $n && substr($l, $j, 1) ne $c) {
                    $j++ if substr($l, $j, 1) eq '\\';
                    $j++;
                }
                # a literal keeps its quotes, its contents are blanked
                $o .= $c . (' ' x ($j - $i - 1)) . ($j < $n ? $c : '');
                $i = $j + 1;
            } else { $o .= $c; $i++ }
        }
        push @out, $o;
    }
    return @out;
}

sub is_declaration {
    my ($l) = @_;
    return 0 if $l =~ /^\s+(?:return|goto|case|else)\b/;
    return $l =~ /^\s+(?:static\s+|const\s+|unsigned\s+|signed\s+|struct\s+
        |volatile\s+)*[a-z_]\w*\s+[\s*]*[a-z_]\w*\s*(?:\[[^\]]*\]\s*)?[,;]/x;
}

# the line and column of the ')' matching the '(' before (line, col)
sub close_paren {
    my ($mask, $line, $col) = @_;
    my $d = 1;
    for my $i ($line .. $line + 8) {
        last if $i > $#$mask;
        my $l = $mask->[$i];
        for my $c (($i == $line ? $col : 0) .. length($l) - 1) {
            my $ch = substr $l, $c, 1;
            $d++ if $ch eq '(';
            $d-- if $ch eq ')';
            return ($i, $c) if $d == 0;
        }
    }
    return;
}

sub starts_statement {
    my ($mask, $i) = @_;
    for (my $j = $i - 1; $j >= 0; $j--) {
        my $p = $mask->[$j];
        next if $p =~ /^\s*$/;
        return $p =~ /[;{}:]\s*$/ && $p !~ /\?/;
    }
    return 0;
}

# the last line of the statement starting on line i: parentheses closed,
# ends with ';'
sub statement_end {
    my ($mask, $i) = @_;
    my $d = 0;
    for my $j ($i .. $i + 8) {
        last if $j > $#$mask;
        my $l = $mask->[$j];
        $d += () = $l =~ /\(/g;
        $d -= () = $l =~ /\)/g;
        return undef if $l =~ /[{}]/;
        return $j if $d == 0 && $l =~ /;\s*$/;
    }
    return undef;
}

sub apply {
    my ($text, $m) = @_;
    my @lines = split /\n/, $text, -1;
    my $i = $m->{line} - 1;
    if ($m->{kind} eq 'delete') {
        my ($ind) = $lines[$i] =~ /^(\s*)/;
        $lines[$i] = "$ind;";
        $lines[$_] = '' for $i + 1 .. $m->{end_line};
    } elsif ($m->{kind} eq 'negate') {
        # the closing paren first: it may be on the same line
        substr($lines[$m->{end_line}], $m->{end_col}, 0) = ')';
        substr($lines[$i], $m->{col}, 0) = '!(';
    } else {
        substr($lines[$i], $m->{col}, $m->{len}) = $m->{new};
    }
    return join "\n", @lines;
}

sub describe {
    my ($lines, $m) = @_;
    my $i = $m->{line} - 1;
    my $orig = $lines->[$i] =~ s/^\s+//r;
    if ($m->{kind} eq 'delete') {
        my $s = join ' ', map { s/^\s+//r } @$lines[$i .. $m->{end_line}];
        return "delete \"$s\"";
    }
    my $new = apply(join("\n", @$lines), $m);
    my @n = split /\n/, $new, -1;
    if ($m->{kind} eq 'negate') {
        my $s = join ' ', map { s/^\s+//r } @n[$i .. $m->{end_line}];
        return "\"$orig\" -> \"$s\"";
    }
    return "\"$orig\" -> \"" . ($n[$i] =~ s/^\s+//r) . '"';
}

# a mutant's signature for the equivalents file: not its line number, so
# it stays valid when code above it moves; a mutation whose text occurs
# again in the function gets a fifth field "#N" from its second
# occurrence on, so an entry explains one place, never all alike
sub sig {
    my ($m) = @_;
    my $s = "$m->{base}\t$m->{func}\t$m->{kind}\t$m->{desc}";
    $s .= "\t#$m->{occ}" if ($m->{occ} // 1) > 1;
    return $s;
}

sub read_equivalents {
    my ($f) = @_;
    my %e;
    return %e unless -f $f;
    open my $fh, '<', $f or die "mutate: $f: $!\n";
    my ($why, $more);
    while (<$fh>) {
        chomp;
        if (/^\s*$/) { $more = 0; next }
        if (/^#\s?(.*)/) {
            $why = $more ? "$why $1" : $1;
            $more = 1;
            next;
        }
        $more = 0;
        my @f = split /\t/;
        next unless @f >= 4;
        my $k = join "\t", @f[0 .. 3];
        $k .= "\t$f[4]" if @f > 4 && $f[4] =~ /^#\d+$/;
        $e{$k} = $why // 'listed';
    }
    return %e;
}

# the per-file table, extra, the survivors, the score as the last line
sub report_lines {
    my ($per, $surv, $extra) = @_;
    my @out;
    push @out, sprintf "%-18s %7s %8s %10s %9s  %s", 'file', 'killed',
        'survived', 'equivalent', 'no-build', 'score';
    my ($K, $S, $E, $I) = (0, 0, 0, 0);
    for my $b (sort keys %$per) {
        my ($k, $s, $e, $i) = map { $per->{$b}{$_} // 0 }
            qw(killed survived equivalent invalid);
        $K += $k; $S += $s; $E += $e; $I += $i;
        push @out, sprintf "%-18s %7d %8d %10d %9d  %s", $b, $k, $s, $e, $i,
            pct($k, $k + $s);
    }
    push @out, sprintf "%-18s %7d %8d %10d %9d  %s", 'total', $K, $S, $E,
        $I, pct($K, $K + $S);
    push @out, '', $extra if $extra ne '';
    if (@$surv) {
        push @out, '', 'survivors (file:line function kind: mutation):';
        for my $m (@$surv) {
            push @out, sprintf "%s %s:%d %s %s: %s [%s]",
                $m->{status} eq 'equivalent' ? 'EQUIV'
                : ($m->{func} =~ $SECURITY ? 'SECURITY' : 'SURVIVED'),
                $m->{file}, $m->{line}, $m->{func}, $m->{kind}, $m->{desc},
                $m->{id};
            push @out, "    equivalent: $m->{why}" if $m->{why};
        }
    }
    push @out, '', sprintf "mutation score: %s (%d killed, %d survived, %d"
        . " equivalent excluded, %d not compiling excluded)",
        pct($K, $K + $S), $K, $S, $E, $I;
    return @out;
}

sub rescore {
    my ($file) = @_;
    open my $fh, '<', $file or die "mutate: $file: $!\n";
    my (%per, @surv, @out, $in_table, $bad);
    while (<$fh>) {
        chomp;
        if (/^file\s+killed/) { $in_table = 1; next }
        if ($in_table && /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s/) {
            $per{$1} = { killed => $2, survived => 0, equivalent => 0,
                         invalid => $5 } if $1 ne 'total';
            next;
        }
        $in_table = 0;
        if (/^(?:SURVIVED|SECURITY|EQUIV) (\S+):(\d+) (\S+) (\w+): (.*) \[(\S+)\]$/) {
            my $m = { file => $1, line => $2, func => $3, kind => $4,
                      desc => $5, id => $6 };
            ($m->{base} = $1) =~ s{.*/}{};
            $m->{occ} = $occ_by_id{$m->{id}} // 1;
            my $e = $equiv{sig($m)};
            $m->{status} = $e ? 'equivalent' : 'survived';
            $m->{why} = $e;
            $per{$m->{base}}{$m->{status}}++;
            $bad = 1 if !$e && $m->{func} =~ $SECURITY;
            push @surv, $m;
        }
    }
    @out = report_lines(\%per, \@surv, '');
    print "$_\n" for @out;
    return ($o{'fail-on-security'} && $bad) ? 1 : 0;
}

sub glob_re {
    my ($g) = @_;
    my $re = join '', map { $_ eq '*' ? '.*' : $_ eq '?' ? '.' : quotemeta }
        split /([*?])/, $g;
    return qr/^$re$/;
}

sub pct {
    my ($a, $b) = @_;
    return 'n/a' unless $b;
    return sprintf '%.1f%%', 100 * $a / $b;
}

sub read_file {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "mutate: $f: $!\n";
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub write_file {
    my ($f, $s) = @_;
    open my $fh, '>:raw', "$f.mutate-tmp" or die "mutate: $f: $!\n";
    print $fh $s;
    close $fh or die "mutate: $f: $!\n";
    rename "$f.mutate-tmp", $f or die "mutate: $f: $!\n";
}
