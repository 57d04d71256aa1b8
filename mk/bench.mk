# ngx_eci: benchmark (included by the Makefile)
# make bench: figures, never a test (exits non-zero only when it could not
# measure).  A = the mock ECI upstream (a second nginx) direct, B = plain
# proxy_pass with a literal ECI-ApiKey, C = ngx_eci with everything on;
# alternating rounds, medians, C/B; eci_acl_candidate off and on; ACL
# scale; worker RSS over 200,000 requests.  Tested nginx on core 0, wrk +
# upstream on core 1; about 9 min.
# make bench-profile: callgrind instruction counts per exec of B and C.
# make bench-perf: native perf cpu-clock profile, us per exec of B and C.
# make bench-syscalls: strace -c of B and C, system calls per exec by name.
# make bench-alloc: bytes one exec takes from nginx's pools, B and C.
# make bench-acl: ns per eci_acl_check(), small and large ACL (below).
# make bench-candidate: eci_acl_candidate off / on, end to end (below).
# BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS,
# BENCH_SKIP=candidate,acl,memory,
# BENCH_KEEP=1: see bench/README.md.

BENCH_ROUNDS  ?= 5
BENCH_SECONDS ?= 10

.PHONY: bench bench-acl bench-ab bench-profile bench-perf bench-syscalls \
        bench-alloc bench-together bench-deps bench-acl-pathological \
        bench-simd bench-candidate bench-candidate-absent

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
	    timeout 1200 perl bench/run.pl
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

# make bench-candidate: only make bench's candidate ACL part (issue 15):
# eci_acl_candidate off, off again (A/A), on, on and disagreeing, rounds
# rotating; BENCH_CAND_ROUNDS, BENCH_CAND_SECONDS, BENCH_CAND_BASE=other.so
# (a build without the feature, same configuration as off); about 2 min
bench-candidate: deps all bench-deps
	timeout 600 perl bench/run.pl candidate

# make bench-candidate-absent: the same with a fifth gateway, the module
# without the feature (bench/candidate-absent.patch, about 2 min more):
# "off" against "absent" end to end.  The patch is against commit
# CAND_ABSENT_BASE, so every gateway of this run is built from that
# commit (build/absent-base/) and nofeat from it with the patch
# (build/absent/): one tree but for the feature.
CAND_ABSENT_BASE := 570b407
bench-candidate-absent: deps all bench-deps
	rm -rf $(BUILD)/absent $(BUILD)/absent-base
	mkdir -p $(BUILD)/absent $(BUILD)/absent-base
	git archive $(CAND_ABSENT_BASE) | tar -x -C $(BUILD)/absent-base
	git archive $(CAND_ABSENT_BASE) | tar -x -C $(BUILD)/absent
	patch -p1 -d $(BUILD)/absent < bench/candidate-absent.patch
	$(MAKE) -C $(BUILD)/absent-base BUILD=build build/ngx_http_eci_module.so
	$(MAKE) -C $(BUILD)/absent BUILD=build build/ngx_http_eci_module.so
	BENCH_MODULE=$(abspath $(BUILD)/absent-base/build/ngx_http_eci_module.so) \
	BENCH_CAND_BASE=$(abspath $(BUILD)/absent/build/ngx_http_eci_module.so) \
	    timeout 600 perl bench/run.pl candidate

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
