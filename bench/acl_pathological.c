/*
 * bench/acl_pathological.c: what hostile-sized ACLs and requests cost
 * (make bench-acl-pathological; make bench runs it last).  Figures, not a
 * test: each case is built in memory, loaded with eci_acl_load_buffer()
 * and checked with eci_acl_check(); the load time and the median us per
 * check of 5 runs are printed.
 *
 *   permissions  20,000 distinct permission names, one per principal;
 *                each check asks for the last one (interned: a hash)
 *   groups N     a principal in N groups, each granting id 1 and 1,600
 *                override ids but one; the request sends all 1,600: no
 *                single grant covers it, so every group is tried
 *   candidate    what eci_acl_candidate adds to a request when on: one
 *                more check in a typical ACL (1,000 principals in 3 of 20
 *                groups, 5 override ids); when off it adds one test of a
 *                pointer
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eci_acl.h"


#define BENCH_RUNS       5
#define BENCH_OVERRIDES  1600


static double
bench_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
bench_cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


/* a growing text buffer */
typedef struct {
    char    *p;
    size_t   len, cap;
} bench_buf_t;


static void
bench_put(bench_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#include <stdarg.h>

static void
bench_put(bench_buf_t *b, const char *fmt, ...)
{
    int      n;
    va_list  ap;

    for ( ;; ) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);

        if (n >= 0 && (size_t) n < b->cap - b->len) {
            b->len += n;
            return;
        }

        b->cap = b->cap ? 2 * b->cap : 1 << 20;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL) {
            perror("realloc");
            exit(2);
        }
    }
}


static void
bench_case(const char *what, bench_buf_t *b, const char *principal,
    const char *permission, const int32_t *ids, size_t n, int calls,
    eci_acl_rc_t expect)
{
    int           r, i;
    double        t0, load, t[BENCH_RUNS];
    int32_t       denied;
    eci_err_t     err;
    eci_acl_t    *acl;
    eci_acl_rc_t  rc;

    t0 = bench_now();
    acl = eci_acl_load_buffer(b->p, b->len, what, &err);
    load = bench_now() - t0;

    if (acl == NULL) {
        fprintf(stderr, "acl_pathological: %s\n", err.msg);
        exit(2);
    }

    for (r = 0; r < BENCH_RUNS; r++) {
        t0 = bench_now();

        for (i = 0; i < calls; i++) {
            rc = eci_acl_check(acl, principal, strlen(principal), permission,
                               1, ids, n, &denied);
            if (rc != expect) {
                fprintf(stderr, "acl_pathological: %s: %s\n", what,
                        eci_acl_rc_text(rc));
                exit(2);
            }
        }

        t[r] = (bench_now() - t0) / calls;
    }

    qsort(t, BENCH_RUNS, sizeof(double), bench_cmp);

    printf("%-40s load %9.1f ms   check %10.2f us (min %.2f, max %.2f)\n",
           what, load / 1000, t[BENCH_RUNS / 2], t[0], t[BENCH_RUNS - 1]);

    eci_acl_free(acl);
}


int
main(void)
{
    int          i, k;
    size_t       groups[] = { 1, 100, 5000 };
    int32_t     *ids;
    bench_buf_t  b;
    char         perm[64], what[64];

    ids = malloc(BENCH_OVERRIDES * sizeof(int32_t));
    if (ids == NULL) {
        return 2;
    }

    for (i = 0; i < BENCH_OVERRIDES; i++) {
        ids[i] = i + 1;
    }

    printf("acl_pathological: median of %d runs\n", BENCH_RUNS);

    /* 20,000 distinct permissions */
    memset(&b, 0, sizeof(b));
    bench_put(&b, "{\"principals\":{");

    for (i = 0; i < 20000; i++) {
        bench_put(&b, "%s\"p%d\":{\"permissions\":[\"Area P%d (Manage)\"],"
                  "\"reportDistributionIds\":[1]}", i ? "," : "", i, i);
    }

    bench_put(&b, "}}");
    (void) snprintf(perm, sizeof(perm), "Area P%d (Manage)", 19999);

    bench_case("permissions: 20,000 distinct", &b, "p19999", perm, NULL, 0,
               100000, ECI_ACL_ALLOW);
    free(b.p);

    /* a principal in N groups, 1,600 overrides, none covers all */
    for (k = 0; k < (int) (sizeof(groups) / sizeof(groups[0])); k++) {
        memset(&b, 0, sizeof(b));
        bench_put(&b, "{\"principals\":{\"victim\":{\"groups\":[");

        for (i = 0; i < (int) groups[k]; i++) {
            bench_put(&b, "%s\"g%d\"", i ? "," : "", i);
        }

        bench_put(&b, "]}},\"groups\":{");

        for (i = 0; i < (int) groups[k]; i++) {
            int  j;

            bench_put(&b, "%s\"g%d\":{\"permissions\":[\"" ECI_PERMISSION_EXEC
                      "\"],\"reportDistributionIds\":[1],"
                      "\"overrideUserIds\":[", i ? "," : "", i);

            /* every id but the last: the request fails at its end */
            for (j = 1; j < BENCH_OVERRIDES; j++) {
                bench_put(&b, "%s%d", j > 1 ? "," : "", j);
            }

            bench_put(&b, "]}");
        }

        bench_put(&b, "}}");

        (void) snprintf(what, sizeof(what), "groups: %zu, %d overrides",
                        groups[k], BENCH_OVERRIDES);

        bench_case(what, &b, "victim", ECI_PERMISSION_EXEC, ids,
                   BENCH_OVERRIDES, groups[k] >= 1000 ? 3 : 50,
                   ECI_ACL_OVERRIDE_DENIED);
        free(b.p);
    }

    /* the candidate's cost: one more check in a typical ACL */
    memset(&b, 0, sizeof(b));
    bench_put(&b, "{\"principals\":{");

    for (i = 0; i < 1000; i++) {
        bench_put(&b, "%s\"svc-%d\":{\"groups\":[\"g%d\",\"g%d\",\"g%d\"]}",
                  i ? "," : "", i, i % 20, (i + 7) % 20, (i + 13) % 20);
    }

    bench_put(&b, "},\"groups\":{");

    for (i = 0; i < 20; i++) {
        bench_put(&b, "%s\"g%d\":{\"permissions\":[\"" ECI_PERMISSION_EXEC
                  "\"],\"reportDistributionIds\":[1,2,3,%d],"
                  "\"overrideUserIds\":[1,2,3,4,5,%d]}", i ? "," : "", i,
                  100 + i, 200 + i);
    }

    bench_put(&b, "}}");

    bench_case("candidate: one more check (typical ACL)", &b, "svc-500",
               ECI_PERMISSION_EXEC, ids, 5, 200000, ECI_ACL_ALLOW);
    free(b.p);

    free(ids);

    return 0;
}
