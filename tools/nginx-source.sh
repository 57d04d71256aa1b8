#!/bin/sh
# Fetches nginx's full source the Debian way (apt-get source nginx) into
# build/nginx-source/ (or $1), unless it is already there.  The tree is
# what make test-asan, check-static and NGINX_SRC= builds use.
#
# Needs a deb-src entry for bookworm main: when apt has none, this adds
# /etc/apt/sources.list.d/eci-src.sources (deb822, with the same Signed-By
# as the existing entry, or apt refuses "Conflicting values set for option
# Signed-By"), or a deb-src line in eci-src.list on a classic sources.list
# machine.  Adding sources, apt-get update and installing dpkg-dev need
# root; a tree already in place needs nothing.
set -eu

cd "$(dirname "$0")/.."
dest=${1:-build/nginx-source}
version=$(dpkg-query -W -f='${Version}' nginx 2>/dev/null || true)

if [ -x "$dest/configure" ] && [ -f "$dest/src/core/nginx.h" ]; then
    exit 0
fi

die() { echo "nginx-source.sh: $*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
    die "$dest is missing and fetching it needs root (apt sources, apt-get
update, dpkg-dev): run 'sudo $0', or unpack nginx's source there yourself"
fi

export DEBIAN_FRONTEND=noninteractive

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

# a deb-src entry for this release (another release's, such as the trixie
# one tools/nginx-version-source.sh adds, does not serve this nginx)
has_deb_src() {
    grep -qsE "^[[:space:]]*deb-src[[:space:]].*[[:space:]]$codename[[:space:]]" \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    || cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
       | awk -v RS= -v c="$codename" '
             /(^|\n)Types:[^\n]*deb-src/ && $0 ~ "(^|\n)Suites:[^\n]*[ \t]" c "([ \t]|\n|$)" \
                 { found = 1 }
             END { exit !found }'
}

if ! has_deb_src; then
    deb822=$(ls /etc/apt/sources.list.d/*.sources 2>/dev/null \
             | xargs -r grep -l '^Types:.*\bdeb\b' 2>/dev/null | head -n 1)
    if [ -n "$deb822" ]; then
        keyring=$(sed -n 's/^Signed-By:[[:space:]]*//p' "$deb822" | head -n 1)
        {
            echo "Types: deb-src"
            echo "URIs: http://deb.debian.org/debian"
            echo "Suites: $codename $codename-updates"
            echo "Components: main"
            [ -n "$keyring" ] && echo "Signed-By: $keyring"
        } > /etc/apt/sources.list.d/eci-src.sources
        echo "nginx-source.sh: added /etc/apt/sources.list.d/eci-src.sources"
    else
        echo "deb-src http://deb.debian.org/debian $codename main" \
            > /etc/apt/sources.list.d/eci-src.list
        echo "nginx-source.sh: added /etc/apt/sources.list.d/eci-src.list"
    fi
    apt-get update
elif ! ls /var/lib/apt/lists/*_dists_"$codename"_*source_Sources* \
        >/dev/null 2>&1; then
    apt-get update
fi

if ! command -v dpkg-source >/dev/null 2>&1; then
    apt-get install -y --no-install-recommends dpkg-dev
fi

work=$(mktemp -d)
chmod 0755 "$work"     # apt downloads as _apt
trap 'rm -rf "$work"' EXIT

# the version of the installed nginx when apt still offers it, else the
# release's own (a security update's source may not be served; a plain
# "nginx" would pick another release's, e.g. trixie's for test-versions)
( cd "$work" && { [ -n "$version" ] && apt-get source "nginx=$version" \
                  || apt-get source "nginx/$codename"; } ) \
    || die "apt-get source nginx failed"

tree=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'nginx-*' | head -n 1)
[ -n "$tree" ] && [ -x "$tree/configure" ] || die "no nginx tree in $work"

mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$tree" "$dest"
echo "nginx-source.sh: $(basename "$(ls "$work"/*.dsc)" .dsc) in $dest"
