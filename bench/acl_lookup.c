/*
 * bench/acl_lookup.c: what one eci_acl_check() costs, in ns, with the
 * 3-principal ACL and with the large one (make bench-acl; bench/run.pl
 * writes both files).  Figures, not a test.
 *
 *   acl_lookup SMALL.json LARGE.json [CALLS [REQUEST_NS]]
 *
 * Cases, CALLS calls each (0 or absent: 2,000,000), RUNS times
 * interleaved, medians:
 *   small, svc-bench     what the wrk rounds run against the small ACL
 *   large, svc-bench     the same caller in the large table (warm)
 *   large, all callers   each call a principal drawn pseudo-randomly from
 *                        the whole file: the table does not stay in cache
 *
 * Every call asks for the exec permission on an id one of the principal's
 * grants covers (read from the file with jansson) and must return
 * ECI_ACL_ALLOW: the full path is measured, never an early refusal.
 *
 * "serialized": an lfence after each step waits for its loads, as in the
 * gateway, where lookups are a request (~20 us of other work) apart and
 * their cache misses cannot overlap.  "tight loop": without it, the CPU
 * overlaps the misses of successive calls.  Each loop copies the caller's
 * name to a buffer first (in the gateway it is in cache, just parsed);
 * the same loop without the call is timed too and subtracted.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "eci_acl.h"


#define BENCH_CALLS       2000000
#define BENCH_RUNS        5
#define BENCH_REQUEST_NS  20000
#define BENCH_CALLER      "svc-bench"

enum {
    BENCH_SMALL = 0,
    BENCH_LARGE,
    BENCH_RANDOM,
    BENCH_CASES
};


typedef struct {
    char        *name;
    size_t       len;
    int32_t      id;
} bench_query_t;

typedef struct {
    const char     *what;
    eci_acl_t      *acl;
    bench_query_t  *q;
    size_t          nq;
    double          ns[2][BENCH_RUNS];  /* serialized, tight loop */
    double          base[BENCH_RUNS];   /* serialized, without the call */
} bench_case_t;


static bench_query_t *bench_queries(const char *path, size_t *n,
    size_t *max_len);
static int32_t bench_granted_id(json_t *groups, json_t *p);
static eci_acl_t *bench_acl_load(const char *path);
static double bench_loop(const bench_case_t *c, char *hot, size_t calls,
    int fence, int call);
static double bench_now(void);
static double bench_median(const double *v, size_t n, double *lo,
    double *hi);
static void bench_fail(const char *what, const char *detail);


int
main(int argc, char **argv)
{
    char           *hot, label[64];
    size_t          i, k, r, calls, nsmall, nlarge, len, max_len;
    double          request_ns, base, ns, lo, hi, med[BENCH_CASES][2];
    eci_acl_t      *small, *large;
    eci_acl_rc_t    rc;
    bench_case_t    cases[BENCH_CASES], *c;
    bench_query_t  *qsmall, *qlarge, *bsmall, *blarge;

    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s SMALL.json LARGE.json [CALLS "
                "[REQUEST_NS]]\n", argv[0]);
        return 2;
    }

    calls = (argc > 3) ? strtoul(argv[3], NULL, 10) : 0;
    if (calls == 0) {
        calls = BENCH_CALLS;
    }

    request_ns = (argc > 4) ? strtod(argv[4], NULL) : 0;
    if (request_ns <= 0) {
        request_ns = BENCH_REQUEST_NS;
    }

    small = bench_acl_load(argv[1]);
    large = bench_acl_load(argv[2]);

    qsmall = bench_queries(argv[1], &nsmall, &max_len);
    qlarge = bench_queries(argv[2], &nlarge, &len);
    max_len = (len > max_len) ? len : max_len;

    bsmall = NULL;
    blarge = NULL;

    for (i = 0; i < nsmall; i++) {
        if (strcmp(qsmall[i].name, BENCH_CALLER) == 0) {
            bsmall = &qsmall[i];
        }
    }

    for (i = 0; i < nlarge; i++) {
        if (strcmp(qlarge[i].name, BENCH_CALLER) == 0) {
            blarge = &qlarge[i];
        }
    }

    if (bsmall == NULL || blarge == NULL) {
        bench_fail("no principal " BENCH_CALLER " with the exec "
                   "permission in", (bsmall == NULL) ? argv[1] : argv[2]);
    }

    /* no error path is timed: every query must be allowed */

    for (i = 0; i < nlarge; i++) {
        rc = eci_acl_check(large, qlarge[i].name, qlarge[i].len,
                           ECI_PERMISSION_EXEC, qlarge[i].id, NULL, 0, NULL);
        if (rc != ECI_ACL_ALLOW) {
            fprintf(stderr, "principal \"%s\", id %d: %s\n", qlarge[i].name,
                    (int) qlarge[i].id, eci_acl_rc_text(rc));
            bench_fail("a query is not allowed in", argv[2]);
        }
    }

    if (eci_acl_check(small, bsmall->name, bsmall->len, ECI_PERMISSION_EXEC,
                      bsmall->id, NULL, 0, NULL)
        != ECI_ACL_ALLOW)
    {
        bench_fail(BENCH_CALLER " is not allowed in", argv[1]);
    }

    hot = malloc(max_len + 1);
    if (hot == NULL) {
        bench_fail("out of memory", "");
    }

    memset(cases, 0, sizeof(cases));

    cases[BENCH_SMALL].acl = small;
    cases[BENCH_SMALL].q = bsmall;
    cases[BENCH_SMALL].nq = 1;

    cases[BENCH_LARGE].acl = large;
    cases[BENCH_LARGE].q = blarge;
    cases[BENCH_LARGE].nq = 1;

    cases[BENCH_RANDOM].acl = large;
    cases[BENCH_RANDOM].q = qlarge;
    cases[BENCH_RANDOM].nq = nlarge;

    /* warm-up: code, branch predictors, the CPU's clock */
    for (k = 0; k < BENCH_CASES; k++) {
        (void) bench_loop(&cases[k], hot, calls / 4, 0, 1);
    }

    for (r = 0; r < BENCH_RUNS; r++) {
        for (k = 0; k < BENCH_CASES; k++) {
            c = &cases[k];

            for (i = 0; i < 2; i++) {
                base = bench_loop(c, hot, calls, i == 0, 0);
                ns = bench_loop(c, hot, calls, i == 0, 1);
                c->ns[i][r] = ns - base;

                if (i == 0) {
                    c->base[r] = base;
                }
            }
        }
    }

    printf("acl_lookup: %zu principals (%s), %zu principals (%s); "
           "%zu calls a case, %d runs interleaved\n",
           eci_acl_principal_count(small), argv[1],
           eci_acl_principal_count(large), argv[2], calls, BENCH_RUNS);
    printf("ns per eci_acl_check(), all ECI_ACL_ALLOW, loop without the "
           "call subtracted:\n");
    printf("%-36s %12s %13s %11s\n", "", "serialized", "(min-max)",
           "tight loop");

    for (k = 0; k < BENCH_CASES; k++) {
        c = &cases[k];

        med[k][1] = bench_median(c->ns[1], BENCH_RUNS, NULL, NULL);
        med[k][0] = bench_median(c->ns[0], BENCH_RUNS, &lo, &hi);

        if (k == BENCH_RANDOM) {
            (void) snprintf(label, sizeof(label),
                            "large ACL, %zu callers at random", nlarge);

        } else {
            (void) snprintf(label, sizeof(label), "%s ACL, " BENCH_CALLER
                            " (warm)", (k == BENCH_SMALL) ? "small" : "large");
        }

        printf("%-36s %12.1f %6.1f-%-6.1f %11.1f\n", label, med[k][0], lo, hi,
               med[k][1]);
    }

    printf("the loop without the call (name copy, fences), serialized: "
           "%.1f, %.1f, %.1f ns\n",
           bench_median(cases[BENCH_SMALL].base, BENCH_RUNS, NULL, NULL),
           bench_median(cases[BENCH_LARGE].base, BENCH_RUNS, NULL, NULL),
           bench_median(cases[BENCH_RANDOM].base, BENCH_RUNS, NULL, NULL));

    for (k = BENCH_LARGE; k < BENCH_CASES; k++) {
        ns = med[k][0] - med[BENCH_SMALL][0];
        printf("%s - small, serialized: %+.1f ns = %+.2f%% of %.0f ns "
               "of worker CPU per request\n",
               (k == BENCH_LARGE) ? "large " BENCH_CALLER
                                  : "large at random",
               ns, 100 * ns / request_ns, request_ns);
    }

    for (i = 0; i < nsmall; i++) {
        free(qsmall[i].name);
    }

    for (i = 0; i < nlarge; i++) {
        free(qlarge[i].name);
    }

    free(qsmall);
    free(qlarge);
    free(hot);
    eci_acl_free(small);
    eci_acl_free(large);

    return 0;
}


/*
 * One query a principal of the file that has the exec permission in some
 * grant: its name and an id that grant covers.
 */

static bench_query_t *
bench_queries(const char *path, size_t *n, size_t *max_len)
{
    size_t          i;
    json_t         *root, *principals, *groups, *v;
    int32_t         id;
    const char     *key;
    json_error_t    jerr;
    bench_query_t  *q;

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        bench_fail(jerr.text, path);
    }

    principals = json_object_get(root, "principals");
    groups = json_object_get(root, "groups");

    q = calloc(json_object_size(principals) + 1, sizeof(bench_query_t));
    if (q == NULL) {
        bench_fail("out of memory", path);
    }

    i = 0;
    *max_len = 0;

    json_object_foreach(principals, key, v) {
        id = bench_granted_id(groups, v);
        if (id == 0) {
            continue;
        }

        q[i].len = strlen(key);
        q[i].name = strdup(key);
        q[i].id = id;

        if (q[i].name == NULL) {
            bench_fail("out of memory", path);
        }

        if (q[i].len > *max_len) {
            *max_len = q[i].len;
        }

        i++;
    }

    json_decref(root);

    if (i == 0) {
        bench_fail("no principal with the exec permission in", path);
    }

    *n = i;

    return q;
}


/*
 * Of the grants with the exec permission (the principal's own, then its
 * groups'), the last one: the check reads all before it.  Its largest id,
 * or 42 when it covers every id; 0: no such grant.
 */

static int32_t
bench_granted_id(json_t *groups, json_t *p)
{
    size_t   i, j;
    json_t  *g, *perm, *ids, *last;
    int32_t  id;

    id = 0;
    g = p;
    i = 0;

    for ( ;; ) {
        json_array_foreach(json_object_get(g, "permissions"), j, perm) {
            if (strcmp(json_string_value(perm), ECI_PERMISSION_EXEC) != 0) {
                continue;
            }

            ids = json_object_get(g, "reportDistributionIds");
            last = json_array_get(ids, json_array_size(ids) - 1);

            if (json_is_array(ids)) {
                id = (last != NULL) ? (int32_t) json_integer_value(last) : 0;

            } else {
                id = 42;
            }

            break;
        }

        g = json_array_get(json_object_get(p, "groups"), i++);
        if (g == NULL) {
            break;
        }

        g = json_object_get(groups, json_string_value(g));
    }

    return id;
}


static eci_acl_t *
bench_acl_load(const char *path)
{
    eci_err_t   err;
    eci_acl_t  *acl;

    acl = eci_acl_load(path, &err);
    if (acl == NULL) {
        bench_fail(err.msg, "");
    }

    return acl;
}


static inline void
bench_fence(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile ("lfence" ::: "memory");
#else
    __asm__ volatile ("" ::: "memory");
#endif
}


/* ns per iteration; call == 0: the same loop without eci_acl_check() */

static double
bench_loop(const bench_case_t *c, char *hot, size_t calls, int fence,
    int call)
{
    size_t                i, k, bad;
    double                t0;
    uint32_t              x;
    eci_acl_rc_t          rc;
    const bench_query_t  *q;

    x = 2463534242u;
    bad = 0;

    t0 = bench_now();

    for (i = 0; i < calls; i++) {
        /* xorshift32, and a multiply to map it onto 0 .. nq - 1 */
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        k = (size_t) (((uint64_t) x * c->nq) >> 32);

        q = &c->q[k];
        memcpy(hot, q->name, q->len);

        if (fence) {
            bench_fence();
        }

        if (call) {
            rc = eci_acl_check(c->acl, hot, q->len, ECI_PERMISSION_EXEC,
                               q->id, NULL, 0, NULL);
            bad += (rc != ECI_ACL_ALLOW);
        }

        if (fence) {
            bench_fence();
        }
    }

    t0 = bench_now() - t0;

    if (bad != 0) {
        bench_fail("a timed call was not allowed", "");
    }

    return t0 * 1e9 / calls;
}


static double
bench_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static double
bench_median(const double *v, size_t n, double *lo, double *hi)
{
    size_t  i, j;
    double  s[BENCH_RUNS], t;

    memcpy(s, v, n * sizeof(double));

    /* a handful of values: insertion sort */
    for (i = 1; i < n; i++) {
        for (j = i; j > 0 && s[j - 1] > s[j]; j--) {
            t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    }

    if (lo != NULL) {
        *lo = s[0];
        *hi = s[n - 1];
    }

    return (n % 2) ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}


static void
bench_fail(const char *what, const char *detail)
{
    fprintf(stderr, "acl_lookup: %s %s\n", what, detail);
    exit(1);
}
