#!/bin/sh
# Installs what ngx_eci needs to build and test, when missing and when run
# as root; otherwise says what is missing.  Debian/Ubuntu (apt-get).
#
#   sh tools/install-deps.sh            make deps: as another user than
#                                       root, missing packages fail
#   sh tools/install-deps.sh --report   make test: as another user, name
#                                       them and what they are for, exit 0
#                                       (make test runs what it can)
#   sh tools/install-deps.sh --have PKG...   exit 0 when all are installed
set -eu

# needed to build the module and the tools, and to run prove t/
BUILD_PKGS="nginx nginx-dev libjansson-dev libssl-dev gcc make perl"
# the tests' own: without one, what needs it is skipped
OPTIONAL_PKGS="libio-socket-ssl-perl openssl clang libclang-rt-14-dev gdb \
nghttp2-client"

what_for() {
    case "$1" in
    libio-socket-ssl-perl|openssl) echo "t/013-trust-boundary.t (TLS)" ;;
    clang|libclang-rt-14-dev)      echo "make fuzz-regress" ;;
    gdb)                           echo "t/120-key-hygiene.t (gcore)" ;;
    nghttp2-client)                echo "the HTTP/2 tests" ;;
    esac
}

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null \
        | grep -q "install ok installed"
}

if [ "${1:-}" = "--have" ]; then
    shift
    for p in "$@"; do
        installed "$p" || exit 1
    done
    exit 0
fi

missing=""
missing_build=""
for p in $BUILD_PKGS; do
    if ! installed "$p"; then
        missing="$missing $p"
        missing_build="$missing_build $p"
    fi
done
for p in $OPTIONAL_PKGS; do
    installed "$p" || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "ngx_eci: missing packages:$missing" >&2
    echo "ngx_eci: as root: make deps, or apt-get install$missing" >&2
    if [ "${1:-}" != "--report" ]; then
        exit 1
    fi
    for p in $OPTIONAL_PKGS; do
        installed "$p" \
            || echo "ngx_eci:   $p is missing: $(what_for "$p") skipped" >&2
    done
    if [ -n "$missing_build" ]; then
        echo "ngx_eci: without$missing_build the module cannot be built:" \
             "only what needs none of them runs" >&2
    fi
    exit 0
fi

echo "ngx_eci: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $missing
