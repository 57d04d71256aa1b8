#!/bin/sh
# Installs what ngx_eci needs to build and test, when missing and when run
# as root; otherwise says what is missing.  Debian/Ubuntu (apt-get).
set -eu

PKGS="nginx nginx-dev libjansson-dev libssl-dev gcc make perl \
libio-socket-ssl-perl clang libclang-rt-14-dev gdb openssl nghttp2-client"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "ngx_eci: missing packages:$missing" >&2
    echo "ngx_eci: run 'make deps' as root, or: apt-get install$missing" >&2
    exit 1
fi

echo "ngx_eci: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
