/*
 * The ACL's listing API, which eci-acl and the module's startup use:
 * eci_acl_grants(), eci_acl_principal_next(), eci_acl_api_keys(),
 * eci_acl_group_count(), and how an entry's key is quoted in messages
 * (issue 18: mutants of all of them survived the unit tests).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl.h"
#include "tap.h"
#include "acl_test.h"


#define EXEC  ECI_PERMISSION_EXEC

static const char  acl_json[] =
    "{\"groups\": {"
    "  \"g1\": {\"permissions\": [\"" EXEC "\", \"Area (View)\"],"
    "          \"reportDistributionIds\": [3, 1, 2],"
    "          \"overrideUserIds\": \"*\", \"apiKey\": \"kg\","
    "          \"allowDuplicateExec\": true},"
    "  \"group-2\": {\"permissions\": [\"" EXEC "\"], \"apiKey\": \"kp\"}},"
    " \"principals\": {"
    "  \"p\": {\"permissions\": [\"" EXEC "\"],"
    "         \"overrideUserIds\": [9, 8], \"apiKey\": \"kp\","
    "         \"groups\": [\"g1\", \"group-2\"]},"
    "  \"qq\": {\"permissions\": [\"" EXEC "\"]},"
    "  \"rrr\": {\"permissions\": [\"" EXEC "\"], \"apiKey\": \"kr\"}}}";


static eci_acl_t *
load(const char *json, eci_err_t *err)
{
    return acl_load_copy(json, "api.json", err);
}


static void
test_grants(const eci_acl_t *acl)
{
    size_t                 n;
    eci_acl_grant_info_t   out[4];

    memset(out, 0x5a, sizeof(out));
    n = eci_acl_grants(acl, "p", 1, out, 4);
    is_int(n, 3, "p has 3 grants: its own and two groups'");

    ok(out[0].group == NULL && out[0].group_len == 0, "grant 0 is p's own");
    ok(out[0].npermissions == 1 && strcmp(out[0].permissions[0], EXEC) == 0,
       "its one permission");
    ok(out[0].all_ids == 1 && out[0].nids == 0, "every id (none listed)");
    ok(out[0].all_overrides == 0 && out[0].noverrides == 2
       && out[0].overrides[0] == 8 && out[0].overrides[1] == 9,
       "overrides 8 and 9, sorted");
    is_int(out[0].allow_duplicate, 0, "no duplicate exec");

    ok(out[1].group != NULL && out[1].group_len == 2
       && memcmp(out[1].group, "g1", 2) == 0, "grant 1 is g1's");
    ok(out[1].npermissions == 2
       && strcmp(out[1].permissions[1], "Area (View)") == 0,
       "its two permissions, in order");
    ok(out[1].all_ids == 0 && out[1].nids == 3 && out[1].ids[0] == 1
       && out[1].ids[1] == 2 && out[1].ids[2] == 3, "ids 1, 2, 3, sorted");
    ok(out[1].all_overrides == 1 && out[1].noverrides == 0,
       "every override");
    is_int(out[1].allow_duplicate, 1, "duplicate exec allowed");

    ok(out[2].group_len == 7 && memcmp(out[2].group, "group-2", 7) == 0,
       "grant 2 is group-2's");
    is_int(out[2].all_overrides, 0, "no override there");

    memset(out, 0x5a, sizeof(out));
    n = eci_acl_grants(acl, "p", 1, out, 1);
    is_int(n, 3, "with room for 1 the count is still 3");
    ok(out[0].group == NULL && out[1].npermissions != 1
       && ((unsigned char *) &out[1])[0] == 0x5a, "only grant 0 is filled");

    is_int(eci_acl_grants(acl, "p2", 2, out, 4), 0, "unknown: 0 grants");
    is_int(eci_acl_grants(acl, "qq", 2, out, 4), 1, "qq: its own grant");
}


static void
test_principal_next(const eci_acl_t *acl)
{
    int          seen[3];
    size_t       cursor, len, n, bad;
    const char  *name;

    memset(seen, 0, sizeof(seen));
    cursor = 0;
    n = 0;
    bad = 0;

    while (eci_acl_principal_next(acl, &cursor, &name, &len)) {
        n++;
        if (len >= 1 && len <= 3 && memcmp(name, "p\0qqrrr" + (len == 1 ? 0
                                           : len == 2 ? 2 : 4), len) == 0)
        {
            seen[len - 1]++;
        } else {
            bad++;
        }
        if (n > 10) {
            break;
        }
    }

    is_int(n, 3, "principal_next: 3 principals");
    ok(seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && bad == 0,
       "p, qq and rrr once each, with their lengths");
    is_int(eci_acl_principal_next(acl, &cursor, &name, &len), 0,
           "and nothing after the end");
}


static int
has(const char **names, size_t n, const char *want)
{
    size_t  i, k;

    for (i = 0, k = 0; i < n; i++) {
        k += (strcmp(names[i], want) == 0);
    }

    return k == 1;
}


static void
test_api_keys(const eci_acl_t *acl)
{
    size_t       n;
    const char  *names[8];

    n = eci_acl_api_keys(acl, names, 8);
    ok(n == 3 && has(names, n, "kg") && has(names, n, "kp")
       && has(names, n, "kr"), "api_keys: kg, kp, kr, each once (kp is "
       "named twice)");

    names[2] = NULL;
    n = eci_acl_api_keys(acl, names, 2);
    ok(n == 2 && names[2] == NULL, "room for 2: 2 given, none past them");

    is_int(eci_acl_api_keys(acl, names, 0), 0, "room for none: none");
}


static void
test_small(void)
{
    size_t       cursor, len, n;
    const char  *name, *names[4];
    eci_err_t    err;
    eci_acl_t   *acl;

    acl = load("{\"principals\": {}}", &err);
    ok(acl != NULL, "an ACL of no principal loads");
    if (acl == NULL) {
        return;
    }
    cursor = 0;
    is_int(eci_acl_principal_next(acl, &cursor, &name, &len), 0,
           "no principal to list");
    is_int(eci_acl_api_keys(acl, names, 4), 0, "no key");
    is_int(eci_acl_group_count(acl), 0, "no group");
    eci_acl_free(acl);

    /* no "groups": the keys of the principals */
    acl = load("{\"principals\": {\"a\": {\"permissions\": [\"" EXEC "\"],"
               " \"apiKey\": \"ka\"}}}", &err);
    n = (acl != NULL) ? eci_acl_api_keys(acl, names, 4) : 0;
    ok(n == 1 && strcmp(names[0], "ka") == 0, "without groups: ka");
    eci_acl_free(acl);

    /* groups only have keys */
    acl = load("{\"groups\": {\"g\": {\"apiKey\": \"kg\"}},"
               " \"principals\": {\"a\": {\"groups\": [\"g\"]}}}", &err);
    n = (acl != NULL) ? eci_acl_api_keys(acl, names, 4) : 0;
    ok(n == 1 && strcmp(names[0], "kg") == 0, "a group's key alone: kg");
    eci_acl_free(acl);
}


/* an entry's key in a message: bare when plain, quoted otherwise */

static void
test_key_quoting(void)
{
    static const struct {
        const char  *key;
        const char  *shown;
    } keys[] = {
        { "colour", ".colour: unknown key" },
        { "Colour_2", ".Colour_2: unknown key" },
        { "", ".\"\": unknown key" },
        { "col-our", ".\"col-our\": unknown key" },
        { "a.b", ".\"a.b\": unknown key" },
        { "x y", ".\"x y\": unknown key" },
    };
    char        json[256];
    size_t      i;
    eci_err_t   err;
    eci_acl_t  *acl;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        snprintf(json, sizeof(json), "{\"principals\": {\"p\": {\"%s\": 1}}}",
                 keys[i].key);
        err.msg[0] = '\0';
        acl = load(json, &err);
        ok(acl == NULL, "unknown key \"%s\" refused", keys[i].key);
        like(err.msg, keys[i].shown, "key \"%s\" shown as %s", keys[i].key,
             keys[i].shown);
        eci_acl_free(acl);
    }
}


int
main(void)
{
    eci_err_t   err;
    eci_acl_t  *acl;

    acl = load(acl_json, &err);
    ok(acl != NULL, "the ACL loads");
    if (acl == NULL) {
        printf("# %s\n", err.msg);
        return done_testing();
    }

    is_int(eci_acl_group_count(acl), 2, "2 groups");
    is_int(eci_acl_principal_count(acl), 3, "3 principals");

    test_grants(acl);
    test_principal_next(acl);
    test_api_keys(acl);

    eci_acl_free(acl);

    test_small();
    test_key_quoting();

    return done_testing();
}
