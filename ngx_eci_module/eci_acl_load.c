/*
 * The local ACL, loaded once at configuration time and read-only after.
 *
 * Each principal has grants: its own entry, and the entry of every group
 * it lists.  A grant is a set of permissions, a set of report
 * distribution ids (absent: all, "*": all) and a set of override user ids
 * (absent: none, so overriding recipients is opt-in; "*": all).
 *
 * A request is allowed when one single grant has the permission AND
 * covers the report distribution id AND covers every override id; grants
 * are not combined, so a group that may override recipients does not
 * widen the ids another grant may run.  Without override ids, permission
 * and id are enough.
 *
 * A refusal reports the first thing that failed, in this order:
 *   ECI_ACL_UNKNOWN_PRINCIPAL  the principal is not in the ACL;
 *   ECI_ACL_NO_PERMISSION      no grant has the permission;
 *   ECI_ACL_ID_DENIED          no grant with the permission covers the id;
 *   ECI_ACL_OVERRIDE_DENIED    no grant with the permission and the id
 *                              covers all the override ids.  *denied is
 *                              the first override id that no such grant
 *                              covers; when each id is covered by some
 *                              grant but none covers all of them, it is
 *                              the first id refused by the grant that
 *                              covers the longest prefix of the list.
 *
 * Principals are matched byte for byte (case-sensitive) through an open
 * addressing hash table; id lists are sorted for binary search.  All
 * memory comes from one arena, freed at once by eci_acl_free().
 *
 * A table of 100,000 principals does not stay in the CPU's caches, and a
 * lookup then waits for each dependent read in turn.  So the slots keep
 * the hash (a probe reads no entry but the one that matches), an entry
 * keeps its name inline and is followed in the arena by its id lists and
 * groups (neighbouring cache lines, mostly the same page), and a grant's
 * permissions are bits over the ACL's own list of distinct permissions.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_acl.h"
#include "eci_acl_int.h"


#define ECI_ACL_BLOCK_SIZE   (64 * 1024)
#define ECI_ACL_ALIGN        16

/* bytes of caller-supplied names shown in messages */
#define ECI_ACL_NAME_SHOW    64
#define ECI_ACL_FILE_SHOW    128

#define ECI_ACL_IDS_MSG      "must be \"*\" or an array of integers from 1 " \
                             "to 2147483647"
#define ECI_ACL_ID_MSG       "must be an integer from 1 to 2147483647"
#define ECI_ACL_PERM_MSG     "must be a permission like " \
                             "\"" ECI_PERMISSION_EXEC "\""


struct eci_acl_block_s {
    eci_acl_block_t  *next;
    size_t            size;
    size_t            used;
};

#define ECI_ACL_BLOCK_HDR                                                    \
    ((sizeof(eci_acl_block_t) + ECI_ACL_ALIGN - 1) & ~(ECI_ACL_ALIGN - 1))

/* where the loader is, for messages */
typedef struct {
    eci_acl_t        *acl;
    const char       *file;
    eci_err_t        *err;
    const char       *section;          /* "principals", "groups", NULL */
    const char       *entry;            /* entry name or NULL */
    size_t            last_permission;  /* index of the last one seen */
} eci_acl_ctx_t;


static void *eci_acl_json_alloc(size_t n);
static void eci_acl_json_free(void *p);
static void *eci_acl_block_alloc(eci_acl_block_t **blocks, size_t size,
    size_t block_size);
static void eci_acl_blocks_free(eci_acl_block_t *blocks);
static eci_acl_t *eci_acl_load_json(const char *data, size_t len,
    const char *name, eci_err_t *err);
static int eci_acl_root_load(eci_acl_ctx_t *ctx, json_t *root);
static int eci_acl_section_load(eci_acl_ctx_t *ctx, const char *section,
    json_t *obj, eci_acl_table_t *t, int principals);
static int eci_acl_entry_load(eci_acl_ctx_t *ctx, eci_acl_entry_t *e,
    json_t *v, int principal);
static int eci_acl_api_key_load(eci_acl_ctx_t *ctx, const char *key,
    json_t *v, eci_acl_grant_t *g);
static int eci_acl_permissions_load(eci_acl_ctx_t *ctx, const char *key,
    json_t *v, eci_acl_grant_t *g);
static int eci_acl_permission_add(eci_acl_ctx_t *ctx, const char *s,
    size_t len, size_t *index);
static int eci_acl_permission_intern(eci_acl_t *acl, size_t index);
static size_t eci_acl_permission_index(const eci_acl_t *acl,
    const char *permission);
static int eci_acl_permission_valid(const char *s, size_t len);
static int eci_acl_words_valid(const char *s, size_t len);
static int eci_acl_ids_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_ids_t *ids);
static int eci_acl_groups_load(eci_acl_ctx_t *ctx, const char *key,
    json_t *v, eci_acl_entry_t *e);
static int eci_acl_id_cmp(const void *a, const void *b);

static int32_t eci_acl_override_denied(const eci_acl_entry_t *e,
    const char *permission, size_t index, int32_t id, const int32_t *ids,
    size_t n);
static int eci_acl_table_init(eci_acl_t *acl, eci_acl_table_t *t,
    size_t n);
static int eci_acl_table_insert(eci_acl_table_t *t, eci_acl_entry_t *e);
static eci_acl_entry_t *eci_acl_table_find(const eci_acl_table_t *t,
    const char *name, size_t len);
static uint32_t eci_acl_hash(const char *s, size_t len);
static void eci_acl_error(eci_acl_ctx_t *ctx, const char *key, long index,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void eci_acl_escape(char *dst, size_t cap, const char *s,
    size_t len, size_t show, int quotes);
static int eci_acl_key_plain(const char *s);


eci_acl_t *
eci_acl_load(const char *path, eci_err_t *err)
{
    FILE           *f;
    char           *data, *p;
    size_t          len, cap, n;
    eci_acl_t      *acl;
    eci_acl_ctx_t   ctx;

    memset(&ctx, 0, sizeof(eci_acl_ctx_t));
    ctx.file = path;
    ctx.err = err;

    f = fopen(path, "rb");
    if (f == NULL) {
        eci_acl_error(&ctx, NULL, -1, "cannot open: %s", strerror(errno));
        return NULL;
    }

    data = NULL;
    len = 0;
    cap = 0;

    for ( ;; ) {
        if (cap - len < 4096) {
            cap = (cap == 0) ? 65536 : cap * 2;

            p = realloc(data, cap);
            if (p == NULL) {
                eci_acl_error(&ctx, NULL, -1, "out of memory");
                goto failed;
            }

            data = p;
        }

        n = fread(data + len, 1, cap - len, f);
        len += n;

        if (n == 0) {
            break;
        }
    }

    if (ferror(f)) {
        eci_acl_error(&ctx, NULL, -1, "cannot read: %s", strerror(errno));
        goto failed;
    }

    (void) fclose(f);

    acl = eci_acl_load_buffer(data, len, path, err);

    free(data);

    return acl;

failed:

    (void) fclose(f);
    free(data);

    return NULL;
}


/*
 * jansson allocates every value of a document separately and frees them one
 * by one: for an ACL of 100,000 principals that is millions of malloc() and
 * free() calls, a third of the load.  While an ACL is read, jansson
 * allocates from blocks like the ACL's own instead, all freed when the ACL
 * has been built (nothing of the document is kept).  jansson's allocator
 * is process-wide: it is swapped only for the duration of one load, which
 * runs in one thread (nginx's configuration, a tool, a fuzzer).
 */

/* jansson's values, in blocks of their own, freed once the ACL is built */
#define ECI_ACL_JSON_BLOCK   (1024 * 1024)

static eci_acl_block_t  *eci_acl_json_blocks;


static void *
eci_acl_json_alloc(size_t n)
{
    return eci_acl_block_alloc(&eci_acl_json_blocks, n, ECI_ACL_JSON_BLOCK);
}


static void
eci_acl_json_free(void *p)
{
    /* all of it goes at once when the load ends */
}


eci_acl_t *
eci_acl_load_buffer(const char *data, size_t len, const char *name,
    eci_err_t *err)
{
    eci_acl_t      *acl;
    json_free_t     free_fn;
    json_malloc_t   malloc_fn;

    json_get_alloc_funcs(&malloc_fn, &free_fn);
    json_set_alloc_funcs(eci_acl_json_alloc, eci_acl_json_free);

    acl = eci_acl_load_json(data, len, name, err);

    json_set_alloc_funcs(malloc_fn, free_fn);
    eci_acl_blocks_free(eci_acl_json_blocks);
    eci_acl_json_blocks = NULL;

    return acl;
}


/* the document is read in the arena: nothing of it is freed one by one */
static eci_acl_t *
eci_acl_load_json(const char *data, size_t len, const char *name,
    eci_err_t *err)
{
    char            text[sizeof(((json_error_t *) 0)->text) * 4];
    char            file[ECI_ACL_FILE_SHOW * 4 + 4];
    json_t         *root;
    eci_acl_t      *acl;
    json_error_t    jerr;
    eci_acl_ctx_t   ctx;

    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        /* jansson quotes the text near the error, which may be anything */
        eci_acl_escape(file, sizeof(file), name, strlen(name),
                       ECI_ACL_FILE_SHOW, 1);
        eci_acl_escape(text, sizeof(text), jerr.text, strlen(jerr.text),
                       sizeof(jerr.text), 0);
        eci_err_set(err, "\"%s\": line %d column %d: %s",
                    file, jerr.line, jerr.column, text);
        return NULL;
    }

    memset(&ctx, 0, sizeof(eci_acl_ctx_t));
    ctx.file = name;
    ctx.err = err;

    acl = calloc(1, sizeof(eci_acl_t));
    if (acl == NULL) {
        eci_acl_error(&ctx, NULL, -1, "out of memory");
        return NULL;
    }

    ctx.acl = acl;

    if (eci_acl_root_load(&ctx, root) != 0) {
        eci_acl_free(acl);
        return NULL;
    }

    if (eci_acl_index_build(acl) != 0) {
        eci_acl_error(&ctx, NULL, -1, "out of memory");
        eci_acl_free(acl);
        return NULL;
    }

    return acl;
}


static int
eci_acl_root_load(eci_acl_ctx_t *ctx, json_t *root)
{
    json_t      *v, *principals, *groups;
    const char  *key;

    if (!json_is_object(root)) {
        eci_acl_error(ctx, NULL, -1, "the top level must be an object");
        return -1;
    }

    json_object_foreach(root, key, v) {
        if (strcmp(key, "principals") != 0 && strcmp(key, "groups") != 0) {
            eci_acl_error(ctx, key, -1, "unknown key");
            return -1;
        }
    }

    principals = json_object_get(root, "principals");
    if (principals == NULL) {
        eci_acl_error(ctx, "principals", -1, "required key is missing");
        return -1;
    }

    /* groups first: principals refer to them */

    groups = json_object_get(root, "groups");

    if (eci_acl_section_load(ctx, "groups", groups, &ctx->acl->groups, 0)
        != 0)
    {
        return -1;
    }

    return eci_acl_section_load(ctx, "principals", principals,
                                &ctx->acl->principals, 1);
}


static int
eci_acl_section_load(eci_acl_ctx_t *ctx, const char *section, json_t *obj,
    eci_acl_table_t *t, int principals)
{
    size_t            n, len;
    json_t           *v;
    const char       *key;
    eci_acl_entry_t  *e;

    if (obj != NULL && !json_is_object(obj)) {
        eci_acl_error(ctx, section, -1, "must be an object");
        return -1;
    }

    n = (obj != NULL) ? json_object_size(obj) : 0;

    if (eci_acl_table_init(ctx->acl, t, n) != 0) {
        eci_acl_error(ctx, section, -1, "out of memory");
        return -1;
    }

    if (obj == NULL) {
        return 0;
    }

    ctx->section = section;

    json_object_foreach(obj, key, v) {
        ctx->entry = key;

        len = strlen(key);

        if (len == 0) {
            eci_acl_error(ctx, NULL, -1, "name must not be empty");
            return -1;
        }

        /*
         * the key belongs to the JSON tree, which is freed after loading;
         * what the entry's load allocates follows the entry in the arena
         */
        e = eci_acl_alloc(ctx->acl, sizeof(eci_acl_entry_t) + len);
        if (e == NULL) {
            eci_acl_error(ctx, NULL, -1, "out of memory");
            return -1;
        }

        e->len = len;
        memcpy(e->name, key, len);

        if (eci_acl_entry_load(ctx, e, v, principals) != 0) {
            return -1;
        }

        if (eci_acl_table_insert(t, e) != 0) {
            /* JSON_REJECT_DUPLICATES makes this unreachable */
            eci_acl_error(ctx, NULL, -1, "duplicate name");
            return -1;
        }
    }

    ctx->section = NULL;
    ctx->entry = NULL;

    return 0;
}


static int
eci_acl_entry_load(eci_acl_ctx_t *ctx, eci_acl_entry_t *e, json_t *v,
    int principal)
{
    json_t           *val;
    const char       *key;
    eci_acl_grant_t  *g;

    if (!json_is_object(v)) {
        eci_acl_error(ctx, NULL, -1, "must be an object");
        return -1;
    }

    g = &e->grant;

    /* absent reportDistributionIds: every id; absent overrideUserIds: none */
    g->report_ids.all = 1;
    g->override_ids.all = 0;

    json_object_foreach(v, key, val) {

        if (strcmp(key, "permissions") == 0) {
            if (eci_acl_permissions_load(ctx, key, val, g) != 0) {
                return -1;
            }

        } else if (strcmp(key, "reportDistributionIds") == 0) {
            if (eci_acl_ids_load(ctx, key, val, &g->report_ids) != 0) {
                return -1;
            }

        } else if (strcmp(key, "overrideUserIds") == 0) {
            if (eci_acl_ids_load(ctx, key, val, &g->override_ids) != 0) {
                return -1;
            }

        } else if (strcmp(key, "apiKey") == 0) {
            if (eci_acl_api_key_load(ctx, key, val, g) != 0) {
                return -1;
            }

        } else if (strcmp(key, "allowDuplicateExec") == 0) {
            if (!json_is_boolean(val)) {
                eci_acl_error(ctx, key, -1, "must be true or false");
                return -1;
            }

            g->allow_duplicate = json_is_true(val);

        } else if (strcmp(key, "groups") == 0) {
            if (!principal) {
                eci_acl_error(ctx, key, -1,
                              "unknown key: groups cannot contain groups");
                return -1;
            }

            if (eci_acl_groups_load(ctx, key, val, e) != 0) {
                return -1;
            }

        } else {
            eci_acl_error(ctx, key, -1, "unknown key");
            return -1;
        }
    }

    return 0;
}


/* "apiKey": a keystore entry's name, as eci-keytool accepts it */
static int
eci_acl_api_key_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_grant_t *g)
{
    char        *copy;
    size_t       i, len;
    const char  *s;

    if (!json_is_string(v)) {
        eci_acl_error(ctx, key, -1, "must be the name of a keystore key");
        return -1;
    }

    s = json_string_value(v);
    len = json_string_length(v);

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
              || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_'
              || s[i] == '-'))
        {
            break;
        }
    }

    if (len == 0 || len > 64 || i < len) {
        eci_acl_error(ctx, key, -1, "must be the name of a keystore key: "
                      "1 to 64 of A-Z a-z 0-9 . _ -");
        return -1;
    }

    copy = eci_acl_alloc(ctx->acl, len + 1);
    if (copy == NULL) {
        eci_acl_error(ctx, key, -1, "out of memory");
        return -1;
    }

    memcpy(copy, s, len + 1);
    g->api_key = copy;

    return 0;
}


static int
eci_acl_permissions_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_grant_t *g)
{
    size_t       i, n, len, index;
    json_t      *item;
    const char  *s;

    if (!json_is_array(v)) {
        eci_acl_error(ctx, key, -1, "must be an array of permissions like "
                      "\"" ECI_PERMISSION_EXEC "\"");
        return -1;
    }

    n = json_array_size(v);

    if (n == 0) {
        return 0;
    }

    g->permissions = eci_acl_alloc(ctx->acl, n * sizeof(const char *));
    if (g->permissions == NULL) {
        eci_acl_error(ctx, key, -1, "out of memory");
        return -1;
    }

    json_array_foreach(v, i, item) {
        if (!json_is_string(item)) {
            eci_acl_error(ctx, key, (long) i, ECI_ACL_PERM_MSG);
            return -1;
        }

        s = json_string_value(item);
        len = json_string_length(item);

        if (len == 0) {
            eci_acl_error(ctx, key, (long) i, "must not be empty");
            return -1;
        }

        if (!eci_acl_permission_valid(s, len)) {
            eci_acl_error(ctx, key, (long) i, ECI_ACL_PERM_MSG);
            return -1;
        }

        if (eci_acl_permission_add(ctx, s, len, &index) != 0) {
            eci_acl_error(ctx, key, (long) i, "out of memory");
            return -1;
        }

        g->permissions[i] = ctx->acl->permissions[index].name;

        if (index < ECI_ACL_PERMISSION_BITS) {
            g->permission_bits |= (uint64_t) 1 << index;
        }
    }

    g->npermissions = n;

    return 0;
}


/*
 * The ACL keeps one copy of each distinct permission; grants point to
 * those copies, so equal permissions are equal pointers.
 */

static int
eci_acl_permission_add(eci_acl_ctx_t *ctx, const char *s, size_t len,
    size_t *index)
{
    char                  *copy;
    size_t                 i, cap;
    eci_acl_t             *acl;
    eci_acl_permission_t  *list;

    acl = ctx->acl;

    /* most entries repeat the permission of the one before */

    i = ctx->last_permission;

    if (i < acl->npermissions && strcmp(acl->permissions[i].name, s) == 0) {
        *index = i;
        return 0;
    }

    i = eci_acl_permission_index(acl, s);

    if (i < acl->npermissions) {
        ctx->last_permission = i;
        *index = i;
        return 0;
    }

    if (acl->npermissions == acl->permissions_cap) {
        cap = (acl->permissions_cap == 0) ? 8 : acl->permissions_cap * 2;

        /* the old list stays in the arena: a few pointers */
        list = eci_acl_alloc(acl, cap * sizeof(eci_acl_permission_t));
        if (list == NULL) {
            return -1;
        }

        if (acl->npermissions > 0) {
            memcpy(list, acl->permissions,
                   acl->npermissions * sizeof(eci_acl_permission_t));
        }

        acl->permissions = list;
        acl->permissions_cap = cap;
    }

    copy = eci_acl_alloc(acl, len + 1);
    if (copy == NULL) {
        return -1;
    }

    memcpy(copy, s, len + 1);

    i = acl->npermissions++;
    acl->permissions[i].name = copy;
    acl->permissions[i].len = len;

    if (eci_acl_permission_intern(acl, i) != 0) {
        return -1;
    }

    ctx->last_permission = i;
    *index = i;

    return 0;
}


/*
 * Distinct permissions are interned in a hash table, so an ACL with
 * thousands of them loads and checks in constant time per name (a list
 * walk cost 25 us a check with 20,000).  Grown by doubling; the old slots
 * stay in the arena.
 */

static int
eci_acl_permission_intern(eci_acl_t *acl, size_t index)
{
    size_t     i, j, size;
    uint32_t  *slots, h;

    if (2 * acl->npermissions > acl->permission_mask) {
        size = (acl->permission_mask + 1) * 2;
        if (size < 16) {
            size = 16;
        }

        slots = eci_acl_alloc(acl, size * sizeof(uint32_t));
        if (slots == NULL) {
            return -1;
        }

        acl->permission_slots = slots;
        acl->permission_mask = size - 1;

        /* every name but the new one, again */
        for (j = 0; j < index; j++) {
            h = eci_acl_hash(acl->permissions[j].name,
                             acl->permissions[j].len);

            for (i = h & acl->permission_mask; slots[i] != 0;
                 i = (i + 1) & acl->permission_mask)
            {
                /* void */
            }

            slots[i] = (uint32_t) j + 1;
        }
    }

    h = eci_acl_hash(acl->permissions[index].name,
                     acl->permissions[index].len);

    for (i = h & acl->permission_mask; acl->permission_slots[i] != 0;
         i = (i + 1) & acl->permission_mask)
    {
        /* void */
    }

    acl->permission_slots[i] = (uint32_t) index + 1;

    return 0;
}


/*
 * The permission's index in the ACL's list; npermissions: not in it.
 */

static size_t
eci_acl_permission_index(const eci_acl_t *acl, const char *permission)
{
    size_t                       i, len;
    uint32_t                     slot;
    const eci_acl_permission_t  *p;

    if (acl->permission_slots == NULL) {
        return acl->npermissions;
    }

    len = strlen(permission);

    for (i = eci_acl_hash(permission, len) & acl->permission_mask;
         (slot = acl->permission_slots[i]) != 0;
         i = (i + 1) & acl->permission_mask)
    {
        p = &acl->permissions[slot - 1];

        if (p->len == len && memcmp(p->name, permission, len) == 0) {
            return slot - 1;
        }
    }

    return acl->npermissions;
}


/*
 * "Area (Level)" as ECI names permissions: each part is words of ASCII
 * letters and digits starting with a letter, separated by single spaces.
 */

static int
eci_acl_permission_valid(const char *s, size_t len)
{
    const char  *open;

    open = strstr(s, " (");

    if (open == NULL || s[len - 1] != ')') {
        return 0;
    }

    return eci_acl_words_valid(s, open - s)
           && eci_acl_words_valid(open + 2, s + len - 1 - (open + 2));
}


static int
eci_acl_words_valid(const char *s, size_t len)
{
    size_t  i;
    int     word;

    if (len == 0) {
        return 0;
    }

    word = 0;

    for (i = 0; i < len; i++) {

        if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')) {
            word = 1;

        } else if (s[i] >= '0' && s[i] <= '9') {
            if (!word) {
                return 0;
            }

        } else if (s[i] == ' ') {
            if (!word) {
                return 0;
            }

            word = 0;

        } else {
            return 0;
        }
    }

    return word;
}


static int
eci_acl_ids_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_ids_t *ids)
{
    size_t      i, j, n;
    json_t     *item;
    json_int_t  id;

    if (json_is_string(v)) {
        if (strcmp(json_string_value(v), "*") != 0
            || json_string_length(v) != 1)
        {
            eci_acl_error(ctx, key, -1, ECI_ACL_IDS_MSG);
            return -1;
        }

        ids->all = 1;
        ids->ids = NULL;
        ids->n = 0;

        return 0;
    }

    if (!json_is_array(v)) {
        eci_acl_error(ctx, key, -1, ECI_ACL_IDS_MSG);
        return -1;
    }

    ids->all = 0;
    ids->ids = NULL;
    ids->n = 0;

    n = json_array_size(v);

    if (n == 0) {
        return 0;
    }

    ids->ids = eci_acl_alloc(ctx->acl, n * sizeof(int32_t));
    if (ids->ids == NULL) {
        eci_acl_error(ctx, key, -1, "out of memory");
        return -1;
    }

    json_array_foreach(v, i, item) {
        if (!json_is_integer(item)) {
            eci_acl_error(ctx, key, (long) i, ECI_ACL_ID_MSG);
            return -1;
        }

        id = json_integer_value(item);

        if (id < 1 || id > INT32_MAX) {
            eci_acl_error(ctx, key, (long) i, ECI_ACL_ID_MSG);
            return -1;
        }

        ids->ids[i] = (int32_t) id;
    }

    qsort(ids->ids, n, sizeof(int32_t), eci_acl_id_cmp);

    for (i = 1, j = 1; i < n; i++) {
        if (ids->ids[i] != ids->ids[j - 1]) {
            ids->ids[j++] = ids->ids[i];
        }
    }

    ids->n = j;

    return 0;
}


static int
eci_acl_groups_load(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    eci_acl_entry_t *e)
{
    char              name[ECI_ACL_NAME_SHOW * 4 + 4];
    size_t            i, n, len;
    json_t           *item;
    const char       *s;
    eci_acl_entry_t  *group;

    if (!json_is_array(v)) {
        eci_acl_error(ctx, key, -1, "must be an array of group names");
        return -1;
    }

    n = json_array_size(v);

    if (n == 0) {
        return 0;
    }

    e->groups = eci_acl_alloc(ctx->acl, n * sizeof(eci_acl_entry_t *));
    if (e->groups == NULL) {
        eci_acl_error(ctx, key, -1, "out of memory");
        return -1;
    }

    json_array_foreach(v, i, item) {
        if (!json_is_string(item)) {
            eci_acl_error(ctx, key, (long) i, "must be a group name");
            return -1;
        }

        s = json_string_value(item);
        len = json_string_length(item);

        if (len == 0) {
            eci_acl_error(ctx, key, (long) i, "must not be empty");
            return -1;
        }

        group = eci_acl_table_find(&ctx->acl->groups, s, len);

        if (group == NULL) {
            eci_acl_escape(name, sizeof(name), s, len, ECI_ACL_NAME_SHOW, 1);
            eci_acl_error(ctx, key, (long) i, "unknown group \"%s\"", name);
            return -1;
        }

        e->groups[i] = group;
    }

    e->ngroups = n;

    return 0;
}


static int
eci_acl_id_cmp(const void *a, const void *b)
{
    int32_t  x, y;

    x = *(const int32_t *) a;
    y = *(const int32_t *) b;

    return (x > y) - (x < y);
}


void
eci_acl_free(eci_acl_t *acl)
{
    if (acl == NULL) {
        return;
    }

    eci_acl_blocks_free(acl->blocks);
    free(acl);
}


size_t
eci_acl_principal_count(const eci_acl_t *acl)
{
    return acl->principals.n;
}


eci_acl_rc_t
eci_acl_check(const eci_acl_t *acl, const char *principal, size_t plen,
    const char *permission, int32_t id, const int32_t *ids, size_t n,
    int32_t *denied)
{
    return eci_acl_check_key(acl, principal, plen, permission, id, ids, n,
                             denied, NULL);
}


eci_acl_rc_t
eci_acl_check_key(const eci_acl_t *acl, const char *principal, size_t plen,
    const char *permission, int32_t id, const int32_t *ids, size_t n,
    int32_t *denied, const char **api_key)
{
    eci_acl_rc_t            rc;
    const eci_acl_grant_t  *allowed;
    int                     have_permission, have_id;
    size_t                  i, k, index;
    const eci_acl_grant_t  *g;
    const eci_acl_entry_t  *e;

    e = eci_acl_table_find(&acl->principals, principal, plen);
    if (e == NULL) {
        return ECI_ACL_UNKNOWN_PRINCIPAL;
    }

    index = eci_acl_permission_index(acl, permission);
    if (index == acl->npermissions) {
        /* no grant of the ACL has it */
        return ECI_ACL_NO_PERMISSION;
    }

    permission = acl->permissions[index].name;

    if (e->index != NULL) {
        /* many groups: one row of them, not one group after another */
        allowed = NULL;
        rc = eci_acl_check_indexed(e, permission, index, id, ids, n, denied,
                                   &allowed);

        if (rc == ECI_ACL_ALLOW && api_key != NULL) {
            *api_key = allowed->api_key;
        }

        return rc;
    }

    have_permission = 0;
    have_id = 0;

    for (k = 0; k <= e->ngroups; k++) {
        g = eci_acl_entry_grant(e, k);

        if (!eci_acl_grant_has(g, permission, index)) {
            continue;
        }

        have_permission = 1;

        if (!eci_acl_ids_cover(&g->report_ids, id)) {
            continue;
        }

        have_id = 1;

        for (i = 0; i < n; i++) {
            if (!eci_acl_ids_cover(&g->override_ids, ids[i])) {
                break;
            }
        }

        if (i == n) {
            if (api_key != NULL) {
                *api_key = g->api_key;
            }

            return ECI_ACL_ALLOW;
        }
    }

    if (!have_permission) {
        return ECI_ACL_NO_PERMISSION;
    }

    if (!have_id) {
        return ECI_ACL_ID_DENIED;
    }

    if (denied != NULL) {
        *denied = eci_acl_override_denied(e, permission, index, id, ids,
                                          n);
    }

    return ECI_ACL_OVERRIDE_DENIED;
}


/* see the comment at the top of the file; n > 0, and no grant allows all */

static int32_t
eci_acl_override_denied(const eci_acl_entry_t *e, const char *permission,
    size_t index, int32_t id, const int32_t *ids, size_t n)
{
    size_t                  i, k, best;
    const eci_acl_grant_t  *g;

    for (i = 0; i < n; i++) {
        for (k = 0; k <= e->ngroups; k++) {
            g = eci_acl_entry_grant(e, k);

            if (eci_acl_grant_has(g, permission, index)
                && eci_acl_ids_cover(&g->report_ids, id)
                && eci_acl_ids_cover(&g->override_ids, ids[i]))
            {
                break;
            }
        }

        if (k > e->ngroups) {
            return ids[i];
        }
    }

    best = 0;

    for (k = 0; k <= e->ngroups; k++) {
        g = eci_acl_entry_grant(e, k);

        if (!eci_acl_grant_has(g, permission, index)
            || !eci_acl_ids_cover(&g->report_ids, id))
        {
            continue;
        }

        for (i = 0; i < n; i++) {
            if (!eci_acl_ids_cover(&g->override_ids, ids[i])) {
                break;
            }
        }

        if (i > best && i < n) {
            best = i;
        }
    }

    return ids[best];
}


int
eci_acl_allow_duplicate(const eci_acl_t *acl, const char *p, size_t plen)
{
    size_t                  k;
    const eci_acl_entry_t  *e;

    e = eci_acl_table_find(&acl->principals, p, plen);
    if (e == NULL) {
        return 0;
    }

    for (k = 0; k <= e->ngroups; k++) {
        if (eci_acl_entry_grant(e, k)->allow_duplicate) {
            return 1;
        }
    }

    return 0;
}


const char *
eci_acl_rc_text(eci_acl_rc_t rc)
{
    switch (rc) {

    case ECI_ACL_ALLOW:
        return "allowed";

    case ECI_ACL_UNKNOWN_PRINCIPAL:
        return "principal is not in the ACL";

    case ECI_ACL_NO_PERMISSION:
        return "principal lacks the permission";

    case ECI_ACL_ID_DENIED:
        return "report distribution id is not allowed for the principal";

    case ECI_ACL_OVERRIDE_DENIED:
        return "override user id is not allowed for the principal";
    }

    return "unknown ACL result";
}


/* k == 0: the principal's own entry; k >= 1: its group k - 1 */

const eci_acl_grant_t *
eci_acl_entry_grant(const eci_acl_entry_t *e, size_t k)
{
    return (k == 0) ? &e->grant : &e->groups[k - 1]->grant;
}


/* permission is the ACL's copy, index its place in the ACL's list */

int
eci_acl_grant_has(const eci_acl_grant_t *g, const char *permission,
    size_t index)
{
    size_t  i;

    if (index < ECI_ACL_PERMISSION_BITS) {
        return (g->permission_bits >> index) & 1;
    }

    for (i = 0; i < g->npermissions; i++) {
        if (g->permissions[i] == permission) {
            return 1;
        }
    }

    return 0;
}


int
eci_acl_ids_cover(const eci_acl_ids_t *ids, int32_t id)
{
    size_t  lo, hi, mid;

    if (ids->all) {
        return 1;
    }

    lo = 0;
    hi = ids->n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ids->ids[mid] == id) {
            return 1;
        }

        if (ids->ids[mid] < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}


/* open addressing, linear probing, at most half full */

static int
eci_acl_table_init(eci_acl_t *acl, eci_acl_table_t *t, size_t n)
{
    size_t  size;

    if (n >= UINT32_MAX / 4) {
        return -1;
    }

    size = 4;
    while (size < 2 * n) {
        size *= 2;
    }

    t->n = 0;
    t->mask = size - 1;

    t->slots = eci_acl_alloc(acl, size * sizeof(eci_acl_slot_t));
    if (t->slots == NULL) {
        return -1;
    }

    return 0;
}


static int
eci_acl_table_insert(eci_acl_table_t *t, eci_acl_entry_t *e)
{
    size_t           i;
    uint32_t         hash;
    eci_acl_slot_t  *s;

    hash = eci_acl_hash(e->name, e->len);

    for (i = hash & t->mask; t->slots[i].entry != NULL;
         i = (i + 1) & t->mask)
    {
        s = &t->slots[i];

        if (s->hash == hash && s->entry->len == e->len
            && memcmp(s->entry->name, e->name, e->len) == 0)
        {
            return -1;
        }
    }

    t->slots[i].hash = hash;
    t->slots[i].entry = e;
    t->n++;

    return 0;
}


static eci_acl_entry_t *
eci_acl_table_find(const eci_acl_table_t *t, const char *name, size_t len)
{
    size_t                 i;
    uint32_t               hash;
    eci_acl_entry_t       *e;
    const eci_acl_slot_t  *s;

    hash = eci_acl_hash(name, len);

    for (i = hash & t->mask; t->slots[i].entry != NULL;
         i = (i + 1) & t->mask)
    {
        s = &t->slots[i];

        if (s->hash != hash) {
            continue;
        }

        e = s->entry;

        if (e->len == len && memcmp(e->name, name, len) == 0) {
            return e;
        }
    }

    return NULL;
}


/*
 * FNV-1a with a final avalanche so that the low bits, which pick the
 * slot, depend on every byte.  The table is built from the trusted
 * configuration only; callers can probe it but not add to it.
 */

static uint32_t
eci_acl_hash(const char *s, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;

    return h;
}


/* zeroed memory that lives as long as the ACL */

void *
eci_acl_alloc(eci_acl_t *acl, size_t size)
{
    void  *p;

    p = eci_acl_block_alloc(&acl->blocks, size, ECI_ACL_BLOCK_SIZE);

    return (p != NULL) ? memset(p, 0, size) : NULL;
}


/*
 * Memory from a list of blocks, freed all at once with the list; big
 * requests get a block of their own.
 */

static void *
eci_acl_block_alloc(eci_acl_block_t **blocks, size_t size,
    size_t block_size)
{
    size_t            bsize;
    eci_acl_block_t  *b;

    size = (size + ECI_ACL_ALIGN - 1) & ~((size_t) ECI_ACL_ALIGN - 1);

    b = *blocks;

    if (b == NULL || b->size - b->used < size) {
        bsize = (size > block_size / 4) ? size : block_size;

        b = malloc(ECI_ACL_BLOCK_HDR + bsize);
        if (b == NULL) {
            return NULL;
        }

        b->size = bsize;
        b->used = 0;

        if (bsize == size && *blocks != NULL) {
            /* keep filling the current block with small requests */
            b->next = (*blocks)->next;
            (*blocks)->next = b;

        } else {
            b->next = *blocks;
            *blocks = b;
        }
    }

    b->used += size;

    return (char *) b + ECI_ACL_BLOCK_HDR + b->used - size;
}


static void
eci_acl_blocks_free(eci_acl_block_t *blocks)
{
    eci_acl_block_t  *b, *next;

    for (b = blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
}


/*
 * Builds "<file>": section."entry".key[index]: message, leaving out the
 * parts that are not set.  Names come from the file or the caller and
 * are escaped and cut, so a message is always one short printable line.
 */

static void
eci_acl_error(eci_acl_ctx_t *ctx, const char *key, long index,
    const char *fmt, ...)
{
    int      n;
    char     file[ECI_ACL_FILE_SHOW * 4 + 4];
    char     name[ECI_ACL_NAME_SHOW * 4 + 4];
    char     where[ECI_ERR_LEN], msg[ECI_ERR_LEN];
    size_t   len;
    va_list  ap;

    eci_acl_escape(file, sizeof(file), ctx->file, strlen(ctx->file),
                   ECI_ACL_FILE_SHOW, 1);

    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    len = 0;
    where[0] = '\0';

    if (ctx->section != NULL) {
        n = snprintf(where, sizeof(where), "%s", ctx->section);
        len = (n > 0) ? (size_t) n : 0;
    }

    if (ctx->entry != NULL && len < sizeof(where)) {
        eci_acl_escape(name, sizeof(name), ctx->entry, strlen(ctx->entry),
                       ECI_ACL_NAME_SHOW, 1);
        n = snprintf(where + len, sizeof(where) - len, "%s\"%s\"",
                     (len > 0) ? "." : "", name);
        len += (n > 0) ? (size_t) n : 0;
    }

    if (key != NULL && len < sizeof(where)) {
        if (eci_acl_key_plain(key)) {
            n = snprintf(where + len, sizeof(where) - len, "%s%s",
                         (len > 0) ? "." : "", key);

        } else {
            eci_acl_escape(name, sizeof(name), key, strlen(key),
                           ECI_ACL_NAME_SHOW, 1);
            n = snprintf(where + len, sizeof(where) - len, "%s\"%s\"",
                         (len > 0) ? "." : "", name);
        }

        len += (n > 0) ? (size_t) n : 0;
    }

    if (index >= 0 && len < sizeof(where)) {
        (void) snprintf(where + len, sizeof(where) - len, "[%ld]", index);
    }

    if (where[0] == '\0') {
        eci_err_set(ctx->err, "\"%s\": %s", file, msg);

    } else {
        eci_err_set(ctx->err, "\"%s\": %s: %s", file, where, msg);
    }
}


/*
 * Copies at most show bytes of s into dst as the inside of a quoted
 * string: with quotes set '"' and '\' are backslashed, bytes outside
 * printable ASCII become \xNN, and "..." marks a cut.  Output that would
 * not fit in cap (4 * show + 4 always fits) is cut as well.
 */

static void
eci_acl_escape(char *dst, size_t cap, const char *s, size_t len,
    size_t show, int quotes)
{
    char           *p, *last;
    size_t          i;
    unsigned char   c;

    static const char  hex[] = "0123456789abcdef";

    p = dst;
    last = dst + cap - 4;

    for (i = 0; i < len && i < show && p + 4 <= last; i++) {
        c = (unsigned char) s[i];

        if (quotes && (c == '"' || c == '\\')) {
            *p++ = '\\';
            *p++ = (char) c;

        } else if (c < 0x20 || c >= 0x7f) {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = (char) c;
        }
    }

    if (i < len) {
        memcpy(p, "...", 3);
        p += 3;
    }

    *p = '\0';
}


/* keys shown without quotes: letters, digits, '_' */

static int
eci_acl_key_plain(const char *s)
{
    if (*s == '\0') {
        return 0;
    }

    for ( /* void */ ; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9') || *s == '_'))
        {
            return 0;
        }
    }

    return 1;
}


size_t
eci_acl_group_count(const eci_acl_t *acl)
{
    return acl->groups.n;
}


int
eci_acl_principal_next(const eci_acl_t *acl, size_t *cursor,
    const char **name, size_t *len)
{
    const eci_acl_table_t  *t;

    t = &acl->principals;

    if (t->slots == NULL) {
        return 0;
    }

    while (*cursor <= t->mask) {
        if (t->slots[*cursor].entry != NULL) {
            *name = t->slots[*cursor].entry->name;
            *len = t->slots[*cursor].entry->len;
            (*cursor)++;
            return 1;
        }

        (*cursor)++;
    }

    return 0;
}


size_t
eci_acl_grants(const eci_acl_t *acl, const char *p, size_t plen,
    eci_acl_grant_info_t *out, size_t cap)
{
    size_t                  k;
    const eci_acl_grant_t  *g;
    const eci_acl_entry_t  *e;
    eci_acl_grant_info_t   *o;

    e = eci_acl_table_find(&acl->principals, p, plen);
    if (e == NULL) {
        return 0;
    }

    for (k = 0; k <= e->ngroups && k < cap; k++) {
        g = eci_acl_entry_grant(e, k);
        o = &out[k];

        o->group = (k == 0) ? NULL : e->groups[k - 1]->name;
        o->group_len = (k == 0) ? 0 : e->groups[k - 1]->len;
        o->permissions = (const char *const *) g->permissions;
        o->npermissions = g->npermissions;
        o->all_ids = g->report_ids.all;
        o->ids = g->report_ids.ids;
        o->nids = g->report_ids.n;
        o->all_overrides = g->override_ids.all;
        o->overrides = g->override_ids.ids;
        o->noverrides = g->override_ids.n;
        o->allow_duplicate = g->allow_duplicate;
    }

    return e->ngroups + 1;
}


size_t
eci_acl_api_keys(const eci_acl_t *acl, const char **names, size_t cap)
{
    size_t                  i, j, n, t;
    const char             *name;
    const eci_acl_table_t  *tables[2];

    tables[0] = &acl->principals;
    tables[1] = &acl->groups;

    n = 0;

    for (t = 0; t < 2; t++) {
        if (tables[t]->slots == NULL) {
            continue;
        }

        for (i = 0; i <= tables[t]->mask; i++) {
            if (tables[t]->slots[i].entry == NULL) {
                continue;
            }

            name = tables[t]->slots[i].entry->grant.api_key;

            if (name == NULL) {
                continue;
            }

            for (j = 0; j < n && strcmp(names[j], name) != 0; j++) {
                /* void */
            }

            if (j == n && n < cap) {
                names[n++] = name;
            }
        }
    }

    return n;
}
