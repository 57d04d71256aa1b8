package EciTest;

# The harness of the t/*.t suite: a temp dir, free ports, nginx started
# with -p in that dir, a mock ECI upstream, an HTTP client, readers for the
# audit file, and an error-log check at teardown.  API in the POD at the end.

use strict;
use warnings;

use Test::More ();

use Cwd ();
use File::Basename ();
use File::Path ();
use File::Spec;
use File::Temp ();
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Scalar::Util ();
use Time::HiRes ();

use MockEci;

my $ROOT = Cwd::abs_path(
    File::Spec->catdir(File::Basename::dirname(Cwd::abs_path(__FILE__)),
                       '..', '..'));

# ECI_TEST_BUILD: a directory with an nginx and the module built for it
# (make test NGINX_SRC=build/nginx-1.26.3 sets build/with-nginx-1.26.3);
# ECI_TEST_NGINX and ECI_TEST_MODULE override either
my $BUILD = $ENV{ECI_TEST_BUILD};
my $NGINX = $ENV{ECI_TEST_NGINX}
            || ($BUILD ? File::Spec->rel2abs("$BUILD/nginx") : undef)
            || '/usr/sbin/nginx';

# ECI_TEST_VALGRIND=1: one foreground nginx process under valgrind memcheck
# (see VALGRIND in the POD); ECI_TEST_SANITIZER_DIR: where ASAN_OPTIONS and
# UBSAN_OPTIONS log_path put reports (make test-asan)
my $VALGRIND = $ENV{ECI_TEST_VALGRIND} ? 1 : 0;
my $SANDIR   = $ENV{ECI_TEST_SANITIZER_DIR};

my $TIMEOUT = 10;          # seconds for one client exchange
my $WAIT    = $VALGRIND ? 60 : 5;   # seconds for nginx to start, stop, reload

my $PROBLEM = qr/ \[(?:alert|crit|emerg)\]
                | AddressSanitizer | LeakSanitizer | runtime\ error:
                | worker\ process\ \d+\ exited\ on\ signal /x;

my %USED_PORTS;            # never hand out a port twice in one process
my %LIVE;                  # harnesses to tear down at END, weakly held
my $LATE_FAILURE = 0;      # a dirty log found after the plan was printed


sub new {
    my ($class, %opt) = @_;
    my $keep = $opt{keep} // $ENV{ECI_TEST_KEEP};

    my $tmp = File::Temp->newdir('eci-test-XXXXXX', TMPDIR => 1,
                                 CLEANUP => !$keep);
    my $dir = Cwd::abs_path("$tmp");
    # workers may run as another user: they must reach the files
    chmod 0755, $dir or die "chmod $dir: $!\n";

    my $self = bless {
        tmp     => $tmp,
        dir     => $dir,
        ports   => [],
        owner   => $$,
        allowed => [],
        nginx   => $opt{nginx} || $NGINX,
        done    => 0,
        answered => [],         # X-Request-Ids of responses, in order
        blind   => 0,           # exchanges whose lines have no known id
        san_old => { map { $_ => 1 } _sanitizer_reports() },
    }, $class;

    Test::More::diag("test dir kept: $dir") if $keep;

    $LIVE{Scalar::Util::refaddr($self)} = $self;
    Scalar::Util::weaken($LIVE{Scalar::Util::refaddr($self)});
    return $self;
}

sub dir { $_[0]{dir} }

sub path {
    my ($self, $rel) = @_;
    return $rel if File::Spec->file_name_is_absolute($rel);
    return "$self->{dir}/$rel";
}

sub write_file {
    my ($self, $rel, $content, $mode) = @_;
    my $path = $self->path($rel);

    delete $self->{audit}{$path};
    File::Path::make_path(File::Basename::dirname($path),
                          { mode => 0755 });
    open(my $fh, '>:raw', $path) or die "$path: $!\n";
    my $bytes = $content // '';
    utf8::encode($bytes) if utf8::is_utf8($bytes);
    print $fh $bytes;
    close $fh or die "$path: $!\n";
    chmod($mode // 0644, $path) or die "chmod $path: $!\n";
    return $path;
}

sub module_path {
    return File::Spec->rel2abs($ENV{ECI_TEST_MODULE}) if $ENV{ECI_TEST_MODULE};
    return File::Spec->rel2abs("$BUILD/ngx_http_eci_module.so") if $BUILD;
    return "$ROOT/build/ngx_http_eci_module.so";
}

sub keytool {
    return $ENV{ECI_TEST_KEYTOOL}
        ? File::Spec->rel2abs($ENV{ECI_TEST_KEYTOOL})
        : "$ROOT/build/eci-keytool";
}

sub valgrind    { $VALGRIND }

sub requires_master {
    my ($self) = @_;
    Test::More::plan(skip_all => 'needs the master process and workers,'
                                 . ' not run under valgrind')
        if $VALGRIND;
    return $self;
}
sub root        { $ROOT }
sub nginx_bin   { $_[0]{nginx} }


# --- ports ---------------------------------------------------------------

# Binding to port 0 lets the kernel choose a free one; we close it at once
# and nginx binds it a moment later.
sub _free_port {
    for (1 .. 50) {
        my $s = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
            Listen => 1, ReuseAddr => 1,
        ) or die "cannot bind 127.0.0.1:0: $@\n";
        my $port = $s->sockport;
        close $s;
        next if $USED_PORTS{$port}++;
        return $port;
    }
    die "no free port found\n";
}

sub port {
    my ($self, $n) = @_;
    $n //= 0;
    push @{ $self->{ports} }, _free_port() while @{ $self->{ports} } <= $n;
    return $self->{ports}[$n];
}

sub mock_port {
    my ($self) = @_;
    return $self->{mock_port} //= _free_port();
}


# --- the mock upstream ---------------------------------------------------

# options (MockEci->new's) count when the mock is first made
sub mock {
    my ($self, %o) = @_;
    return $self->{mock} //= MockEci->new(port => $self->mock_port,
                                          dir => $self->{dir}, %o);
}

sub start_mock {
    my ($self) = @_;
    return $self->mock->start;
}


# --- keys and ACLs -------------------------------------------------------

# the audit signing key of plain stores (an Ed25519 private key, hex)
our $PLAIN_SIGNING =
    '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';

sub make_keystore {
    my ($self, %o) = @_;
    my $keys   = $o{keys} || { default => 'test-api-key-0001' };
    my $sealed = $o{sealed} // 1;
    my $name   = $o{name} // ($sealed ? 'keys.sealed' : 'keys.json');
    my $store  = $self->path($name);

    if (!$sealed) {
        # a store eci-keytool makes has an audit signing key: so does this
        my %plain = %$keys;
        $plain{'audit-signing'} //= $PLAIN_SIGNING
            unless defined $o{signing} && !$o{signing};
        $self->write_file($name,
            JSON::PP->new->utf8->canonical->encode(\%plain), 0600);
        $self->{keystore} = [$store, undef];
        return ($store, undef);
    }

    my $tool   = $self->keytool;
    my $master = $self->path('master.key');
    die "$tool is missing: build it with make\n" unless -x $tool;

    if (!-e $master) {
        my ($rc, $out) = $self->_run([$tool, 'genmaster', $master]);
        die "eci-keytool genmaster failed ($rc):\n$out" if $rc;
    }
    for my $n (sort keys %$keys) {
        my ($rc, $out) = $self->_run(
            [$tool, 'set', $store, '--master', $master, '--name', $n],
            stdin => $keys->{$n});
        die "eci-keytool set --name $n failed ($rc):\n$out" if $rc;
    }
    $self->{keystore} = [$store, $master];
    return ($store, $master);
}

# The public key of the store's audit signing key as PEM, in DIR/NAME.pub
# (eci-keytool pubkey): what eci-audit verify --pubkey takes.
sub pubkey {
    my ($self, $store, $master) = @_;
    my $file = $self->path((($store =~ m{([^/]+)$})[0]) . '.pub');
    my ($rc, $out) = $self->_run([$self->keytool, 'pubkey', $store,
                                  $master ? ('--master', $master)
                                          : ('--plain')]);
    die "eci-keytool pubkey failed ($rc):\n$out" if $rc;
    $self->write_file((($file =~ m{([^/]+)$})[0]), $out);
    return $file;
}

# eci-audit verify FILES --pubkey PUB: (exit status, output)
sub verify {
    my ($self, $pub, @files) = @_;
    my $tool = $ENV{ECI_TEST_AUDIT} || "$ROOT/build/eci-audit";
    my ($rc, $out) = $self->_run([$tool, 'verify', @files,
                                  '--pubkey', $pub]);
    return ($rc, $out);
}

# An ACL grant of the exec permission: report distribution ids ('*' or a
# list) and, when given, override recipients.
sub grant {
    my ($ids, $overrides) = @_;
    return { permissions => [$EciTest::PERM], reportDistributionIds => $ids,
             defined $overrides ? (overrideUserIds => $overrides) : () };
}

sub write_acl {
    my ($self, $acl, $name) = @_;
    $name //= 'acl.json';
    my $text = ref $acl ? JSON::PP->new->utf8->canonical->pretty->encode($acl)
                        : $acl;
    return $self->write_file($name, $text, 0644);
}


# --- configuration -------------------------------------------------------

sub conf_head {
    shift if @_ % 2;            # called as a method or a function
    my (%o) = @_;
    my $load = ($o{module} // 1) ? "load_module %%MODULE%%;\n" : '';
    my $on = $VALGRIND ? 'off' : 'on';
    my $workers = $o{workers} // 1;
    # a debug log (nginx built --with-debug) of this test's connections
    my ($debug, $events) = defined $o{debug_log}
        ? ("error_log $o{debug_log} debug;\n", ' debug_connection 127.0.0.1;')
        : ('', '');
    # nginx passes a binary it execs (USR2) only the variables "env" names:
    # under the sanitizers, their options too
    $load .= "env ASAN_OPTIONS;\nenv LSAN_OPTIONS;\nenv UBSAN_OPTIONS;\n"
        if $SANDIR;

    return $load . <<"EOF" . $debug . <<"EOF";
user root;
daemon $on;
master_process $on;
worker_processes $workers;
error_log %%DIR%%/error.log info;
EOF
pid %%DIR%%/nginx.pid;
events { worker_connections 256;$events }
EOF
}

sub write_config {
    my ($self, $template) = @_;
    my $conf = $template;

    $conf =~ s/^[ \t]*%%HTTP_PATHS%%\n/http_paths()/gme;
    $conf =~ s/%%PORT(\d*)%%/$self->port($1 eq '' ? 0 : $1)/ge;
    $self->{uses_mock} = 1 if $conf =~ /%%MOCK%%/;
    $conf =~ s/%%MOCK%%/$self->mock_port/ge;
    $conf =~ s/%%DIR%%/$self->{dir}/g;
    $conf =~ s/%%MODULE%%/$self->module_path/ge;

    File::Path::make_path($self->path('tmp'), { mode => 0755 });
    return $self->write_file('nginx.conf', $conf, 0644);
}

# The lines most test configs open their http block with: logs and
# temporary files in the test dir.
sub http_paths {
    return <<'EOF';
    access_log %%DIR%%/access.log;
    client_body_temp_path %%DIR%%/tmp;
    proxy_temp_path %%DIR%%/tmp;
EOF
}

# The directives of a gateway location that forwards to the mock: the
# caller named by X-Caller (or $o{principal}), the ACL $acl, the audit in
# DIR/audit.log unless $o{audit}, proxy_pass to the mock (or $o{proxy};
# none when that is '').  Put where its first directive goes, indented 12.
sub gateway_location {
    shift if @_ % 2 == 0 && ref $_[0];  # a method or a function
    my ($acl, %o) = @_;
    (my $text = _indent(_gateway_directives($acl, %o), 12)) =~ s/^ {12}//;
    return $text;
}

sub _gateway_directives {
    my ($acl, %o) = @_;
    my $audit = $o{audit} // '%%DIR%%/audit.log';
    my $who   = $o{principal} // '$http_x_caller';
    my $proxy = $o{proxy} // 'http://127.0.0.1:%%MOCK%%';
    return <<"EOF" . (length $proxy ? "\nproxy_pass $proxy;\n" : '');
eci_gateway   on;
eci_principal $who;
eci_acl       $acl;
eci_audit_log $audit;
EOF
}

# $text (lines) with its common indentation taken away and $n spaces put
# before each line that is not empty; ends in a newline unless empty.
sub _indent {
    my ($text, $n) = @_;
    return '' unless defined $text && length $text;
    my @l = split /\n/, $text;
    my ($min) = sort { $a <=> $b }
                map { /^( *)/; length $1 } grep { /\S/ } @l;
    $min //= 0;
    my $pad = ' ' x $n;
    return join '', map { /\S/ ? $pad . substr($_, $min) . "\n" : "\n" } @l;
}

# A server block of one gateway location in front of the mock: listen on
# 127.0.0.1:$o{port} (default %%PORT%%) with $o{listen}'s parameters
# (http2, sndbuf=4k); $o{server}, lines that open the server; the location
# $o{location} (default /api/): gateway_location($acl, audit, principal,
# proxy), proxy_http_version 1.1 with $o{http11}, and Connection "" too
# with $o{keepalive} (a connection to the upstream may stay open), then
# $o{directives}; $o{metrics}: a location = /metrics (or the
# path it names) with eci_status; $o{locations}: more of the server.  The
# texts may be indented as they like: they are indented to their place.
sub gateway_server {
    shift if @_ % 2 == 0 && ref $_[0];  # a method or a function
    my ($acl, %o) = @_;
    my $listen = join ' ', '127.0.0.1:' . ($o{port} // '%%PORT%%'),
                           $o{listen} // ();
    my $status = !$o{metrics} ? undef
               : $o{metrics} eq '1' ? '/metrics' : $o{metrics};
    my %gw = map { exists $o{$_} ? ($_ => $o{$_}) : () }
             qw(audit principal proxy);

    my $proxy = ($o{http11} || $o{keepalive} ? "proxy_http_version 1.1;\n"
                                              : '')
              . ($o{keepalive} ? "proxy_set_header Connection \"\";\n" : '');

    return "server {\n    listen $listen;\n" . _indent($o{server}, 4)
        . "\n    location " . ($o{location} // '/api/') . " {\n"
        . _indent(_gateway_directives($acl, %gw) . $proxy, 8)
        . _indent($o{directives}, 8) . "    }\n"
        . (defined $status ? "\n    location = $status { eci_status; }\n"
                           : '')
        . ($o{locations} ? "\n" . _indent($o{locations}, 4) : '')
        . "}\n";
}

# A whole config (conf_head and http): the lines $o{http} (log_format,
# buffer sizes), the paths of http_paths (the access log: $o{access_log}),
# eci_keystore of the store make_keystore made last (or of $o{store} and
# $o{master}; none with keystore => 0), then $o{servers} (a text or a list
# of texts: gateway_server's).  $o{workers}: worker_processes.
sub http_config {
    my ($self, %o) = @_;
    my ($store, $master) = exists $o{store} ? @o{qw(store master)}
                                            : @{ $self->{keystore} || [] };
    my $ks = '';
    if ($o{keystore} // 1) {
        die "http_config: make_keystore first\n" unless defined $store;
        $ks = "\n    eci_keystore "
            . (defined $master ? "$store master=$master" : $store) . ";\n";
    }
    my @servers = ref $o{servers} ? @{ $o{servers} } : ($o{servers} // ());
    my $log = $o{access_log} // '%%DIR%%/access.log';

    return conf_head(workers => $o{workers}, debug_log => $o{debug_log})
        . "http {\n"
        . _indent($o{http}, 4) . <<"EOF" . $ks
    access_log $log;
    client_body_temp_path %%DIR%%/tmp;
    proxy_temp_path %%DIR%%/tmp;
EOF
        . join('', map { "\n" . _indent($_, 4) } @servers) . "}\n";
}

# The config of the usual test: http_config with one gateway_server($acl)
# (and $o{servers} after it); %o holds the options of both.
sub gateway_config {
    my ($self, $acl, %o) = @_;
    my %http = map { exists $o{$_} ? ($_ => delete $o{$_}) : () }
               qw(http access_log store master keystore workers debug_log);
    my $more = delete $o{servers};
    return $self->http_config(%http, servers => [
        gateway_server($acl, %o),
        ref $more ? @$more : ($more // ())]);
}

# A config of one location / holding $directives (and nothing else): for
# nginx -t of one directive.
sub location_config {
    shift if @_ % 2 == 0 && ref $_[0];  # a method or a function
    my ($directives) = @_;
    return conf_head() . <<"EOF";
http {
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { $directives }
    }
}
EOF
}

# Writes $conf and runs nginx -t, which must fail: three tests, named
# "$name: ...": it fails, its output matches $like, it names nginx.conf and
# a line.  Returns nginx -t's output.  Expected emerg lines: allow_log.
sub config_refused {
    my ($self, $name, $conf, $like) = @_;
    $self->write_config($conf);
    my ($rc, $out) = $self->nginx_test;
    Test::More::isnt($rc, 0, "$name: nginx -t fails");
    Test::More::like($out, $like, "$name: it says why");
    Test::More::like($out, qr/nginx\.conf:\d+/, "$name: and where");
    return $out;
}

sub _nginx_args {
    my ($self) = @_;
    return ($self->{nginx}, '-p', "$self->{dir}/",
            '-c', "$self->{dir}/nginx.conf", '-e', "$self->{dir}/error.log");
}

sub nginx_test {
    my ($self) = @_;
    return $self->_run([$self->_nginx_args, '-t']);
}


# --- nginx processes -----------------------------------------------------

sub start {
    my ($self) = @_;
    my $port = $self->port(0);

    die "nginx already started\n" if $self->_pid_alive($self->{master});
    die "write_config first\n" unless -e $self->path('nginx.conf');

    $self->start_mock if $self->{uses_mock};
    unlink $self->path('nginx.pid');
    $self->{blind}++;           # the chain's start line

    my ($rc, $out) = $VALGRIND ? $self->_spawn_valgrind
                               : $self->_run([$self->_nginx_args]);
    die "nginx did not start ($rc):\n$out" . $self->_log_tail if $rc;

    my $deadline = Time::HiRes::time() + $WAIT;
    while (Time::HiRes::time() < $deadline) {
        my $pid = $self->_read_pid;
        if ($pid && $self->_pid_alive($pid)) {
            $self->{master} = $pid;
            if (_can_connect($port)) {
                $self->{workers} = [$self->worker_pids];
                return $self;
            }
        }
        last if $self->{vg_pid}
             && waitpid($self->{vg_pid}, POSIX::WNOHANG()) == $self->{vg_pid};
        Time::HiRes::sleep(0.05);
    }

    my $tail = $self->_log_tail;
    $self->stop;
    die "nginx did not accept on 127.0.0.1:$port within ${WAIT}s:\n"
        . $out . $tail;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->{master} || $self->_read_pid;

    return unless $pid && $self->_pid_alive($pid);
    my @workers = $self->worker_pids;
    $self->{blind}++;           # the chain's stop line

    for my $sig (qw(QUIT TERM KILL)) {
        kill $sig, $pid;
        my $deadline = Time::HiRes::time() + $WAIT;
        while (Time::HiRes::time() < $deadline) {
            last unless $self->_pid_alive($pid);
            Time::HiRes::sleep(0.05);
        }
        last unless $self->_pid_alive($pid);
        # workers outlive a killed master: they are ours too
        kill 'KILL', grep { $self->_pid_alive($_) } @workers
            if $sig eq 'KILL';
    }
    $self->{master} = undef;
    $self->_reap_valgrind;
    return 1;
}

# valgrind runs nginx in the foreground as our child: its PID is nginx's
sub _spawn_valgrind {
    my ($self) = @_;
    my $supp = "$ROOT/t/valgrind.supp";
    my @vg = ('valgrind', '--tool=memcheck', '--leak-check=full',
              '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
              '--error-exitcode=99', '--num-callers=40',
              "--log-file=$self->{dir}/valgrind.%p.log",
              (-e $supp ? "--suppressions=$supp" : ()));
    my $out = $self->path('valgrind.out');

    my $pid = fork();
    die "fork: $!\n" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $out);
        open(STDERR, '>&', \*STDOUT);
        { no warnings 'exec'; exec { $vg[0] } @vg, $self->_nginx_args; }
        print STDERR "exec valgrind: $!\n";
        POSIX::_exit(127);
    }
    $self->{vg_pid} = $pid;

    # the pid file comes late under valgrind: a quick exit is a failure
    Time::HiRes::sleep(0.2);
    if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
        delete $self->{vg_pid};
        return ($? >> 8 || 1, _slurp($out) // '');
    }
    return (0, '');
}

sub _reap_valgrind {
    my ($self) = @_;
    my $pid = delete $self->{vg_pid} or return;
    my $deadline = Time::HiRes::time() + $WAIT;
    while (waitpid($pid, POSIX::WNOHANG()) == 0) {     # -1: reaped
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        Time::HiRes::sleep(0.05);
    }
}

# The problems in the valgrind logs: a non-zero ERROR SUMMARY (definite
# leaks count as errors) brings the log's error and leak records along.
sub _valgrind_problems {
    my ($self) = @_;
    my @bad;

    opendir(my $dh, $self->{dir}) or return ();
    for my $f (sort grep { /^valgrind\.\d+\.log\z/ } readdir $dh) {
        my $text = _slurp("$self->{dir}/$f") // '';
        my ($n) = $text =~ /ERROR SUMMARY: (\d+) errors/;
        next if defined $n && $n == 0;
        push @bad, "$f: " . (defined $n ? "ERROR SUMMARY: $n errors"
                                        : 'no ERROR SUMMARY (killed?)'),
                   grep { /^==\d+== (?:\S| {3}(?:at|by) )/ } split /\n/, $text;
    }
    closedir $dh;
    return @bad;
}

# ASan/UBSan report files (log_path=DIR/asan gives DIR/asan.PID)
sub _sanitizer_reports {
    return () unless $SANDIR && opendir(my $dh, $SANDIR);
    my @f = grep { !/^\./ } readdir $dh;
    closedir $dh;
    return @f;
}

sub _sanitizer_problems {
    my ($self) = @_;
    my @bad;

    for my $f (sort grep { !$self->{san_old}{$_} } _sanitizer_reports()) {
        $self->{san_old}{$f} = 1;
        push @bad, "$SANDIR/$f:", split /\n/, _slurp("$SANDIR/$f") // '';
    }
    return @bad;
}

sub reload {
    my ($self) = @_;
    my $pid = $self->master_pid or return 0;
    my %old = map { $_ => 1 } $self->worker_pids;

    kill 'HUP', $pid;
    $self->{blind}++;
    my $deadline = Time::HiRes::time() + $WAIT;
    my $new = 0;
    while (Time::HiRes::time() < $deadline) {
        my @now = $self->worker_pids;
        $new = grep { !$old{$_} } @now;
        # wait for the old workers too, or they may take the next request
        last if $new && !grep { $old{$_} } @now;
        Time::HiRes::sleep(0.05);
    }
    $self->{workers} = [$self->worker_pids];
    return $new ? 1 : 0;
}

sub master_pid {
    my ($self) = @_;
    my $pid = $self->_read_pid || $self->{master};
    return $pid && $self->_pid_alive($pid) ? $pid : undef;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->{master} || $self->_read_pid or return ();
    my @pids;

    opendir(my $dh, '/proc') or return ();
    for my $pid (grep { /^[0-9]+\z/ } readdir $dh) {
        my ($state, $ppid) = _proc_stat($pid) or next;
        push @pids, $pid if $ppid == $master && $state ne 'Z';
    }
    closedir $dh;
    return sort { $a <=> $b } @pids;
}

# (state, ppid) from /proc/<pid>/stat; the command may hold spaces and ')'
sub _proc_stat {
    my ($pid) = @_;
    open(my $fh, '<', "/proc/$pid/stat") or return;
    my $line = <$fh> // '';
    close $fh;
    $line =~ /\)\s+(\S)\s+(\d+)/s or return;
    return ($1, $2);
}

# Alive and still nginx, so a reused PID is never signalled.  A zombie
# counts as gone: the daemon's parent may be slow to reap it.
sub _pid_alive {
    my ($self, $pid) = @_;
    return 0 unless $pid && kill(0, $pid);
    my ($state) = _proc_stat($pid) or return 0;
    return 0 if $state eq 'Z';
    open(my $fh, '<', "/proc/$pid/comm") or return 0;
    my $comm = <$fh> // '';
    return 1 if $VALGRIND && $self->{vg_pid} && $pid == $self->{vg_pid};
    return $comm =~ /nginx/ ? 1 : 0;
}

sub _read_pid {
    my ($self) = @_;
    open(my $fh, '<', $self->path('nginx.pid')) or return undef;
    my $pid = <$fh> // '';
    close $fh;
    return $pid =~ /^\s*([0-9]+)\s*$/ ? $1 : undef;
}

sub _can_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# Runs a command with stdin from a string (or /dev/null) and stdout and
# stderr together in a file (not a pipe: a daemon may keep them open).
# Returns (exit code, output); killed after 10 s.
sub _run {
    my ($self, $cmd, %o) = @_;
    my $out = File::Temp->new(TMPDIR => 1);
    my ($r, $w);

    pipe($r, $w) or die "pipe: $!\n" if defined $o{stdin};
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        if (defined $o{stdin}) {
            close $w;
            open(STDIN, '<&', $r);
        } else {
            open(STDIN, '<', '/dev/null');
        }
        open(STDOUT, '>&', $out);
        open(STDERR, '>&', \*STDOUT);
        { no warnings 'exec'; exec { $cmd->[0] } @$cmd; }
        print STDERR "exec $cmd->[0]: $!\n";
        POSIX::_exit(127);
    }

    if (defined $o{stdin}) {
        local $SIG{PIPE} = 'IGNORE';
        close $r;
        print $w $o{stdin};
        close $w;
    }

    my $deadline = Time::HiRes::time() + ($o{timeout} // $TIMEOUT);
    my $status;
    while (1) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) {
            $status = $?;
            last;
        }
        if (Time::HiRes::time() > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $status = 255 << 8;
            last;
        }
        Time::HiRes::sleep(0.02);
    }

    open(my $fh, '<', $out->filename) or die "$out: $!\n";
    local $/;
    my $text = <$fh> // '';
    close $fh;
    my $rc = $status & 127 ? 128 + ($status & 127) : $status >> 8;
    return ($rc, $text);
}


# --- the HTTP client -----------------------------------------------------

sub request {
    my ($self, $method, $uri, %o) = @_;
    my @h    = @{ $o{headers} || [] };
    my $port = $o{port} // $self->port(0);
    my %has;

    for (my $i = 0; $i < @h; $i += 2) {
        $has{ lc $h[$i] } = 1;
    }

    my $req = "$method $uri " . ($o{http10} ? 'HTTP/1.0' : 'HTTP/1.1')
            . "\r\n";
    $req .= "Host: localhost\r\n" unless $has{host};
    $req .= "Connection: close\r\n" unless $has{connection};
    for (my $i = 0; $i < @h; $i += 2) {
        $req .= "$h[$i]: $h[$i + 1]\r\n";
    }
    my $body = $o{body};
    if (defined $body) {
        utf8::encode($body) if utf8::is_utf8($body);
        $req .= 'Content-Length: ' . length($body) . "\r\n"
            unless $has{'content-length'} || $has{'transfer-encoding'};
    }
    $req .= "\r\n" . ($body // '');

    my ($raw, $err) = _exchange($port, $req, $o{timeout} // $TIMEOUT);
    my $resp = parse_response($raw, $method);
    $self->_answered($raw);
    $resp->{error} = $err if $err;
    return $resp;
}

sub raw_request {
    my ($self, $bytes, %o) = @_;
    my ($raw) = _exchange($o{port} // $self->port(0), $bytes,
                          $o{timeout} // $TIMEOUT);
    $self->_answered($raw);
    return $raw;
}

# Sends the bytes and reads until the server closes or the timeout.
# Never half-closes: nginx would take that for a client abort.
sub _exchange {
    my ($port, $bytes, $timeout) = @_;
    my $deadline = Time::HiRes::time() + $timeout;
    local $SIG{PIPE} = 'IGNORE';

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => $timeout)
        or return ('', "connect to 127.0.0.1:$port: $@");
    $s->blocking(0);
    my $sel = IO::Select->new($s);

    my $off = 0;
    while ($off < length $bytes) {
        my $left = $deadline - Time::HiRes::time();
        return ('', 'timeout while sending') if $left <= 0;
        next unless $sel->can_write($left);
        my $n = syswrite($s, $bytes, length($bytes) - $off, $off);
        last unless defined $n || $!{EAGAIN};
        $off += $n // 0;
    }

    my $raw = '';
    while (1) {
        my $left = $deadline - Time::HiRes::time();
        return ($raw, 'timeout') if $left <= 0;
        next unless $sel->can_read($left);
        my $n = sysread($s, $raw, 65536, length $raw);
        next if !defined $n && $!{EAGAIN};
        last unless $n;        # EOF, or a reset after the response
    }
    close $s;
    return ($raw, undef);
}

sub parse_response {
    shift if ref $_[0] && Scalar::Util::blessed($_[0]);
    my ($raw, $method) = @_;
    my $r = { raw => $raw, status => undef, headers => {},
              header_list => [], body => undef };
    my $rest = $raw // '';

    # interim 1xx responses precede the real one
    for (1 .. 10) {
        unless ($rest =~ /\r?\n\r?\n/) {
            $r->{error} = 'incomplete response header';
            return $r;
        }
        my $head = substr($rest, 0, $-[0]);
        $rest = substr($rest, $+[0]);
        my ($line, @lines) = split /\r?\n/, $head;

        unless ($line =~ m{^(HTTP/\d\.\d) ([0-9]{3})(?: (.*))?\z}) {
            $r->{error} = "bad status line: $line";
            return $r;
        }
        @$r{qw(protocol status reason)} = ($1, 0 + $2, $3 // '');
        $r->{headers} = {};
        $r->{header_list} = [];
        for my $l (@lines) {
            my ($n, $v) = $l =~ /^([^:]*):[ \t]*(.*?)[ \t]*\z/ or next;
            push @{ $r->{header_list} }, [$n, $v];
            my $h = $r->{headers};
            my $k = lc $n;
            if (!exists $h->{$k}) { $h->{$k} = $v }
            elsif (ref $h->{$k}) { push @{ $h->{$k} }, $v }
            else { $h->{$k} = [$h->{$k}, $v] }
        }
        last unless $r->{status} >= 100 && $r->{status} < 200
                    && $r->{status} != 101;
    }

    my $h  = $r->{headers};
    my $te = join ',', _values($h->{'transfer-encoding'});
    my ($cl) = _values($h->{'content-length'});

    if (($method // '') eq 'HEAD' || $r->{status} < 200
        || $r->{status} == 204 || $r->{status} == 304)
    {
        $r->{body} = '';
    } elsif ($te =~ /chunked/i) {
        $r->{chunked} = 1;
        ($r->{body}, $r->{truncated}) = _dechunk($rest, $r->{chunks} = []);
    } elsif (defined $cl && $cl =~ /^[0-9]+\z/) {
        $r->{body} = substr($rest, 0, $cl);
        $r->{truncated} = 1 if length $rest < $cl;
    } else {
        $r->{body} = $rest;
    }
    $r->{truncated} //= 0;
    return $r;
}

sub _values {
    my ($v) = @_;
    return ref $v ? @$v : defined $v ? ($v) : ();
}

# (body, truncated) of a chunked body; the sizes go to @$sizes
sub _dechunk {
    my ($data, $sizes) = @_;
    my ($body, $pos) = ('', 0);

    while (1) {
        pos($data) = $pos;
        $data =~ /\G([0-9a-fA-F]+)[^\r\n]*\r\n/gc or return ($body, 1);
        my $size = hex $1;
        $pos = pos($data);
        return ($body, 0) if $size == 0;
        return ($body . substr($data, $pos), 1)
            if length($data) < $pos + $size + 2;
        push @$sizes, $size;
        $body .= substr($data, $pos, $size);
        $pos += $size;
        return ($body, 1) unless substr($data, $pos, 2) eq "\r\n";
        $pos += 2;
    }
}

sub json {
    my ($self, $resp) = @_;
    my $body = ref $resp ? $resp->{body} : $resp;
    return undef unless defined $body;
    return eval { JSON::PP->new->utf8->allow_nonref->decode($body) };
}

# the exec operation's path before the id, and the permission it needs
our $EXEC = '/api/v202106/reportdistribution';
our $PERM = 'DistributedReportsSettings (Manage)';

# An exec as $caller (the X-Caller header) of report distribution $id:
# POST $EXEC/$id/exec, plus $o{query} ("?overrideUserIds=7"); $o{headers}
# are added, $o{json} sends Content-Type: application/json and "{}", the
# rest goes to request (port, timeout, ...).
sub exec_as {
    my ($self, $caller, $id, %o) = @_;
    my @h = (defined $caller ? ('X-Caller' => $caller) : (),
             @{ delete $o{headers} || [] });
    my $query = delete $o{query} // '';
    if (delete $o{json}) {
        push @h, 'Content-Type' => 'application/json';
        $o{body} //= '{}';
    }
    return $self->request(delete $o{method} // 'POST',
                          "$EXEC/$id/exec$query", headers => \@h, %o);
}

# A TCP connection to 127.0.0.1:$o{port} (default port 0) of the test's
# own; dies when it cannot connect.
sub open_socket {
    my ($self, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $o{port} // $self->port(0),
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $@\n";
    return $s;
}

# An exec as $caller of report distribution $id (no body) sent on
# open_socket(%o), whose answer is left unread: the socket.  With
# $o{forwarded}, returned once the mock has a request (5 s at most): for a
# caller that goes away, or a worker killed, in the middle of an exec.
sub exec_socket {
    my ($self, $caller, $id, %o) = @_;
    my $s = $self->open_socket(%o);
    print $s "POST $EXEC/$id/exec HTTP/1.1\r\nHost: localhost\r\n"
           . "X-Caller: $caller\r\nContent-Length: 0\r\n\r\n";
    if ($o{forwarded}) {
        my $deadline = Time::HiRes::time() + $WAIT;
        Time::HiRes::sleep(0.05)
            while !$self->mock->requests && Time::HiRes::time() < $deadline;
    }
    return $s;
}

# eci_status's figures at $uri (default /metrics) as { name => value }
# (names with their labels); in list context (response, figures).
sub metrics {
    my ($self, $uri, %o) = @_;
    my $r = $self->request('GET', $uri // '/metrics', %o);
    my %m;
    for (split /\n/, $r->{body} // '') {
        next if /^#/;
        /^(\S+) (\S+)$/ or next;
        $m{$1} = $2;
    }
    return wantarray ? ($r, \%m) : \%m;
}

# One figure of eci_status at /metrics: $name without labels, or with the
# labels $labels (file="..."; '*': the first of any); undef when it is not
# served.  %o goes to request (timeout).
sub metric {
    my ($self, $name, $labels, %o) = @_;
    my $m = $self->metrics(undef, %o);
    return $m->{$name} unless defined $labels;
    return $m->{"$name\{$labels\}"} unless $labels eq '*';
    my ($k) = sort grep { /^\Q$name\E\{/ } keys %$m;
    return defined $k ? $m->{$k} : undef;
}


# --- files the gateway writes --------------------------------------------

sub _slurp {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or return undef;
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text // '';
}

# a file's bytes; dies when it cannot be read
sub slurp {
    my ($path) = @_;
    my $text = _slurp($path);
    die "$path: $!\n" unless defined $text;
    return $text;
}

# Writes @lines (each with its newline) to $path as they are: file_lines'
# counterpart, for a copy of an audit file changed on purpose.
sub write_lines {
    my ($self, $path, @lines) = @_;
    return $self->write_file($path, join('', @lines));
}

# a file's lines, each with its newline; dies when it cannot be read
sub file_lines {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "$path: $!\n";
    my @l = <$fh>;
    close $fh;
    return @l;
}

# Whether the test directory's file system keeps room allocated beyond a
# file's end (fallocate --keep-size), as the audit writer reserves it.
sub can_reserve_room {
    my ($self) = @_;
    my $probe = $self->path('reserve-probe');
    open(my $fh, '>', $probe) or die "$probe: $!\n";
    close $fh;
    my $can = system("fallocate --keep-size -l 1M '$probe' 2>/dev/null") == 0
              && ((stat $probe)[12] // 0) * 512 >= 1 << 20;
    unlink $probe;
    return $can;
}

# A worker writes a pass's audit lines at the end of that pass, a moment
# after the caller has its response.  The harness remembers the
# X-Request-Id of every response it was given (request, raw_request) and,
# per audit file, how far it has read: a read takes only the bytes added
# since, and waits (at most 2 s; 20 under valgrind) until the result line
# of each request answered since the last read is there.  When it has no
# such line to wait for (no request since, a request without an id, a
# location that audits elsewhere) it waits as before, until the file has
# not grown for 60 ms.
sub _audit_file {
    my ($self, $path) = @_;
    my $c = $self->{audit}{$path} //= { lines => [], off => 0, tail => '' };
    my @st = stat $path;

    unless (@st) {
        %$c = (lines => [], off => 0, tail => '');
        return $c;
    }

    # rotated, truncated or rewritten: read it again from the start
    if ($c->{off}) {
        my $same = "$st[0]:$st[1]" eq ($c->{id} // '') && $st[7] >= $c->{off};
        if ($same && open(my $fh, '<:raw', $path)) {
            my $at = $c->{off} - length $c->{tail};
            seek($fh, $at, 0);
            read($fh, my $was, length $c->{tail});
            $same = defined $was && $was eq $c->{tail};
            close $fh;
        } else {
            $same = 0;
        }
        %$c = (lines => [], off => 0, tail => '') unless $same;
    }
    $c->{id} = "$st[0]:$st[1]";

    return $c if $st[7] <= $c->{off};
    open(my $fh, '<:raw', $path) or return $c;
    seek($fh, $c->{off}, 0);
    local $/;
    my $new = <$fh> // '';
    close $fh;

    # whole lines only: a line being written is taken on a later read
    my $end = rindex($new, "\n") + 1;
    $c->{partial} = substr($new, $end);
    return $c unless $end;
    my $done = substr($new, 0, $end);
    push @{ $c->{lines} }, split /\n/, $done;
    $c->{off} += $end;
    $c->{tail} = substr($done, -64);
    return $c;
}

# the lines read so far, the last one even if unfinished (as a file read
# whole would give it)
sub _audit_text_lines {
    my ($c) = @_;
    my $p = $c->{partial} // '';
    return (@{ $c->{lines} }, length $p ? split(/\n/, $p) : ());
}

sub _audit_settle {
    my ($self, $path) = @_;
    my $deadline = Time::HiRes::time() + ($VALGRIND ? 20 : 2);
    my $since = $self->{audit_seen}{$path} // 0;
    my @want = @{ $self->{answered} }[$since .. $#{ $self->{answered} }];
    my $blind = ($self->{blind} // 0) != ($self->{audit_blind}{$path} // 0);
    my ($size, $same) = (-s $path // -1, 0);

    $self->{audit_seen}{$path} = @{ $self->{answered} };
    $self->{audit_blind}{$path} = $self->{blind} // 0;

    while (Time::HiRes::time() < $deadline) {
        my $c = $self->_audit_file($path);
        if (@want && !$blind) {
            my %got = map { /"event":"result","requestId":"([^"]+)"/
                            ? ($1 => 1) : () } @{ $c->{lines} };
            @want = grep { !$got{$_} } @want;
            return $c unless @want;
        }
        last if $same >= 3;
        Time::HiRes::sleep(0.02);
        my $now = -s $path // -1;
        $same = $now == $size ? $same + 1 : 0;
        $size = $now;
    }
    return $self->_audit_file($path);
}

# request and raw_request: what a later audit read waits for
sub _answered {
    my ($self, $raw) = @_;
    my ($rid) = ($raw // '') =~ /^X-Request-Id:[ \t]*([^\r\n]+?)[ \t]*\r?$/mi;
    if (defined $rid) {
        push @{ $self->{answered} }, $rid;
    } else {
        $self->{blind}++;
    }
}

sub audit_raw {
    my ($self, $file) = @_;
    return _audit_text_lines($self->_audit_settle($self->path($file
                                                         // 'audit.log')));
}

# The records of the whole lines read so far, each decoded once (the same
# hashes on every call: a test must not change them), and of an unfinished
# last line when $partial; the chain's signed lines left out unless $all.
# Dies naming a line that is not a JSON object.
sub _audit_records {
    my ($c, $path, $all, $partial) = @_;
    my $json = JSON::PP->new->utf8;
    my $recs = $c->{recs} //= [];
    my $whole = @{ $c->{lines} };
    my @lines = $partial ? _audit_text_lines($c) : @{ $c->{lines} };
    my @more;

    for my $n (scalar(@$recs) .. $#lines) {
        my $rec = eval { $json->decode($lines[$n]) };
        die "$path line @{[ $n + 1 ]} is not valid JSON ($@): $lines[$n]\n"
            unless ref $rec eq 'HASH';
        if ($n < $whole) {
            push @$recs, $rec;
        } else {
            push @more, $rec;
        }
    }
    return grep { $all || !defined $_->{sig} } @$recs, @more;
}

sub audit_lines {
    my ($self, $file, %o) = @_;
    my $path = $self->path($file // 'audit.log');
    return _audit_records($self->_audit_settle($path), $path, $o{all}, 1);
}

# the records of an audit file's whole lines as they are now, no waiting
sub _audit_now {
    my ($self, $file, $all) = @_;
    my $path = $self->path($file // 'audit.log');
    return _audit_records($self->_audit_file($path), $path, $all, 0);
}

# The audit line of request $rid and $event ('result' unless said), polled
# for until it is written (or $WAIT passed): undef if it never came.
sub audit_record {
    my ($self, $rid, $event, $file) = @_;
    return undef unless defined $rid;
    $event //= 'result';
    my $deadline = Time::HiRes::time() + $WAIT;

    while (1) {
        my @l = grep { ($_->{event} // '') eq $event
                       && ($_->{requestId} // '') eq $rid }
                $self->_audit_now($file);
        return $l[0] if @l || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }
}

# the result lines (decoded), once there are $n of them or $WAIT passed:
# an exec's result line is written a moment after its response
sub audit_results {
    my ($self, $n, $file) = @_;
    my $deadline = Time::HiRes::time() + $WAIT;
    my @res;

    while (1) {
        @res = grep { ($_->{event} // '') eq 'result' }
               $self->_audit_now($file);
        return @res if @res >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }
}

# the chain's own signed lines (start, checkpoint, discontinuity, stop)
my $SIGNED_LINE = qr/,"sig":"[0-9a-f]+","hash":"[0-9a-f]+"\}$/m;

# Polls (5 s) until the file's last line is a checkpoint: the gateway then
# writes no line until it has more to sign.  True when it came.
sub wait_for_checkpoint {
    my ($self, $file) = @_;
    my $path = $self->path($file // 'audit.log');
    my $deadline = Time::HiRes::time() + $WAIT;

    while (Time::HiRes::time() < $deadline) {
        my $c = $self->_audit_file($path);
        return 1 if @{ $c->{lines} } && !length $c->{partial}
                    && $c->{lines}[-1] =~ /"event":"checkpoint"/;
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

sub wait_for_lines {
    my ($self, $file, $n, $timeout) = @_;
    my $path = $self->path($file);
    my $deadline = Time::HiRes::time() + ($timeout // $WAIT);
    my $count = 0;

    while (1) {
        my $c = $self->_audit_file($path);
        $count = grep { !/$SIGNED_LINE/ } @{ $c->{lines} };
        return $count if $count >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.02);
    }
}

sub error_log {
    my ($self) = @_;
    return _slurp($self->path('error.log')) // '';
}

# the error log once it matches $re $n times (or $timeout passed): what a
# worker logs after the response (the log phase, the audit flush) may come
# a moment after the client has the response
sub wait_for_log {
    my ($self, $re, $n, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // $WAIT);

    while (1) {
        my $log = $self->error_log;
        my $count = () = $log =~ /$re/g;
        return $log if $count >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
}

sub _log_tail {
    my ($self) = @_;
    my @lines = split /\n/, $self->error_log;
    splice(@lines, 0, @lines - 30) if @lines > 30;
    return "--- error.log (tail) ---\n" . join("\n", @lines) . "\n";
}


# --- the error-log check -------------------------------------------------

sub allow_log {
    my ($self, @re) = @_;
    push @{ $self->{allowed} }, @re;
    return $self;
}

sub log_problems {
    my ($self, $text) = @_;
    $text //= $self->error_log;
    my @bad;

    LINE: for my $line (split /\n/, $text) {
        next unless $line =~ $PROBLEM;
        for my $re (@{ $self->{allowed} }) {
            next LINE if $line =~ $re;
        }
        push @bad, $line;
    }
    return @bad;
}

sub done {
    my ($self) = @_;
    $self->_teardown(1);
    return $self;
}

# An explicit done() is a test.  Teardown from DESTROY or END may come after
# the plan was printed (file lexicals die when the main script ends, before
# END): then another test would break the plan, so a dirty log is reported
# with diag and fails the exit code instead.
sub _teardown {
    my ($self, $explicit) = @_;
    return if $self->{done} || $self->{owner} != $$;
    $self->{done} = 1;

    $self->stop;
    $self->{mock}->stop if $self->{mock};

    my @bad = ($self->log_problems, $self->_valgrind_problems,
               $self->_sanitizer_problems);

    if ($explicit || !defined Test::More->builder->has_plan) {
        Test::More::ok(!@bad, 'error log is clean')
            or Test::More::diag(join "\n", "$self->{dir}/error.log:", @bad);
    } elsif (@bad) {
        Test::More::diag(join "\n",
            "error log is not clean (call \$t->done before done_testing):",
            "$self->{dir}/error.log:", @bad);
        $LATE_FAILURE = 1;
    }
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{owner} == $$;
    local ($?, $!, $@);
    $self->_teardown(0);
}

# Runs before Test::Builder's own END (loaded first, so it runs last),
# which keeps a non-zero exit code.
END {
    {
        local ($?, $!, $@);
        $_->_teardown(0) for grep { defined } values %LIVE;
    }
    $? = 1 if $LATE_FAILURE && !$?;
}

1;

__END__

=head1 NAME

EciTest - the harness of the ngx_eci prove suite

=head1 SYNOPSIS

    use FindBin; use lib "$FindBin::Bin/lib";
    use Test::More; use EciTest;

    my $t = EciTest->new;
    my ($store, $master) = $t->make_keystore(keys => {default => 'k1'});
    my $acl = $t->write_acl({ principals => {
        alice => EciTest::grant('*') } });
    $t->write_config($t->gateway_config($acl, metrics => 1));
    $t->start;
    my $r = $t->exec_as('alice', 7, json => 1);
    is($r->{status}, 200, 'allowed caller is proxied');
    $t->done;
    done_testing;

=head1 CONSTRUCTION AND FILES

=over

=item EciTest->new(keep => 0, nginx => '/usr/sbin/nginx')

Creates a temp dir (mode 0755, removed at exit unless C<keep> or the
environment variable ECI_TEST_KEEP is set).  ECI_TEST_NGINX overrides the
nginx binary; ECI_TEST_BUILD=DIR takes DIR/nginx and
DIR/ngx_http_eci_module.so (C<make test NGINX_SRC=build/nginx-1.26.3> sets
F<build/with-nginx-1.26.3>).

=item $t->dir, $t->path($rel), $t->root

The test dir; C<$rel> made absolute in it (absolute paths are returned as
they are); the repository root.

=item $t->write_file($rel, $content, $mode)

Writes bytes (wide strings are UTF-8 encoded), creating directories; mode
defaults to 0644.  Returns the path.

=item $t->module_path, $t->keytool, $t->nginx_bin

F<build/ngx_http_eci_module.so>, F<build/eci-keytool> (absolute), the nginx
binary.  ECI_TEST_MODULE and ECI_TEST_KEYTOOL override the first two
(made absolute against the current directory); C<make test-asan> points
all three at F<build/asan/>.

=item $t->make_keystore(keys => {name => key, ...}, sealed => 1, name => $file)

Sealed (default): runs C<eci-keytool genmaster DIR/master.key> once, then
C<eci-keytool set STORE --master MASTER --name N> with the key on stdin for
each key; returns (store, master).  C<sealed =E<gt> 0>: a plain JSON object
file of mode 0600; returns (path, undef).  C<name> defaults to keys.sealed
or keys.json.  Dies with the tool's output on failure.  The store made
last is the one C<http_config> and C<gateway_config> name.

=item EciTest::grant($ids, $overrides)

C<{ permissions =E<gt> [$EciTest::PERM], reportDistributionIds =E<gt> $ids,
overrideUserIds =E<gt> $overrides }> (the last left out when undef): a
principal's or a group's grant of the exec permission.

=item $t->write_acl($hashref_or_string, $name)

Writes the ACL (hashes as canonical pretty JSON, strings as they are) to
C<$name> (default acl.json); returns the path.

=back

=head1 PORTS AND CONFIGURATION

=over

=item $t->port($n)

The n-th free loopback port (0-based), found by binding 127.0.0.1:0 and
allocated on first use.

=item $t->mock_port, $t->mock, $t->start_mock

The mock upstream's port (distinct from every C<port($n)>); its L<MockEci>
object (dir = the test dir, created on first use, not started); start it
(a no-op when running) and return it.

=item EciTest::conf_head(module => 1, workers => 1, debug_log => undef)

The main context of a test config: C<load_module %%MODULE%%> (left out with
C<module =E<gt> 0>), C<user root>, daemon and master process on,
C<workers> worker processes (one), with C<debug_log> an C<error_log> of
that file at level debug and C<debug_connection 127.0.0.1>,
C<error_log %%DIR%%/error.log info>, C<pid %%DIR%%/nginx.pid>, events.  Also
callable as a method.

=item $t->write_config($template)

Replaces a line C<%%HTTP_PATHS%%> with C<http_paths>, C<%%PORT%%> (port
0), C<%%PORTn%%> (port n), C<%%MOCK%%>, C<%%DIR%%>, C<%%MODULE%%>; writes
DIR/nginx.conf and creates DIR/tmp.  A config that uses C<%%MOCK%%> makes
C<start> start the mock.

=item EciTest::http_paths()

The lines most test configs begin their http block with: C<access_log
%%DIR%%/access.log>, C<client_body_temp_path> and C<proxy_temp_path> in
DIR/tmp.

=item EciTest::gateway_location($acl, audit => '%%DIR%%/audit.log', principal => '$http_x_caller', proxy => 'http://127.0.0.1:%%MOCK%%')

The directives of a gateway location in front of the mock:
C<eci_gateway on>, C<eci_principal> (C<principal>, default
C<$http_x_caller>), C<eci_acl $acl>, C<eci_audit_log> (C<off> or another
file with C<audit>), C<proxy_pass> to the mock (to C<proxy>; none when
that is C<''>).  Its first line is not indented: write
C<${\ EciTest::gateway_location($acl) }> where the first directive goes,
and the location's own directives after it.

=item $t->gateway_config($acl, %options)

The whole config most tests run: C<http_config> with one
C<gateway_server($acl)>; C<%options> are those of both (C<servers> come
after the gateway's server).  For example

    $t->write_config($t->gateway_config($acl, workers => 2, metrics => 1,
                                        keepalive => 1,
                                        directives => 'eci_exec_guard 2s;'));

=item EciTest::gateway_server($acl, %options)

A C<server {}> of one gateway location.  Options (each text may be
indented as it likes; it is indented to its place):

    port        listen on 127.0.0.1:port (default '%%PORT%%'; '%%PORT1%%')
    listen      more listen parameters ('http2', 'sndbuf=4k')
    server      lines that open the server (underscores_in_headers on;)
    location    the gateway location (default /api/)
    audit, principal, proxy
                as gateway_location's
    http11      proxy_http_version 1.1
    keepalive   proxy_http_version 1.1 and proxy_set_header Connection ""
    directives  more lines of the gateway location
    metrics     a location = /metrics with eci_status (or at the path given)
    locations   more of the server, after those

=item $t->http_config(servers => [...], %options)

C<conf_head(workers =E<gt> $workers, debug_log =E<gt> $file)> and an http
block: the lines C<http>
(log_format, buffer sizes), the lines of C<http_paths> (C<access_log>
replaces its access log: C<'off'>, C<'%%DIR%%/access.log leaky'>),
C<eci_keystore> of the store C<make_keystore> made last (or of C<store>
and C<master>; none with C<keystore =E<gt> 0>), then C<servers> (a text or
a list of texts, e.g. C<gateway_server>'s and C<upstream {}> blocks).

=item EciTest::location_config($directives)

A config of one server whose C<location /> holds C<$directives> and nothing
else: for C<nginx -t> of one directive's checks.

=item $t->config_refused($name, $conf, qr/why/)

Writes C<$conf>, runs C<nginx -t> and tests that it fails ("$name: nginx -t
fails"), that its output matches C<qr/why/> ("$name: it says why") and
names F<nginx.conf> and a line ("$name: and where"): three tests.  Returns
the output.  The emerg lines it causes must be allowed (C<allow_log>).

=item $t->nginx_test

(exit code, stdout+stderr) of C<nginx -t -p DIR/ -c DIR/nginx.conf -e
DIR/error.log>.  Configuration errors also land in the error log: a test
expecting one calls C<allow_log>.

=back

=head1 NGINX PROCESSES

=over

=item $t->start

Starts nginx (and the mock, see write_config); returns C<$t> once the pid
file names a live master and 127.0.0.1:port(0) accepts, or stops it and
dies with the error log's tail after 5 s.

=item $t->stop

QUIT to the master from our pid file, then TERM, then KILL (each after 5 s);
with KILL its workers too.  Only processes whose command is nginx are
signalled.

=item $t->reload

HUP; waits up to 5 s for a new worker (and for the old ones to leave).
True when a new worker appeared.

=item $t->master_pid, $t->worker_pids

The live master's PID (or undef); its children's PIDs, sorted, from a scan
of /proc/*/stat.

=back

=head1 HTTP

=over

=item $t->request($method, $uri, headers => [name => value, ...], body => $bytes, port => $p, http10 => 0, timeout => 10)

One HTTP/1.1 (or 1.0) request with C<Host: localhost> and C<Connection:
close> unless given, and Content-Length when there is a body.  Returns

    { status, reason, protocol,
      headers     => { lc name => value, or [values] when repeated },
      header_list => [[name, value], ...],   # in order
      body,                                  # chunked bodies decoded
      chunked, chunks => [sizes], truncated, # body shorter than promised
      raw,
      error }                                # connect/timeout/parse trouble

=item $t->raw_request($bytes, port => $p, timeout => 10)

Sends the bytes; returns everything read until the server closes.

=item EciTest::parse_response($raw, $method)

The parser behind C<request>.

=item $t->json($resp_or_body)

The body decoded as JSON, or undef.

=item $t->exec_as($caller, $id, query => '?overrideUserIds=7', json => 1, headers => [...], method => 'POST', ...)

An exec of report distribution C<$id> as C<$caller> (sent as C<X-Caller>,
left out when undef): C<POST $EciTest::EXEC/$id/exec> plus C<query>;
C<json> adds C<Content-Type: application/json> and the body C<{}>;
C<headers> are added; anything else goes to C<request> (C<port>,
C<body>, C<timeout>).  C<$EciTest::EXEC> is the path before the id and
C<$EciTest::PERM> the permission an exec needs.

=item $t->open_socket(port => $p), $t->exec_socket($caller, $id, port => $p, forwarded => 0)

A TCP connection to 127.0.0.1 (port 0 unless C<port>) of the test's own;
one on which an exec of C<$id> as C<$caller> (no body) was sent and whose
answer is left unread.  With C<forwarded>, C<exec_socket> returns once the
mock has a request (5 s at most): for a caller that leaves, or a worker
killed, in the middle of an exec.  Their requests are not among those
audit reads wait for.

=item $t->metrics($uri)

C<GET $uri> (default F</metrics>, an C<eci_status> location) parsed into
C<{ name_with_labels =E<gt> value }>; in list context (response, figures).

=item $t->metric($name, $labels, timeout => 10)

One figure at F</metrics>: C<$name> without labels, with exactly
C<$labels> (C<file="...">), or with C<'*'> the first of any labels; undef
when it is not served.

=back

=head1 AUDIT AND LOGS

=over

=item $t->audit_lines($file), $t->audit_raw($file)

The decoded JSON objects, or the raw lines, of an audit file (relative to
the test dir; default audit.log).  C<audit_lines> dies naming the first line
that is not a JSON object, and leaves out the chain's own signed lines
(start, checkpoint, discontinuity, stop) unless called with C<all =E<gt> 1>.

A worker writes a pass's lines a moment after the caller has its
response.  The harness remembers the C<X-Request-Id> of every response
C<request> and C<raw_request> returned, and how far it has read each file
(a rotated, truncated or rewritten file is read again from its start): a
read takes the bytes added since and waits (2 s at most, 20 under
valgrind) until the result line of every request answered since the last
read of that file is there.  With nothing to wait for (no request since,
one without an id, a start, stop or reload, whose lines have no id), it
waits until the file has not grown for 60 ms, as it did before.  Lines
sent by other clients (nghttp, a socket of the test's own) are only
certain to be there once something else is waited for: use
C<audit_record> or C<audit_results> for them.

=item $t->audit_record($request_id, $event, $file)

The audit line of that request and event (default C<result>), polled for
until it is written (default 5 s); undef if it never came.

=item $t->audit_results($n, $file)

The result lines of an audit file (default audit.log), decoded, once there
are at least C<$n> of them (polls up to 5 s).

=item $t->wait_for_lines($file, $n, $timeout)

Polls (default 5 s) until the file holds at least C<$n> complete lines
besides the chain's signed lines; returns the count found.

=item $t->wait_for_checkpoint($file)

Polls (default 5 s) until the file's last line is a checkpoint, after which
the gateway writes nothing until it has new lines; true when it came.

=item $t->pubkey($store, $master), $t->verify($pubkey, @files)

The public key of the store's C<audit-signing> key, written as PEM to
DIR/STORE.pub by C<eci-keytool pubkey> (C<$master> undef: a plain store);
and C<eci-audit verify FILES --pubkey PUB>: its exit status and output.

=item $t->error_log

The text of DIR/error.log.

=item EciTest::slurp($path), EciTest::file_lines($path)

A file's bytes, or its lines with their newlines; both die when it cannot
be read.

=item $t->write_lines($path, @lines)

Writes the lines (with their newlines) as they are, as C<write_file> does:
a copy of an audit file changed on purpose.

=item $t->allow_log(qr/.../, ...)

Expected problem lines: they no longer fail the check.

=item $t->log_problems($text)

The offending lines of C<$text> (default: the error log): C<[alert]>,
C<[crit]>, C<[emerg]>, AddressSanitizer, C<runtime error:>, LeakSanitizer,
C<worker process N exited on signal>, less those allowed.

=item $t->done

Stops nginx and the mock and runs the test "error log is clean".
Idempotent.  Without it the same happens when C<$t> is destroyed or at
END, as a test only while no plan is declared: after C<done_testing> (or
with C<plan tests =E<gt> N>) a dirty log is reported with diag and makes
the script exit non-zero instead.  So call C<done> before C<done_testing>.

The check also fails on sanitizer report files and on valgrind errors (see
below).

=back

=head1 SANITIZERS AND VALGRIND

=over

=item ECI_TEST_SANITIZER_DIR

Set by C<make test-asan>, whose ASAN_OPTIONS and UBSAN_OPTIONS have
C<log_path> in that directory: report files that appear there between
C<new> and the check are problems of this test (their text is shown).  A
sanitizer report written to stderr lands in the error log (nginx makes
the error log its stderr), which is checked anyway.

=item ECI_TEST_VALGRIND=1

C<make test-valgrind>.  C<conf_head> emits C<daemon off; master_process
off;>; C<start> runs nginx in the foreground as a child of the test under
C<valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
--error-exitcode=99> (plus F<t/valgrind.supp> when present), logging to
DIR/valgrind.PID.log; start and stop wait up to 60 s instead of 5.  The
check fails when a log's C<ERROR SUMMARY> is not 0 errors (definite leaks
count as errors) and shows its error and leak records.  A test must use
C<conf_head> (a daemonizing nginx would escape the harness).

=item $t->valgrind

True under ECI_TEST_VALGRIND.

=item $t->requires_master

Under valgrind, skips the whole file (C<plan skip_all>); call it before any
test in files that reload, count workers or otherwise need the master
process.  Returns C<$t>.

=back

=cut
