#!/usr/bin/perl
# make demo: a demo master key, sealed keystore and ACL under run/, a mock
# ECI upstream, and nginx with the module on 127.0.0.1:8080 in the
# foreground.  Ctrl-C stops everything it started.

use strict;
use warnings;

use Cwd ();
use File::Basename ();
use File::Path ();
use POSIX ();

# the instructions appear as soon as nginx is up, also through a pipe or
# into a file (block buffering would hold them until the demo exits)
$| = 1;

my $ROOT = Cwd::abs_path(File::Basename::dirname(__FILE__) . '/..');
my $RUN = $ENV{ECI_DEMO_RUN} || "$ROOT/run";
my $PORT = $ENV{ECI_DEMO_PORT} || 8080;
my $MOCK_PORT = $ENV{ECI_DEMO_MOCK_PORT} || 8081;
my $NGINX = $ENV{ECI_DEMO_NGINX} || '/usr/sbin/nginx';
my $KEYTOOL = $ENV{ECI_DEMO_KEYTOOL} || "$ROOT/build/eci-keytool";
my $MODULE = $ENV{ECI_DEMO_MODULE} || "$ROOT/build/ngx_http_eci_module.so";

# the demo key is not a secret; a real one never goes on a command line
my $DEMO_KEY = 'demo-eci-api-key-not-a-secret';

die "demo: build first (make)\n" unless -x $KEYTOOL && -f $MODULE;

File::Path::remove_tree($RUN);
File::Path::make_path("$RUN/tmp", "$RUN/logs");
chmod 0755, $RUN;

system($KEYTOOL, 'genmaster', "$RUN/master.key") == 0
    or die "demo: eci-keytool genmaster failed\n";

open(my $kt, '|-', $KEYTOOL, 'set', "$RUN/keys.sealed",
     '--master', "$RUN/master.key", '--name', 'default')
    or die "demo: cannot run eci-keytool: $!\n";
print $kt $DEMO_KEY;
close($kt) or die "demo: eci-keytool set failed\n";

write_file("$RUN/acl.json", <<'JSON');
{
  "principals": {
    "svc-reporting": {
      "permissions": ["DistributedReportsSettings (Manage)"],
      "reportDistributionIds": "*",
      "overrideUserIds": [7, 8]
    },
    "bi-batch": { "groups": ["report-operators"] }
  },
  "groups": {
    "report-operators": {
      "permissions": ["DistributedReportsSettings (Manage)"],
      "reportDistributionIds": [1, 2, 42]
    }
  }
}
JSON

write_file("$RUN/nginx.conf", <<"CONF");
load_module $MODULE;
user root;
daemon off;
worker_processes 1;
error_log $RUN/logs/error.log info;
pid $RUN/nginx.pid;
events { worker_connections 256; }

http {
    access_log $RUN/logs/access.log;
    client_body_temp_path $RUN/tmp;
    proxy_temp_path $RUN/tmp;

    eci_keystore $RUN/keys.sealed master=$RUN/master.key;

    upstream eci {
        server 127.0.0.1:$MOCK_PORT;
        keepalive 4;
    }

    server {
        listen 127.0.0.1:$PORT;

        location /api/ {
            eci_gateway   on;
            # demo only: trusting a caller-set header is for a front end
            # you control; use \$ssl_client_s_dn or \$remote_user in earnest
            eci_principal \$http_x_caller;
            eci_acl       $RUN/acl.json;
            eci_audit_log $RUN/logs/eci-audit.log;

            proxy_pass http://eci;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF

my @pids;

$SIG{INT} = $SIG{TERM} = sub {
    kill 'QUIT', @pids;
    print "\ndemo: stopped\n";
    exit 0;
};

my $mock = fork() // die "demo: fork: $!\n";
if ($mock == 0) {
    exec($^X, "$ROOT/t/lib/MockEci.pm", '--port', $MOCK_PORT,
         '--dir', $RUN, '--lifetime', 3600, '--idle', 60);
    die "demo: cannot start the mock ECI: $!\n";
}
push @pids, $mock;

system($NGINX, '-t', '-q', '-p', "$RUN/", '-c', "$RUN/nginx.conf") == 0
    or do { kill 'TERM', @pids; die "demo: nginx -t failed\n" };

my $nginx = fork() // die "demo: fork: $!\n";
if ($nginx == 0) {
    exec($NGINX, '-p', "$RUN/", '-c', "$RUN/nginx.conf");
    die "demo: cannot start nginx: $!\n";
}
push @pids, $nginx;

sleep 1;

my $base = "http://127.0.0.1:$PORT/api/v202106/reportdistribution";
print <<"TEXT";

ngx_eci demo: nginx on 127.0.0.1:$PORT, mock ECI on 127.0.0.1:$MOCK_PORT
(files in $RUN; the demo trusts an X-Caller header as the principal)

Allowed: svc-reporting runs distribution 42 and sends it to user 7
  curl -si -X POST -H 'X-Caller: svc-reporting' -H 'Content-Type: application/json' '$base/42/exec?overrideUserIds=7'

Denied: bi-batch may not run distribution 9 (403)
  curl -si -X POST -H 'X-Caller: bi-batch' '$base/9/exec'

Denied: a caller-supplied key is never forwarded, and overrides are opt-in
  curl -si -X POST -H 'X-Caller: bi-batch' -H 'ECI-ApiKey: mine' '$base/42/exec?overrideUserIds=7'

The audit lines (one JSON line per request):
  tail -f $RUN/logs/eci-audit.log

What the mock ECI received (note the injected ECI-ApiKey):
  tail -n 1 $RUN/mock-requests.jsonl

Ctrl-C stops nginx and the mock.
TEXT

waitpid($nginx, 0);
kill 'TERM', $mock;
waitpid($mock, 0);

sub write_file {
    my ($path, $content) = @_;
    open(my $fh, '>', $path) or die "demo: $path: $!\n";
    print $fh $content;
    close($fh) or die "demo: $path: $!\n";
}
