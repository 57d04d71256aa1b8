#!/usr/bin/perl

# make demo (tools/demo.pl): its instructions appear as soon as nginx is up,
# also when its output is a pipe, and the first of them works.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Select;
use Time::HiRes ();
use Test::More;
use EciTest;

my $t = EciTest->new;
my $root = EciTest->root;

plan skip_all => 'build first (make)'
    unless -x $t->keytool && -f $t->module_path;

my ($port, $mock) = ($t->port(0), $t->port(1));

local $ENV{ECI_DEMO_RUN} = $t->path('run');
local $ENV{ECI_DEMO_PORT} = $port;
local $ENV{ECI_DEMO_MOCK_PORT} = $mock;
# the nginx, module and eci-keytool the suite runs (make test-versions,
# make test-asan: another nginx and its own module)
local $ENV{ECI_DEMO_NGINX} = $t->nginx_bin;
local $ENV{ECI_DEMO_MODULE} = $t->module_path;
local $ENV{ECI_DEMO_KEYTOOL} = $t->keytool;

my $pid = open(my $out, '-|', $^X, "$root/tools/demo.pl")
    or die "cannot run tools/demo.pl: $!";

# the demo runs until it is stopped: read what it printed so far
my ($text, $sel) = ('', IO::Select->new($out));
my $deadline = Time::HiRes::time() + (EciTest->valgrind ? 60 : 15);
while ($text !~ /Ctrl-C stops nginx/ && Time::HiRes::time() < $deadline) {
    next unless $sel->can_read(0.2);
    sysread($out, my $buf, 4096) or last;
    $text .= $buf;
}

like($text, qr/ngx_eci demo: nginx on 127\.0\.0\.1:$port/,
     'the instructions come through a pipe while the demo runs');
like($text, qr/Ctrl-C stops nginx and the mock/, 'all of them');

my $r = $t->request('POST',
    '/api/v202106/reportdistribution/42/exec?overrideUserIds=7',
    port => $port,
    headers => ['X-Caller' => 'svc-reporting',
                'Content-Type' => 'application/json']);
is($r->{status}, 200, 'the first example is allowed');

kill 'TERM', $pid;
my $rest = do { local $/; <$out> } // '';
close $out;
like($rest, qr/demo: stopped/, 'TERM stops it');

done_testing;
