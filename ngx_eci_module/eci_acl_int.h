/*
 * The ACL's in-memory form, shared by the files of the core that build
 * and read it (eci_acl_load.c and eci_acl_fields.c: loading; eci_acl.c:
 * checking; eci_acl_table.c: the hash tables; eci_acl_index.c: the
 * per-group-set index; eci_arena.c: the memory).  Not for the adapter or
 * the tools: they use eci_acl.h.
 */

#ifndef ECI_ACL_INT_H
#define ECI_ACL_INT_H

#include "eci_acl.h"


typedef struct eci_acl_block_s  eci_acl_block_t;
typedef struct eci_acl_index_s  eci_acl_index_t;

/* grants test the first 64 distinct permissions of an ACL as bits */
#define ECI_ACL_PERMISSION_BITS  64

typedef struct {
    int32_t          *ids;              /* sorted, unique */
    uint32_t          n;
    uint32_t          all;              /* "*" */
} eci_acl_ids_t;

typedef struct {
    uint64_t          permission_bits;  /* bit i: the ACL's permission i */
    const char      **permissions;      /* the ACL's copies, any index */
    size_t            npermissions;
    eci_acl_ids_t     report_ids;
    eci_acl_ids_t     override_ids;
    int               allow_duplicate;
    const char       *api_key;          /* "apiKey": a keystore name, or
                                           NULL: the location's key */
} eci_acl_grant_t;

typedef struct {
    const char       *name;             /* NUL-terminated */
    size_t            len;
} eci_acl_permission_t;

typedef struct eci_acl_entry_s  eci_acl_entry_t;

struct eci_acl_entry_s {
    eci_acl_grant_t   grant;
    const eci_acl_index_t *index;       /* its groups', or NULL */
    eci_acl_entry_t **groups;           /* principals only */
    size_t            ngroups;
    size_t            len;
    char              name[];           /* len bytes, no NUL */
};

typedef struct {
    uint32_t          hash;
    eci_acl_entry_t  *entry;            /* NULL: empty */
} eci_acl_slot_t;

typedef struct {
    eci_acl_slot_t   *slots;
    size_t            n;
    size_t            mask;
} eci_acl_table_t;

struct eci_acl_s {
    eci_acl_block_t  *blocks;
    eci_acl_table_t   principals;
    eci_acl_table_t   groups;
    eci_acl_permission_t  *permissions; /* distinct, in order of appearance */
    size_t            npermissions;
    size_t            permissions_cap;
    uint32_t         *permission_slots; /* index + 1 into permissions, 0:
                                           empty; at most half full */
    size_t            permission_mask;
    eci_acl_index_t  *indexes;          /* one per distinct group list */
    size_t            index_bytes;
};


/* eci_arena.c: zeroed memory that lives as long as the ACL */
void *eci_acl_alloc(eci_acl_t *acl, size_t size);
/* memory from a list of blocks, freed all at once with the list */
void *eci_acl_block_alloc(eci_acl_block_t **blocks, size_t size,
    size_t block_size);
void eci_acl_blocks_free(eci_acl_block_t *blocks);

/* eci_acl_table.c */
int eci_acl_table_init(eci_acl_t *acl, eci_acl_table_t *t, size_t n);
int eci_acl_table_insert(eci_acl_table_t *t, eci_acl_entry_t *e);
eci_acl_entry_t *eci_acl_table_find(const eci_acl_table_t *t,
    const char *name, size_t len);
int eci_acl_permission_intern(eci_acl_t *acl, size_t index);
size_t eci_acl_permission_index(const eci_acl_t *acl,
    const char *permission);

/* eci_acl.c */
int eci_acl_ids_cover(const eci_acl_ids_t *ids, int32_t id);
int eci_acl_grant_has(const eci_acl_grant_t *g, const char *permission,
    size_t index);
const eci_acl_grant_t *eci_acl_entry_grant(const eci_acl_entry_t *e,
    size_t k);

/* eci_acl_index.c */
int eci_acl_index_build(eci_acl_t *acl);
eci_acl_rc_t eci_acl_check_indexed(const eci_acl_entry_t *e,
    const char *permission, size_t index, int32_t id, const int32_t *ids,
    size_t n, int32_t *denied, const eci_acl_grant_t **allowed);

#endif /* ECI_ACL_INT_H */
