# ngx_eci: sanitizers, valgrind, nginx (included by the Makefile)
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

$(eval $(call eci_core_objects,$(ASAN_DIR),$(CC) $(SAN_CFLAGS)))

$(ASAN_DIR)/eci-keytool: tools/eci-keytool.c $(SAN_CORE_OBJS)
	$(CC) $(SAN_CFLAGS) -Ingx_eci_module -o $@ $< $(SAN_CORE_OBJS) $(CORE_LIBS)

$(ASAN_DIR)/unit-o/%.o: t/unit/%.c $(UNIT_HDRS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) -Ingx_eci_module -c -o $@ $<

$(ASAN_DIR)/unit/%: $(ASAN_DIR)/unit-o/%.o $(SAN_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN_CFLAGS) $(UNIT_WRAP) -o $@ $< $(SAN_CORE_OBJS) $(CORE_LIBS)

$(ASAN_DIR)/unit/test_%_faults: UNIT_WRAP = $(FAULT_WRAP)

# the unit tests alone with ASan+UBSan (make mutation runs these)
asan-unit: $(SAN_UNIT_BINS)

$(ASAN_DIR)/nginx/Makefile: config ngx_eci_module/sources.mk \
                            $(NGINX_FULL_SRC)/configure
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
