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

CORE_NAMES  := eci_common eci_sha256 eci_keyscan eci_target eci_acl \
               eci_acl_index eci_keystore eci_audit eci_chain
CORE_SRCS   := $(CORE_NAMES:%=ngx_eci_module/%.c)
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

.PHONY: all module tools unit deps test test-unit test-t demo install \
        clean check-nginx
.SECONDARY: $(UNIT_SRCS:t/unit/%.c=$(BUILD)/unit-o/%.o)

all: check-nginx $(MODULE) $(TOOLS)

tools: $(TOOLS)

deps:
	@sh tools/install-deps.sh

$(BUILD)/core/%.o: ngx_eci_module/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/eci-keytool: tools/eci-keytool.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

$(BUILD)/eci-audit: tools/eci-audit.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

$(BUILD)/eci-acl: tools/eci-acl.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

# compiled and linked apart: a changed core file relinks the tests only
# (make mutation rebuilds them once per mutant)
# (objects apart from the binaries: prove --exec '' build/unit/* still works)
$(BUILD)/unit-o/%.o: t/unit/%.c t/unit/tap.h t/unit/faults.h $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ingx_eci_module -c -o $@ $<

$(BUILD)/unit/%: $(BUILD)/unit-o/%.o $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) $(UNIT_WRAP) -o $@ $< $(CORE_OBJS) \
	    $(CORE_LIBS)

# the fault tests (t/unit/faults.h) make the C library's allocation,
# write() and close() fail on demand; only their binaries are wrapped
FAULT_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc \
              -Wl,--wrap=write,--wrap=close
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
$(NGX_TREE)/Makefile: config $(NGINX_SRC)/configure Makefile
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

test: deps all unit
	$(PROVE) --exec '' $(PROVE_FLAGS) $(UNIT_BINS)
	$(MAKE) fuzz-regress
	$(TEST_ENV) $(PROVE) $(PROVE_FLAGS) t/

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

# --- sanitizers, valgrind, nginx's full source -------------------------
# make test-asan: nginx itself, the module, eci-keytool and the unit tests
# built with ASan+UBSan from Debian's nginx source (tools/nginx-source.sh),
# then the unit tests and prove t/ against them; any sanitizer report fails.
# make test-valgrind: a subset of t/ with Debian's nginx and build/'s module
# under valgrind memcheck.  make check-static: the module built into nginx
# with --add-module.  See docs/development.md, "Sanitizers and valgrind".

NGINX_FULL_SRC ?= $(BUILD)/nginx-source
ASAN_DIR    := $(BUILD)/asan
ASAN_JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
SAN_FLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1
SAN_CFLAGS  := $(SAN_FLAGS) -std=gnu99 -Wall -Wextra -Wno-unused-parameter
# NGX_DEBUG_PALLOC: every pool allocation is its own malloc(), so ASan sees
# overruns of one allocation into the next within a pool block
SAN_NGX_CC_OPT := $(SAN_FLAGS) -DNGX_DEBUG_PALLOC=1
# nginx configured as for make test NGINX_SRC=<a full tree> (Debian 12's
# paths and modules, VERSION_NGX_FLAGS above)
SAN_NGX_FLAGS := $(VERSION_NGX_FLAGS)
SAN_CORE_OBJS := $(CORE_NAMES:%=$(ASAN_DIR)/core/%.o)
SAN_UNIT_BINS := $(UNIT_SRCS:t/unit/%.c=$(ASAN_DIR)/unit/%)
SAN_REPORTS := $(CURDIR)/$(ASAN_DIR)/reports
# one log_path for all (ASan, LSan and UBSan share it): DIR/san.PID files.
# detect_odr_violation=0: nginx defines ngx_modules and ngx_module_names in
# the binary and again in each dynamic module, by design (it dlsym()s them).
SAN_ENV     := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_odr_violation=0:log_path=$(SAN_REPORTS)/san \
               LSAN_OPTIONS=suppressions=$(CURDIR)/t/lsan.supp:print_suppressions=0 \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0:suppressions=$(CURDIR)/t/ubsan.supp:log_path=$(SAN_REPORTS)/san \
               ECI_TEST_SANITIZER_DIR=$(SAN_REPORTS)
# the unit tests stop at the first report, so prove fails on it
SAN_UNIT_ENV := $(SAN_ENV) \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(CURDIR)/t/ubsan.supp
# the files that start nginx through the harness and need no master
# process: not reload, worker_pids, master_pid (nor requires_master)
VALGRIND_TESTS ?= $(shell grep -lE 'EciTest->new' t/*.t \
        | xargs grep -LE -- '->(reload|worker_pids|master_pid|requires_master)\b')

.PHONY: nginx-source asan asan-unit test-asan test-valgrind check-static
.SECONDARY: $(UNIT_SRCS:t/unit/%.c=$(ASAN_DIR)/unit-o/%.o) $(SAN_CORE_OBJS)

$(NGINX_FULL_SRC)/configure:
	sh tools/nginx-source.sh $(NGINX_FULL_SRC)

nginx-source: $(NGINX_FULL_SRC)/configure

$(ASAN_DIR)/core/%.o: ngx_eci_module/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -c -o $@ $<

$(ASAN_DIR)/eci-keytool: tools/eci-keytool.c $(SAN_CORE_OBJS)
	$(CC) $(SAN_CFLAGS) -Ingx_eci_module -o $@ $< $(SAN_CORE_OBJS) $(CORE_LIBS)

$(ASAN_DIR)/unit-o/%.o: t/unit/%.c t/unit/tap.h t/unit/faults.h $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -Ingx_eci_module -c -o $@ $<

$(ASAN_DIR)/unit/%: $(ASAN_DIR)/unit-o/%.o $(SAN_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(UNIT_WRAP) -o $@ $< $(SAN_CORE_OBJS) $(CORE_LIBS)

$(ASAN_DIR)/unit/test_%_faults: UNIT_WRAP = $(FAULT_WRAP)

# the unit tests alone with ASan+UBSan (make mutation runs these)
asan-unit: $(SAN_UNIT_BINS)

$(ASAN_DIR)/nginx/Makefile: config $(NGINX_FULL_SRC)/configure
	@rm -rf $(ASAN_DIR)/nginx && mkdir -p $(ASAN_DIR)
	cp -a $(NGINX_FULL_SRC) $(ASAN_DIR)/nginx
	cd $(ASAN_DIR)/nginx && ./configure $(SAN_NGX_FLAGS) \
	    --with-cc-opt='$(SAN_NGX_CC_OPT)' \
	    --with-ld-opt='-fsanitize=address,undefined' \
	    --add-dynamic-module=$(CURDIR) >configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }
	@touch $@

$(ASAN_DIR)/nginx-binary: $(ASAN_DIR)/nginx/Makefile $(CORE_SRCS) $(CORE_HDRS) \
                          $(ADAPTER_SRCS)
	$(MAKE) -C $(ASAN_DIR)/nginx -f objs/Makefile -j$(ASAN_JOBS) \
	    binary modules
	cp $(ASAN_DIR)/nginx/objs/ngx_http_eci_module.so $(ASAN_DIR)/
	cp $(ASAN_DIR)/nginx/objs/nginx $@.new && mv -f $@.new $@

asan: $(ASAN_DIR)/nginx-binary $(ASAN_DIR)/eci-keytool $(SAN_UNIT_BINS)

# the suite runs the default build's tools too (make install, 015-keytool)
test-asan: deps all asan
	@rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	$(SAN_UNIT_ENV) $(PROVE) --exec '' $(PROVE_FLAGS) $(SAN_UNIT_BINS)
	@rc=0; \
	$(SAN_ENV) ECI_TEST_NGINX=$(CURDIR)/$(ASAN_DIR)/nginx-binary \
	    ECI_TEST_MODULE=$(CURDIR)/$(ASAN_DIR)/ngx_http_eci_module.so \
	    ECI_TEST_KEYTOOL=$(CURDIR)/$(ASAN_DIR)/eci-keytool \
	    $(PROVE) $(PROVE_FLAGS) t/ || rc=$$?; \
	if [ -n "$$(ls -A $(SAN_REPORTS))" ]; then \
	    for f in $(SAN_REPORTS)/*; do echo "=== $$f"; cat "$$f"; done; \
	    echo "test-asan: sanitizer reports in $(SAN_REPORTS)"; exit 1; \
	fi; \
	echo "test-asan: no sanitizer reports"; exit $$rc

test-valgrind: deps all
	ECI_TEST_VALGRIND=1 $(PROVE) $(PROVE_FLAGS) $(VALGRIND_TESTS)

# --add-module (static): configure, build, nginx -V and nginx -t with a
# gateway config
check-static: $(NGINX_FULL_SRC)/configure all
	@rm -rf $(BUILD)/static && mkdir -p $(BUILD)
	cp -a $(NGINX_FULL_SRC) $(BUILD)/static
	cd $(BUILD)/static && ./configure --with-http_ssl_module \
	    --add-module=$(CURDIR) >configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }
	$(MAKE) -C $(BUILD)/static -f objs/Makefile -j$(ASAN_JOBS) binary
	sh tools/check-static.sh $(BUILD)/static/objs/nginx $(BUILD)/eci-keytool
# --- end of sanitizers, valgrind, nginx's full source ---------------------

# --- fuzzing ---------------------------------------------------------------
# make fuzz: the libFuzzer targets in fuzz/ built with clang (ASan, UBSan,
# UB fatal) into build/fuzz/, each run FUZZ_SECONDS on a copy of its seeds
# (build/fuzz/corpus-<t>, kept between runs) plus fuzz/regressions/<t>;
# a crash fails, its input is build/fuzz/crash-<t>-*.  make fuzz-regress:
# every seed and regression input once.  See fuzz/README.md.

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS ?= target acl keystore audit response keyscan
FUZZ_CFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer -g -O1 -std=gnu99 -Wall -Wextra \
                -Werror -Wno-unused-parameter $(ECI_SIMD_CFLAGS)
FUZZ_OPTS    := -rss_limit_mb=2048 -timeout=25 -print_final_stats=1
FUZZ_CORE_OBJS := $(CORE_NAMES:%=$(FUZZ_DIR)/core/%.o)
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)

.PHONY: fuzz-build fuzz fuzz-regress
# built by a pattern rule for a pattern rule: keep them between runs
.SECONDARY: $(FUZZ_CORE_OBJS)

$(FUZZ_DIR)/core/%.o: ngx_eci_module/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c $(FUZZ_CORE_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Ingx_eci_module -o $@ $< \
	    $(FUZZ_CORE_OBJS) $(CORE_LIBS)

fuzz-build: $(FUZZ_BINS)

# new inputs go to the first corpus dir only: the build/ copy
fuzz: fuzz-build
	@rc=0; for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus-$$t; \
	    cp fuzz/corpus/$$t/* $(FUZZ_DIR)/corpus-$$t/; \
	    reg=; [ -d fuzz/regressions/$$t ] && reg=fuzz/regressions/$$t; \
	    dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	    echo "fuzz_$$t: $(FUZZ_SECONDS)s, log in $(FUZZ_DIR)/fuzz_$$t.log"; \
	    if $(FUZZ_DIR)/fuzz_$$t $(FUZZ_OPTS) $$dict \
	        -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
	        $(FUZZ_DIR)/corpus-$$t $$reg >$(FUZZ_DIR)/fuzz_$$t.log 2>&1; \
	    then grep -E '^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)|#[0-9]+.*DONE' \
	        $(FUZZ_DIR)/fuzz_$$t.log; \
	    else tail -60 $(FUZZ_DIR)/fuzz_$$t.log; \
	        echo "fuzz_$$t: FAILED"; rc=1; fi; \
	done; exit $$rc

fuzz-regress: fuzz-build
	@rc=0; for t in $(FUZZ_TARGETS); do \
	    reg=; [ -d fuzz/regressions/$$t ] && reg=fuzz/regressions/$$t; \
	    if $(FUZZ_DIR)/fuzz_$$t -runs=0 fuzz/corpus/$$t $$reg \
	        >$(FUZZ_DIR)/regress_$$t.log 2>&1; \
	    then echo "fuzz_$$t: $$(find fuzz/corpus/$$t $$reg -type f | wc -l) inputs ok"; \
	    else tail -60 $(FUZZ_DIR)/regress_$$t.log; \
	        echo "fuzz_$$t: FAILED"; rc=1; fi; \
	done; exit $$rc
# --- end of fuzzing ----------------------------------------------------------

# --- mutation testing ------------------------------------------------------
# make mutation: every mutant of the core (tools/mutate.pl: comparisons,
# conditions, constants, deleted statements in ngx_eci_module/eci_*.c), each
# built in a work copy (build/mutation/w<N>/) and tried against the unit
# tests (ASan+UBSan), the fuzz regressions and the t/ files of its file;
# report in build/mutation/report.txt, the score on the last line.
# make mutation-sample N=20 SEED=<hash>: a sample chosen by SEED that fails
# on a surviving mutant of the ACL decision or the target parser (CI).
# MUTATION_JOBS (2), MUTATION_FLAGS (e.g. --no-t, --only 'eci_acl.c:*').
# See docs/development.md, "Mutation testing".

MUTATION_JOBS  ?= 2
MUTATION_FLAGS ?=
N              ?= 20
SEED           ?= $(shell git rev-parse HEAD 2>/dev/null || echo mutation)

.PHONY: mutation mutation-sample mutation-list

mutation:
	perl tools/mutate.pl --jobs $(MUTATION_JOBS) $(MUTATION_FLAGS)

mutation-sample:
	perl tools/mutate.pl --jobs $(MUTATION_JOBS) --sample $(N) \
	    --seed $(SEED) --fail-on-security $(MUTATION_FLAGS)

mutation-list:
	@perl tools/mutate.pl --list $(MUTATION_FLAGS)
# --- end of mutation testing ------------------------------------------------

# --- Debian package ----------------------------------------------------------
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
# --- end of Debian package ---------------------------------------------------

# --- load test -----------------------------------------------------------------
# build/eci-load: the epoll load client (tools/eci-load.c).  make load: the
# full load test (tools/load.pl): LOAD_REQUESTS mixed requests at
# LOAD_CONNECTIONS to nginx with 2 workers, then every audit line, the
# chain, the upstream and the error log checked; non-zero if anything was
# lost.  t/075-load.t runs a small version in make test.  See docs/load.md.

LOAD_REQUESTS    ?= 20000
LOAD_CONNECTIONS ?= 64
LOAD_SECONDS     ?= 240

.PHONY: load

$(BUILD)/eci-load: tools/eci-load.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $<

# the suite's t/075-load.t needs the client
all: $(BUILD)/eci-load

load: all
	perl tools/load.pl --requests $(LOAD_REQUESTS) \
	    --connections $(LOAD_CONNECTIONS) --max-seconds $(LOAD_SECONDS)
# --- end of load test ----------------------------------------------------------

# --- benchmark -----------------------------------------------------------------
# make bench: figures, never a test (exits non-zero only when it could not
# measure).  A = the mock ECI upstream (a second nginx) direct, B = plain
# proxy_pass with a literal ECI-ApiKey, C = ngx_eci with everything on;
# alternating rounds, medians, C/B; ACL scale; worker RSS over 200,000
# requests.  Tested nginx on core 0, wrk + upstream on core 1; about 7 min.
# make bench-profile: callgrind instruction counts per exec of B and C.
# make bench-perf: native perf cpu-clock profile, us per exec of B and C.
# make bench-syscalls: strace -c of B and C, system calls per exec by name.
# make bench-alloc: bytes one exec takes from nginx's pools, B and C.
# make bench-acl: ns per eci_acl_check(), small and large ACL (below).
# BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS, BENCH_SKIP=acl,memory,
# BENCH_KEEP=1: see bench/README.md.

BENCH_ROUNDS  ?= 5
BENCH_SECONDS ?= 10

.PHONY: bench bench-acl bench-ab bench-profile bench-perf bench-syscalls \
        bench-alloc bench-together bench-deps bench-acl-pathological \
        bench-simd

bench-deps:
	@command -v wrk >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ]; then \
	        apt-get update -q && apt-get install -y -q wrk; \
	    else echo "bench: install wrk (apt-get install wrk)"; exit 1; fi; }
	@command -v taskset >/dev/null 2>&1 || { \
	    echo "bench: taskset (util-linux) is missing"; exit 1; }

bench: deps all bench-deps $(BUILD)/acl_lookup $(BUILD)/floor \
       $(BUILD)/acl_pathological
	BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_SECONDS=$(BENCH_SECONDS) \
	    BENCH_ACL_LOOKUP=$(abspath $(BUILD)/acl_lookup) \
	    BENCH_FLOOR=$(abspath $(BUILD)/floor) \
	    timeout 900 perl bench/run.pl
	timeout 300 $(BUILD)/acl_pathological

# make bench-acl-pathological: hostile-sized ACLs and override lists
$(BUILD)/acl_pathological: bench/acl_pathological.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

bench-acl-pathological: $(BUILD)/acl_pathological
	timeout 300 $(BUILD)/acl_pathological

# bench/floor.c: the audit contract's own cost here (make bench runs it)
$(BUILD)/floor: bench/floor.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

# make bench-simd: bench/simd.c built with the SSE2 paths and without
# (ECI_PORTABLE=1), run in turn BENCH_SIMD_RUNS times: ns per exec of
# make bench's workload in each path that has an SSE2 twin (the response
# scanner, the two audit lines, eci_hex); a few seconds, one core
BENCH_SIMD_RUNS ?= 5

$(BUILD)/simd: bench/simd.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

bench-simd: $(BUILD)/simd
	$(MAKE) ECI_PORTABLE=1 build/portable/simd
	@for i in $$(seq $(BENCH_SIMD_RUNS)); do \
	    echo "sse2     $$($(BUILD)/simd)"; \
	    echo "portable $$(build/portable/simd)"; \
	done | perl bench/simd.pl

# make bench-acl: bench/acl_lookup.c on bench/run.pl's two ACLs, ns per
# eci_acl_check(); no nginx, no wrk, one core for a few seconds
$(BUILD)/acl_lookup: bench/acl_lookup.c $(CORE_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

bench-acl: deps $(BUILD)/acl_lookup
	BENCH_ACL_LOOKUP=$(abspath $(BUILD)/acl_lookup) \
	    timeout 300 perl bench/run.pl acl-lookup

bench-perf: deps all bench-deps
	@command -v perf >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ]; then apt-get install -y -q linux-perf; \
	    else echo "bench-perf: install perf (apt-get install linux-perf)"; \
	    exit 1; fi; }
	timeout 900 perl bench/run.pl perf

# make bench-ab BASE=other.so: this build against another in one window
bench-ab: deps all bench-deps
	@test -n "$(BASE)" || { echo "bench-ab: set BASE=path/to/ngx_http_eci_module.so"; exit 1; }
	BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_SECONDS=$(BENCH_SECONDS) \
	    timeout 900 perl bench/run.pl ab $(abspath $(BASE))

# B and C loaded at the same time on one core: C-B without the drift
bench-together: deps all bench-deps
	BENCH_ROUNDS=$(BENCH_ROUNDS) BENCH_SECONDS=$(BENCH_SECONDS) \
	    timeout 900 perl bench/run.pl together

bench-alloc: deps all bench-deps
	timeout 300 perl bench/run.pl allocations

bench-syscalls: deps all bench-deps
	@command -v strace >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ]; then apt-get install -y -q strace; \
	    else echo "bench-syscalls: install strace"; exit 1; fi; }
	timeout 300 perl bench/run.pl syscalls

bench-profile: deps all bench-deps
	@command -v valgrind >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ]; then apt-get install -y -q valgrind; \
	    else echo "bench-profile: install valgrind"; exit 1; fi; }
	timeout 900 perl bench/run.pl profile
# --- end of benchmark ----------------------------------------------------------
