/*
 * The ACL's permission names are interned in a hash (issue 17): with
 * 20,000 distinct permissions each principal is allowed with its own and
 * refused with another's, and the grants past the first 64 permissions
 * (which are not bits) decide the same way.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl.h"
#include "tap.h"


#define N  20000


int
main(void)
{
    int           i, bad_allow, bad_deny;
    char         *json, *p, perm[64], name[32];
    size_t        cap;
    eci_err_t     err;
    eci_acl_t    *acl;
    eci_acl_rc_t  rc;

    cap = (size_t) N * 128 + 64;
    json = malloc(cap);
    if (json == NULL) {
        return 1;
    }

    p = json;
    p += sprintf(p, "{\"principals\":{");

    for (i = 0; i < N; i++) {
        p += sprintf(p, "%s\"p%d\":{\"permissions\":[\"Area P%d (Manage)\"],"
                     "\"reportDistributionIds\":[%d]}", i ? "," : "", i, i,
                     i + 1);
    }

    p += sprintf(p, "}}");

    /* exact size: no terminator after the buffer */
    acl = eci_acl_load_buffer(json, (size_t) (p - json), "intern.json", &err);
    ok(acl != NULL, "20,000 distinct permissions load");

    if (acl == NULL) {
        printf("# %s\n", err.msg);
        free(json);
        return done_testing();
    }

    bad_allow = 0;
    bad_deny = 0;

    for (i = 0; i < N; i++) {
        (void) snprintf(name, sizeof(name), "p%d", i);
        (void) snprintf(perm, sizeof(perm), "Area P%d (Manage)", i);

        rc = eci_acl_check(acl, name, strlen(name), perm, i + 1, NULL, 0,
                           NULL);
        if (rc != ECI_ACL_ALLOW) {
            bad_allow++;
        }

        /* the next principal's permission: held by another grant only */
        (void) snprintf(perm, sizeof(perm), "Area P%d (Manage)", (i + 1) % N);

        rc = eci_acl_check(acl, name, strlen(name), perm, i + 1, NULL, 0,
                           NULL);
        if (rc != ECI_ACL_NO_PERMISSION) {
            bad_deny++;
        }
    }

    is_int(bad_allow, 0, "each principal is allowed with its own permission");
    is_int(bad_deny, 0, "and refused with its neighbour's");

    is_int(eci_acl_check(acl, "p5", 2, "Area P5 (Read)", 6, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION, "a permission no grant names is refused");
    is_int(eci_acl_check(acl, "p5", 2, "Area P5 (Manage) ", 6, NULL, 0,
                         NULL),
           ECI_ACL_NO_PERMISSION, "a longer spelling is another permission");
    is_int(eci_acl_check(acl, "p5", 2, "Area P5 (Manage", 6, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION, "a shorter spelling is another permission");

    eci_acl_free(acl);
    free(json);

    return done_testing();
}
