# ngx_eci: load test (included by the Makefile)
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

load: all
	perl tools/load.pl --requests $(LOAD_REQUESTS) \
	    --connections $(LOAD_CONNECTIONS) --max-seconds $(LOAD_SECONDS)
