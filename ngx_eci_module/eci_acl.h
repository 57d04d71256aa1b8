/*
 * The local ACL: which principal may use which ECI permission, on which
 * report distributions, with which recipient overrides.
 */

#ifndef ECI_ACL_H
#define ECI_ACL_H

#include "eci_common.h"

#define ECI_PERMISSION_EXEC  "DistributedReportsSettings (Manage)"

typedef struct eci_acl_s  eci_acl_t;

typedef enum {
    ECI_ACL_ALLOW = 0,
    ECI_ACL_UNKNOWN_PRINCIPAL,     /* principal not in the ACL */
    ECI_ACL_NO_PERMISSION,         /* no grant carries the permission */
    ECI_ACL_ID_DENIED,             /* no grant covers the id */
    ECI_ACL_OVERRIDE_DENIED        /* no grant covers the override ids */
} eci_acl_rc_t;

/*
 * Reads and validates the ACL file.  On error returns NULL and err->msg
 * reads like
 *   "/etc/nginx/eci/acl.json": line 12 column 5: <jansson's text>
 *   "/etc/nginx/eci/acl.json": principals."svc-reporting".colour: unknown key
 */
eci_acl_t *eci_acl_load(const char *path, eci_err_t *err);

/* same from a buffer; name is used in messages in place of the path */
eci_acl_t *eci_acl_load_buffer(const char *data, size_t len,
    const char *name, eci_err_t *err);

void eci_acl_free(eci_acl_t *acl);

size_t eci_acl_principal_count(const eci_acl_t *acl);

/*
 * Is principal (plen bytes, matched exactly) allowed to use permission on
 * report distribution id with the override ids?  n == 0 means no override.
 * The request is allowed when one single grant (the principal's own entry
 * or one of its groups) covers the permission, the id and every override.
 * On ECI_ACL_OVERRIDE_DENIED *denied (may be NULL) is the first override
 * id no grant allows.
 */
eci_acl_rc_t eci_acl_check(const eci_acl_t *acl, const char *principal,
    size_t plen, const char *permission, int32_t id, const int32_t *ids,
    size_t n, int32_t *denied);

/*
 * The same, and on ECI_ACL_ALLOW *api_key is the "apiKey" of the grant
 * that allows it (the principal's own entry first, then its groups in the
 * order listed), NULL when that grant names none.
 */
eci_acl_rc_t eci_acl_check_key(const eci_acl_t *acl, const char *principal,
    size_t plen, const char *permission, int32_t id, const int32_t *ids,
    size_t n, int32_t *denied, const char **api_key);

/* the distinct "apiKey" names the ACL's grants use, at most cap of them */
size_t eci_acl_api_keys(const eci_acl_t *acl, const char **names,
    size_t cap);

const char *eci_acl_rc_text(eci_acl_rc_t rc);

/*
 * Does any grant of principal (its own entry or one of its groups) set
 * "allowDuplicateExec": true?  0 for an unknown principal.
 */
int eci_acl_allow_duplicate(const eci_acl_t *acl, const char *p,
    size_t plen);

/*
 * What eci-acl shows of an ACL: its principals one by one (*cursor starts
 * at 0; 0 returned past the last) and a principal's grants, its own entry
 * first and then its groups in the order listed.  Pointers stay valid
 * until eci_acl_free().
 */
typedef struct {
    const char          *group;          /* NULL: the principal's own */
    size_t               group_len;
    const char *const   *permissions;
    size_t               npermissions;
    int                  all_ids;
    const int32_t       *ids;            /* sorted, unique */
    size_t               nids;
    int                  all_overrides;
    const int32_t       *overrides;      /* sorted, unique */
    size_t               noverrides;
    int                  allow_duplicate;
} eci_acl_grant_info_t;

size_t eci_acl_group_count(const eci_acl_t *acl);

int eci_acl_principal_next(const eci_acl_t *acl, size_t *cursor,
    const char **name, size_t *len);

/* how many grants the principal has (0: unknown); fills at most cap */
size_t eci_acl_grants(const eci_acl_t *acl, const char *p, size_t plen,
    eci_acl_grant_info_t *out, size_t cap);

#endif /* ECI_ACL_H */
