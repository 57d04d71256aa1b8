# The header paths nginx 1.23 reworked (ngx_table_elt_t.next, repeated
# headers joined in $http_*), over HTTP/1.1 and HTTP/2, with and without
# underscores_in_headers: repeated, differently spelled and comma-combined
# ECI-ApiKey headers all stay away from the upstream, which gets exactly
# the keystore's key; Authorization, once, combined or twice, never goes
# upstream (twice is nginx's 400); $http_eci_apikey and $http_authorization
# are empty in the gateway's log.  make test-versions runs this on 1.22.1
# and 1.26.3; where the versions differ on purpose (a repeated principal
# header), each gets its own expectation.  ngx_http_eci_compat.h lists the
# differences.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes ();
use EciTest;
use MockEci;

my $KEY  = 'eci-versions-key-7d3a9e51';
my $EXEC = '/api/v202106/reportdistribution/42/exec';

my $NGHTTP = $ENV{ECI_TEST_NGHTTP} // 'nghttp';
my $HAVE_NGHTTP = system("$NGHTTP --version >/dev/null 2>&1") == 0;

my $t = EciTest->new;

my ($ver) = `${\ $t->nginx_bin} -v 2>&1` =~ m{nginx/(\d+)\.(\d+)\.(\d+)}
    ? sprintf('%d%03d%03d', $1, $2, $3) : (0);
diag("nginx $ver");
my $JOINED = $ver >= 1023000;     # $http_* joins a repeated header

my ($store, $master) = $t->make_keystore(keys => { default => $KEY });
my $acl = $t->write_acl({ principals => { alice => EciTest::grant([42]) } });

# servers 0 and 1 HTTP/1.1, 2 and 3 HTTP/2; 1 and 3 with underscores
my $us = 'underscores_in_headers on;';
$t->write_config($t->http_config(
    http => <<'EOF',
log_format  keys  '$server_port $status "$http_eci_apikey" '
                  '"$http_authorization" "$http_x_caller"';
EOF
    access_log => '%%DIR%%/access.log keys',
    servers => [
        EciTest::gateway_server($acl),
        EciTest::gateway_server($acl, port => '%%PORT1%%', server => $us),
        EciTest::gateway_server($acl, port => '%%PORT2%%', listen => 'http2'),
        EciTest::gateway_server($acl, port => '%%PORT3%%', listen => 'http2',
                                server => $us),
    ]));
$t->start;
my $mock = $t->mock;
$mock->clear;
$t->write_file('body.json', '{}');

my @servers = ([0, 'HTTP/1.1'], [1, 'HTTP/1.1, underscores_in_headers on'],
               [2, 'HTTP/2'], [3, 'HTTP/2, underscores_in_headers on']);

# status of one exec with these headers (names as given over HTTP/1.1,
# lowercased over HTTP/2, as HTTP/2 requires)
sub exec42 {
    my ($server, @h) = @_;
    if ($server < 2) {
        return $t->request('POST', $EXEC, port => $t->port($server),
                           headers => [@h])->{status};
    }
    my @args;
    for (my $i = 0; $i < @h; $i += 2) {
        push @args, '-H', lc($h[$i]) . ": $h[$i + 1]";
    }
    open(my $fh, '-|', $NGHTTP, '-v', '-d', $t->path('body.json'), @args,
         'http://127.0.0.1:' . $t->port($server) . $EXEC)
        or die "$NGHTTP: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my ($status) = $out =~ /recv \(stream_id=\d+\) :status: (\d+)/;
    return $status;
}

sub forwarded {
    my @m = $mock->requests;
    $mock->clear;
    return @m;
}

sub key_values {
    my ($req) = @_;
    return map { $_->[1] }
           grep { my $n = lc $_->[0]; $n =~ tr/_/-/; $n eq 'eci-apikey' }
           @{ $req->{headers} };
}

my @key_cases = (
    ['ECI-ApiKey twice',      'ECI-ApiKey' => 'caller-a',
                              'ECI-ApiKey' => 'caller-b'],
    ['ECI-ApiKey, eci-apikey', 'ECI-ApiKey' => 'caller-a',
                              'eci-apikey' => 'caller-b'],
    ['a combined ECI-ApiKey', 'ECI-ApiKey' => 'caller-a, caller-b'],
    ['ECI_ApiKey and ECI-ApiKey', 'ECI_ApiKey' => 'caller-a',
                              'ECI-ApiKey' => 'caller-b'],
    ['ECI_ApiKey twice',      'ECI_ApiKey' => 'caller-a',
                              'eci_apikey' => 'caller-b'],
);

for my $s (@servers) {
    my ($server, $how) = @$s;
  SKIP: {
    skip "$how: nghttp is needed (apt-get install nghttp2-client)", 20
        if $server >= 2 && !$HAVE_NGHTTP;

    for my $c (@key_cases) {
        my ($what, @h) = @$c;
        my $status = exec42($server, 'X-Caller' => 'alice', @h);
        is($status, 200, "$how, $what: the exec is served");
        my @m = forwarded();
        is(scalar @m, 1, "$how, $what: forwarded once");
        is_deeply([key_values($m[0] || { headers => [] })], [$KEY],
                  "$how, $what: exactly the keystore's key went upstream");
    }

    for my $c (['Authorization', 'Authorization' => 'Basic YTpi'],
               ['a combined Authorization',
                'Authorization' => 'Basic YTpi, Bearer xyz'])
    {
        my ($what, @h) = @$c;
        is(exec42($server, 'X-Caller' => 'alice', @h), 200,
           "$how, $what: the exec is served");
        my @m = forwarded();
        is_deeply([map { MockEci::header_values($_, 'Authorization') } @m],
                  [], "$how, $what: not forwarded");
    }

    is(exec42($server, 'X-Caller' => 'alice',
              'Authorization' => 'Basic YTpi', 'Authorization' => 'Basic Yzpk'),
       400, "$how, Authorization twice: nginx refuses it (400)");
    is(scalar(my @m = forwarded()), 0,
       "$how, Authorization twice: nothing is forwarded");

    # nginx 1.23 joined repeated headers in $http_*: the principal too
    my $status = exec42($server, 'X-Caller' => 'alice',
                        'X-Caller' => 'mallory');
    my @f = forwarded();
    if ($JOINED) {
        is($status, 403, "$how, X-Caller twice: \"alice, mallory\" is no "
                         . 'principal on nginx >= 1.23 (403)');
        is(scalar @f, 0, "$how, X-Caller twice: nothing is forwarded");
    } else {
        is($status, 200, "$how, X-Caller twice: nginx 1.22's \$http_x_caller "
                         . 'is the first (alice)');
        is(scalar @f, 1, "$how, X-Caller twice: forwarded once");
    }
  }
}
$t->allow_log(qr/duplicate header line|invalid header/);

# access_log runs after the request: the last line may be a moment late
Time::HiRes::sleep(0.2);
my @log = split /\n/, EciTest::_slurp($t->path("access.log")) // "";
ok(scalar @log >= 10, 'the access log has the execs (' . scalar(@log) . ')');
# nginx refuses a repeated Authorization (400) before the gateway runs
is_deeply([grep { !/^\d+ 400 / && /caller-|Basic|Bearer|\Q$KEY\E/ } @log],
          [], '$http_eci_apikey and $http_authorization are empty in every '
              . 'line of an exec the gateway saw');

$t->done;
done_testing;
