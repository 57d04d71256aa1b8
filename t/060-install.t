# make install puts the module, eci-keytool and a load_module snippet where
# Debian's nginx expects them (into a DESTDIR here).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use File::Compare ();
use File::Temp ();
use Test::More;

my $root = "$FindBin::Bin/..";
my $dest = File::Temp->newdir;

my $out = `make -s -C $root install DESTDIR=$dest 2>&1`;
is($?, 0, 'make install succeeds') or diag $out;

my $so = "$dest/usr/lib/nginx/modules/ngx_http_eci_module.so";
ok(-f $so, 'the module is in /usr/lib/nginx/modules');
# make test NGINX_SRC=... builds (and installs) the module for that nginx
my $built = $ENV{ECI_TEST_BUILD} ? "$ENV{ECI_TEST_BUILD}/ngx_http_eci_module.so"
                                 : "$root/build/ngx_http_eci_module.so";
is(File::Compare::compare($so, $built), 0, 'and is the module just built');
is((stat $so)[2] & 07777, 0644, 'mode 0644');

ok(-x "$dest/usr/bin/eci-keytool", 'eci-keytool is installed executable');

my $snippet = "$dest/usr/share/nginx/modules-available/mod-http-eci.conf";
open(my $fh, '<', $snippet) or die "$snippet: $!";
my $text = do { local $/; <$fh> };
is($text, "load_module modules/ngx_http_eci_module.so;\n",
   'modules-available has the load_module snippet');

my $link = "$dest/etc/nginx/modules-enabled/50-mod-http-eci.conf";
is(readlink($link), '/usr/share/nginx/modules-available/mod-http-eci.conf',
   'modules-enabled links to it, as Debian does');

done_testing;
