/*
 * ACL behaviours a mutant of eci_acl.c showed no test pinned down
 * (issue 18): one-character id strings, and ACLs with more distinct
 * permission names than the grants' bit set holds.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl.h"
#include "tap.h"
#include "acl_test.h"


#define EXEC  ECI_PERMISSION_EXEC


static eci_acl_t *
load(const char *json, eci_err_t *err)
{
    return acl_load_copy(json, "gaps.json", err);
}


static void
test_one_char_ids(void)
{
    static const char  *bad[] = { "5", "1", "a", "?", "+", " " };
    static const char  *keys[] = { "reportDistributionIds",
                                   "overrideUserIds" };
    char                json[512];
    size_t              i, k;
    int32_t             ids[1];
    eci_err_t           err;
    eci_acl_t          *acl;

    for (k = 0; k < 2; k++) {
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(json, sizeof(json),
                     "{\"principals\": {\"p\": {\"permissions\": [\"" EXEC
                     "\"], \"%s\": \"%s\"}}}", keys[k], bad[i]);
            err.msg[0] = '\0';
            acl = load(json, &err);
            ok(acl == NULL, "%s \"%s\": only \"*\" is a wildcard",
               keys[k], bad[i]);
            like(err.msg, keys[k], "the message names %s", keys[k]);
            eci_acl_free(acl);
        }

        /* "*" followed by a NUL: strcmp() alone would take it for "*" */
        snprintf(json, sizeof(json),
                 "{\"principals\": {\"p\": {\"permissions\": [\"" EXEC
                 "\"], \"%s\": \"*\\u0000\"}}}", keys[k]);
        acl = load(json, &err);
        ok(acl == NULL, "%s \"*\\u0000\" is not \"*\"", keys[k]);
        eci_acl_free(acl);
    }

    /* and "*" itself still is, for both */
    acl = load("{\"principals\": {\"p\": {\"permissions\": [\"" EXEC "\"],"
               " \"reportDistributionIds\": \"*\","
               " \"overrideUserIds\": \"*\"}}}", &err);
    ok(acl != NULL, "\"*\" loads");
    ids[0] = 6;
    is_int(eci_acl_check(acl, "p", 1, EXEC, 5, ids, 1, NULL), ECI_ACL_ALLOW,
           "\"*\" allows id 5 with override 6");
    eci_acl_free(acl);

    /* an id list of one: only that id */
    acl = load("{\"principals\": {\"p\": {\"permissions\": [\"" EXEC "\"],"
               " \"reportDistributionIds\": [5],"
               " \"overrideUserIds\": [6]}}}", &err);
    ok(acl != NULL, "[5] loads");
    is_int(eci_acl_check(acl, "p", 1, EXEC, 5, NULL, 0, NULL), ECI_ACL_ALLOW,
           "[5] allows 5");
    is_int(eci_acl_check(acl, "p", 1, EXEC, 4, NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "[5] refuses 4");
    is_int(eci_acl_check(acl, "p", 1, EXEC, 6, NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "[5] refuses 6");
    ids[0] = 7;
    is_int(eci_acl_check(acl, "p", 1, EXEC, 5, ids, 1, NULL),
           ECI_ACL_OVERRIDE_DENIED, "override [6] refuses 7");
    ids[0] = 5;
    is_int(eci_acl_check(acl, "p", 1, EXEC, 5, ids, 1, NULL),
           ECI_ACL_OVERRIDE_DENIED, "override [6] refuses 5");
    eci_acl_free(acl);
}


/*
 * n distinct permissions, EXEC the last one seen (index n - 1): "all"
 * holds every one, "first" the first only, "k<i>" permission i only, for
 * i around the 64 the bit set holds.
 */

static void
many_permissions(size_t n)
{
    char        *json, *p, name[64];
    size_t       i, k, size;
    eci_err_t    err;
    eci_acl_t   *acl;
    static const size_t  probe[] = { 0, 1, 62, 63, 64, 65, 66, 127, 128,
                                     199 };

    size = 256 + n * 200;
    json = malloc(size);
    if (json == NULL) {
        ok(0, "malloc");
        return;
    }

    p = json;
    p += sprintf(p, "{\"principals\": {\"all\": {\"permissions\": [");

    for (i = 0; i + 1 < n; i++) {
        p += sprintf(p, "\"Area%zu (View)\", ", i);
    }

    p += sprintf(p, "\"" EXEC "\"], \"reportDistributionIds\": \"*\"},"
                 " \"first\": {\"permissions\": [\"Area0 (View)\"],"
                 " \"reportDistributionIds\": \"*\"}");

    for (k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
        i = probe[k];
        if (i + 1 >= n) {
            continue;
        }

        p += sprintf(p, ", \"k%zu\": {\"permissions\": [\"Area%zu (View)\"],"
                     " \"reportDistributionIds\": \"*\"}", i, i);
    }

    p += sprintf(p, "}}");

    acl = load(json, &err);
    free(json);

    ok(acl != NULL, "%zu permissions: loads", n);
    if (acl == NULL) {
        printf("# %s\n", err.msg);
        return;
    }

    is_int(eci_acl_check(acl, "all", 3, EXEC, 9, NULL, 0, NULL),
           ECI_ACL_ALLOW, "%zu permissions: all may exec", n);
    is_int(eci_acl_check(acl, "first", 5, EXEC, 9, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION,
           "%zu permissions: holding only the first-seen one, no exec", n);
    is_int(eci_acl_check(acl, "first", 5, "Area0 (View)", 9, NULL, 0, NULL),
           ECI_ACL_ALLOW, "%zu permissions: first has Area0", n);

    for (i = 0; i + 1 < n; i++) {
        snprintf(name, sizeof(name), "Area%zu (View)", i);
        if (eci_acl_check(acl, "all", 3, name, 9, NULL, 0, NULL)
            != ECI_ACL_ALLOW)
        {
            break;
        }
    }
    ok(i + 1 >= n, "%zu permissions: all holds each of them", n);

    for (k = 0; k < sizeof(probe) / sizeof(probe[0]); k++) {
        char    who[16];
        size_t  j, bad;

        i = probe[k];
        if (i + 1 >= n) {
            continue;
        }

        snprintf(who, sizeof(who), "k%zu", i);
        bad = 0;

        for (j = 0; j + 1 < n; j++) {
            snprintf(name, sizeof(name), "Area%zu (View)", j);
            if ((eci_acl_check(acl, who, strlen(who), name, 9, NULL, 0, NULL)
                 == ECI_ACL_ALLOW) != (j == i))
            {
                bad++;
            }
        }

        ok(bad == 0, "%zu permissions: %s holds Area%zu and nothing else",
           n, who, i);
        is_int(eci_acl_check(acl, who, strlen(who), EXEC, 9, NULL, 0, NULL),
               ECI_ACL_NO_PERMISSION, "%zu permissions: %s may not exec",
               n, who);
    }

    is_int(eci_acl_check(acl, "all", 3, "Area999 (View)", 9, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION, "%zu permissions: unknown one refused", n);

    eci_acl_free(acl);
}


/* EXEC among the first seen: the bit set, then a list beyond 64 */

static void
exec_first(size_t n)
{
    char        *json, *p;
    size_t       i;
    eci_err_t    err;
    eci_acl_t   *acl;

    json = malloc(256 + n * 200);
    if (json == NULL) {
        return;
    }

    p = json;
    p += sprintf(p, "{\"principals\": {\"exec\": {\"permissions\": [\""
                 EXEC "\"], \"reportDistributionIds\": \"*\"},"
                 " \"rest\": {\"permissions\": [");

    for (i = 0; i + 1 < n; i++) {
        p += sprintf(p, "%s\"Area%zu (View)\"", i ? ", " : "", i);
    }

    p += sprintf(p, "], \"reportDistributionIds\": \"*\"}}}");

    acl = load(json, &err);
    free(json);
    ok(acl != NULL, "%zu permissions, exec first: loads", n);

    is_int(eci_acl_check(acl, "rest", 4, EXEC, 1, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION,
           "%zu permissions, exec first: the others' holder may not exec", n);
    is_int(eci_acl_check(acl, "exec", 4, EXEC, 1, NULL, 0, NULL),
           ECI_ACL_ALLOW, "%zu permissions, exec first: exec may", n);
    is_int(eci_acl_check(acl, "exec", 4, "Area0 (View)", 1, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION,
           "%zu permissions, exec first: exec holds nothing else", n);

    eci_acl_free(acl);
}


/* every letter and digit at the ends of the ranges a name may use */

static void
test_permission_letters(void)
{
    static const char  *good[] = {
        "Zz Aa (View)", "Quiz (Zone)", "Az09 (Ma9)", "Z (z)", "a0 (A9)"
    };
    static const char  *bad[] = {
        "Zz[ (View)", "Quiz (Zone{)", "Az@ (View)", "A` (View)",
        "Area (9)", "0a (View)", "Area: (View)", "Area/ (View)"
    };
    char        json[256];
    size_t      i;
    eci_err_t   err;
    eci_acl_t  *acl;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"principals\": {\"p\": {\"permissions\": [\"%s\"]}}}",
                 good[i]);
        acl = load(json, &err);
        ok(acl != NULL, "permission \"%s\" is valid", good[i]);
        is_int(eci_acl_check(acl, "p", 1, good[i], 3, NULL, 0, NULL),
               ECI_ACL_ALLOW, "and granted as \"%s\"", good[i]);
        eci_acl_free(acl);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json),
                 "{\"principals\": {\"p\": {\"permissions\": [\"%s\"]}}}",
                 bad[i]);
        acl = load(json, &err);
        ok(acl == NULL, "permission \"%s\" is refused", bad[i]);
        eci_acl_free(acl);
    }
}


/* where an error is: plain keys plain, names escaped up to 64 bytes */

static void
test_error_where(void)
{
    char        json[1024], want[512], *p;
    size_t      i;
    eci_err_t   err;
    eci_acl_t  *acl;

    acl = load("{\"principals\": {\"p\": {\"Zeta_9z\": 1}}}", &err);
    ok(acl == NULL, "unknown key Zeta_9z refused");
    like(err.msg, "principals.\"p\".Zeta_9z: ",
         "a key of letters (Z and z too), digits and _ is shown plain");

    acl = load("{\"principals\": {\"p\": {\"Zeta-9\": 1}}}", &err);
    like(err.msg, "principals.\"p\".\"Zeta-9\": ",
         "a key with '-' is quoted");

    /* a name of exactly 64 control bytes: 64 escapes, no cut */
    p = json + sprintf(json, "{\"principals\": {\"");
    for (i = 0; i < 64; i++) {
        p += sprintf(p, "\\u0001");
    }
    sprintf(p, "\": {\"colour\": 1}}}");

    p = want + sprintf(want, "principals.\"");
    for (i = 0; i < 64; i++) {
        p += sprintf(p, "\\x01");
    }
    sprintf(p, "\".colour: ");

    acl = load(json, &err);
    ok(acl == NULL, "64 control bytes: refused for its key");
    like(err.msg, want, "the name's 64 bytes all shown escaped, not cut");

    /* 65: cut after 64, marked */
    p = json + sprintf(json, "{\"principals\": {\"");
    for (i = 0; i < 65; i++) {
        p += sprintf(p, "\\u0001");
    }
    sprintf(p, "\": {\"colour\": 1}}}");
    sprintf(want + strlen(want) - strlen("\".colour: "), "...\".colour: ");

    acl = load(json, &err);
    like(err.msg, want, "65 control bytes: 64 shown, then ...");
}


/*
 * Two principal names of one length whose hashes are equal (FNV-1a, so
 * eci_acl_hash() too: its final mixing is a bijection), found by a
 * birthday search: the lookup must compare the names, not only the hash
 * and the length.  If eci_acl_hash() changes, find a new pair.
 */

#define COLL_A  "CN=svc-0597871"
#define COLL_B  "CN=svc-1175980"

static void
test_hash_collision(void)
{
    eci_err_t   err;
    eci_acl_t  *acl;

    acl = load("{\"principals\": {\"" COLL_A "\": {\"permissions\": [\""
               EXEC "\"]}}}", &err);
    ok(acl != NULL, "ACL of " COLL_A " loads");
    if (acl == NULL) {
        return;
    }
    is_int(eci_acl_check(acl, COLL_A, 14, EXEC, 1, NULL, 0, NULL),
           ECI_ACL_ALLOW, COLL_A " may exec");
    is_int(eci_acl_check(acl, COLL_B, 14, EXEC, 1, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, COLL_B " (same length, same hash) is "
           "unknown");
    eci_acl_free(acl);

    acl = load("{\"principals\": {\"" COLL_A "\": {\"permissions\": [\""
               EXEC "\"], \"reportDistributionIds\": [1]}, \"" COLL_B "\": "
               "{\"permissions\": [\"" EXEC "\"], \"reportDistributionIds\": "
               "[2]}}}", &err);
    ok(acl != NULL, "ACL of both loads");
    if (acl == NULL) {
        return;
    }
    ok(eci_acl_check(acl, COLL_A, 14, EXEC, 1, NULL, 0, NULL)
       == ECI_ACL_ALLOW
       && eci_acl_check(acl, COLL_A, 14, EXEC, 2, NULL, 0, NULL)
          == ECI_ACL_ID_DENIED, COLL_A " has its own grant (id 1)");
    ok(eci_acl_check(acl, COLL_B, 14, EXEC, 2, NULL, 0, NULL)
       == ECI_ACL_ALLOW
       && eci_acl_check(acl, COLL_B, 14, EXEC, 1, NULL, 0, NULL)
          == ECI_ACL_ID_DENIED, COLL_B " has its own grant (id 2)");
    eci_acl_free(acl);
}


/* "apiKey": 1 to 64 of A-Z a-z 0-9 . _ -, each range's ends and neighbours */

static void
test_api_key_names(void)
{
    static const char  *good[] = { "a", "z", "A", "Z", "0", "9", ".", "_",
                                   "-", "team-a_1.Z" };
    static const char  *bad[] = { "", "`", "{", "@", "[", "/", ":", "a b",
                                  "key/1", "k~", "k+", ",", "\\u00e9" };
    char                json[512], name[80];
    const char         *got;
    size_t              i;
    eci_err_t           err;
    eci_acl_t          *acl;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(json, sizeof(json), "{\"principals\": {\"p\": {"
                 "\"permissions\": [\"" EXEC "\"], \"apiKey\": \"%s\"}}}",
                 good[i]);
        acl = load(json, &err);
        got = NULL;
        if (acl != NULL) {
            (void) eci_acl_check_key(acl, "p", 1, EXEC, 1, NULL, 0, NULL,
                                     &got);
        }
        is_str(got, good[i], "apiKey \"%s\" is valid and given", good[i]);
        eci_acl_free(acl);
    }

    memset(name, 'k', 65);
    for (i = 64; i <= 65; i++) {
        snprintf(json, sizeof(json), "{\"principals\": {\"p\": {"
                 "\"permissions\": [\"" EXEC "\"], \"apiKey\": \"%.*s\"}}}",
                 (int) i, name);
        acl = load(json, &err);
        ok((acl != NULL) == (i == 64), "apiKey of %zu characters is %s", i,
           i == 64 ? "valid" : "refused");
        eci_acl_free(acl);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(json, sizeof(json), "{\"principals\": {\"p\": {"
                 "\"permissions\": [\"" EXEC "\"], \"apiKey\": \"%s\"}}}",
                 bad[i]);
        err.msg[0] = '\0';
        acl = load(json, &err);
        ok(acl == NULL, "apiKey \"%s\" is refused", bad[i]);
        like(err.msg, "must be the name of a keystore key",
             "apiKey \"%s\": the message says what it must be", bad[i]);
        eci_acl_free(acl);
    }
}


/*
 * A permission name bigger than the ACL's 64 KiB blocks gets a block of
 * its own, of exactly its size (a multiple of 16 here): the copy and its
 * terminator must fit in it (ASan sees a byte past the block).
 */

static void
test_huge_permission(void)
{
    char        *json, *perm;
    size_t       len;
    eci_err_t    err;
    eci_acl_t   *acl;

    len = 65536 + 16;
    perm = malloc(len + 1);
    json = malloc(len + 256);
    memset(perm, 'A', len - 7);
    memcpy(perm + len - 7, " (View)", 8);

    sprintf(json, "{\"principals\": {\"p\": {\"permissions\": [\"%s\", \""
            EXEC "\"]}}}", perm);
    acl = load(json, &err);
    ok(acl != NULL, "a permission of %zu bytes loads", len);
    if (acl != NULL) {
        is_int(eci_acl_check(acl, "p", 1, perm, 1, NULL, 0, NULL),
               ECI_ACL_ALLOW, "and is held");
        perm[0] = 'B';
        is_int(eci_acl_check(acl, "p", 1, perm, 1, NULL, 0, NULL),
               ECI_ACL_NO_PERMISSION, "one letter changed, it is not");
    }
    eci_acl_free(acl);
    free(json);
    free(perm);
}


int
main(void)
{
    static const size_t  sizes[] = { 63, 64, 65, 66, 200 };
    size_t               i;

    test_one_char_ids();
    test_permission_letters();
    test_error_where();
    test_hash_collision();
    test_api_key_names();
    test_huge_permission();

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        many_permissions(sizes[i]);
        exec_first(sizes[i]);
    }

    return done_testing();
}
