/*
 * Which principals get the per-group-set index, and what it costs
 * (issue 18): the index gives the same answers as the plain loop, so a
 * mutant that builds none, builds one per principal or miscounts its
 * bytes answered every other test right.  Read here through the ACL's
 * in-memory form (eci_acl_int.h): each principal of 4 groups or more has
 * one, principals with the same list share it, the bytes are counted
 * exactly, and the 64 MiB budget is kept to the byte.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl_int.h"
#include "tap.h"


#define PERM  "\"permissions\":[\"" ECI_PERMISSION_EXEC "\"]"

/* 64 MiB, in rows of 8192 groups (128 words, 1 KiB) */
#define BUDGET       (64 * 1024 * 1024)
#define WIDE         8192
#define ROW          (WIDE / 64 * 8)


static eci_acl_entry_t *
principal(eci_acl_t *acl, const char *name)
{
    return eci_acl_table_find(&acl->principals, name, strlen(name));
}


/* the distinct indexes the principals have */
static size_t
indexes(const eci_acl_t *acl)
{
    size_t                  i, j, n;
    const eci_acl_index_t  *seen[16], *ix;

    n = 0;

    for (i = 0; i <= acl->principals.mask; i++) {
        if (acl->principals.slots[i].entry == NULL) {
            continue;
        }

        ix = acl->principals.slots[i].entry->index;

        for (j = 0; ix != NULL && j < n && seen[j] != ix; j++) {
            /* void */
        }

        if (ix != NULL && j == n && n < 16) {
            seen[n++] = ix;
        }
    }

    return n;
}


/*
 * n principals each: "q<i>" in g0..g3 (one list), "r<i>" in g1 g0 g2 g3
 * (the same groups in another order: another list), "s<i>" in g0..g2 (too
 * few for an index), "t<try>-<i>" in g0..g3 too (names to move
 * principals around the table); and one, "w", in the 64 groups g0..g63
 * (a row of one word exactly)
 */
static eci_acl_t *
small_acl(size_t n, size_t try, eci_err_t *err)
{
    char       *json, *p;
    size_t      i;
    eci_acl_t  *acl;

    json = malloc(4096 + n * 512);
    if (json == NULL) {
        return NULL;
    }

    p = json;
    p += sprintf(p, "{\"principals\":{");

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s\"q%zu\":{\"groups\":[\"g0\",\"g1\",\"g2\","
                     "\"g3\"]," PERM "}", i ? "," : "", i);
        p += sprintf(p, ",\"r%zu\":{\"groups\":[\"g1\",\"g0\",\"g2\","
                     "\"g3\"]," PERM "}", i);
        p += sprintf(p, ",\"s%zu\":{\"groups\":[\"g0\",\"g1\",\"g2\"],"
                     PERM "}", i);
        p += sprintf(p, ",\"t%zu-%zu\":{\"groups\":[\"g0\",\"g1\",\"g2\","
                     "\"g3\"]," PERM "}", try, i);
    }

    p += sprintf(p, ",\"w\":{\"groups\":[");
    for (i = 0; i < 64; i++) {
        p += sprintf(p, "%s\"g%zu\"", i ? "," : "", i);
    }
    p += sprintf(p, "]," PERM "}},\"groups\":{");

    /* report ids 1 2 3 in g0..g3 (and "*"), override id 7 in g2 */
    p += sprintf(p, "\"g0\":{" PERM ",\"reportDistributionIds\":[1,2]},"
                    "\"g1\":{" PERM ",\"reportDistributionIds\":[2,3]},"
                    "\"g2\":{" PERM ",\"reportDistributionIds\":[],"
                    "\"overrideUserIds\":[7]},"
                    "\"g3\":{" PERM ",\"reportDistributionIds\":\"*\"}");

    for (i = 4; i < 64; i++) {
        p += sprintf(p, ",\"g%zu\":{" PERM "}", i);
    }

    p += sprintf(p, "}}");

    acl = eci_acl_load_buffer(json, (size_t) (p - json), "index.json", err);
    free(json);

    return acl;
}


static void
test_built(void)
{
    int               bad;
    char              name[32];
    size_t            i, n, try;
    eci_err_t         err;
    eci_acl_t        *acl;
    eci_acl_entry_t  *q0, *r0, *e, *first, *last;

    /*
     * The loader walks the principals' hash table from slot 0 to its last
     * slot: the names change until both ends hold a principal with an
     * index to build (the hash is fixed: the same names every run).
     */
    acl = NULL;
    first = NULL;
    last = NULL;
    n = 10;
    err.msg[0] = '\0';

    for (try = 0; try < 1000; try++) {
        acl = small_acl(n, try, &err);
        if (acl == NULL) {
            break;
        }

        first = acl->principals.slots[0].entry;
        last = acl->principals.slots[acl->principals.mask].entry;

        if (first != NULL && last != NULL && first->ngroups >= 4
            && last->ngroups >= 4)
        {
            break;
        }

        eci_acl_free(acl);
        acl = NULL;
    }

    if (acl == NULL) {
        ok(0, "an ACL with principals of 4 groups in the first and the last "
           "slot of its table (%s)", err.msg);
        return;
    }

    ok(first->index != NULL && last->index != NULL,
       "%zu x 4 + 1 principals (names %zu): those in the table's first and "
       "last slots have the index", n, try);

    bad = 0;

    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "q%zu", i);
        e = principal(acl, name);
        snprintf(name, sizeof(name), "r%zu", i);
        r0 = principal(acl, name);
        snprintf(name, sizeof(name), "s%zu", i);
        q0 = principal(acl, name);

        if (e == NULL || r0 == NULL || q0 == NULL || e->index == NULL
            || r0->index == NULL || q0->index != NULL)
        {
            bad++;
        }
    }

    is_int(bad, 0, "every principal of 4 groups has an index, none of 3 "
           "has one");

    q0 = principal(acl, "q0");
    r0 = principal(acl, "r0");
    e = principal(acl, "w");

    bad = 0;

    for (i = 1; i < n; i++) {
        snprintf(name, sizeof(name), "q%zu", i);
        if (principal(acl, name)->index != q0->index) {
            bad++;
        }
        snprintf(name, sizeof(name), "r%zu", i);
        if (principal(acl, name)->index != r0->index) {
            bad++;
        }
    }

    for (i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "t%zu-%zu", try, i);
        if (principal(acl, name)->index != q0->index) {
            bad++;
        }
    }

    is_int(bad, 0, "principals with the same list share its index");
    ok(q0->index != r0->index && e->index != NULL && e->index != q0->index,
       "another order, or other groups: another index");
    is_int(indexes(acl), 3, "three lists, three indexes");

    /*
     * Rows of (distinct ids + 2) x words x 8 bytes, for report ids and
     * override ids: g0..g3 name 1 2 3 and override 7 (5 + 3 rows, one
     * word each), twice; the 64 groups likewise (one word still)
     */
    is_int(acl->index_bytes, 3 * (5 + 3) * 8, "the index's bytes: %zu",
           acl->index_bytes);

    eci_acl_free(acl);
}


/*
 * One principal in WIDE groups: group k names the report ids of ids[k]
 * (distinct across groups), so the report rows are (total + 2) KiB and the
 * override rows 2 KiB.  total + 4 = 65536 fills the budget to the byte.
 */
static eci_acl_t *
wide_acl(size_t total, eci_err_t *err)
{
    char       *json, *p;
    size_t      k, j, per, extra, id;
    eci_acl_t  *acl;

    json = malloc(WIDE * 160 + total * 12 + 4096);
    if (json == NULL) {
        return NULL;
    }

    per = total / WIDE;
    extra = total % WIDE;
    id = 1;

    p = json;
    /* no ids of its own ("reportDistributionIds" left out: all of them) */
    p += sprintf(p, "{\"principals\":{\"wide\":{" PERM ","
                    "\"reportDistributionIds\":[],\"groups\":[");

    for (k = 0; k < WIDE; k++) {
        p += sprintf(p, "%s\"g%zu\"", k ? "," : "", k);
    }

    p += sprintf(p, "]}},\"groups\":{");

    for (k = 0; k < WIDE; k++) {
        p += sprintf(p, "%s\"g%zu\":{" PERM ",\"reportDistributionIds\":[",
                     k ? "," : "", k);

        for (j = 0; j < per + (k < extra); j++) {
            p += sprintf(p, "%s%zu", j ? "," : "", id++);
        }

        p += sprintf(p, "]}");
    }

    p += sprintf(p, "}}");

    acl = eci_acl_load_buffer(json, (size_t) (p - json), "wide.json", err);
    free(json);

    return acl;
}


static void
test_budget(void)
{
    size_t            total;
    int32_t           denied;
    eci_err_t         err;
    eci_acl_t        *acl;
    eci_acl_entry_t  *e;

    total = BUDGET / ROW - 4;

    acl = wide_acl(total, &err);
    e = (acl != NULL) ? principal(acl, "wide") : NULL;
    ok(e != NULL && e->index != NULL && acl->index_bytes == BUDGET,
       "%d groups naming %zu ids: an index of 64 MiB exactly is built "
       "(%zu bytes)", WIDE, total, acl != NULL ? acl->index_bytes : 0);
    ok(acl != NULL
       && eci_acl_check(acl, "wide", 4, ECI_PERMISSION_EXEC,
                        (int32_t) total, NULL, 0, &denied) == ECI_ACL_ALLOW
       && eci_acl_check(acl, "wide", 4, ECI_PERMISSION_EXEC,
                        (int32_t) total + 1, NULL, 0, &denied)
          == ECI_ACL_ID_DENIED,
       "and answers: the last id allowed, the next one not");
    eci_acl_free(acl);

    acl = wide_acl(total + 1, &err);
    e = (acl != NULL) ? principal(acl, "wide") : NULL;
    ok(e != NULL && e->index == NULL && acl->indexes == NULL
       && acl->index_bytes == 0,
       "one id more: over the budget, no index (the plain loop)");
    ok(acl != NULL
       && eci_acl_check(acl, "wide", 4, ECI_PERMISSION_EXEC,
                        (int32_t) total + 1, NULL, 0, &denied)
          == ECI_ACL_ALLOW
       && eci_acl_check(acl, "wide", 4, ECI_PERMISSION_EXEC,
                        (int32_t) total + 2, NULL, 0, &denied)
          == ECI_ACL_ID_DENIED,
       "and the plain loop answers the same");
    eci_acl_free(acl);
}


/*
 * One check after another in the same index: the candidate row starts
 * empty each time (a group that allowed the last request is no
 * candidate for another permission).  g0 grants the exec permission for
 * id 1; g1 grants "Reports (View)" for no id.
 */
static void
test_checks_in_turn(void)
{
    eci_err_t         err;
    eci_acl_t        *acl;
    eci_acl_entry_t  *e;

    static const char  json[] =
        "{\"principals\":{\"p\":{\"groups\":[\"g0\",\"g1\",\"g2\",\"g3\"],"
        "\"permissions\":[\"Other (View)\"],\"reportDistributionIds\":[]}},"
        "\"groups\":{"
        "\"g0\":{" PERM ",\"reportDistributionIds\":[1]},"
        "\"g1\":{\"permissions\":[\"Reports (View)\"],"
        "\"reportDistributionIds\":[]},"
        "\"g2\":{\"permissions\":[\"Other (View)\"],"
        "\"reportDistributionIds\":[]},"
        "\"g3\":{\"permissions\":[\"Other (View)\"],"
        "\"reportDistributionIds\":[]}}}";

    acl = eci_acl_load_buffer(json, sizeof(json) - 1, "turn.json", &err);
    e = (acl != NULL) ? principal(acl, "p") : NULL;
    ok(e != NULL && e->index != NULL, "a principal of 4 groups, indexed (%s)",
       acl == NULL ? err.msg : "");
    if (e == NULL) {
        eci_acl_free(acl);
        return;
    }

    is_int(eci_acl_check(acl, "p", 1, ECI_PERMISSION_EXEC, 1, NULL, 0, NULL),
           ECI_ACL_ALLOW, "exec, id 1: allowed by g0");
    is_int(eci_acl_check(acl, "p", 1, "Reports (View)", 1, NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "then \"Reports (View)\", id 1: g1 has the "
           "permission, not the id; g0 is no candidate any more");
    is_int(eci_acl_check(acl, "p", 1, ECI_PERMISSION_EXEC, 1, NULL, 0, NULL),
           ECI_ACL_ALLOW, "exec, id 1 again: allowed");
    is_int(eci_acl_check(acl, "p", 1, "Other (View)", 1, NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "\"Other (View)\", id 1: denied");

    eci_acl_free(acl);
}


int
main(void)
{
    test_built();
    test_budget();
    test_checks_in_turn();

    return done_testing();
}
