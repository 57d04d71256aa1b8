/*
 * libFuzzer target: the JSON ACL loader and eci_acl_check().
 *
 * The input is an ACL.  When it loads, it is also read with plain jansson
 * into a small model of the documented semantics (docs/acl.md: a request
 * is allowed when one grant, the principal's own or one of its groups,
 * covers the permission, the id and every override id), and
 * eci_acl_check() is asked about every principal it names, the
 * permissions and ids it mentions and a few others, and must agree with
 * the model (abort() otherwise).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_acl.h"


#define FUZZ_MAX_PRINCIPALS  8
#define FUZZ_MAX_PERMS       4
#define FUZZ_MAX_IDS         6


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_collect_ids(json_t *v, int32_t *ids, size_t *n);
static int fuzz_ids_cover(json_t *v, int32_t id, int absent_all);
static int fuzz_grant_allows(json_t *g, const char *perm, int32_t id,
    const int32_t *ids, size_t n, int *has_perm, int *has_id);
static eci_acl_rc_t fuzz_model(json_t *root, const char *p, size_t plen,
    const char *perm, int32_t id, const int32_t *ids, size_t n);
static void fuzz_fail(const char *what);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char          *buf, *alt;
    size_t         i, j, k, m, x, np, nperm, nids, plen;
    int32_t        ids[FUZZ_MAX_IDS], denied;
    json_t        *root, *principals, *v, *g;
    eci_err_t      err;
    eci_acl_t     *acl;
    const char    *key, *perms[FUZZ_MAX_PERMS], *names[FUZZ_MAX_PRINCIPALS];
    eci_acl_rc_t   rc, want;

    /* an exact-size copy: ASan sees reads past the end */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    acl = eci_acl_load_buffer(buf, size, "fuzz.json", &err);

    if (acl == NULL) {
        if (memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
            fuzz_fail("load error message unterminated");
        }

        free(buf);
        return 0;
    }

    root = json_loadb(buf, size, JSON_REJECT_DUPLICATES, NULL);
    if (root == NULL) {
        fuzz_fail("the ACL loaded but jansson refuses it");
    }

    principals = json_object_get(root, "principals");
    np = 0;
    nperm = 0;
    nids = 0;

    perms[nperm++] = ECI_PERMISSION_EXEC;
    ids[nids++] = 1;
    ids[nids++] = INT32_MAX;

    json_object_foreach(principals, key, v) {
        if (np < FUZZ_MAX_PRINCIPALS) {
            names[np++] = key;
        }

        fuzz_collect_ids(json_object_get(v, "reportDistributionIds"), ids,
                         &nids);
        fuzz_collect_ids(json_object_get(v, "overrideUserIds"), ids, &nids);

        g = json_array_get(json_object_get(v, "permissions"), 0);
        if (json_is_string(g) && nperm < FUZZ_MAX_PERMS) {
            perms[nperm++] = json_string_value(g);
        }
    }

    json_object_foreach(json_object_get(root, "groups"), key, v) {
        fuzz_collect_ids(json_object_get(v, "reportDistributionIds"), ids,
                         &nids);
        fuzz_collect_ids(json_object_get(v, "overrideUserIds"), ids, &nids);
    }

    if (eci_acl_principal_count(acl) != json_object_size(principals)) {
        fuzz_fail("principal count differs from the JSON's");
    }

    for (i = 0; i < np; i++) {
        plen = strlen(names[i]);

        if (eci_acl_check(acl, names[i], plen, ECI_PERMISSION_EXEC, 1, NULL,
                          0, NULL)
            == ECI_ACL_UNKNOWN_PRINCIPAL)
        {
            fuzz_fail("a principal of the ACL is unknown");
        }

        /* a prefix and a case variant are other principals */
        alt = malloc(plen + 1);
        if (alt != NULL) {
            memcpy(alt, names[i], plen + 1);

            for (j = 0; j < plen; j++) {
                if (alt[j] >= 'a' && alt[j] <= 'z') {
                    alt[j] ^= 0x20;
                    break;
                }
            }

            for (k = 0; k < 2; k++) {
                m = (k == 0) ? plen : plen - (plen > 0);

                rc = eci_acl_check(acl, alt, m, ECI_PERMISSION_EXEC, 1,
                                   NULL, 0, NULL);
                want = fuzz_model(root, alt, m, ECI_PERMISSION_EXEC, 1,
                                  NULL, 0);

                if (rc != want) {
                    fuzz_fail("check of a variant principal differs from "
                              "the model");
                }
            }

            free(alt);
        }

        for (j = 0; j < nperm; j++) {
            for (k = 0; k < nids; k++) {
                for (m = 0; m <= nids; m++) {
                    denied = 0;

                    rc = eci_acl_check(acl, names[i], plen, perms[j], ids[k],
                                       ids, m, &denied);
                    want = fuzz_model(root, names[i], plen, perms[j], ids[k],
                                      ids, m);

                    if (rc != want) {
                        fprintf(stderr, "principal \"%s\" permission \"%s\" "
                                "id %d overrides %zu: got %d, model %d\n",
                                names[i], perms[j], (int) ids[k], m,
                                (int) rc, (int) want);
                        fuzz_fail("check differs from the model");
                    }

                    if (rc == ECI_ACL_OVERRIDE_DENIED) {
                        for (x = 0; x < m && ids[x] != denied; x++) {
                            /* void */
                        }

                        if (x == m) {
                            fuzz_fail("denied id is not one of the "
                                      "overrides");
                        }
                    }

                    if (eci_acl_rc_text(rc) == NULL) {
                        fuzz_fail("rc_text is NULL");
                    }
                }
            }
        }

        (void) eci_acl_allow_duplicate(acl, names[i], plen);
    }

    json_decref(root);
    eci_acl_free(acl);
    free(buf);

    return 0;
}


static void
fuzz_collect_ids(json_t *v, int32_t *ids, size_t *n)
{
    size_t   i;
    json_t  *e;

    json_array_foreach(v, i, e) {
        if (*n >= FUZZ_MAX_IDS) {
            return;
        }

        if (json_is_integer(e)) {
            ids[(*n)++] = (int32_t) json_integer_value(e);
        }
    }
}


/* absent: reportDistributionIds means "*", overrideUserIds means none */

static int
fuzz_ids_cover(json_t *v, int32_t id, int absent_all)
{
    size_t   i;
    json_t  *e;

    if (v == NULL) {
        return absent_all;
    }

    if (json_is_string(v)) {
        return 1;
    }

    json_array_foreach(v, i, e) {
        if (json_integer_value(e) == id) {
            return 1;
        }
    }

    return 0;
}


static int
fuzz_grant_allows(json_t *g, const char *perm, int32_t id,
    const int32_t *ids, size_t n, int *has_perm, int *has_id)
{
    size_t   i;
    json_t  *e;

    json_array_foreach(json_object_get(g, "permissions"), i, e) {
        if (strcmp(json_string_value(e), perm) == 0) {
            break;
        }
    }

    if (i == json_array_size(json_object_get(g, "permissions"))) {
        return 0;
    }

    *has_perm = 1;

    if (!fuzz_ids_cover(json_object_get(g, "reportDistributionIds"), id, 1)) {
        return 0;
    }

    *has_id = 1;

    for (i = 0; i < n; i++) {
        if (!fuzz_ids_cover(json_object_get(g, "overrideUserIds"), ids[i],
                            0))
        {
            return 0;
        }
    }

    return 1;
}


static eci_acl_rc_t
fuzz_model(json_t *root, const char *p, size_t plen, const char *perm,
    int32_t id, const int32_t *ids, size_t n)
{
    int          has_perm, has_id;
    size_t       i;
    json_t      *v, *e, *groups;
    const char  *key;

    v = NULL;

    json_object_foreach(json_object_get(root, "principals"), key, e) {
        if (strlen(key) == plen && memcmp(key, p, plen) == 0) {
            v = e;
            break;
        }
    }

    if (v == NULL) {
        return ECI_ACL_UNKNOWN_PRINCIPAL;
    }

    has_perm = 0;
    has_id = 0;

    if (fuzz_grant_allows(v, perm, id, ids, n, &has_perm, &has_id)) {
        return ECI_ACL_ALLOW;
    }

    groups = json_object_get(root, "groups");

    json_array_foreach(json_object_get(v, "groups"), i, e) {
        if (fuzz_grant_allows(json_object_get(groups, json_string_value(e)),
                              perm, id, ids, n, &has_perm, &has_id))
        {
            return ECI_ACL_ALLOW;
        }
    }

    if (!has_perm) {
        return ECI_ACL_NO_PERMISSION;
    }

    return has_id ? ECI_ACL_OVERRIDE_DENIED : ECI_ACL_ID_DENIED;
}


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_acl: invariant broken: %s\n", what);
    abort();
}
