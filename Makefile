# ngx_eci: build the dynamic module against the installed nginx, the
# tools, and run the tests.  See README.md.

# NGINX_SRC: Debian's nginx-dev headers (the default: the module for the
# installed nginx, NGINX_BIN), or a full nginx source tree such as
# build/nginx-1.26.3 (make test-versions): then nginx itself is built from
# it too, into build/with-<tree>/, and make test runs the suite on that
# nginx.  ECI_PORTABLE=1: the SIMD fast paths off (their portable C twins,
# as on a CPU without SSE2), everything built into build/portable.
NGINX_SRC   ?= /usr/share/nginx/src
NGINX_BIN   ?= /usr/sbin/nginx
ifeq ($(ECI_PORTABLE),1)
BUILD       ?= build/portable
ECI_SIMD_CFLAGS := -DECI_PORTABLE=1
endif
BUILD       ?= build
CC          ?= cc

# the core's sources: one list, which config reads too
include ngx_eci_module/sources.mk
CORE_NAMES  := $(ECI_CORE_NAMES)
CORE_SRCS   := $(CORE_NAMES:%=ngx_eci_module/%.c)
ECI_CORE_FOUND := $(wildcard ngx_eci_module/eci_*.c)
ifneq ($(sort $(CORE_SRCS)),$(sort $(ECI_CORE_FOUND)))
$(error ngx_eci_module/sources.mk and the tree differ: not listed: \
    $(filter-out $(CORE_SRCS),$(ECI_CORE_FOUND)); listed, missing: \
    $(filter-out $(ECI_CORE_FOUND),$(CORE_SRCS)))
endif
CORE_HDRS   := $(wildcard ngx_eci_module/eci_*.h)
ADAPTER_SRCS := $(wildcard ngx_eci_module/ngx_http_eci_*.c \
                           ngx_eci_module/ngx_http_eci_*.h)

# the tools, the core and the unit tests: hardened as the module is
CFLAGS      ?= -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
CFLAGS      += -std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter \
               $(ECI_SIMD_CFLAGS)
LDFLAGS     ?= -Wl,-z,relro -Wl,-z,now
CORE_LIBS   := -ljansson -lcrypto

UNIT_SRCS   := $(wildcard t/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:t/unit/%.c=$(BUILD)/unit/%)
UNIT_HDRS   := $(wildcard t/unit/*.h)
CORE_OBJS   := $(CORE_NAMES:%=$(BUILD)/core/%.o)

# a full source tree has nginx.c; Debian's nginx-dev has the headers only
NGX_FULL    := $(wildcard $(NGINX_SRC)/src/core/nginx.c)
ifeq ($(NGX_FULL),)
NGX_OUT     := $(BUILD)
NGX_TREE    := $(BUILD)/nginx
NGX_TARGETS := modules
NGX_TEST_ENV :=
else
NGX_OUT     := $(BUILD)/with-$(notdir $(abspath $(NGINX_SRC)))
NGX_TREE    := $(NGX_OUT)/src
NGX_TARGETS := binary modules
# t/lib/EciTest.pm takes nginx and the module from there
NGX_TEST_ENV := ECI_TEST_BUILD=$(CURDIR)/$(NGX_OUT)
endif
MODULE      := $(NGX_OUT)/ngx_http_eci_module.so
TOOLS       := $(BUILD)/eci-keytool $(BUILD)/eci-audit $(BUILD)/eci-acl
# the suite runs this build's module and eci-keytool
TEST_ENV    := ECI_TEST_MODULE=$(CURDIR)/$(MODULE) \
               ECI_TEST_KEYTOOL=$(CURDIR)/$(BUILD)/eci-keytool $(NGX_TEST_ENV)

PROVE       ?= prove
PROVE_FLAGS ?=

.PHONY: all module tools unit deps test test-deps test-unit test-t demo \
        install clean check-nginx
.SECONDARY: $(UNIT_SRCS:t/unit/%.c=$(BUILD)/unit-o/%.o)

# build/eci-load: t/075-load.t's client (mk/load.mk)
all: check-nginx $(MODULE) $(TOOLS) $(BUILD)/eci-load

tools: $(TOOLS)

deps:
	@sh tools/install-deps.sh

# One rule for the core's objects, instantiated per build: $(1) the
# directory (objects in $(1)/core/), $(2) the compile command.  The plain
# build here; ASan (mk/sanitizers.mk) and libFuzzer (mk/fuzz.mk) use it too.
define eci_core_objects
$(1)/core/%.o: ngx_eci_module/%.c $$(CORE_HDRS)
	@mkdir -p $$(dir $$@)
	$(2) -c -o $$@ $$<
endef

$(eval $(call eci_core_objects,$(BUILD),$(CC) $(CFLAGS) -fPIC))

$(BUILD)/eci-keytool: tools/eci-keytool.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

ECI_AUDIT_SRCS := tools/eci-audit.c tools/eci-audit-verify.c \
                  tools/eci-audit-show.c

$(BUILD)/eci-audit: $(ECI_AUDIT_SRCS) tools/eci-audit.h $(CORE_OBJS) \
                   $(CORE_HDRS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $(ECI_AUDIT_SRCS) \
	    $(CORE_OBJS) $(CORE_LIBS)

$(BUILD)/eci-acl: tools/eci-acl.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

# compiled and linked apart: a changed core file relinks the tests only
# (make mutation rebuilds them once per mutant)
# (objects apart from the binaries: prove --exec '' build/unit/* still works)
$(BUILD)/unit-o/%.o: t/unit/%.c $(UNIT_HDRS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ingx_eci_module -c -o $@ $<

$(BUILD)/unit/%: $(BUILD)/unit-o/%.o $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(UNIT_WRAP) -o $@ $< $(CORE_OBJS) \
	    $(CORE_LIBS)

# the fault tests (t/unit/faults.h) make the C library's allocation and
# system calls, the keystore's OpenSSL calls and the ACL's arena fail on
# demand; only their binaries are wrapped
FAULT_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc \
              -Wl,--wrap=write,--wrap=close,--wrap=open,--wrap=fstat \
              -Wl,--wrap=fchmod,--wrap=fsync,--wrap=fchown,--wrap=geteuid \
              -Wl,--wrap=mmap,--wrap=eci_acl_alloc \
              -Wl,--wrap=EVP_CIPHER_CTX_new,--wrap=EVP_CIPHER_CTX_ctrl \
              -Wl,--wrap=EVP_EncryptInit_ex,--wrap=EVP_EncryptUpdate \
              -Wl,--wrap=EVP_EncryptFinal_ex,--wrap=EVP_DecryptInit_ex \
              -Wl,--wrap=EVP_DecryptUpdate,--wrap=EVP_DecryptFinal_ex \
              -Wl,--wrap=EVP_Digest,--wrap=RAND_bytes \
              -Wl,--wrap=read,--wrap=OPENSSL_cleanse
$(BUILD)/unit/test_%_faults: UNIT_WRAP = $(FAULT_WRAP)

unit: $(UNIT_BINS)

# The module is compiled as Debian compiles nginx itself (nginx -V): -O2
# and the distribution's hardening flags.  Without --with-cc-opt nginx's
# configure would use its own default, -O, for the module.
MODULE_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat \
                 -Werror=format-security -Wdate-time -D_FORTIFY_SOURCE=2
MODULE_LD_OPT ?= -Wl,-z,relro -Wl,-z,now

# nginx built from a full source tree (NGINX_SRC=build/nginx-1.26.3, and
# make test-asan's): as Debian 12 configures its nginx
# (/usr/share/nginx/src/conf_flags): Debian's paths (a test without
# access_log logs where Debian's nginx does), the modules the suite and
# docs use (v2, realip, auth_request, addition for t/028's
# add_after_body, ...), --with-compat, --with-debug.
VERSION_NGX_FLAGS := --prefix=/usr/share/nginx \
        --conf-path=/etc/nginx/nginx.conf \
        --http-log-path=/var/log/nginx/access.log \
        --error-log-path=stderr --lock-path=/var/lock/nginx.lock \
        --pid-path=/run/nginx.pid --modules-path=/usr/lib/nginx/modules \
        --http-client-body-temp-path=/var/lib/nginx/body \
        --http-fastcgi-temp-path=/var/lib/nginx/fastcgi \
        --http-proxy-temp-path=/var/lib/nginx/proxy \
        --http-scgi-temp-path=/var/lib/nginx/scgi \
        --http-uwsgi-temp-path=/var/lib/nginx/uwsgi \
        --with-compat --with-debug --with-pcre-jit --with-threads \
        --with-http_ssl_module --with-http_stub_status_module \
        --with-http_realip_module --with-http_auth_request_module \
        --with-http_v2_module --with-http_dav_module \
        --with-http_slice_module --with-http_addition_module

# The installed nginx must be the one whose headers the module is built
# against: nginx refuses to load a module of another version, and one
# built against other headers would not match its structures.
check-nginx:
ifeq ($(NGX_FULL),)
	@want=$$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
	    $(NGINX_SRC)/src/core/nginx.h 2>/dev/null); \
	if [ -z "$$want" ]; then \
	    echo "make: no nginx headers in NGINX_SRC=$(NGINX_SRC): install" \
	        "nginx-dev (apt-get install nginx-dev), or set NGINX_SRC to an" \
	        "nginx source tree (README.md, Supported nginx)"; exit 1; fi; \
	have=$$($(NGINX_BIN) -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p'); \
	if [ "$$have" != "$$want" ]; then \
	    echo "make: $(NGINX_BIN) is nginx $${have:-(not found)}, but the" \
	        "headers in $(NGINX_SRC) are nginx $$want: a module built" \
	        "against them would not load.  Install the nginx-dev that" \
	        "matches the nginx package, or build against the nginx you" \
	        "run: NGINX_SRC=<its source tree> NGINX_BIN=<its binary>" \
	        "(README.md, Supported nginx)"; exit 1; fi
else
	@test -x $(NGINX_SRC)/configure || { \
	    echo "make: $(NGINX_SRC) is not an nginx source tree"; exit 1; }
endif

# nginx's configure writes objs/ where it runs: work on a copy of the tree.
$(NGX_TREE)/Makefile: config ngx_eci_module/sources.mk \
                     $(NGINX_SRC)/configure Makefile
	@rm -rf $(NGX_TREE) && mkdir -p $(dir $(NGX_TREE))
	cp -a $(NGINX_SRC) $(NGX_TREE)
	cd $(NGX_TREE) && bash -c ' \
	    if [ -n "$(NGX_FULL)" ]; then \
	        NGX_CONF_FLAGS=($(VERSION_NGX_FLAGS)); \
	    elif [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat --with-http_ssl_module); fi; \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt="$(MODULE_CC_OPT) $(ECI_SIMD_CFLAGS)" \
	        --with-ld-opt="$(MODULE_LD_OPT)" \
	        --add-dynamic-module=$(CURDIR) >configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }'
	@touch $@

$(MODULE): $(NGX_TREE)/Makefile $(CORE_SRCS) $(CORE_HDRS) $(ADAPTER_SRCS)
	$(MAKE) -C $(NGX_TREE) -f objs/Makefile $(NGX_TARGETS)
ifneq ($(NGX_FULL),)
	cp $(NGX_TREE)/objs/nginx $(NGX_OUT)/nginx.new
	mv -f $(NGX_OUT)/nginx.new $(NGX_OUT)/nginx
endif
	cp $(NGX_TREE)/objs/ngx_http_eci_module.so $@

module: $(MODULE)

# As root, missing packages are installed first; as another user they are
# named, and what needs them is skipped (the unit tests run before the
# module is built, so they run even without nginx-dev).
test: test-deps unit
	$(PROVE) --exec '' $(PROVE_FLAGS) $(UNIT_BINS)
	perl tools/mutate.pl --check-equivalents
	@if sh tools/install-deps.sh --have clang libclang-rt-14-dev; then \
	    $(MAKE) fuzz-regress; \
	else echo "make test: fuzz regressions skipped: clang and" \
	    "libclang-rt-14-dev are needed"; fi
	$(MAKE) all
	$(TEST_ENV) $(PROVE) $(PROVE_FLAGS) t/

test-deps:
	@sh tools/install-deps.sh --report

test-unit: unit
	$(PROVE) --exec '' $(PROVE_FLAGS) $(UNIT_BINS)

test-t: all
	$(TEST_ENV) $(PROVE) $(PROVE_FLAGS) t/

# make test-versions: the whole suite (make test) on Debian 12's nginx
# and on each of TEST_NGINX_VERSIONS built from its pristine source
# (tools/nginx-version-source.sh fetches it and checks its SHA-256).
# make test NGINX_SRC=build/nginx-1.26.3 runs one.  docs/development.md,
# "nginx versions", says how to add one.
TEST_NGINX_VERSIONS ?= 1.26.3

.PHONY: test-versions test-portable

test-versions:
	$(MAKE) test
	@for v in $(TEST_NGINX_VERSIONS); do \
	    sh tools/nginx-version-source.sh $$v $(BUILD)/nginx-$$v \
	    && $(MAKE) test NGINX_SRC=$(BUILD)/nginx-$$v || exit 1; \
	done

# make test-portable: the core, the module and the tools built with the
# SIMD paths off (ECI_PORTABLE=1, -Werror as always) into build/portable;
# the unit tests, the fuzz regressions and FUZZ_SECONDS of the response
# scanner's differential fuzzer (fuzz_response) against that build.
test-portable:
	$(MAKE) ECI_PORTABLE=1 all unit fuzz-build
	$(MAKE) ECI_PORTABLE=1 test-unit fuzz-regress
	$(MAKE) ECI_PORTABLE=1 fuzz FUZZ_TARGETS=response

demo: deps all
	perl tools/demo.pl

MODULES_PATH ?= /usr/lib/nginx/modules
DESTDIR     ?=
# the Debian way: the module beside Debian's own, a load_module snippet in
# modules-available, enabled by a link in modules-enabled
install: all
	install -D -m 0644 $(MODULE) \
	    $(DESTDIR)$(MODULES_PATH)/ngx_http_eci_module.so
	install -D -m 0755 $(BUILD)/eci-keytool $(DESTDIR)/usr/bin/eci-keytool
	install -D -m 0755 $(BUILD)/eci-audit $(DESTDIR)/usr/bin/eci-audit
	install -D -m 0755 $(BUILD)/eci-acl $(DESTDIR)/usr/bin/eci-acl
	mkdir -p $(DESTDIR)/usr/share/nginx/modules-available \
	    $(DESTDIR)/etc/nginx/modules-enabled
	echo 'load_module modules/ngx_http_eci_module.so;' \
	    > $(DESTDIR)/usr/share/nginx/modules-available/mod-http-eci.conf
	ln -sf /usr/share/nginx/modules-available/mod-http-eci.conf \
	    $(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-eci.conf

clean:
	rm -rf $(BUILD)

include mk/sanitizers.mk
include mk/fuzz.mk

include mk/mutation.mk
include mk/deb.mk

include mk/load.mk
include mk/bench.mk
