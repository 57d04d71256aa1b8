# Nothing changes for the rest of the server: with the module loaded,
# eci_keystore at http level and one eci_gateway location, every other
# location answers byte for byte as the same server without the module
# (no load_module, no eci_* directive): proxy_pass, static files, gzip,
# error_page, an SSI include and an auth_request subrequest,
# add_after_body, return, over HTTP/1.1 and HTTP/2.  Their upstream gets
# the same request, the access log (variables of both sides) the same
# line, and the error log no line of the module's.  With eci_keystore and
# no gateway location at all, no phase handler of the module runs either
# (nginx --with-debug logs each one it runs).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes ();
use EciTest;
use MockEci;

my $KEY = 'eci-noop-key-5be1d7f0';

my $NGHTTP = $ENV{ECI_TEST_NGHTTP} // 'nghttp';
my $HAVE_NGHTTP = system("$NGHTTP --version >/dev/null 2>&1") == 0;

# the same mtime on both sides: Last-Modified and ETag come from it
my $MTIME = 1_700_000_000;

my %FILES = (
    'html/static/a.txt'     => "static file\n",
    'html/static/after.txt' => "added after\n",
    'html/gz/big.txt'       => ("compress me, " x 200) . "\n",
    'html/err/404.html'     => "<p>our own 404</p>\n",
    'html/ssi/page.html'    => "before <!--# include virtual=\"/proxy/"
                               . "ssi-part\" --> after\n",
    'html/add/page.txt'     => "the page\n",
    'html/auth/ok.txt'      => "behind auth_request\n",
);

# with: 0 no module, 1 the module, eci_keystore and a gateway location,
# 2 the module and eci_keystore only
sub server {
    my ($with) = @_;
    my $t = EciTest->new;

    for my $f (sort keys %FILES) {
        my $p = $t->write_file($f, $FILES{$f});
        utime($MTIME, $MTIME, $p) or die "utime $p: $!\n";
    }

    my ($http, $gateway) = ('', '');
    if ($with) {
        my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
        my $acl = $t->write_acl({ principals => { alice => {
            permissions => ['DistributedReportsSettings (Manage)'],
            reportDistributionIds => '*' } } });
        $http = "eci_keystore $store master=$master;";
        $gateway = $with == 2 ? '' : <<"EOF";
        location /api/ {
            ${\ EciTest::gateway_location($acl) }
        }
EOF
    }

    $t->write_config(EciTest::conf_head(module => $with ? 1 : 0) . <<"EOF");
http {
    log_format  vars  '\$request \$status \$body_bytes_sent '
                      '"\$http_eci_apikey" "\$http_authorization" '
                      '"\$http_x_caller" "\$sent_http_x_request_id" '
                      '"\$sent_http_content_encoding" \$request_length';
    access_log  %%DIR%%/access.log vars;
    client_body_temp_path %%DIR%%/tmp;
    proxy_temp_path %%DIR%%/tmp;
    gzip_types  text/plain;
    root        %%DIR%%/html;

    $http

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT1%% http2;
        error_log %%DIR%%/debug.log debug;

        location /static/ { }

        location /gz/ {
            gzip            on;
            gzip_min_length 1;
        }

        location /err/ {
            error_page 404 /err/404.html;
        }

        location /ssi/ {
            ssi on;
        }

        location /add/ {
            add_after_body /static/after.txt;
        }

        location /auth/ {
            auth_request /proxy/auth-check;
        }

        location /proxy/ {
            proxy_pass http://127.0.0.1:%%MOCK%%;
        }

        location = /ret {
            return 201 "returned\\n";
        }

$gateway
    }
}
EOF
    $t->start;
    return $t;
}

my $a = server(1);
my $b = server(0);
my $k = server(2);    # keystore only

# what each error log says from here on (startup aside)
my %log_start = map { $_ => length($_->error_log) } $a, $b, $k;

# the same requests, each with the key header and credentials a caller
# might send anywhere
my @caller = ('ECI-ApiKey' => 'caller-key', 'ECI_ApiKey' => 'caller-key-2',
              'Authorization' => 'Basic eDp5', 'X-Caller' => 'alice',
              'Accept-Encoding' => 'gzip');
my @cases = (
    ['GET',  '/static/a.txt'],
    ['HEAD', '/static/a.txt'],
    ['GET',  '/static/missing.txt'],
    ['GET',  '/gz/big.txt'],
    ['GET',  '/err/missing.html'],
    ['GET',  '/ssi/page.html'],
    ['GET',  '/add/page.txt'],
    ['GET',  '/auth/ok.txt'],
    ['GET',  '/proxy/some/thing?x=1'],
    ['POST', '/proxy/post', body => '{"a":1}'],
    ['GET',  '/ret'],
);

# what may differ: the time, and the port in what names the server
sub same_bytes {
    my ($raw) = @_;
    $raw //= '';
    $raw =~ s/^Date: [^\r\n]*\r\n//mg;
    return $raw;
}

for my $c (@cases) {
    my ($method, $uri, %o) = @$c;
    my $what = "$method $uri";
    $_->mock->clear for $a, $b;

    my $ra = $a->request($method, $uri, headers => [@caller], %o);
    my $rb = $b->request($method, $uri, headers => [@caller], %o);

    ok(defined $ra->{status}, "$what: answered ($ra->{status})");
    is(same_bytes($ra->{raw}), same_bytes($rb->{raw}),
       "$what: the response is byte for byte that without the module");
    ok(!exists $ra->{headers}{'x-request-id'}, "$what: no X-Request-Id");

    my @ua = map { upstream_view($_) } $a->mock->requests;
    my @ub = map { upstream_view($_) } $b->mock->requests;
    is_deeply(\@ua, \@ub, "$what: the upstream got the same requests ("
              . scalar(@ua) . ')');

    my $rk = $k->request($method, $uri, headers => [@caller], %o);
    is(same_bytes($rk->{raw}), same_bytes($rb->{raw}),
       "$what: the same with eci_keystore and no gateway location");
}

# nginx --with-debug logs a line for each phase handler it runs: with no
# gateway location anywhere the module adds none, with one it adds its
# pre-content and log handlers, which return at once here
SKIP: {
    my $count = sub {
        my $log = EciTest::_slurp($_[0]->path('debug.log')) // '';
        return scalar(() = $log =~ /generic phase: /g);
    };
    skip 'nginx without --with-debug', 1 unless $count->($b) > 0;
    is($count->($k), $count->($b),
       'no gateway location: no phase handler of the module runs');
}

# request line, headers (the Host's port aside) and body as received
sub upstream_view {
    my ($r) = @_;
    return [$r->{request_line},
            [map { lc $_->[0] eq 'host' ? ['Host', '(port)'] : $_ }
             @{ $r->{headers} }],
            $r->{body}];
}

SKIP: {
    skip 'nghttp is needed (apt-get install nghttp2-client)', 3 * 4
        unless $HAVE_NGHTTP;

    for my $uri ('/static/a.txt', '/gz/big.txt', '/err/missing.html',
                 '/proxy/h2')
    {
        my ($ha, $ba) = h2($a, $uri);
        my ($hb, $bb) = h2($b, $uri);
        ok(@$ha > 0, "HTTP/2 $uri: answered");
        is_deeply($ha, $hb, "HTTP/2 $uri: the same header fields");
        is($ba, $bb, "HTTP/2 $uri: the same body");
    }
}

# HTTP/2 header fields (name, value; date aside) and body of one request
sub h2 {
    my ($t, $uri) = @_;
    my @cmd = ($NGHTTP, '-v', '-H', 'eci-apikey: caller-key',
               '-H', 'authorization: Basic eDp5', '-H', 'x-caller: alice',
               '-H', 'accept-encoding: gzip',
               'http://127.0.0.1:' . $t->port(1) . $uri);
    open(my $fh, '-|', @cmd) or die "$NGHTTP: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my @h = grep { $_->[0] ne 'date' }
            map { [/recv \(stream_id=\d+\) ([^:\s]+|:\w+): (.*)$/] }
            grep { /recv \(stream_id=\d+\) / } split /\n/, $out;

    splice(@cmd, 1, 1);
    open($fh, '-|', @cmd) or die "$NGHTTP: $!";
    my $body = do { local $/; <$fh> } // '';
    close $fh;
    return (\@h, $body);
}

# the gateway itself still works beside them
{
    my $r = $a->request('POST', '/api/v202106/reportdistribution/7/exec',
                        headers => ['X-Caller' => 'alice']);
    is($r->{status}, 200, 'the gateway location beside them serves an exec');
    like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-f]{32}\z/,
         'and stamps its X-Request-Id');
}

sub access_lines {
    my ($t) = @_;
    open(my $fh, '<', $t->path('access.log')) or return ();
    return grep { !m{ /api/} } map { chomp; $_ } <$fh>;
}

# the access log is written at the end of a request: wait for the last
Time::HiRes::sleep(0.2);
my @la = access_lines($a);
my @lb = access_lines($b);
ok(scalar @la >= scalar @cases, 'the access log has every request');
is_deeply(\@la, \@lb,
          'the access log lines (variables of both sides) are the same');

# the lines without time, pid, connection number, ports and test dir
sub log_since {
    my ($t) = @_;
    my @l = split /\n/, substr($t->error_log, $log_start{$t});
    for (@l) {
        s/^\S+ \S+ (\[\w+\]) \d+#\d+: (?:\*\d+ )?/$1 /;
        s/127\.0\.0\.1:\d+/127.0.0.1:(port)/g;
        s/\Q$t->{dir}\E/(dir)/g;
    }
    return grep { !m{ /api/} } @l;
}
my @ea = log_since($a);
# the module's own lines start "eci: "
is_deeply([grep { /\beci: / } @ea], [],
          'the error log has no line of the module for these requests');
is_deeply(\@ea, [log_since($b)],
          'the error log says the same as without the module');

$_->done for $a, $b, $k;
done_testing;
