/*
 * The ACL's per-group-set index: a decision that does not try each group
 * in turn.
 *
 * A request is allowed when one single grant covers the permission, the
 * id and every override id (eci_acl.c).  Tried grant by grant, a
 * principal in G groups sending N override ids costs G x N lookups, and
 * the caller chooses N (up to 10,000).  So for every distinct list of
 * groups that principals name (at least ECI_ACL_INDEX_MIN groups), the
 * loader builds, for the report ids and for the override ids of those
 * groups, a sorted list of the ids they name with a bit row per id (bit j:
 * group j names it) and a row of the groups that say "*".  A check then
 * keeps one row of candidate groups and ands it with each id's row: one
 * binary search and G / 64 words per id, and the decision (and the denied
 * id it reports) is the same as the plain loop's.  The principal's own
 * grant is tried beside the row.
 *
 * The rows take (distinct ids) x G / 8 bytes; past ECI_ACL_INDEX_BUDGET
 * for the whole ACL a group list keeps the plain loop.
 */

#include <stdlib.h>
#include <string.h>

#include "eci_acl_int.h"


#define ECI_ACL_INDEX_MIN     4
#define ECI_ACL_INDEX_BUDGET  (64 * 1024 * 1024)


typedef struct {
    int32_t          *ids;          /* sorted, unique */
    size_t            n;
    uint64_t         *rows;         /* n rows of words */
    uint64_t         *all;          /* the groups that say "*" */
} eci_acl_postings_t;

struct eci_acl_index_s {
    eci_acl_index_t      *next;
    eci_acl_entry_t     **groups;   /* the list it is for */
    size_t                ngroups;
    size_t                words;
    eci_acl_postings_t    report;
    eci_acl_postings_t    override;
    /*
     * Two rows a check works in, allocated with the index: a check then
     * allocates nothing and has no failure path.  The ACL is used by one
     * thread per process (a worker, a tool), as every nginx module's
     * configuration is.
     */
    uint64_t             *scratch;
};

typedef struct {
    int32_t           id;
    uint32_t          group;
} eci_acl_pair_t;


static eci_acl_index_t *eci_acl_index_find(eci_acl_t *acl,
    eci_acl_entry_t *e);
static int eci_acl_index_new(eci_acl_t *acl, eci_acl_entry_t *e,
    eci_acl_index_t **out);
static size_t eci_acl_postings_count(eci_acl_entry_t *e, int report);
static int eci_acl_postings_fill(eci_acl_t *acl, eci_acl_entry_t *e,
    int report, size_t words, eci_acl_postings_t *p, eci_acl_pair_t *pairs,
    size_t npairs, size_t *budget);
static const uint64_t *eci_acl_postings_row(const eci_acl_postings_t *p,
    size_t words, int32_t id);
static size_t eci_acl_prefix(const eci_acl_entry_t *e, uint64_t *c,
    int own, const int32_t *ids, size_t n);
static int eci_acl_covers_all(const eci_acl_grant_t *g, const int32_t *ids,
    size_t n);
static int eci_acl_pair_cmp(const void *a, const void *b);
static int eci_acl_row_any(const uint64_t *row, size_t words);
static void eci_acl_row_and(uint64_t *c, const uint64_t *row,
    const uint64_t *all, size_t words);


/* after loading: an index for each group list long enough to need one */
int
eci_acl_index_build(eci_acl_t *acl)
{
    size_t            i;
    eci_acl_entry_t  *e;
    eci_acl_index_t  *ix;

    for (i = 0; acl->principals.slots != NULL && i <= acl->principals.mask;
         i++)
    {
        e = acl->principals.slots[i].entry;

        if (e == NULL || e->ngroups < ECI_ACL_INDEX_MIN) {
            continue;
        }

        ix = eci_acl_index_find(acl, e);

        if (ix == NULL && eci_acl_index_new(acl, e, &ix) != 0) {
            return -1;
        }

        e->index = ix;      /* NULL: over the budget, the plain loop */
    }

    return 0;
}


/*
 * Another principal with the same groups in the same order shares the
 * index.  A list search: indexes are few (one per distinct group list).
 */
static eci_acl_index_t *
eci_acl_index_find(eci_acl_t *acl, eci_acl_entry_t *e)
{
    eci_acl_index_t  *ix;

    for (ix = acl->indexes; ix != NULL; ix = ix->next) {
        if (ix->ngroups == e->ngroups
            && memcmp(ix->groups, e->groups,
                      e->ngroups * sizeof(eci_acl_entry_t *))
               == 0)
        {
            return ix;
        }
    }

    return NULL;
}


static int
eci_acl_index_new(eci_acl_t *acl, eci_acl_entry_t *e, eci_acl_index_t **out)
{
    int               rc;
    size_t            words, nr, no, budget;
    eci_acl_pair_t   *pairs;
    eci_acl_index_t  *ix;

    *out = NULL;

    words = (e->ngroups + 63) / 64;
    nr = eci_acl_postings_count(e, 1);
    no = eci_acl_postings_count(e, 0);

    budget = ECI_ACL_INDEX_BUDGET - acl->index_bytes;

    ix = eci_acl_alloc(acl, sizeof(eci_acl_index_t));
    if (ix == NULL) {
        return -1;
    }

    pairs = malloc((nr > no ? nr : no) * sizeof(eci_acl_pair_t) + 1);
    if (pairs == NULL) {
        return -1;
    }

    ix->groups = e->groups;
    ix->ngroups = e->ngroups;
    ix->words = words;

    ix->scratch = eci_acl_alloc(acl, 2 * words * sizeof(uint64_t));
    if (ix->scratch == NULL) {
        free(pairs);
        return -1;
    }

    rc = eci_acl_postings_fill(acl, e, 1, words, &ix->report, pairs, nr,
                               &budget);

    if (rc == 0) {
        rc = eci_acl_postings_fill(acl, e, 0, words, &ix->override, pairs,
                                   no, &budget);
    }

    free(pairs);

    if (rc < 0) {
        return -1;
    }

    if (rc > 0) {
        /* over the budget: this group list keeps the plain loop */
        return 0;
    }

    acl->index_bytes = ECI_ACL_INDEX_BUDGET - budget;

    ix->next = acl->indexes;
    acl->indexes = ix;

    *out = ix;

    return 0;
}


static size_t
eci_acl_postings_count(eci_acl_entry_t *e, int report)
{
    size_t                 k, n;
    const eci_acl_ids_t   *ids;

    n = 0;

    for (k = 0; k < e->ngroups; k++) {
        ids = report ? &e->groups[k]->grant.report_ids
                     : &e->groups[k]->grant.override_ids;
        n += ids->n;
    }

    return n;
}


/* -1: out of memory; 1: the rows would not fit *budget; 0: done */
static int
eci_acl_postings_fill(eci_acl_t *acl, eci_acl_entry_t *e, int report,
    size_t words, eci_acl_postings_t *p, eci_acl_pair_t *pairs,
    size_t npairs, size_t *budget)
{
    size_t                 i, k, n, u, bytes;
    const eci_acl_ids_t   *ids;

    p->all = eci_acl_alloc(acl, words * sizeof(uint64_t));
    if (p->all == NULL) {
        return -1;
    }

    n = 0;

    for (k = 0; k < e->ngroups; k++) {
        ids = report ? &e->groups[k]->grant.report_ids
                     : &e->groups[k]->grant.override_ids;

        if (ids->all) {
            p->all[k / 64] |= (uint64_t) 1 << (k % 64);
        }

        for (i = 0; i < ids->n && n < npairs; i++) {
            pairs[n].id = ids->ids[i];
            pairs[n].group = (uint32_t) k;
            n++;
        }
    }

    qsort(pairs, n, sizeof(eci_acl_pair_t), eci_acl_pair_cmp);

    for (i = 0, u = 0; i < n; i++) {
        if (i == 0 || pairs[i].id != pairs[i - 1].id) {
            u++;
        }
    }

    bytes = (u + 2) * words * sizeof(uint64_t);

    if (bytes > *budget) {
        return 1;
    }

    *budget -= bytes;

    p->n = u;
    p->ids = eci_acl_alloc(acl, (u + 1) * sizeof(int32_t));
    p->rows = eci_acl_alloc(acl, (u + 1) * words * sizeof(uint64_t));

    if (p->ids == NULL || p->rows == NULL) {
        return -1;
    }

    for (i = 0, u = 0; i < n; i++) {
        if (i > 0 && pairs[i].id != pairs[i - 1].id) {
            u++;
        }

        p->ids[u] = pairs[i].id;
        p->rows[u * words + pairs[i].group / 64]
            |= (uint64_t) 1 << (pairs[i].group % 64);
    }

    return 0;
}


/*
 * The same decision as the plain loop in eci_acl_check(), and the same
 * denied id as eci_acl_override_denied(): the first override no grant
 * allows, else the one that ends the longest prefix any grant allows.
 */
eci_acl_rc_t
eci_acl_check_indexed(const eci_acl_entry_t *e, const char *permission,
    size_t index, int32_t id, const int32_t *ids, size_t n, int32_t *denied,
    const eci_acl_grant_t **allowed)
{
    int                     own_perm, own_id;
    size_t                  i, k, words, stop;
    uint64_t               *c, *c0;
    eci_acl_rc_t            rc;
    const uint64_t         *row, *all;
    const eci_acl_index_t  *ix;

    ix = e->index;
    words = ix->words;
    c = ix->scratch;
    c0 = c + words;

    /* the groups that carry the permission */
    memset(c, 0, words * sizeof(uint64_t));

    for (k = 0; k < ix->ngroups; k++) {
        if (eci_acl_grant_has(&ix->groups[k]->grant, permission, index)) {
            c[k / 64] |= (uint64_t) 1 << (k % 64);
        }
    }

    own_perm = eci_acl_grant_has(&e->grant, permission, index);

    if (!own_perm && !eci_acl_row_any(c, words)) {
        rc = ECI_ACL_NO_PERMISSION;
        goto done;
    }

    /* ... and cover the id */
    row = eci_acl_postings_row(&ix->report, words, id);
    eci_acl_row_and(c, row, ix->report.all, words);

    own_id = own_perm && eci_acl_ids_cover(&e->grant.report_ids, id);

    if (!own_id && !eci_acl_row_any(c, words)) {
        rc = ECI_ACL_ID_DENIED;
        goto done;
    }

    memcpy(c0, c, words * sizeof(uint64_t));

    /* ... and every override id */
    all = ix->override.all;
    stop = eci_acl_prefix(e, c, own_id, ids, n);

    if (stop == n) {
        /* the grant the plain loop would find: own entry, first group */
        *allowed = &e->grant;

        if (!(own_id && eci_acl_covers_all(&e->grant, ids, n))) {
            for (k = 0; k < words && c[k] == 0; k++) { /* void */ }
            *allowed = &ix->groups[k * 64
                                   + (size_t) __builtin_ctzll(c[k])]->grant;
        }

        rc = ECI_ACL_ALLOW;
        goto done;
    }

    rc = ECI_ACL_OVERRIDE_DENIED;

    if (denied == NULL) {
        goto done;
    }

    /* the first override that no grant allows */
    for (i = 0; i < n; i++) {
        if (own_id && eci_acl_ids_cover(&e->grant.override_ids, ids[i])) {
            continue;
        }

        row = eci_acl_postings_row(&ix->override, words, ids[i]);

        for (k = 0; k < words; k++) {
            if (c0[k] & ((row ? row[k] : 0) | all[k])) {
                break;
            }
        }

        if (k == words) {
            *denied = ids[i];
            goto done;
        }
    }

    /* the one that ends the longest prefix: where the check above stopped */
    *denied = ids[stop];

done:

    return rc;
}


/*
 * How many of ids, from the first, one grant allows: c (the candidate
 * groups) loses each group that does not name the next id, own (the
 * principal's own grant) likewise; n when one allows them all.
 */
static size_t
eci_acl_prefix(const eci_acl_entry_t *e, uint64_t *c, int own,
    const int32_t *ids, size_t n)
{
    size_t                  i, words;
    const uint64_t         *row;
    const eci_acl_index_t  *ix;

    ix = e->index;
    words = ix->words;

    for (i = 0; i < n; i++) {
        row = eci_acl_postings_row(&ix->override, words, ids[i]);
        eci_acl_row_and(c, row, ix->override.all, words);

        own = own && eci_acl_ids_cover(&e->grant.override_ids, ids[i]);

        if (!own && !eci_acl_row_any(c, words)) {
            break;
        }
    }

    return i;
}


static int
eci_acl_covers_all(const eci_acl_grant_t *g, const int32_t *ids, size_t n)
{
    size_t  i;

    for (i = 0; i < n && eci_acl_ids_cover(&g->override_ids, ids[i]); i++) {
        /* void */
    }

    return i == n;
}


/* the row of the groups that name id, NULL when none does */
static const uint64_t *
eci_acl_postings_row(const eci_acl_postings_t *p, size_t words, int32_t id)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = p->n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (p->ids[mid] == id) {
            return &p->rows[mid * words];
        }

        if (p->ids[mid] < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}


/* c &= row | all; a NULL row is all zeros */
static void
eci_acl_row_and(uint64_t *c, const uint64_t *row, const uint64_t *all,
    size_t words)
{
    size_t  k;

    for (k = 0; k < words; k++) {
        c[k] &= (row ? row[k] : 0) | all[k];
    }
}


static int
eci_acl_row_any(const uint64_t *row, size_t words)
{
    size_t  k;

    for (k = 0; k < words; k++) {
        if (row[k] != 0) {
            return 1;
        }
    }

    return 0;
}


static int
eci_acl_pair_cmp(const void *a, const void *b)
{
    const eci_acl_pair_t  *x = a, *y = b;

    if (x->id != y->id) {
        return (x->id > y->id) - (x->id < y->id);
    }

    return (x->group > y->group) - (x->group < y->group);
}
