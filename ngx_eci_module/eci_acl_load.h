/*
 * The ACL's loader, shared by its two files (eci_acl_load.c: the file,
 * the document, its sections and entries, the messages; eci_acl_fields.c:
 * the fields of an entry).  Not for the adapter or the tools: they use
 * eci_acl.h.
 */

#ifndef ECI_ACL_LOAD_H
#define ECI_ACL_LOAD_H

#include <jansson.h>

#include "eci_acl_int.h"


/* bytes of caller-supplied names shown in messages */
#define ECI_ACL_NAME_SHOW    64
#define ECI_ACL_FILE_SHOW    128

/* where the loader is, for messages */
typedef struct {
    eci_acl_t        *acl;
    const char       *file;
    eci_err_t        *err;
    const char       *section;          /* "principals", "groups", NULL */
    const char       *entry;            /* entry name or NULL */
    size_t            last_permission;  /* index of the last one seen */
} eci_acl_ctx_t;


/*
 * A refusal as one line in ctx->err, naming the file, the section, the
 * entry and key[index] where they are known (eci_acl_load.c).
 */
void eci_acl_error(eci_acl_ctx_t *ctx, const char *key, long index,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void eci_acl_escape(char *dst, size_t cap, const char *s, size_t len,
    size_t show, int quotes);

/* eci_acl_fields.c */
int eci_acl_api_key_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_grant_t *g);
int eci_acl_permissions_load(eci_acl_ctx_t *ctx, const char *key,
    json_t *v, eci_acl_grant_t *g);
int eci_acl_ids_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_ids_t *ids);
int eci_acl_groups_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_entry_t *e);

#endif /* ECI_ACL_LOAD_H */
