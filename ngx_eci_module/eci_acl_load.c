/*
 * ngx_eci: the ACL loaded: the file read, its JSON parsed by jansson (in
 * an arena: eci_jansson.c), its sections and entries built into the
 * in-memory form of eci_acl_int.h (the fields of an entry: eci_acl_fields.c;
 * the tables: eci_acl_table.c; the per-group-set index: eci_acl_index.c),
 * and every refusal worded as one short printable line.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl_load.h"
#include "eci_jansson.h"


static eci_acl_t *eci_acl_load_json(const char *data, size_t len,
    const char *name, eci_err_t *err);
static int eci_acl_root_load(eci_acl_ctx_t *ctx, json_t *root);
static int eci_acl_section_load(eci_acl_ctx_t *ctx, const char *section,
    json_t *obj, eci_acl_table_t *t, int principals);
static int eci_acl_entry_load(eci_acl_ctx_t *ctx, eci_acl_entry_t *e,
    json_t *v, int principal);
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


/* jansson's values come from an arena while the ACL is read (eci_jansson.h) */

eci_acl_t *
eci_acl_load_buffer(const char *data, size_t len, const char *name,
    eci_err_t *err)
{
    eci_acl_t  *acl;

    eci_jansson_arena_begin();

    acl = eci_acl_load_json(data, len, name, err);

    eci_jansson_arena_end();

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

        /*
         * jansson describes every error it finds; only a failed allocation
         * of its own leaves no text (and line -1)
         */
        if (*jerr.text == '\0') {
            eci_err_set(err, "\"%s\": out of memory", file);
            return NULL;
        }

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


/*
 * Builds "<file>": section."entry".key[index]: message, leaving out the
 * parts that are not set.  Names come from the file or the caller and
 * are escaped and cut, so a message is always one short printable line.
 */

void
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

void
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
