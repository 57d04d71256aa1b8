# ngx_eci: build the dynamic module against the installed nginx, the
# tools, and run the tests.  See README.md.

NGINX_SRC   ?= /usr/share/nginx/src
NGINX_BIN   ?= /usr/sbin/nginx
BUILD       ?= build
CC          ?= cc

CORE_NAMES  := eci_common eci_target eci_acl eci_keystore eci_audit
CORE_SRCS   := $(CORE_NAMES:%=ngx_eci_module/%.c)
CORE_HDRS   := $(wildcard ngx_eci_module/eci_*.h)
ADAPTER_SRCS := $(wildcard ngx_eci_module/ngx_http_eci_*.c \
                           ngx_eci_module/ngx_http_eci_*.h)

CFLAGS      ?= -O2 -g
CFLAGS      += -std=gnu99 -Wall -Wextra -Werror -Wno-unused-parameter
CORE_LIBS   := -ljansson -lcrypto

UNIT_SRCS   := $(wildcard t/unit/test_*.c)
UNIT_BINS   := $(UNIT_SRCS:t/unit/%.c=$(BUILD)/unit/%)
CORE_OBJS   := $(CORE_NAMES:%=$(BUILD)/core/%.o)

MODULE      := $(BUILD)/ngx_http_eci_module.so
TOOLS       := $(BUILD)/eci-keytool

PROVE       ?= prove
PROVE_FLAGS ?=

.PHONY: all module tools unit deps test test-unit test-t demo install \
        clean

all: $(MODULE) $(TOOLS)

tools: $(TOOLS)

deps:
	@sh tools/install-deps.sh

$(BUILD)/core/%.o: ngx_eci_module/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/eci-keytool: tools/eci-keytool.c $(CORE_OBJS)
	$(CC) $(CFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

$(BUILD)/unit/%: t/unit/%.c t/unit/tap.h $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Ingx_eci_module -o $@ $< $(CORE_OBJS) $(CORE_LIBS)

unit: $(UNIT_BINS)

# nginx's configure writes objs/ where it runs: work on a copy of the tree.
$(BUILD)/nginx/Makefile: config $(NGINX_SRC)/configure
	@rm -rf $(BUILD)/nginx && mkdir -p $(BUILD)
	cp -a $(NGINX_SRC) $(BUILD)/nginx
	cd $(BUILD)/nginx && bash -c ' \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat --with-http_ssl_module); fi; \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --add-dynamic-module=$(CURDIR) >configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }'
	@touch $@

$(MODULE): $(BUILD)/nginx/Makefile $(CORE_SRCS) $(CORE_HDRS) $(ADAPTER_SRCS)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_eci_module.so $@

module: $(MODULE)

test: deps all unit
	$(PROVE) --exec '' $(PROVE_FLAGS) $(UNIT_BINS)
	$(PROVE) $(PROVE_FLAGS) t/

test-unit: unit
	$(PROVE) --exec '' $(PROVE_FLAGS) $(UNIT_BINS)

test-t: all
	$(PROVE) $(PROVE_FLAGS) t/

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
	mkdir -p $(DESTDIR)/usr/share/nginx/modules-available \
	    $(DESTDIR)/etc/nginx/modules-enabled
	echo 'load_module modules/ngx_http_eci_module.so;' \
	    > $(DESTDIR)/usr/share/nginx/modules-available/mod-http-eci.conf
	ln -sf /usr/share/nginx/modules-available/mod-http-eci.conf \
	    $(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-eci.conf

clean:
	rm -rf $(BUILD)
