/*
 * ngx_eci: the fields of an ACL entry read and checked: "permissions",
 * "reportDistributionIds", "overrideUserIds", "groups" and "apiKey".
 * Each refusal names the file, the entry and the field (eci_acl_error()).
 */

#include <stdlib.h>
#include <string.h>

#include "eci_acl_load.h"


#define ECI_ACL_IDS_MSG      "must be \"*\" or an array of integers from 1 " \
                             "to 2147483647"
#define ECI_ACL_ID_MSG       "must be an integer from 1 to 2147483647"
#define ECI_ACL_PERM_MSG     "must be a permission like " \
                             "\"" ECI_PERMISSION_EXEC "\""


static void *eci_acl_array_alloc(eci_acl_ctx_t *ctx, const char *key,
    json_t *v, size_t size, size_t *n);
static const char *eci_acl_item_string(eci_acl_ctx_t *ctx, const char *key,
    json_t *item, size_t i, const char *msg, size_t *len);
static int eci_acl_permission_add(eci_acl_ctx_t *ctx, const char *s,
    size_t len, size_t *index);
static int eci_acl_permission_valid(const char *s, size_t len);
static int eci_acl_words_valid(const char *s, size_t len);
static int eci_acl_id_cmp(const void *a, const void *b);


/* "apiKey": a keystore entry's name, as eci-keytool accepts it */
int
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


int
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

    g->permissions = eci_acl_array_alloc(ctx, key, v, sizeof(const char *),
                                         &n);
    if (g->permissions == NULL) {
        return (n == 0) ? 0 : -1;
    }

    json_array_foreach(v, i, item) {
        s = eci_acl_item_string(ctx, key, item, i, ECI_ACL_PERM_MSG, &len);
        if (s == NULL) {
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


int
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
    ids->n = 0;

    ids->ids = eci_acl_array_alloc(ctx, key, v, sizeof(int32_t), &n);
    if (ids->ids == NULL) {
        return (n == 0) ? 0 : -1;
    }

    json_array_foreach(v, i, item) {
        /* not an integer: refused as 0 is, with the same message */
        id = json_is_integer(item) ? json_integer_value(item) : 0;

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


int
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

    e->groups = eci_acl_array_alloc(ctx, key, v, sizeof(eci_acl_entry_t *),
                                    &n);
    if (e->groups == NULL) {
        return (n == 0) ? 0 : -1;
    }

    json_array_foreach(v, i, item) {
        s = eci_acl_item_string(ctx, key, item, i, "must be a group name",
                                &len);
        if (s == NULL) {
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


/*
 * Room for the n items of the array v, or NULL: v is empty (*n is 0, not
 * an error) or memory ran out (reported).
 */
static void *
eci_acl_array_alloc(eci_acl_ctx_t *ctx, const char *key, json_t *v,
    size_t size, size_t *n)
{
    void  *a;

    *n = json_array_size(v);

    if (*n == 0) {
        return NULL;
    }

    a = eci_acl_alloc(ctx->acl, *n * size);
    if (a == NULL) {
        eci_acl_error(ctx, key, -1, "out of memory");
    }

    return a;
}


/* item i of an array of names: a string, not empty; or NULL (reported) */
static const char *
eci_acl_item_string(eci_acl_ctx_t *ctx, const char *key, json_t *item,
    size_t i, const char *msg, size_t *len)
{
    if (!json_is_string(item)) {
        eci_acl_error(ctx, key, (long) i, "%s", msg);
        return NULL;
    }

    *len = json_string_length(item);

    if (*len == 0) {
        eci_acl_error(ctx, key, (long) i, "must not be empty");
        return NULL;
    }

    return json_string_value(item);
}


static int
eci_acl_id_cmp(const void *a, const void *b)
{
    int32_t  x, y;

    x = *(const int32_t *) a;
    y = *(const int32_t *) b;

    return (x > y) - (x < y);
}
