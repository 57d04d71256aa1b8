#!/bin/sh
# make check-static: an nginx with ngx_eci built in (--add-module) shows the
# module in -V and accepts a gateway configuration (keystore, ACL, gateway
# location) with -t.  Usage: check-static.sh NGINX ECI-KEYTOOL
set -eu

nginx=$1
keytool=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$nginx" -V 2>&1 | tee "$dir/V"
grep -q -- '--add-module=' "$dir/V" \
    || { echo "check-static: $nginx -V shows no --add-module" >&2; exit 1; }

"$keytool" genmaster "$dir/master.key"
printf 'static-check-key-0001\n' \
    | "$keytool" set "$dir/keys.sealed" --master "$dir/master.key" \
                 --name default
cat > "$dir/acl.json" <<'ACL'
{ "principals": { "svc-static": {
    "permissions": ["DistributedReportsSettings (Manage)"],
    "reportDistributionIds": "*" } } }
ACL
cat > "$dir/nginx.conf" <<CONF
error_log $dir/error.log;
pid $dir/nginx.pid;
events { }
http {
    access_log $dir/access.log;
    eci_keystore $dir/keys.sealed master=$dir/master.key;
    server {
        listen 127.0.0.1:1;
        location /api/ {
            eci_gateway   on;
            eci_principal \$http_x_caller;
            eci_acl       $dir/acl.json;
            eci_audit_log $dir/audit.log;
            proxy_pass http://127.0.0.1:2;
        }
    }
}
CONF
"$nginx" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" -t
echo "check-static: ok"
