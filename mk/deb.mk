# ngx_eci: Debian package (included by the Makefile)
# make deb: build/libnginx-mod-http-eci_<version>_<arch>.deb (dpkg-deb on a
# staged tree, laid out like Debian's libnginx-mod-*; packaging/build-deb.sh)
# and lintian on it when lintian is installed.  make test-deb: installs that
# package with apt-get on this machine, nginx -t's README.md's example, and
# removes it again (t/110-deb.t; root only: it changes the system).
# See docs/deployment.md.

DEB_VERSION ?=

.PHONY: deb test-deb

deb: all
	DEB_VERSION='$(DEB_VERSION)' sh packaging/build-deb.sh $(BUILD) $(NGINX_SRC)
	@if command -v lintian >/dev/null 2>&1; then \
	    lintian --fail-on error $(BUILD)/libnginx-mod-http-eci_*.deb; \
	else echo "deb: lintian not installed, not run"; fi

test-deb: deb
	ECI_TEST_DEB=1 $(PROVE) $(PROVE_FLAGS) t/110-deb.t
