/*
 * eci_acl_check() against an oracle written from the rule in eci_acl.h,
 * on random ACLs: principals in 0 to 12 groups (from 4 groups on the
 * per-group-set index decides, below the plain loop), random permissions,
 * report ids and override ids ("*" too), random requests.  The decision
 * and the denied id must be the oracle's every time, and so must the
 * "apiKey" of the grant that allows (the first, in the principal's order).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl.h"
#include "tap.h"


#define NGROUPS     16
#define NGROUPS_MAX 300         /* the wide rounds: rows of 2 to 5 words */
#define NPRIN       40
#define UNIVERSE    10          /* ids 1 .. 10 */
#define ACLS        150
#define REQUESTS    300

#define OTHER_PERM  "Reports (View)"


typedef struct {
    int      exec, other;
    int      ids_all, ovr_all;
    int      key;                    /* "apiKey": "k<key>"; 0: none */
    int      ids[UNIVERSE + 1];      /* ids[i]: i is named */
    int      ovr[UNIVERSE + 1];
} grant_t;

typedef struct {
    grant_t  own;
    int      ngroups;
    int      groups[NGROUPS_MAX];
} principal_t;


static unsigned long  seed = 12345;

static unsigned
rnd(unsigned n)
{
    seed = seed * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned) ((seed >> 33) % n);
}


static void
grant_random(grant_t *g)
{
    int  i;

    memset(g, 0, sizeof(*g));
    g->exec = rnd(4) != 0;
    g->other = rnd(3) == 0;
    g->ids_all = rnd(8) == 0;
    g->ovr_all = rnd(8) == 0;
    g->key = rnd(2) ? (int) rnd(1000) + 1 : 0;

    for (i = 1; i <= UNIVERSE; i++) {
        g->ids[i] = rnd(3) == 0;
        g->ovr[i] = rnd(2) == 0;
    }
}


static char *
grant_json(char *p, const grant_t *g, const char *groups)
{
    int    i, first;

    p += sprintf(p, "{%s\"permissions\":[", groups);


    first = 1;

    if (g->exec) {
        p += sprintf(p, "\"" ECI_PERMISSION_EXEC "\"");
        first = 0;
    }

    if (g->other || first) {
        p += sprintf(p, "%s\"" OTHER_PERM "\"", first ? "" : ",");
    }

    p += sprintf(p, "],\"reportDistributionIds\":");

    if (g->ids_all) {
        p += sprintf(p, "\"*\"");

    } else {
        p += sprintf(p, "[");
        for (i = 1, first = 1; i <= UNIVERSE; i++) {
            if (g->ids[i]) {
                p += sprintf(p, "%s%d", first ? "" : ",", i);
                first = 0;
            }
        }
        p += sprintf(p, "]");
    }

    p += sprintf(p, ",\"overrideUserIds\":");

    if (g->ovr_all) {
        p += sprintf(p, "\"*\"");

    } else {
        p += sprintf(p, "[");
        for (i = 1, first = 1; i <= UNIVERSE; i++) {
            if (g->ovr[i]) {
                p += sprintf(p, "%s%d", first ? "" : ",", i);
                first = 0;
            }
        }
        p += sprintf(p, "]");
    }

    if (g->key) {
        p += sprintf(p, ",\"apiKey\":\"k%d\"", g->key);
    }

    return p + sprintf(p, "}");
}


static int
covers_id(const grant_t *g, int id)
{
    return g->ids_all || (id >= 1 && id <= UNIVERSE && g->ids[id]);
}


static int
covers_ovr(const grant_t *g, int id)
{
    return g->ovr_all || (id >= 1 && id <= UNIVERSE && g->ovr[id]);
}


/* the rule and the denied id, as eci_acl.h and eci_acl.c state them */
static eci_acl_rc_t
oracle(const principal_t *p, const grant_t *groups, int id, const int32_t *o,
    size_t n, int32_t *denied, int *key)
{
    int             k, ng, have_perm, have_id, best, pre;
    size_t          i;
    const grant_t  *g[NGROUPS_MAX + 1];

    ng = 0;
    g[ng++] = &p->own;

    for (k = 0; k < p->ngroups; k++) {
        g[ng++] = &groups[p->groups[k]];
    }

    have_perm = 0;
    have_id = 0;

    for (k = 0; k < ng; k++) {
        if (!g[k]->exec) {
            continue;
        }

        have_perm = 1;

        if (!covers_id(g[k], id)) {
            continue;
        }

        have_id = 1;

        for (i = 0; i < n && covers_ovr(g[k], o[i]); i++) { /* void */ }

        if (i == n) {
            *key = g[k]->key;
            return ECI_ACL_ALLOW;
        }
    }

    if (!have_perm) {
        return ECI_ACL_NO_PERMISSION;
    }

    if (!have_id) {
        return ECI_ACL_ID_DENIED;
    }

    for (i = 0; i < n; i++) {
        for (k = 0; k < ng; k++) {
            if (g[k]->exec && covers_id(g[k], id) && covers_ovr(g[k], o[i])) {
                break;
            }
        }

        if (k == ng) {
            *denied = o[i];
            return ECI_ACL_OVERRIDE_DENIED;
        }
    }

    best = 0;

    for (k = 0; k < ng; k++) {
        if (!g[k]->exec || !covers_id(g[k], id)) {
            continue;
        }

        for (pre = 0; (size_t) pre < n && covers_ovr(g[k], o[pre]); pre++) {
            /* void */
        }

        if (pre > best && (size_t) pre < n) {
            best = pre;
        }
    }

    *denied = o[best];

    return ECI_ACL_OVERRIDE_DENIED;
}


int
main(void)
{
    int            a, r, k, i, indexed, plain, bad_rc, bad_denied, used[12];
    int            want_key, bad_key;
    const char    *key;
    char           kname[16];
    int            ng, nmax, wide;
    char          *json, *p, name[16], *groups_json, *q;
    size_t         n;
    int32_t        o[8], d1, d2;
    eci_err_t      err;
    eci_acl_t     *acl;
    static grant_t      groups[NGROUPS_MAX];
    static principal_t  prin_all[NPRIN];
    principal_t   *prin = prin_all;
    eci_acl_rc_t   rc, want;

    json = malloc(8 << 20);
    groups_json = malloc(NGROUPS_MAX * 8 + 32);
    if (json == NULL || groups_json == NULL) {
        return 1;
    }

    bad_rc = 0;
    bad_denied = 0;
    bad_key = 0;
    indexed = 0;
    plain = 0;

    for (a = 0; a < ACLS + 12; a++) {
        /*
         * The last rounds are wide: principals in 65 to 300 groups, so
         * the index's rows are several words long (group k in word k / 64).
         */
        wide = (a >= ACLS);
        ng = wide ? NGROUPS_MAX : NGROUPS;
        nmax = wide ? NGROUPS_MAX - 64 : 13;

        for (k = 0; k < ng; k++) {
            grant_random(&groups[k]);
        }

        p = json;
        p += sprintf(p, "{\"principals\":{");

        for (i = 0; i < NPRIN; i++) {
            grant_random(&prin[i].own);
            prin[i].ngroups = (int) rnd((unsigned) nmax) + (wide ? 65 : 0);

            memset(used, 0, sizeof(used));
            q = groups_json;
            q += sprintf(q, "\"groups\":[");

            for (k = 0; k < prin[i].ngroups; k++) {
                prin[i].groups[k] = (int) rnd((unsigned) ng);
                q += sprintf(q, "%s\"g%d\"", k ? "," : "", prin[i].groups[k]);
            }

            sprintf(q, "],");

            p += sprintf(p, "%s\"p%d\":", i ? "," : "", i);
            p = grant_json(p, &prin[i].own,
                           prin[i].ngroups ? groups_json : "");

            if (prin[i].ngroups >= 4) {
                indexed++;

            } else {
                plain++;
            }
        }

        p += sprintf(p, "},\"groups\":{");

        for (k = 0; k < ng; k++) {
            p += sprintf(p, "%s\"g%d\":", k ? "," : "", k);
            p = grant_json(p, &groups[k], "");
        }

        p += sprintf(p, "}}");

        acl = eci_acl_load_buffer(json, (size_t) (p - json), "random.json",
                                  &err);
        if (acl == NULL) {
            ok(0, "random ACL %d loads: %s", a, err.msg);
            break;
        }

        for (r = 0; r < REQUESTS; r++) {
            i = (int) rnd(NPRIN);
            (void) snprintf(name, sizeof(name), "p%d", i);

            /* 0 to 7 distinct override ids, in random order */
            n = rnd(8);
            memset(used, 0, sizeof(used));

            for (k = 0; (size_t) k < n; k++) {
                do {
                    o[k] = (int32_t) rnd(UNIVERSE + 1) + 1;
                } while (used[o[k]]);
                used[o[k]] = 1;
            }

            d1 = -1;
            d2 = -1;
            k = (int) rnd(UNIVERSE + 1) + 1;

            key = "unset";
            rc = eci_acl_check_key(acl, name, strlen(name),
                                   ECI_PERMISSION_EXEC, k, o, n, &d1, &key);
            want = oracle(&prin[i], groups, k, o, n, &d2, &want_key);

            if (rc == ECI_ACL_ALLOW && want == ECI_ACL_ALLOW) {
                (void) snprintf(kname, sizeof(kname), "k%d", want_key);

                if (want_key ? (key == NULL || strcmp(key, kname) != 0)
                             : key != NULL)
                {
                    bad_key++;
                }
            }

            if (rc != want) {
                if (bad_rc++ < 5) {
                    printf("# acl %d p%d id %d n %zu: got %d, want %d\n",
                           a, i, k, n, rc, want);
                }

            } else if (rc == ECI_ACL_OVERRIDE_DENIED && d1 != d2) {
                if (bad_denied++ < 5) {
                    printf("# acl %d p%d id %d: denied %d, want %d\n",
                           a, i, k, (int) d1, (int) d2);
                }
            }
        }

        eci_acl_free(acl);
    }

    ok(indexed > 1000 && plain > 1000,
       "both paths are exercised (%d principals indexed, %d plain)",
       indexed, plain);
    is_int(bad_rc, 0, "%d random checks (%d in principals of 65 to 300 "
           "groups): every decision is the oracle's", (ACLS + 12) * REQUESTS,
           12 * REQUESTS);
    is_int(bad_denied, 0, "every denied override id is the oracle's");
    is_int(bad_key, 0, "every allowing grant's apiKey is the oracle's");

    free(json);
    free(groups_json);

    return done_testing();
}
