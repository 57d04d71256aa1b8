# ngx_eci: fuzzing (included by the Makefile)
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

$(eval $(call eci_core_objects,$(FUZZ_DIR),\
    $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link))

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
