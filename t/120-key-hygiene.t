# Key hygiene: the key is invisible to $http_eci_apikey (so no log_format or
# add_header can print it), locked in each worker's memory, kept out of
# core dumps, and wiped from the upstream request after use: a core of a
# worker that has proxied execs does not contain it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp ();
use Test::More;
use EciTest;

my $KEY = 'eci-hygiene-key-' . join('', map { ('a' .. 'z')[rand 26] } 1 .. 24);
# The audit signing key (an Ed25519 private key): in the keystore as hex,
# in the gateway's secret memory as its 32 bytes.  Whoever has it can sign
# forged audit lines.
my $SIGNING = join('', map { sprintf '%02x', int rand 256 } 1 .. 32);
my $SIGNING_RAW = pack('H*', $SIGNING);

my $t = EciTest->new;
$t->requires_master if $t->can('requires_master');

my $gcore = `command -v gcore 2>/dev/null`;
chomp $gcore;
plan skip_all => 'gcore (gdb) is not installed' unless $gcore;

# a plain store: the signing key must be known here, and eci-keytool
# neither prints keys nor sets the audit's own by name
my ($store) = $t->make_keystore(sealed => 0,
                                keys => { default => $KEY,
                                          'audit-signing' => $SIGNING });
my $acl = $t->write_acl({
    principals => {
        'principal-marker-5f1c' => EciTest::grant('*'),
    },
});

$t->write_config($t->gateway_config($acl,
    http => q{log_format leaky '$request_id key=[$http_eci_apikey]';},
    access_log => '%%DIR%%/access.log leaky',
    directives => 'add_header X-Leak "[$http_eci_apikey]" always;'));

$t->start;

my @r = map {
    $t->request('POST', "/api/v202106/reportdistribution/$_/exec",
                headers => ['X-Caller' => 'principal-marker-5f1c',
                            'ECI-ApiKey' => 'caller-sent-value'])
} 1 .. 5;

is_deeply([map { $_->{status} } @r], [(200) x 5], 'five execs served');
my @got = $t->mock->requests;
is_deeply([map { [MockEci::header_values($_, 'ECI-ApiKey')] } @got],
          [([$KEY]) x 5], 'each went upstream with exactly the key');

is($r[0]{headers}{'x-leak'}, '[]',
   'add_header with $http_eci_apikey sees no key (and not the caller\'s)');
$t->wait_for_lines('audit.log', 10);
my $access = do { local (@ARGV, $/) = ($t->path('access.log')); <> };
like($access, qr/key=\[-?\]/, 'log_format with $http_eci_apikey logs nothing');
unlike($access, qr/\Q$KEY\E/, 'the key is not in the access log');

# --- the worker's memory ----------------------------------------------------

my ($worker) = $t->worker_pids;
ok($worker, 'a worker');

my $status = do { local (@ARGV, $/) = ("/proc/$worker/status"); <> };
my $smaps = do { local (@ARGV, $/) = ("/proc/$worker/smaps"); <> };
my @flags = $smaps =~ /^VmFlags:(.*)$/mg;

SKIP: {
    # ASan intercepts mlock() and does nothing
    skip 'mlock() is a no-op under AddressSanitizer', 2
        if $ENV{ECI_TEST_SANITIZER_DIR};

    my ($locked) = $status =~ /^VmLck:\s+(\d+) kB/m;
    cmp_ok($locked // 0, '>', 0,
           'the worker has locked memory (the keystore)');
    ok((grep { /\bdd\b/ && /\blo\b/ } @flags),
       'a mapping is both locked and excluded from core dumps');
}

ok((grep { /\bdd\b/ } @flags), 'a mapping is excluded from core dumps');

# A sanitizer build reserves terabytes of address space: its core would
# fill the disk, so the dump is made only of an ordinary worker.
my ($vmsize) = $status =~ /^VmSize:\s+(\d+) kB/m;
my $dumpable = !$ENV{ECI_TEST_SANITIZER_DIR} && ($vmsize // 0) < 4 * 1024 * 1024;

my $dir = File::Temp->newdir;
my ($core, $out);

if ($dumpable) {
    $out = `$gcore -o $dir/core $worker 2>&1`;
    ($core) = glob("$dir/core*");
}

SKIP: {
    skip "no core of a sanitizer build (VmSize $vmsize kB)", 5
        unless $dumpable;

    ok($core && -s $core, 'gcore dumped the worker') or diag $out;

    open(my $fh, '<:raw', $core) or die "$core: $!";
    my $found_key = 0;
    my $found_marker = 0;
    my $found_signing = 0;
    my $buf = '';
    # every 12-byte window, not only the whole key: a freed chunk has its
    # first 16 bytes overwritten by the allocator, its tail stays.  The
    # windows keep a few bytes of the random part: the fixed prefix alone
    # is no key.
    my @key_win = windows($KEY, 'eci-hygiene-key-');
    while (read($fh, my $chunk, 1 << 20)) {
        $buf = substr($buf, -64) . $chunk;
        $found_key++ if grep { index($buf, $_) >= 0 } @key_win;
        $found_marker++ if index($buf, 'principal-marker-5f1c') >= 0;
        $found_signing++ for grep { index($buf, $_) >= 0 }
                                 $SIGNING, $SIGNING_RAW;
    }
    close $fh;

    ok($found_marker, 'the core holds the worker\'s data (the ACL principal '
       . 'is found: the search works)');
    is($found_key, 0, 'but not the key (no 12-byte window of it)');
    is($found_signing, 0, 'nor the audit signing key, in hex or raw');
    ok(-s $core > 1024 * 1024, 'a real core, not an empty file');
    unlink $core;
}

$t->done;

# the 12-byte windows of key that hold at least 4 bytes after prefix
sub windows {
    my ($key, $prefix) = @_;
    my $from = length($prefix) - 8;
    return map { substr($key, $_, 12) } $from .. length($key) - 12;
}
done_testing;
