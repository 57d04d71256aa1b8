/*
 * eci-acl: the gateway's ACL on the command line, on the core's own code,
 * so it can never disagree with nginx.
 *
 *   eci-acl check FILE
 *   eci-acl explain FILE PRINCIPAL ID [--override N]... [--json]
 *   eci-acl diff OLD NEW
 *
 * Exit status: 0 valid / allowed / no change, 1 invalid / denied /
 * changed, 2 usage or a file that cannot be read.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl.h"


#define ECI_ACL_OK       0
#define ECI_ACL_NO       1
#define ECI_ACL_USAGE    2

/* grants of one principal shown at most (its own entry and groups) */
#define ECI_ACL_GRANTS_MAX  4096
#define ECI_ACL_OVERRIDES   10000


/* what a principal may do with the exec permission, summed over grants */
typedef struct {
    int           known;
    int           all_ids;
    int32_t      *ids;               /* sorted, unique */
    size_t        nids;
    int           overrides;         /* some grant allows overrides */
    int           all_overrides;
    int32_t      *users;             /* the override ids named, sorted */
    size_t        nusers;
    int           duplicate;
} eci_acl_access_t;


static int eci_acl_cmd_check(int argc, char **argv);
static int eci_acl_cmd_explain(int argc, char **argv);
static int eci_acl_cmd_diff(int argc, char **argv);
static eci_acl_t *eci_acl_open(const char *path);
static int eci_acl_has_exec(const eci_acl_grant_info_t *g);
static int eci_acl_covers(int all, const int32_t *ids, size_t n, int32_t id);
static size_t eci_acl_missing(const eci_acl_grant_info_t *g,
    const int32_t *ids, size_t n, int32_t *first);
static void eci_acl_grant_name(const eci_acl_grant_info_t *g, char *buf,
    size_t size);
static void eci_acl_json_str(const char *s, size_t len);
static int eci_acl_access(const eci_acl_t *acl, const char *p, size_t plen,
    eci_acl_access_t *a);
static void eci_acl_access_free(eci_acl_access_t *a);
static size_t eci_acl_uniq(int32_t *ids, size_t n);
static void eci_acl_say_ids(const char *p, const char *what,
    const int32_t *o, size_t no, int oall, const int32_t *w, size_t nw,
    int wall, int *changed);
static int eci_acl_names(const eci_acl_t *acl, char ***names, size_t *n);
static int eci_acl_str_cmp(const void *a, const void *b);
static int eci_acl_id_cmp(const void *a, const void *b);
static void eci_acl_usage(FILE *f);


static eci_acl_grant_info_t  grants[ECI_ACL_GRANTS_MAX];


int
main(int argc, char **argv)
{
    if (argc < 2) {
        eci_acl_usage(stderr);
        return ECI_ACL_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        eci_acl_usage(stdout);
        return ECI_ACL_OK;
    }

    if (strcmp(argv[1], "check") == 0) {
        return eci_acl_cmd_check(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "explain") == 0) {
        return eci_acl_cmd_explain(argc - 1, argv + 1);
    }

    if (strcmp(argv[1], "diff") == 0) {
        return eci_acl_cmd_diff(argc - 1, argv + 1);
    }

    fprintf(stderr, "eci-acl: unknown command \"%s\"; see eci-acl --help\n",
            argv[1]);

    return ECI_ACL_USAGE;
}


static void
eci_acl_usage(FILE *f)
{
    fprintf(f,
        "usage: eci-acl check FILE\n"
        "       eci-acl explain FILE PRINCIPAL ID [--override N]... "
        "[--json]\n"
        "       eci-acl diff OLD NEW\n"
        "\n"
        "check    validates FILE exactly as nginx -t does (same messages:\n"
        "         file, line, column, what is wrong) and prints a summary.\n"
        "         Exit 0 when valid, 1 when not.\n"
        "explain  the gateway's decision for PRINCIPAL executing report\n"
        "         distribution ID (with override recipients), and why: the\n"
        "         grant that allows it, or what is missing and which grants\n"
        "         came closest.  Exit 0 allowed, 1 denied.\n"
        "diff     every principal whose exec access changes from OLD to\n"
        "         NEW, one sentence each.  Exit 0 no change, 1 changes.\n"
        "\n"
        "Exit 2: usage, or a file that cannot be read.\n");
}


/* loads as nginx -t does; prints the same message when it cannot */
static eci_acl_t *
eci_acl_open(const char *path)
{
    eci_err_t   err;
    eci_acl_t  *acl;

    acl = eci_acl_load(path, &err);

    if (acl == NULL) {
        fprintf(stderr, "eci-acl: eci_acl %s\n", err.msg);
    }

    return acl;
}


static int
eci_acl_cmd_check(int argc, char **argv)
{
    int                ids_all, any;
    char             **names;
    size_t             i, n, nnames, dist;
    int32_t           *all;
    size_t             nall, cap;
    eci_acl_t         *acl;
    eci_acl_access_t  *a;

    if (argc != 2) {
        eci_acl_usage(stderr);
        return ECI_ACL_USAGE;
    }

    acl = eci_acl_open(argv[1]);
    if (acl == NULL) {
        return ECI_ACL_NO;
    }

    if (eci_acl_names(acl, &names, &nnames) != 0) {
        eci_acl_free(acl);
        return ECI_ACL_USAGE;
    }

    a = calloc(nnames + 1, sizeof(eci_acl_access_t));
    if (a == NULL) {
        fprintf(stderr, "eci-acl: out of memory\n");
        return ECI_ACL_USAGE;
    }

    printf("%s: valid\n", argv[1]);
    printf("principals: %zu\n", eci_acl_principal_count(acl));
    printf("groups: %zu\n", eci_acl_group_count(acl));

    /* the distinct ids any exec grant names, and who may do what */
    ids_all = 0;
    all = NULL;
    nall = 0;
    cap = 0;

    for (i = 0; i < nnames; i++) {
        if (eci_acl_access(acl, names[i], strlen(names[i]), &a[i]) != 0) {
            return ECI_ACL_USAGE;
        }

        ids_all |= a[i].all_ids;

        if (nall + a[i].nids > cap) {
            cap = 2 * (nall + a[i].nids) + 64;
            all = realloc(all, cap * sizeof(int32_t));
            if (all == NULL) {
                fprintf(stderr, "eci-acl: out of memory\n");
                return ECI_ACL_USAGE;
            }
        }

        memcpy(all + nall, a[i].ids, a[i].nids * sizeof(int32_t));
        nall += a[i].nids;
    }

    dist = eci_acl_uniq(all, nall);

    if (ids_all) {
        printf("ids granted: every id (\"*\"), and %zu named\n", dist);

    } else {
        printf("ids granted: %zu\n", dist);
    }

    free(all);

    for (n = 0; n < 2; n++) {
        printf(n == 0 ? "may override recipients:"
                      : "may bypass the duplicate guard:");
        any = 0;

        for (i = 0; i < nnames; i++) {
            if (n == 0 ? a[i].overrides : a[i].duplicate) {
                printf(" ");
                eci_acl_json_str(names[i], strlen(names[i]));
                any = 1;
            }
        }

        printf(any ? "\n" : " none\n");
    }

    for (i = 0; i < nnames; i++) {
        eci_acl_access_free(&a[i]);
    }

    free(a);

    for (i = 0; i < nnames; i++) {
        free(names[i]);
    }

    free(names);
    eci_acl_free(acl);

    return ECI_ACL_OK;
}


static int
eci_acl_cmd_explain(int argc, char **argv)
{
    int            c, json, closest_n;
    char          *end, who[512];
    long           v;
    size_t         k, ng, n, miss, best;
    int32_t        id, denied, first, *ov;
    eci_acl_t     *acl;
    eci_acl_rc_t   rc;
    const char    *principal, *reason;
    char           text[1024];

    static struct option  opts[] = {
        { "override", required_argument, NULL, 'o' },
        { "json",     no_argument,       NULL, 'j' },
        { NULL, 0, NULL, 0 }
    };

    ov = malloc(ECI_ACL_OVERRIDES * sizeof(int32_t));
    if (ov == NULL) {
        return ECI_ACL_USAGE;
    }

    n = 0;
    json = 0;
    optind = 1;
    opterr = 0;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            errno = 0;
            v = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || v < 1 || v > 2147483647
                || n == ECI_ACL_OVERRIDES)
            {
                fprintf(stderr, "eci-acl: --override takes a user id from 1 "
                        "to 2147483647 (at most %d)\n", ECI_ACL_OVERRIDES);
                free(ov);
                return ECI_ACL_USAGE;
            }
            ov[n++] = (int32_t) v;
            break;
        case 'j':
            json = 1;
            break;
        default:
            fprintf(stderr, "eci-acl: unknown or incomplete option; see "
                    "eci-acl --help\n");
            free(ov);
            return ECI_ACL_USAGE;
        }
    }

    if (argc - optind != 3) {
        eci_acl_usage(stderr);
        free(ov);
        return ECI_ACL_USAGE;
    }

    principal = argv[optind + 1];

    errno = 0;
    v = strtol(argv[optind + 2], &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 2147483647) {
        fprintf(stderr, "eci-acl: ID is a report distribution id from 1 to "
                "2147483647\n");
        free(ov);
        return ECI_ACL_USAGE;
    }

    id = (int32_t) v;

    acl = eci_acl_open(argv[optind]);
    if (acl == NULL) {
        free(ov);
        return ECI_ACL_USAGE;
    }

    rc = eci_acl_check(acl, principal, strlen(principal),
                       ECI_PERMISSION_EXEC, id, ov, n, &denied);

    ng = eci_acl_grants(acl, principal, strlen(principal), grants,
                        ECI_ACL_GRANTS_MAX);
    if (ng > ECI_ACL_GRANTS_MAX) {
        ng = ECI_ACL_GRANTS_MAX;
    }

    who[0] = '\0';
    reason = eci_acl_rc_text(rc);
    text[0] = '\0';

    /* the grant the gateway's own rule finds: own entry, then groups */
    if (rc == ECI_ACL_ALLOW) {
        for (k = 0; k < ng; k++) {
            if (eci_acl_has_exec(&grants[k])
                && eci_acl_covers(grants[k].all_ids, grants[k].ids,
                                  grants[k].nids, id)
                && eci_acl_missing(&grants[k], ov, n, &first) == 0)
            {
                eci_acl_grant_name(&grants[k], who, sizeof(who));
                break;
            }
        }

        snprintf(text, sizeof(text), "allowed by %s", who);

    } else if (rc == ECI_ACL_OVERRIDE_DENIED) {
        snprintf(text, sizeof(text), "no single grant covers distribution "
                 "%d and every recipient; user %d is not allowed", (int) id,
                 (int) denied);

    } else if (rc == ECI_ACL_ID_DENIED) {
        snprintf(text, sizeof(text), "no grant with the permission covers "
                 "distribution %d", (int) id);

    } else if (rc == ECI_ACL_NO_PERMISSION) {
        snprintf(text, sizeof(text), "no grant carries the permission "
                 "\"%s\"", ECI_PERMISSION_EXEC);

    } else {
        snprintf(text, sizeof(text), "the principal is not in the ACL");
    }

    if (json) {
        printf("{\"decision\":\"%s\",\"principal\":",
               rc == ECI_ACL_ALLOW ? "allow" : "deny");
        eci_acl_json_str(principal, strlen(principal));
        printf(",\"reportDistributionId\":%d,\"reason\":", (int) id);
        eci_acl_json_str(reason, strlen(reason));
        printf(",\"explanation\":");
        eci_acl_json_str(text, strlen(text));
        printf(",\"grant\":");
        if (rc == ECI_ACL_ALLOW) {
            eci_acl_json_str(who, strlen(who));

        } else {
            printf("null");
        }

        printf(",\"closest\":[");

    } else {
        printf("%s: %s\n", rc == ECI_ACL_ALLOW ? "allow" : "deny", text);
    }

    /* for a denial: the grants with the permission, closest first */
    closest_n = 0;

    if (rc == ECI_ACL_ID_DENIED || rc == ECI_ACL_OVERRIDE_DENIED) {
        for (best = 0; best <= n + 1 && closest_n < 5; best++) {
            for (k = 0; k < ng && closest_n < 5; k++) {
                if (!eci_acl_has_exec(&grants[k])) {
                    continue;
                }

                /* missing the id counts as missing everything */
                miss = eci_acl_covers(grants[k].all_ids, grants[k].ids,
                                      grants[k].nids, id)
                       ? eci_acl_missing(&grants[k], ov, n, &first)
                       : n + 1;

                if (miss != best) {
                    continue;
                }

                eci_acl_grant_name(&grants[k], who, sizeof(who));

                if (miss == n + 1) {
                    snprintf(text, sizeof(text), "%s does not cover "
                             "distribution %d", who, (int) id);

                } else {
                    snprintf(text, sizeof(text), "%s covers distribution %d "
                             "but not %zu of the %zu recipients (first: "
                             "user %d)", who, (int) id, miss, n,
                             (int) first);
                }

                if (json) {
                    printf("%s", closest_n ? "," : "");
                    eci_acl_json_str(text, strlen(text));

                } else {
                    printf("  closest: %s\n", text);
                }

                closest_n++;
            }
        }
    }

    if (json) {
        printf("]}\n");
    }

    eci_acl_free(acl);
    free(ov);

    return rc == ECI_ACL_ALLOW ? ECI_ACL_OK : ECI_ACL_NO;
}


static int
eci_acl_cmd_diff(int argc, char **argv)
{
    int                 changed, rc;
    char              **a, **b, **all, *p;
    size_t              na, nb, nall, i, j;
    eci_acl_t          *old, *new;
    eci_acl_access_t    o, w;

    if (argc != 3) {
        eci_acl_usage(stderr);
        return ECI_ACL_USAGE;
    }

    old = eci_acl_open(argv[1]);
    new = eci_acl_open(argv[2]);

    if (old == NULL || new == NULL) {
        eci_acl_free(old);
        eci_acl_free(new);
        return ECI_ACL_USAGE;
    }

    if (eci_acl_names(old, &a, &na) != 0 || eci_acl_names(new, &b, &nb) != 0)
    {
        return ECI_ACL_USAGE;
    }

    /* every principal of either, sorted, once */
    all = malloc((na + nb + 1) * sizeof(char *));
    if (all == NULL) {
        return ECI_ACL_USAGE;
    }

    memcpy(all, a, na * sizeof(char *));
    memcpy(all + na, b, nb * sizeof(char *));
    qsort(all, na + nb, sizeof(char *), eci_acl_str_cmp);

    nall = 0;
    for (i = 0; i < na + nb; i++) {
        if (nall == 0 || strcmp(all[nall - 1], all[i]) != 0) {
            all[nall++] = all[i];
        }
    }

    changed = 0;

    for (i = 0; i < nall; i++) {
        p = all[i];

        if (eci_acl_access(old, p, strlen(p), &o) != 0
            || eci_acl_access(new, p, strlen(p), &w) != 0)
        {
            return ECI_ACL_USAGE;
        }

#define say(...)                                                              \
        do {                                                                  \
            eci_acl_json_str(p, strlen(p));                                   \
            printf(" " __VA_ARGS__);                                          \
            printf("\n");                                                     \
            changed = 1;                                                      \
        } while (0)

        if (!o.known && w.known) {
            say("is added");
        }

        if (o.known && !w.known) {
            say("is removed and loses every exec");
            eci_acl_access_free(&o);
            eci_acl_access_free(&w);
            continue;
        }

        if (w.all_ids && !o.all_ids) {
            say("gains every distribution");
        }

        if (o.all_ids && !w.all_ids) {
            say("loses every distribution but those named");
        }

        eci_acl_say_ids(p, "distribution", o.ids, o.nids, o.all_ids, w.ids,
                        w.nids, w.all_ids, &changed);

        if (w.overrides && !o.overrides) {
            say("gains recipient overrides%s",
                w.all_overrides ? " (any user)" : "");

        } else if (o.overrides && !w.overrides) {
            say("loses recipient overrides");

        } else if (o.overrides && w.all_overrides && !o.all_overrides) {
            say("may now override recipients with any user");

        } else if (o.all_overrides && w.overrides && !w.all_overrides) {
            say("may now override recipients only with the users named");
        }

        if (o.overrides && w.overrides) {
            eci_acl_say_ids(p, "override user", o.users, o.nusers,
                            o.all_overrides, w.users, w.nusers,
                            w.all_overrides, &changed);
        }

        if (w.duplicate && !o.duplicate) {
            say("may now bypass the duplicate guard");

        } else if (o.duplicate && !w.duplicate) {
            say("may no longer bypass the duplicate guard");
        }

#undef say

        eci_acl_access_free(&o);
        eci_acl_access_free(&w);
    }

    rc = changed ? ECI_ACL_NO : ECI_ACL_OK;

    if (!changed) {
        printf("no principal's access changes\n");
    }

    for (j = 0; j < na; j++) {
        free(a[j]);
    }

    for (j = 0; j < nb; j++) {
        free(b[j]);
    }

    free(a);
    free(b);
    free(all);
    eci_acl_free(old);
    eci_acl_free(new);

    return rc;
}


/* the union of a principal's exec grants: what diff compares */
static int
eci_acl_access(const eci_acl_t *acl, const char *p, size_t plen,
    eci_acl_access_t *a)
{
    size_t   k, ng, i, n;

    memset(a, 0, sizeof(*a));


    ng = eci_acl_grants(acl, p, plen, grants, ECI_ACL_GRANTS_MAX);
    if (ng == 0) {
        return 0;
    }

    a->known = 1;

    if (ng > ECI_ACL_GRANTS_MAX) {
        ng = ECI_ACL_GRANTS_MAX;
    }

    n = 0;
    i = 0;

    for (k = 0; k < ng; k++) {
        if (eci_acl_has_exec(&grants[k])) {
            n += grants[k].nids;
            i += grants[k].noverrides;
        }
    }

    a->ids = malloc((n + 1) * sizeof(int32_t));
    a->users = malloc((i + 1) * sizeof(int32_t));
    if (a->ids == NULL || a->users == NULL) {
        fprintf(stderr, "eci-acl: out of memory\n");
        return -1;
    }

    for (k = 0; k < ng; k++) {
        if (!eci_acl_has_exec(&grants[k])) {
            continue;
        }

        a->all_ids |= grants[k].all_ids;
        memcpy(a->ids + a->nids, grants[k].ids,
               grants[k].nids * sizeof(int32_t));
        a->nids += grants[k].nids;

        if (grants[k].all_overrides || grants[k].noverrides > 0) {
            a->overrides = 1;
        }

        memcpy(a->users + a->nusers, grants[k].overrides,
               grants[k].noverrides * sizeof(int32_t));
        a->nusers += grants[k].noverrides;

        a->all_overrides |= grants[k].all_overrides;
        a->duplicate |= grants[k].allow_duplicate;
    }

    a->nids = eci_acl_uniq(a->ids, a->nids);
    a->nusers = eci_acl_uniq(a->users, a->nusers);

    return 0;
}


static size_t
eci_acl_uniq(int32_t *ids, size_t n)
{
    size_t  i, m;

    qsort(ids, n, sizeof(int32_t), eci_acl_id_cmp);

    for (i = 0, m = 0; i < n; i++) {
        if (m == 0 || ids[m - 1] != ids[i]) {
            ids[m++] = ids[i];
        }
    }

    return m;
}


/* "P gains distribution 43" for each named id in w only, "loses" in o */
static void
eci_acl_say_ids(const char *p, const char *what, const int32_t *o,
    size_t no, int oall, const int32_t *w, size_t nw, int wall, int *changed)
{
    size_t  x, y;

    for (x = 0, y = 0; x < no || y < nw; ) {
        if (y == nw || (x < no && o[x] < w[y])) {
            if (!wall) {
                eci_acl_json_str(p, strlen(p));
                printf(" loses %s %d\n", what, (int) o[x]);
                *changed = 1;
            }
            x++;

        } else if (x == no || w[y] < o[x]) {
            if (!oall) {
                eci_acl_json_str(p, strlen(p));
                printf(" gains %s %d\n", what, (int) w[y]);
                *changed = 1;
            }
            y++;

        } else {
            x++;
            y++;
        }
    }
}


static void
eci_acl_access_free(eci_acl_access_t *a)
{
    free(a->ids);
    free(a->users);
    a->ids = NULL;
    a->users = NULL;
}


static int
eci_acl_has_exec(const eci_acl_grant_info_t *g)
{
    size_t  i;

    for (i = 0; i < g->npermissions; i++) {
        if (strcmp(g->permissions[i], ECI_PERMISSION_EXEC) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
eci_acl_covers(int all, const int32_t *ids, size_t n, int32_t id)
{
    return all || bsearch(&id, ids, n, sizeof(int32_t), eci_acl_id_cmp)
                  != NULL;
}


/* how many of the recipients the grant does not allow, and the first */
static size_t
eci_acl_missing(const eci_acl_grant_info_t *g, const int32_t *ids,
    size_t n, int32_t *first)
{
    size_t  i, miss;

    miss = 0;

    for (i = 0; i < n; i++) {
        if (!eci_acl_covers(g->all_overrides, g->overrides, g->noverrides,
                            ids[i]))
        {
            if (miss++ == 0) {
                *first = ids[i];
            }
        }
    }

    return miss;
}


static void
eci_acl_grant_name(const eci_acl_grant_info_t *g, char *buf, size_t size)
{
    if (g->group == NULL) {
        snprintf(buf, size, "its own entry");

    } else {
        snprintf(buf, size, "group \"%.*s\"", (int) g->group_len, g->group);
    }
}


/* a JSON string: what comes from the file is printed escaped, never raw */
static void
eci_acl_json_str(const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    putchar('"');

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            printf("\\%c", c);

        } else if (c < 0x20 || c == 0x7f) {
            printf("\\u%04x", c);

        } else {
            putchar(c);
        }
    }

    putchar('"');
}


/* the principals' names, NUL-terminated copies, sorted */
static int
eci_acl_names(const eci_acl_t *acl, char ***names, size_t *n)
{
    size_t       cursor, len, i;
    const char  *name;

    *n = 0;
    *names = malloc((eci_acl_principal_count(acl) + 1) * sizeof(char *));
    if (*names == NULL) {
        fprintf(stderr, "eci-acl: out of memory\n");
        return -1;
    }

    cursor = 0;
    i = 0;

    while (eci_acl_principal_next(acl, &cursor, &name, &len)) {
        (*names)[i] = malloc(len + 1);
        if ((*names)[i] == NULL) {
            fprintf(stderr, "eci-acl: out of memory\n");
            return -1;
        }

        memcpy((*names)[i], name, len);
        (*names)[i][len] = '\0';
        i++;
    }

    *n = i;
    qsort(*names, *n, sizeof(char *), eci_acl_str_cmp);

    return 0;
}


static int
eci_acl_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}


static int
eci_acl_id_cmp(const void *a, const void *b)
{
    int32_t  x = *(const int32_t *) a, y = *(const int32_t *) b;

    return (x > y) - (x < y);
}
