#!/usr/bin/perl

# The Debian package on a machine with Debian's nginx: apt-get installs it,
# nginx -t passes with README.md's example configuration, apt-get remove
# takes the module out of nginx again and purge leaves nothing behind.
#
# It changes the system, so it runs only as root with ECI_TEST_DEB=1
# (make test-deb builds the package and does that).

use strict;
use warnings;

use File::Path qw(make_path);
use File::Spec;
use File::Temp qw(tempdir);
use FindBin;
use lib "$FindBin::Bin/lib";
use IPC::Open3 qw(open3);
use Symbol qw(gensym);
use Test::More;
use EciTest ();

plan(skip_all => 'changes the system: run as root with ECI_TEST_DEB=1 '
                 . '(make test-deb)')
    unless $> == 0 && ($ENV{ECI_TEST_DEB} // '') eq '1';

my $PKG = 'libnginx-mod-http-eci';
my $SO = '/usr/lib/nginx/modules/ngx_http_eci_module.so';
my $SNIPPET = '/usr/share/nginx/modules-available/mod-http-eci.conf';
my $LINK = '/etc/nginx/modules-enabled/50-mod-http-eci.conf';
my $NGINX = '/usr/sbin/nginx';

my $root = File::Spec->rel2abs(File::Spec->catdir($FindBin::Bin,
                                                  File::Spec->updir));
my @debs = glob("$root/build/${PKG}_*.deb");

plan(skip_all => "no build/${PKG}_*.deb (make deb)") unless @debs;
BAIL_OUT("several packages in build/: @debs") if @debs > 1;
my $deb = $debs[0];

$ENV{DEBIAN_FRONTEND} = 'noninteractive';

# runs a command (no shell); returns its exit status and its stdout+stderr
sub run {
    my (@cmd) = @_;

    my $pid = open3(my $in, my $out, undef, @cmd);
    close($in);
    my $text = do { local $/; <$out> } // '';
    waitpid($pid, 0);

    return ($? >> 8, $text);
}

sub status {
    my ($rc, $out) = run('dpkg-query', '-W', '-f=${db:Status-Status}', $PKG);
    return $rc == 0 ? $out : 'not-installed';
}

sub installed { return status() eq 'installed'; }

# installed, or anything half-way (unpacked, half-configured, config-files)
sub present { return status() ne 'not-installed'; }


sub spew {
    my ($file, $text) = @_;

    open(my $fh, '>', $file) or die "$file: $!";
    print $fh $text;
    close($fh) or die "$file: $!";
}

my ($rc, $out);

($rc, $out) = run('dpkg-query', '-W', '-f=${Provides}', 'nginx');
plan(skip_all => "Debian's nginx is not installed") if $rc != 0;
my ($abi) = $out =~ /\b(nginx-abi-\S+?)(?:,|\s|$)/;

# start from a machine without the package (a previous run may have failed)
run('apt-get', 'purge', '-y', $PKG) if present();

# a failure half-way must not leave the module in the system's nginx
END { local $?; run('apt-get', 'purge', '-y', $PKG) if present(); }


# --- the package itself ---------------------------------------------------

($rc, $out) = run('dpkg-deb', '--field', $deb, 'Depends');
like($out, qr/(?:^|,\s*)\Q$abi\E(?:,|\s|$)/,
     "the package depends on the ABI of the installed nginx ($abi)")
    if defined $abi;
like($out, qr/\blibjansson4\b/, 'and on libjansson4');
like($out, qr/\blibssl3\b/, 'and on libssl3');


# --- install ---------------------------------------------------------------

($rc, $out) = run('apt-get', 'install', '-y', $deb);
is($rc, 0, 'apt-get install ./' . ($deb =~ s{.*/}{}r) . ' succeeds')
    or diag $out;
ok(installed(), "dpkg says $PKG is installed");

ok(-f $SO, "the module is in /usr/lib/nginx/modules");
is((stat $SO)[2] & 07777, 0644, 'mode 0644');
is(-f $SNIPPET ? EciTest::slurp($SNIPPET) : undef,
   "load_module modules/ngx_http_eci_module.so;\n",
   'modules-available has the load_module snippet');
is(readlink($LINK), $SNIPPET, 'modules-enabled links to it');

for my $tool (qw(eci-keytool eci-audit eci-acl)) {
    ok(-x "/usr/bin/$tool", "/usr/bin/$tool is installed");
    ($rc, $out) = run("/usr/bin/$tool", '--help');
    is($rc, 0, "$tool --help runs") or diag $out;
    ok(-f "/usr/share/man/man1/$tool.1.gz", "$tool has a man page");
}

my $doc = "/usr/share/doc/$PKG";
ok(-f "$doc/$_", "$doc/$_ is installed")
    for qw(README.md copyright changelog.Debian.gz docs/directives.md
           docs/deployment.md);

($rc, $out) = run($NGINX, '-t');
is($rc, 0, "nginx -t of Debian's configuration passes with the module "
           . 'loaded through modules-enabled')
    or diag $out;


# --- README.md's example configuration --------------------------------------

my $readme = EciTest::slurp("$root/README.md");
my ($example) = $readme =~ /^## Example configuration\n.*?^```nginx\n(.*?)^```/ms;
my ($acl) = $readme =~ /^```json\n(.*?)^```/ms;
ok(defined $example, 'README.md has an nginx example configuration');
ok(defined $acl, 'and a JSON ACL');

my $dir = tempdir('eci-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);
make_path("$dir/eci", "$dir/tls");

# what the example refers to, made in the temp dir: keystore, ACL, the
# gateway's certificate and the callers' CA (self-signed)
my $conf = $example // '';
$conf =~ s{/etc/nginx/eci/}{$dir/eci/}g;
$conf =~ s{/etc/nginx/tls/}{$dir/tls/}g;
$conf =~ s{/var/log/nginx/eci-audit\.log}{$dir/eci-audit.log}g;

# nginx -t resolves upstream server names: eci.example.com does not exist
$conf =~ s{^(\s*server\s+)eci\.example\.com\b}{${1}127.0.0.1}mg;

# the system CA bundle, unless this machine has none (no ca-certificates)
$conf =~ s{/etc/ssl/certs/ca-certificates\.crt}{$dir/tls/callers-ca.crt}g
    unless -f '/etc/ssl/certs/ca-certificates.crt';

# the example shows the parts that matter to the gateway; a whole
# nginx.conf also needs an events block
$conf .= "\nevents {}\n" unless $conf =~ /^\s*events\s*\{/m;

unlike($conf, qr{/etc/nginx/(?:eci|tls)/}, 'every file the example names '
                                          . 'is made in a temp dir');

($rc, $out) = run('/usr/bin/eci-keytool', 'genmaster', "$dir/eci/master.key");
is($rc, 0, 'eci-keytool genmaster') or diag $out;
spew("$dir/key", 'sk-test-0123456789');
($rc, $out) = run('sh', '-c', 'exec /usr/bin/eci-keytool set "$1" '
                  . '--master "$2" --name default < "$3"', 'sh',
                  "$dir/eci/keys.sealed", "$dir/eci/master.key", "$dir/key");
is($rc, 0, 'eci-keytool set') or diag $out;

spew("$dir/eci/acl.json", $acl // '');

for my $cert (qw(gateway callers-ca)) {
    ($rc, $out) = run('openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                      '-nodes', '-days', '2', '-subj', "/CN=$cert",
                      '-keyout', "$dir/tls/$cert.key",
                      '-out', "$dir/tls/$cert.crt");
    is($rc, 0, "openssl makes $cert.crt") or diag $out;
}

spew("$dir/nginx.conf", $conf);

($rc, $out) = run($NGINX, '-t', '-c', "$dir/nginx.conf");
is($rc, 0, "nginx -t passes with README.md's example configuration")
    or diag "$out\n--- nginx.conf\n$conf";
like($out, qr/test is successful/, 'and says so');


# --- remove and purge --------------------------------------------------------

($rc, $out) = run('apt-get', 'remove', '-y', $PKG);
is($rc, 0, "apt-get remove $PKG succeeds") or diag $out;
ok(!installed(), 'the package is no longer installed');
ok(!-e $SO, 'the module is gone');
ok(!-e $SNIPPET, 'the load_module snippet is gone');
ok(!-e $LINK && !-l $LINK, 'the modules-enabled link is gone');
ok(!-e "/usr/bin/$_", "/usr/bin/$_ is gone") for qw(eci-keytool eci-audit eci-acl);

($rc, $out) = run($NGINX, '-t');
is($rc, 0, "nginx -t of Debian's configuration passes without the module")
    or diag $out;

# as Debian's libnginx-mod-*: remove parks the link, so a reinstall enables
# the module again; purge deletes it
ok(-l "$LINK.removed", 'remove parks the link as *.removed');
($rc, $out) = run('apt-get', 'purge', '-y', $PKG);
is($rc, 0, "apt-get purge $PKG succeeds") or diag $out;
ok(!-e "$LINK.removed" && !-l "$LINK.removed", 'purge deletes it');

done_testing;
