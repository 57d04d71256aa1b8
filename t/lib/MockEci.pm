package MockEci;

# The mock ECI upstream: records every request exactly as received and
# answers as <dir>/mock-behaviour.json says.  Used in-process by the tests
# and standalone by the demo (see POD at the end).

use strict;
use warnings;

use Cwd ();
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT);
use File::Basename ();
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use Socket ();
use Time::HiRes ();

my $DEFAULT_LIFETIME = 300;    # seconds the server lives at most
my $DEFAULT_IDLE     = 30;     # seconds a quiet connection is kept

my %REASON = (
    100 => 'Continue', 200 => 'OK', 201 => 'Created', 202 => 'Accepted',
    204 => 'No Content', 301 => 'Moved Permanently', 302 => 'Found',
    304 => 'Not Modified', 400 => 'Bad Request', 401 => 'Unauthorized',
    403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed',
    409 => 'Conflict', 413 => 'Payload Too Large', 415 =>
    'Unsupported Media Type', 422 => 'Unprocessable Entity',
    429 => 'Too Many Requests', 500 => 'Internal Server Error',
    502 => 'Bad Gateway', 503 => 'Service Unavailable',
    504 => 'Gateway Timeout',
);

# Records hold raw bytes: ->ascii escapes bytes 0x80-0xff as \u00XX, so a
# record decodes back to exactly the bytes received.
my $RECORD_JSON = JSON::PP->new->ascii->canonical;
my $READ_JSON   = JSON::PP->new;

sub new {
    my ($class, %o) = @_;

    die "MockEci->new: port is required\n" unless $o{port};
    my $dir = defined $o{dir} ? $o{dir} : Cwd::getcwd();

    return bless {
        port      => $o{port},
        dir       => $dir,
        record    => $o{record}    // "$dir/mock-requests.jsonl",
        behaviour => $o{behaviour} // "$dir/mock-behaviour.json",
        lifetime  => $o{lifetime}  // $DEFAULT_LIFETIME,
        idle      => $o{idle}      // $DEFAULT_IDLE,
        watch     => $o{watch},
        owner     => $$,
        pid       => undef,
    }, $class;
}

sub port        { $_[0]{port} }
sub pid         { $_[0]{pid} }
sub url         { "http://127.0.0.1:$_[0]{port}" }
sub record_file { $_[0]{record} }

sub running {
    my ($self) = @_;
    return 0 unless $self->{pid};
    return 1 if waitpid($self->{pid}, POSIX::WNOHANG()) == 0;
    # reaped: forget the PID so stop() never signals a reused one
    $self->{pid} = undef;
    return 0;
}

# Binds before forking, so the port accepts as soon as start() returns.
sub start {
    my ($self) = @_;

    return $self if $self->running;

    my $listen = $self->_listen;
    my $parent = $$;

    my $pid = fork();
    die "MockEci: fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        # Test::Builder keeps a dup of the TAP pipe; prove must not wait
        # for us, so keep only stdio and the listening socket
        my $lfd = fileno $listen;
        POSIX::close($_) for grep { $_ != $lfd } 3 .. 255;

        # never return into the test: no END blocks, no Test::More output
        my $ok = eval { $self->_serve($listen, $parent); 1 };
        print STDERR "MockEci server: $@" unless $ok;
        POSIX::_exit($ok ? 0 : 1);
    }

    close $listen;
    $self->{pid} = $pid;
    return $self;
}

sub stop {
    my ($self) = @_;
    my $pid = $self->{pid};

    return unless $pid && $self->{owner} == $$;
    $self->{pid} = undef;

    kill 'TERM', $pid;
    my $deadline = Time::HiRes::time() + 5;
    while (Time::HiRes::time() < $deadline) {
        return if waitpid($pid, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub DESTROY {
    my ($self) = @_;
    local ($?, $!, $@);
    $self->stop if $self->{pid} && $self->{owner} == $$;
}


# --- what was received ---------------------------------------------------

sub requests {
    my ($self) = @_;
    my @list;

    open(my $fh, '<', $self->{record}) or return ();
    flock($fh, LOCK_SH);
    my $n = 0;
    while (my $line = <$fh>) {
        $n++;
        chomp $line;
        next if $line eq '';
        my $req = eval { $READ_JSON->decode($line) };
        die "$self->{record} line $n: $@" unless $req;
        push @list, $req;
    }
    close $fh;
    return @list;
}

sub last_request {
    my @list = $_[0]->requests;
    return $list[-1];
}

sub clear {
    my ($self) = @_;
    open(my $fh, '>>', $self->{record}) or die "$self->{record}: $!\n";
    flock($fh, LOCK_EX);
    truncate($fh, 0);
    close $fh;
}

# header_values($req, $name): every value of the named header, in order
sub header_values {
    my ($req, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name }
        @{ $req->{headers} || [] };
}


# --- how to answer -------------------------------------------------------

# set() states the whole behaviour: keys not given take their defaults.
sub set {
    my ($self, %b) = @_;
    my $tmp = "$self->{behaviour}.$$.tmp";

    open(my $fh, '>', $tmp) or die "$tmp: $!\n";
    print $fh JSON::PP->new->utf8->canonical->encode(\%b);
    close $fh or die "$tmp: $!\n";
    chmod 0644, $tmp;
    # rename: a request never reads a half-written file
    rename($tmp, $self->{behaviour}) or die "$self->{behaviour}: $!\n";
    return $self;
}

sub reset {
    my ($self) = @_;
    unlink $self->{behaviour};
    return $self;
}

sub default_body {
    my ($id) = @_;
    my $num = (defined $id && $id =~ /^-?[0-9]{1,9}\z/) ? 0 + $id : 0;

    return JSON::PP->new->canonical->encode({
        beginDate          => '2026-03-30T10:00:00Z',
        endDate            => '2026-03-30T10:00:05Z',
        numberOfRecipients => 1,
        reportDistribution => {
            createdByUser => {
                fullName => 'Test User',
                userCode => 'TEST',
                userId   => 1,
            },
            reportCode             => 'RPT',
            reportDistributionId   => $num,
            reportDistributionName => 'Daily',
        },
        reportDistributionLogId => 1000 + $num,
        status                  => 'Complete',
    });
}


# --- the server (runs in the forked child) -------------------------------

sub _listen {
    my ($self) = @_;
    my $sock = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $self->{port},
        Proto     => 'tcp',
        Listen    => 64,
        ReuseAddr => 1,
    );
    die "MockEci: cannot listen on 127.0.0.1:$self->{port}: $@\n"
        unless $sock;
    return $sock;
}

sub _serve {
    my ($self, $listen, $parent) = @_;
    my (%kids, $stop);

    $0 = "mock-eci server 127.0.0.1:$self->{port}";
    open(STDIN, '<', '/dev/null');
    # prove reads the test's stdout until EOF: do not hold it open
    open(STDOUT, '>', '/dev/null');

    $SIG{TERM} = $SIG{INT} = $SIG{HUP} = sub { $stop = 1 };
    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = 'DEFAULT';

    my $deadline = Time::HiRes::time() + $self->{lifetime};
    my $sel      = IO::Select->new($listen);
    my $conn_no  = 0;

    while (!$stop) {
        last if $self->{lifetime} && Time::HiRes::time() > $deadline;
        last unless _alive($parent);

        while ((my $k = waitpid(-1, POSIX::WNOHANG())) > 0) {
            delete $kids{$k};
        }

        next unless $sel->can_read(0.5);
        my $conn = $listen->accept or next;
        $conn_no++;

        my $pid = fork();
        if (!defined $pid) {
            close $conn;
            next;
        }
        if ($pid == 0) {
            close $listen;
            $SIG{TERM} = $SIG{INT} = $SIG{HUP} = 'DEFAULT';
            $0 = "mock-eci connection $conn_no";
            eval { $self->_connection($conn, $$, $deadline); 1 }
                or print STDERR "MockEci connection: $@";
            POSIX::_exit(0);
        }
        $kids{$pid} = 1;
        close $conn;
    }

    # the connection handlers are ours to end
    kill 'TERM', keys %kids;
    my $until = Time::HiRes::time() + 2;
    while (%kids && Time::HiRes::time() < $until) {
        my $k = waitpid(-1, POSIX::WNOHANG());
        if ($k > 0) { delete $kids{$k}; next }
        last if $k < 0;
        Time::HiRes::sleep(0.02);
    }
    kill 'KILL', keys %kids;
    1 while waitpid(-1, POSIX::WNOHANG()) > 0;
}

# 1 while the process that started us is still our parent
sub _alive {
    my ($parent) = @_;
    return getppid() == $parent;
}

# One connection: requests in a loop (HTTP/1.1 keep-alive) until the peer
# closes, 30 s pass idle, or the server's lifetime ends.
sub _connection {
    my ($self, $sock, $conn_id, $deadline) = @_;
    my $server = getppid();
    my $buf    = '';
    my $seq    = 0;

    # small writes go out at once (chunks, head then body)
    setsockopt($sock, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1);

    my $io = {
        sock     => $sock,
        sel      => IO::Select->new($sock),
        buf      => \$buf,
        idle     => $self->{idle},
        deadline => $deadline,
        server   => $server,
    };

    while (1) {
        my ($head, $head_raw) = _read_head($io) or return;
        my $req  = _parse_head($head_raw);
        my $body = _read_body($io, $req);
        return unless defined $body;

        $req->{body}       = $body;
        $req->{time}       = Time::HiRes::time();
        $req->{connection} = $conn_id;
        $req->{seq}        = $seq++;
        # how long the watched file (an audit log) was when this arrived
        $req->{watched_size} = -s $self->{watch} // 0
            if defined $self->{watch};
        $self->_record($req);

        my $keep = $self->_respond($sock, $req);
        return unless $keep;
    }
}

# Reads more bytes into the buffer; 0 on EOF, timeout or error.
sub _fill {
    my ($io) = @_;
    my $idle_end = Time::HiRes::time() + $io->{idle};

    while (1) {
        my $now = Time::HiRes::time();
        return 0 if $now > $idle_end || $now > $io->{deadline};
        return 0 if getppid() != $io->{server};
        next unless $io->{sel}->can_read(1);
        my $n = sysread($io->{sock}, ${ $io->{buf} }, 65536,
                        length ${ $io->{buf} });
        return defined $n && $n > 0 ? 1 : 0;
    }
}

sub _read_head {
    my ($io) = @_;
    my $buf = $io->{buf};

    while ($$buf !~ /\r?\n\r?\n/) {
        return if length $$buf > 1 << 20;
        _fill($io) or return;
    }
    $$buf =~ /\r?\n\r?\n/;
    my $head = substr($$buf, 0, $-[0]);
    my $raw  = substr($$buf, 0, $+[0]);
    substr($$buf, 0, $+[0], '');
    return ($head, $raw);
}

sub _parse_head {
    my ($raw) = @_;
    my ($line, @lines) = split /\r?\n/, $raw;
    my ($method, $target, $version) = split / /, $line, 3;
    my @headers;

    for my $l (@lines) {
        if ($l =~ /^[ \t]/ && @headers) {
            # obsolete line folding: keep it visible in the value
            $headers[-1][1] .= $l;
        } elsif ($l =~ /^([^:]*):[ \t]*(.*?)[ \t]*\z/s) {
            push @headers, [$1, $2];
        } else {
            push @headers, [$l, ''];
        }
    }

    return {
        request_line => $line,
        method       => $method,
        target       => $target,
        http_version => $version,
        headers      => \@headers,
        raw_head     => $raw,
    };
}

sub _read_body {
    my ($io, $req) = @_;
    my $buf = $io->{buf};
    my ($te) = header_values($req, 'Transfer-Encoding');
    my ($cl) = header_values($req, 'Content-Length');

    if (defined $te && $te =~ /chunked/i) {
        my $body = '';
        while (1) {
            while ($$buf !~ /\A[0-9a-fA-F]+[^\r\n]*\r?\n/) {
                return undef if length $$buf > 4096;
                _fill($io) or return undef;
            }
            # captures inside the loop condition do not outlive the loop
            $$buf =~ /\A([0-9a-fA-F]+)[^\r\n]*\r?\n/;
            my $size = hex $1;
            my $hlen = $+[0];
            if ($size == 0) {
                substr($$buf, 0, $hlen, '');
                # trailers end with an empty line
                while ($$buf !~ /\A(?:[^\r\n]+\r?\n)*\r?\n/) {
                    _fill($io) or return undef;
                }
                $$buf =~ s/\A(?:[^\r\n]+\r?\n)*\r?\n//;
                return $body;
            }
            while (length $$buf < $hlen + $size + 2) {
                _fill($io) or return undef;
            }
            $body .= substr($$buf, $hlen, $size);
            substr($$buf, 0, $hlen + $size, '');
            $$buf =~ s/\A\r?\n//;
        }
    }

    return '' unless defined $cl && $cl =~ /^\s*([0-9]+)\s*\z/;
    my $len = $1;
    while (length $$buf < $len) {
        _fill($io) or return undef;
    }
    return substr($$buf, 0, $len, '');
}

sub _record {
    my ($self, $req) = @_;

    my $line = $RECORD_JSON->encode($req) . "\n";
    sysopen(my $fh, $self->{record}, O_WRONLY | O_APPEND | O_CREAT, 0644)
        or die "$self->{record}: $!\n";
    flock($fh, LOCK_EX);
    syswrite($fh, $line);
    close $fh;
}

sub _behaviour {
    my ($self) = @_;

    open(my $fh, '<', $self->{behaviour}) or return {};
    local $/;
    my $text = <$fh>;
    close $fh;
    my $b = eval { JSON::PP->new->utf8->decode($text) };
    return $b if ref $b eq 'HASH';
    return { status => 500,
             body => "mock: bad $self->{behaviour}: " . ($@ || 'not an object'),
             content_type => 'text/plain' };
}

# Answers one request; returns 1 to keep the connection open.
sub _respond {
    my ($self, $sock, $req) = @_;
    my $b = $self->_behaviour;

    my ($id) = ($req->{target} // '')
        =~ m{/api/v202106/reportdistribution/([^/?]*)/exec}i;

    return 0 if $b->{close_without_response};

    my $status = $b->{status} // 200;
    my $body;
    if (!exists $b->{body}) {
        $body = default_body($id);
    } elsif (ref $b->{body}) {
        $body = JSON::PP->new->canonical->encode($b->{body});
    } else {
        $body = $b->{body} // '';
    }
    # an upstream that reflects the key: %KEY% is the ECI-ApiKey received
    my ($key) = header_values($req, 'ECI-ApiKey');
    $key //= '';
    my $fill = sub {
        my ($s) = @_;
        return $s unless defined $s;
        $s =~ s{%ID%}{$id // ''}ge;
        # %KEY:OFF% and %KEY:OFF:LEN%: a piece of it (substr)
        $s =~ s{%KEY(?::([0-9]+)(?::([0-9]+))?)?%}
               {defined $1 ? (defined $2 ? substr($key, $1, $2)
                                         : substr($key, $1))
                           : $key}ge;
        return $s;
    };

    # body_parts: the body in these pieces, one write (or chunk) each
    my @parts = map { my $p = $fill->($_); utf8::encode($p); $p }
                @{ $b->{body_parts} || [] };
    $body = join '', @parts if @parts;
    $body = $fill->($body);
    utf8::encode($body) unless @parts;
    $body = '' if ($req->{method} // '') eq 'HEAD';

    my $ctype = exists $b->{content_type} ? $fill->($b->{content_type})
                                          : 'application/json; charset=utf-8';

    my $version = $req->{http_version} // '';
    my ($conn_hdr) = header_values($req, 'Connection');
    $conn_hdr //= '';
    my $keep = $version eq 'HTTP/1.1' ? $conn_hdr !~ /\bclose\b/i
                                      : $conn_hdr =~ /\bkeep-alive\b/i;
    $keep = 0 if $b->{close_mid_body};

    my $reason = $fill->($b->{reason}) // $REASON{$status} // 'Status';
    my $head = "HTTP/1.1 $status $reason\r\n";
    $head .= "Content-Type: $ctype\r\n" if defined $ctype && $ctype ne '';
    if ($b->{chunked}) {
        $head .= "Transfer-Encoding: chunked\r\n";
    } else {
        $head .= "Content-Length: " . length($body) . "\r\n";
    }
    if (!$keep) {
        $head .= "Connection: close\r\n";
    } elsif ($version ne 'HTTP/1.1') {
        $head .= "Connection: keep-alive\r\n";
    }
    for my $h (@{ $b->{headers} || [] }) {
        my ($n, $v) = map { $fill->($_) } @$h;
        utf8::encode($v) if defined $v;
        $head .= "$n: " . ($v // '') . "\r\n";
    }
    $head .= "\r\n";

    Time::HiRes::sleep($b->{delay}) if $b->{delay};

    if (@parts && ($req->{method} // '') ne 'HEAD') {
        _write($sock, $head) or return 0;
        for my $i (0 .. $#parts) {
            Time::HiRes::sleep($b->{body_delay}) if $b->{body_delay};
            my $p = $parts[$i];
            $p = sprintf("%x\r\n%s\r\n", length $p, $p)
                if $b->{chunked} && length $p;
            _write($sock, $p) or return 0;
        }
        _write($sock, "0\r\n\r\n") or return 0 if $b->{chunked};
        return $keep;
    }

    # head and body in one write: as a real server does, and no Nagle wait
    if (!$b->{chunked} && !$b->{close_mid_body}) {
        _write($sock, $head . $body) or return 0;
        return $keep;
    }

    _write($sock, $head) or return 0;

    if ($b->{close_mid_body}) {
        my $half = substr($body, 0, int(length($body) / 2));
        $half = sprintf("%x\r\n%s\r\n", length $half, $half)
            if $b->{chunked} && length $half;
        _write($sock, $half);
        return 0;
    }

    if (!$b->{chunked}) {
        _write($sock, $body) or return 0;
        return $keep;
    }

    # several chunks, so the client really has to reassemble them
    my $n    = length($body) < 4 ? length($body) : 4;
    my $size = $n ? int((length($body) + $n - 1) / $n) : 0;
    for (my $off = 0; $off < length $body; $off += $size) {
        my $piece = substr($body, $off, $size);
        _write($sock, sprintf("%x\r\n%s\r\n", length $piece, $piece))
            or return 0;
        Time::HiRes::sleep($b->{body_delay}) if $b->{body_delay};
    }
    _write($sock, "0\r\n\r\n") or return 0;
    return $keep;
}

sub _write {
    my ($sock, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        return 0 unless defined $n && $n > 0;
        $off += $n;
    }
    return 1;
}


# --- standalone: perl t/lib/MockEci.pm --port 9000 --record FILE ----------

sub main {
    my ($class, @argv) = @_;
    my %o;

    while (@argv) {
        my $a = shift @argv;
        if ($a =~ /^--(port|record|dir|behaviour|lifetime|idle)$/ && @argv) {
            $o{$1} = shift @argv;
        } elsif ($a =~ /^--(port|record|dir|behaviour|lifetime|idle)=(.*)$/) {
            $o{$1} = $2;
        } else {
            die "usage: $0 --port N [--record FILE] [--dir DIR]"
              . " [--behaviour FILE] [--lifetime SECONDS] [--idle SECONDS]\n";
        }
    }
    die "$0: --port is required\n" unless $o{port};
    $o{dir} //= defined $o{record} ? File::Basename::dirname($o{record}) : '.';
    $o{dir} = Cwd::abs_path($o{dir});

    my $self   = $class->new(%o);
    my $listen = $self->_listen;
    print STDERR "mock ECI listening on 127.0.0.1:$self->{port},"
        . " recording to $self->{record}\n";
    # exits, like the in-process server, when whoever started it is gone
    $self->_serve($listen, getppid());
    return 0;
}

__PACKAGE__->main(@ARGV) unless caller;

1;

__END__

=head1 NAME

MockEci - the mock ECI API upstream for the ngx_eci tests and demo

=head1 SYNOPSIS

    use MockEci;
    my $m = MockEci->new(port => $port, dir => $dir)->start;
    $m->set(status => 500, body => '{"error":"boom"}');
    ...
    my $req = $m->last_request;
    is($req->{request_line}, 'POST /api/v202106/reportdistribution/7/exec HTTP/1.0');
    is_deeply([MockEci::header_values($req, 'ECI-ApiKey')], ['k1']);
    $m->stop;

    # standalone (the demo):
    perl t/lib/MockEci.pm --port 9000 --record /tmp/mock-requests.jsonl

=head1 DESCRIPTION

A forking HTTP/1.1 server on 127.0.0.1 (one process per connection, with
keep-alive, Content-Length and chunked request bodies).  It is bounded: the
server exits after C<lifetime> seconds (300) or when the process that
started it is gone, and a connection is closed after C<idle> seconds (30)
without data.

=head1 METHODS

=over

=item MockEci->new(port => $port, dir => $dir, record => $file, behaviour => $file, lifetime => 300, idle => 30, watch => $file)

Only C<port> is required.  C<dir> defaults to the current directory;
C<record> to F<< <dir>/mock-requests.jsonl >>, C<behaviour> to
F<< <dir>/mock-behaviour.json >>.  With C<watch>, each request's record
has C<watched_size>: that file's size (0 if absent) when the request
arrived, so a test can tell what an append-only file held by then.

=item $m->start

Binds 127.0.0.1:port (so the port accepts when it returns), forks the
server, returns C<$m>.  A no-op while it runs.

=item $m->stop

Ends the server process it started (TERM, then KILL after 5 s); the server
ends its own connection processes.  Also called on DESTROY.

=item $m->port, $m->pid, $m->url, $m->record_file, $m->running

=item $m->requests

Every request received, oldest first, as hashrefs:

    { request_line => 'POST /x HTTP/1.0',  # as received, without CRLF
      method, target, http_version,
      headers  => [[name, value], ...],    # received order, original case
      body     => $bytes,                  # chunked bodies are decoded
      raw_head => $bytes,                  # request line + headers + CRLF CRLF
      time     => $epoch_float,
      connection => $id, seq => $n,        # same connection id: keep-alive
      watched_size => $bytes }             # with watch only

The file holds one JSON line per request, appended under flock; strings are
the exact bytes received.

=item $m->last_request

The newest record, or undef.

=item $m->clear

Empties the record file.

=item MockEci::header_values($req, $name)

The values of every header named C<$name> (case-insensitive), in order.

=item $m->set(%behaviour), $m->reset

C<set> replaces the behaviour file, read at each request; C<reset> removes
it, restoring the defaults.  Keys:

    status                  200
    reason                  the status line's reason phrase (OK, ...)
    body                    a ReportDistributionLogResponse for the id in
                            /api/v202106/reportdistribution/<id>/exec
                            (reportDistributionLogId 1000+id, status
                            "Complete"); a string (%ID% is replaced by the
                            path id) or a hash/array ref (sent as JSON);
                            sent UTF-8 encoded
    content_type            "application/json; charset=utf-8"; undef: none
    headers                 [[name, value], ...] extra response headers
    body_parts              [string, ...]: the body in these pieces, one
                            write each (one chunk each when chunked),
                            body_delay before each
    chunked                 1: Transfer-Encoding: chunked, several chunks
    delay                   seconds to wait before the response headers
    body_delay              seconds to wait after each chunk (before each
                            of body_parts)
    close_mid_body          send the headers and half the body, then close
    close_without_response  read the request, record it, close

In body, body_parts, reason, content_type and headers (names and values),
%KEY% is the value of the ECI-ApiKey request header the mock received (an
upstream that reflects the key); %KEY:OFF% and %KEY:OFF:LEN% are pieces
of it, as substr() takes them.

=item MockEci::default_body($id)

The default response body for a path id.

=back

=head1 STANDALONE

    perl t/lib/MockEci.pm --port N [--record FILE] [--dir DIR]
        [--behaviour FILE] [--lifetime SECONDS] [--idle SECONDS]

Serves in the foreground until killed, C<lifetime> passes, or its parent
process is gone.  C<dir> defaults to the directory of C<--record>, else the
current directory.

=cut
