#!/bin/sh
# Builds the Debian binary package libnginx-mod-http-eci from what "make"
# built, with dpkg-deb on a staged tree (no debian/ source package):
#
#   sh packaging/build-deb.sh BUILD_DIR NGINX_SRC
#
# writes BUILD_DIR/libnginx-mod-http-eci_<version>_<arch>.deb.  The package
# is laid out like Debian's own libnginx-mod-* (dh_nginx): the module in
# /usr/lib/nginx/modules, a load_module snippet in
# /usr/share/nginx/modules-available, enabled by a link in
# /etc/nginx/modules-enabled that the maintainer scripts make and park, and
# a dependency on the nginx ABI (nginx-abi-X) the module was built for.
#
# Environment: DEB_VERSION (default: packaging/VERSION, or "git describe"
# of a v* tag, plus the revision "-1"), DEB_MAINTAINER, SOURCE_DATE_EPOCH
# (default: the last commit's time, so that rebuilds are identical).

set -eu

build=${1:-build}
nginx_src=${2:-/usr/share/nginx/src}
top=$(pwd)
pkg=libnginx-mod-http-eci
here=$top/packaging

die() { echo "build-deb: $*" >&2; exit 1; }

for f in "$build/ngx_http_eci_module.so" "$build/eci-keytool" \
         "$build/eci-audit" "$build/eci-acl"; do
    [ -f "$f" ] || die "$f is missing; run make first"
done

command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"

# version: a v* tag if HEAD has one behind it, else packaging/VERSION
if [ -z "${DEB_VERSION:-}" ]; then
    upstream=$(git describe --tags --match 'v[0-9]*' 2>/dev/null \
               | sed -e 's/^v//' -e 's/-\([0-9]*\)-g/+\1.g/') || true
    [ -n "$upstream" ] || upstream=$(cat "$here/VERSION")
    DEB_VERSION=$upstream-1
fi
echo "$DEB_VERSION" | grep -Eq '^[0-9][A-Za-z0-9.+~-]*$' \
    || die "DEB_VERSION \"$DEB_VERSION\" is not a Debian version"

arch=$(dpkg --print-architecture)

if [ -z "${DEB_MAINTAINER:-}" ]; then
    DEB_MAINTAINER=$(git log -1 --format='%an <%ae>' 2>/dev/null) || true
    [ -n "$DEB_MAINTAINER" ] || DEB_MAINTAINER="ngx_eci maintainers <root@localhost>"
fi

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || true
    [ -n "$SOURCE_DATE_EPOCH" ] || SOURCE_DATE_EPOCH=$(date +%s)
fi
export SOURCE_DATE_EPOCH

# the nginx ABI: what nginx-dev says the tree we built against is (as
# dh_nginx reads it), else what the installed nginx provides
abi=
subst=$nginx_src/debian/libnginx-mod.abisubstvars
if [ -f "$subst" ]; then
    abi=$(sed -n 's/^nginx:abi=//p' "$subst")
fi
if [ -z "$abi" ]; then
    abi=$(dpkg-query -W -f='${Provides}\n' nginx nginx-core nginx-common \
              2>/dev/null | tr ',' '\n' | sed -n 's/^ *\(nginx-abi-[^ ]*\).*/\1/p' \
          | head -1)
fi
[ -n "$abi" ] || die "cannot tell the nginx ABI: install nginx-dev (or nginx)"

stage=$build/deb/$pkg
rm -rf "$build/deb"
mkdir -p "$stage/DEBIAN"

doc=$stage/usr/share/doc/$pkg
install -d "$stage/usr/lib/nginx/modules" \
    "$stage/usr/share/nginx/modules-available" "$stage/usr/bin" \
    "$stage/usr/share/man/man1" "$doc/docs"

# Debian ships binaries stripped (the symbols go to a -dbgsym package; keep
# build/ for debugging)
install -m 0644 "$build/ngx_http_eci_module.so" "$stage/usr/lib/nginx/modules/"
install -m 0755 "$build/eci-keytool" "$build/eci-audit" "$build/eci-acl" \
    "$stage/usr/bin/"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage/usr/lib/nginx/modules/ngx_http_eci_module.so" \
    "$stage/usr/bin/eci-keytool" "$stage/usr/bin/eci-audit" \
    "$stage/usr/bin/eci-acl"

install -m 0644 "$here/mod-http-eci.conf" \
    "$stage/usr/share/nginx/modules-available/mod-http-eci.conf"

for m in "$top"/man/*.1; do
    gzip -9n -c "$m" > "$stage/usr/share/man/man1/$(basename "$m").gz"
done

install -m 0644 "$top/README.md" "$doc/"
install -m 0644 "$top"/docs/*.md "$doc/docs/"
install -m 0644 "$here/deb/copyright" "$doc/copyright"
install -D -m 0644 "$here/deb/lintian-overrides" \
    "$stage/usr/share/lintian/overrides/$pkg"

date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
commit=$(git rev-parse --short HEAD 2>/dev/null) || commit=unknown
{
    echo "$pkg ($DEB_VERSION) unstable; urgency=medium"
    echo
    echo "  * Built by \"make deb\" from ngx_eci commit $commit, against"
    echo "    $abi."
    echo
    echo " -- $DEB_MAINTAINER  $date"
} | gzip -9n > "$doc/changelog.Debian.gz"

# shared libraries: dpkg-shlibdeps wants a debian/control to read, so it
# gets a stub; the module's nginx symbols are resolved by nginx itself
libdeps=
if command -v dpkg-shlibdeps >/dev/null; then
    tmp=$(mktemp -d)
    mkdir "$tmp/debian"
    printf 'Source: ngx-eci\n\nPackage: %s\nArchitecture: any\n' "$pkg" \
        > "$tmp/debian/control"
    abs=$(cd "$stage" && pwd)
    libdeps=$(cd "$tmp" && dpkg-shlibdeps --warnings=0 -O \
                  "$abs/usr/lib/nginx/modules/ngx_http_eci_module.so" \
                  "$abs/usr/bin/eci-keytool" "$abs/usr/bin/eci-audit" \
                  "$abs/usr/bin/eci-acl" \
              | sed -n 's/^shlibs:Depends=//p')
    rm -rf "$tmp"
fi
[ -n "$libdeps" ] || libdeps="libc6, libjansson4, libssl3"

size=$(du -k -s --apparent-size "$stage" | cut -f1)

sed -e "s|@VERSION@|$DEB_VERSION|" -e "s|@ARCH@|$arch|" \
    -e "s|@MAINTAINER@|$DEB_MAINTAINER|" -e "s|@INSTALLED_SIZE@|$size|" \
    -e "s|@DEPENDS@|$abi, $libdeps|" \
    "$here/deb/control.in" > "$stage/DEBIAN/control"
install -m 0755 "$here/deb/postinst" "$here/deb/prerm" "$here/deb/postrm" \
    "$stage/DEBIAN/"

(cd "$stage" && find usr -type f | LC_ALL=C sort | xargs md5sum) \
    > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control"

find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

out=$build/${pkg}_${DEB_VERSION}_${arch}.deb
rm -f "$build/${pkg}"_*.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "build-deb: $out"
dpkg-deb --field "$out" Package Version Architecture Depends
