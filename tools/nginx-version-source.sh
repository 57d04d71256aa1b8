#!/bin/sh
# Usage: tools/nginx-version-source.sh VERSION [DEST]
#
# Puts nginx VERSION's pristine source in DEST (build/nginx-VERSION by
# default), unless a tree is already there.  The tarball comes from
# Debian's pool through apt (apt-get source --download-only nginx/SUITE,
# with a deb-src entry for SUITE added when apt has none), or from
# ECI_NGINX_TARBALL=path (e.g. nginx.org's nginx-VERSION.tar.gz); either
# way its SHA-256 must be the one pinned below.  make test-versions and
# CI use it; docs/development.md, "nginx versions", says how to add one.
set -eu

cd "$(dirname "$0")/.."

die() { echo "nginx-version-source.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 VERSION [DEST]"
version=$1
dest=${2:-build/nginx-$version}

# version  suite   tarball                     bytes    sha256
pins='
1.26.3 trixie nginx_1.26.3.orig.tar.gz 1260179 69ee2b237744036e61d24b836668aad3040dda461fe6f570f1787eab570c75aa
'

if [ -x "$dest/configure" ] && [ -f "$dest/src/core/nginx.c" ]; then
    exit 0
fi

pin=$(echo "$pins" | awk -v v="$version" '$1 == v')
[ -n "$pin" ] || die "nginx $version has no pinned tarball: add its suite,
file name, size and SHA-256 to this script (docs/development.md)"

suite=$(echo "$pin" | awk '{print $2}')
file=$(echo "$pin" | awk '{print $3}')
size=$(echo "$pin" | awk '{print $4}')
sum=$(echo "$pin" | awk '{print $5}')

work=$(mktemp -d)
chmod 0755 "$work"     # apt downloads as _apt
trap 'rm -rf "$work"' EXIT

if [ -n "${ECI_NGINX_TARBALL:-}" ]; then
    cp "$ECI_NGINX_TARBALL" "$work/$file"

else
    [ "$(id -u)" = 0 ] || die "$dest is missing and fetching it needs root
(a deb-src entry for $suite, apt-get update): run 'sudo $0 $version', or set
ECI_NGINX_TARBALL to nginx-$version.tar.gz from nginx.org"

    export DEBIAN_FRONTEND=noninteractive

    list=/etc/apt/sources.list.d/eci-src-$suite.sources
    if ! grep -rqsE "^[[:space:]]*(Suites:.*[[:space:]]$suite([[:space:]]|\$)|deb-src[[:space:]].*[[:space:]]$suite[[:space:]])" \
            /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
        || ! ls /var/lib/apt/lists/*_dists_${suite}_*_source_Sources* \
            >/dev/null 2>&1
    then
        if [ ! -f "$list" ]; then
            keyring=/usr/share/keyrings/debian-archive-keyring.gpg
            {
                echo "Types: deb-src"
                echo "URIs: http://deb.debian.org/debian"
                echo "Suites: $suite"
                echo "Components: main"
                [ -f "$keyring" ] && echo "Signed-By: $keyring"
            } > "$list"
            echo "nginx-version-source.sh: added $list"
        fi
        apt-get update
    fi

    # this registry may serve the tarball without the .dsc and Debian's
    # patches: apt then fails for those two, and only the tarball counts
    ( cd "$work" && apt-get source --download-only "nginx/$suite" ) \
        || echo "nginx-version-source.sh: apt-get source reported missing" \
                "files; checking for $file"
fi

[ -f "$work/$file" ] || die "$file did not arrive (apt-get source nginx/$suite)"

got_size=$(wc -c < "$work/$file" | tr -d ' ')
got_sum=$(sha256sum "$work/$file" | awk '{print $1}')
[ "$got_size" = "$size" ] && [ "$got_sum" = "$sum" ] \
    || die "$file: $got_size bytes, SHA-256 $got_sum; expected $size bytes,
SHA-256 $sum: not used"

tar -xzf "$work/$file" -C "$work"
tree="$work/nginx-$version"
[ -x "$tree/configure" ] || die "no nginx-$version/configure in $file"

mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$tree" "$dest"
echo "nginx-version-source.sh: nginx $version ($file, SHA-256 checked) in $dest"
