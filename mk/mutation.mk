# ngx_eci: mutation testing (included by the Makefile)
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
