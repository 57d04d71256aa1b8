/*
 * Shared by the ACL unit tests: an ACL loaded from an exact-size heap
 * copy of a JSON literal, so that ASan sees any read past its end.
 */

#ifndef ECI_ACL_TEST_H
#define ECI_ACL_TEST_H

#include <stdlib.h>
#include <string.h>

#include "eci_acl.h"
#include "tap.h"


static __attribute__((unused)) eci_acl_t *
acl_load_copy(const char *json, const char *name, eci_err_t *err)
{
    char       *copy;
    size_t      len;
    eci_acl_t  *acl;

    len = strlen(json);
    copy = tap_copy(json, len);
    if (copy == NULL) {
        return NULL;
    }

    acl = eci_acl_load_buffer(copy, len, name, err);
    free(copy);

    return acl;
}

#endif /* ECI_ACL_TEST_H */
