/*
 * ngx_eci: the keystore.  Reads, validates, seals and writes the named ECI
 * API keys; see eci_keystore.h for the file layout.
 *
 * The master key and the sealed file: eci_seal.c; reading and replacing a
 * file: eci_file.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "eci_keystore_int.h"
#include "eci_jansson.h"



struct eci_keystore_s {
    eci_key_t      *keys;         /* in region, sorted by name */
    size_t          nkeys;
    void           *region;       /* secret memory: keys, names, values */
    size_t          region_size;
};


/* a key to be copied into a region; the strings need no terminator */
typedef struct {
    const char     *name;
    size_t          name_len;
    const char     *value;
    size_t          len;
} eci_ks_entry_t;


static int eci_ks_name_valid(const char *name, size_t len);
static int eci_ks_value_valid(const char *value, size_t len);
static int eci_ks_entry_cmp(const void *a, const void *b);
static size_t eci_ks_others(const eci_keystore_t *ks, const char *name,
    eci_ks_entry_t *e);
static int eci_ks_fill(eci_keystore_t *ks, eci_ks_entry_t *e, size_t n,
    eci_err_t *err);
static int eci_ks_parse(eci_keystore_t *ks, const char *path,
    const char *data, size_t len, eci_err_t *err);
static eci_keystore_t *eci_ks_open_plain(const char *path, eci_err_t *err);
static int eci_ks_plain_check(const char *path, const struct stat *st,
    eci_err_t *err);


eci_keystore_t *
eci_keystore_new(eci_err_t *err)
{
    eci_keystore_t  *ks;

    eci_jansson_wipe_install();

    ks = calloc(1, sizeof(eci_keystore_t));
    if (ks == NULL) {
        eci_err_set(err, "keystore: out of memory");
        return NULL;
    }

    return ks;
}


eci_keystore_t *
eci_keystore_open(const char *path, const char *master_path, eci_err_t *err)
{
    eci_jansson_wipe_install();

    if (master_path == NULL) {
        return eci_ks_open_plain(path, err);
    }

    return eci_ks_open_sealed(path, master_path, err);
}


/*
 * The file readers above check what only a file has (its type and mode)
 * and hand the bytes here; so do the fuzzers.
 */

eci_keystore_t *
eci_keystore_open_buffer(const unsigned char *data, size_t len,
    const unsigned char master[ECI_MASTER_KEY_LEN], const char *name,
    eci_err_t *err)
{
    int              rc;
    size_t           plen;
    unsigned char   *plain;
    eci_keystore_t  *ks;

    eci_jansson_wipe_install();

    /* the file readers' cap; it also keeps the GCM lengths within int */
    if (len > ECI_KS_FILE_MAX) {
        eci_err_set(err, "\"%s\": too large (%zu bytes, at most %d)",
                    name, len, ECI_KS_FILE_MAX);
        return NULL;
    }

    plain = NULL;
    plen = 0;

    if (master == NULL) {
        if (len >= ECI_KS_MAGIC_LEN
            && memcmp(data, ECI_KS_MAGIC, ECI_KS_MAGIC_LEN) == 0)
        {
            eci_err_set(err, "\"%s\": a sealed keystore, not a plain one; "
                        "open it with its master key", name);
            return NULL;
        }

    } else {
        if (eci_ks_header_check(name, data, len, err) != 0) {
            return NULL;
        }

        rc = eci_ks_unseal(name, data, len, master, &plain, &plen, err);
        if (rc != 0) {
            return NULL;
        }

        data = plain;
        len = plen;
    }

    ks = eci_keystore_new(err);
    if (ks == NULL) {
        goto done;
    }

    if (eci_ks_parse(ks, name, (const char *) data, len, err) != 0) {
        eci_keystore_free(ks);
        ks = NULL;
    }

done:

    if (plain != NULL) {
        OPENSSL_cleanse(plain, plen);
        free(plain);
    }

    return ks;
}


void
eci_keystore_free(eci_keystore_t *ks)
{
    if (ks == NULL) {
        return;
    }

    eci_secret_unmap(ks->region, ks->region_size);
    free(ks);
}


const eci_key_t *
eci_keystore_get(const eci_keystore_t *ks, const char *name)
{
    int     rc;
    size_t  lo, hi, mid;

    if (ks == NULL || name == NULL) {
        return NULL;
    }

    lo = 0;
    hi = ks->nkeys;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        rc = strcmp(name, ks->keys[mid].name);

        if (rc == 0) {
            return &ks->keys[mid];
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


size_t
eci_keystore_count(const eci_keystore_t *ks)
{
    return (ks == NULL) ? 0 : ks->nkeys;
}


const eci_key_t *
eci_keystore_at(const eci_keystore_t *ks, size_t i)
{
    if (ks == NULL || i >= ks->nkeys) {
        return NULL;
    }

    return &ks->keys[i];
}


/*
 * The region is rebuilt on every change, so a change invalidates the keys
 * returned before it.  Only eci-keytool changes a store.
 */

int
eci_keystore_set(eci_keystore_t *ks, const char *name, const char *value,
    size_t len, eci_err_t *err)
{
    int              rc;
    size_t           n, name_len;
    eci_ks_entry_t  *e;

    name_len = (name == NULL) ? 0 : strlen(name);

    if (!eci_ks_name_valid(name, name_len)) {
        /* the name is not printed: it may be anything, even a key */
        eci_err_set(err, "invalid key name: it must be 1 to %d characters "
                    "of A-Z a-z 0-9 . _ -", ECI_KEY_NAME_MAX);
        return -1;
    }

    if (value == NULL || !eci_ks_value_valid(value, len)) {
        eci_err_set(err, "key \"%s\": the value must be 1 to %d printable "
                    "ASCII characters without spaces", name,
                    ECI_KEY_VALUE_MAX);
        return -1;
    }

    e = malloc((ks->nkeys + 1) * sizeof(eci_ks_entry_t));
    if (e == NULL) {
        eci_err_set(err, "keystore: out of memory");
        return -1;
    }

    n = eci_ks_others(ks, name, e);

    e[n].name = name;
    e[n].name_len = name_len;
    e[n].value = value;
    e[n].len = len;
    n++;

    rc = eci_ks_fill(ks, e, n, err);

    /* e holds pointers only, no key bytes */
    free(e);

    return rc;
}


/* every key of ks but name, as entries (pointers, no copies): how many */
static size_t
eci_ks_others(const eci_keystore_t *ks, const char *name, eci_ks_entry_t *e)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < ks->nkeys; i++) {
        if (strcmp(ks->keys[i].name, name) == 0) {
            continue;
        }

        e[n].name = ks->keys[i].name;
        e[n].name_len = strlen(ks->keys[i].name);
        e[n].value = ks->keys[i].value;
        e[n].len = ks->keys[i].len;
        n++;
    }

    return n;
}


int
eci_keystore_remove(eci_keystore_t *ks, const char *name)
{
    int              rc;
    size_t           n;
    eci_ks_entry_t  *e;

    if (eci_keystore_get(ks, name) == NULL) {
        return -1;
    }

    e = malloc(ks->nkeys * sizeof(eci_ks_entry_t));
    if (e == NULL) {
        return -1;
    }

    n = eci_ks_others(ks, name, e);

    rc = eci_ks_fill(ks, e, n, NULL);

    free(e);

    return rc;
}


int
eci_keystore_save(const eci_keystore_t *ks, const char *path,
    const char *master_path, eci_err_t *err)
{
    int             rc;
    char           *plain;
    size_t          i, plen, slen;
    json_t         *obj, *v;
    unsigned char   key[ECI_MASTER_KEY_LEN];
    unsigned char  *sealed;

    eci_jansson_wipe_install();

    if (eci_master_key_read(master_path, key, err) != 0) {
        return -1;
    }

    rc = -1;
    plain = NULL;
    plen = 0;
    sealed = NULL;

    obj = json_object();
    if (obj == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        goto done;
    }

    for (i = 0; i < ks->nkeys; i++) {
        v = json_stringn(ks->keys[i].value, ks->keys[i].len);

        if (v == NULL || json_object_set_new(obj, ks->keys[i].name, v) != 0) {
            eci_err_set(err, "\"%s\": out of memory", path);
            goto done;
        }
    }

    /* sorted names: the output differs between saves only by the nonce */
    plen = json_dumpb(obj, NULL, 0, JSON_COMPACT | JSON_SORT_KEYS);
    if (plen == 0) {
        eci_err_set(err, "\"%s\": cannot encode the keystore", path);
        goto done;
    }

    plain = malloc(plen);
    if (plain == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        goto done;
    }

    if (json_dumpb(obj, plain, plen, JSON_COMPACT | JSON_SORT_KEYS) != plen) {
        eci_err_set(err, "\"%s\": cannot encode the keystore", path);
        goto done;
    }

    if (eci_ks_seal((unsigned char *) plain, plen, key, &sealed, &slen, err)
        != 0)
    {
        goto done;
    }

    rc = eci_ks_file_replace(path, sealed, slen, err);

done:

    OPENSSL_cleanse(key, sizeof(key));

    if (plain != NULL) {
        OPENSSL_cleanse(plain, plen);
        free(plain);
    }

    /* ciphertext only, nothing to wipe */
    free(sealed);

    json_decref(obj);

    return rc;
}


void
eci_fingerprint(const void *data, size_t len, char out[ECI_KEY_FPR_LEN + 1])
{
    unsigned int   mdlen;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1) {
        /* cannot happen short of a broken libcrypto; never a partial hash */
        memset(out, '?', ECI_KEY_FPR_LEN);
        out[ECI_KEY_FPR_LEN] = '\0';
        return;
    }

    eci_hex(out, md, ECI_KEY_FPR_LEN / 2);
    out[ECI_KEY_FPR_LEN] = '\0';
}


static int
eci_ks_name_valid(const char *name, size_t len)
{
    size_t  i;
    char    c;

    if (name == NULL || len == 0 || len > ECI_KEY_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = name[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/* the value goes into an HTTP header: no controls, spaces or 8-bit bytes */

static int
eci_ks_value_valid(const char *value, size_t len)
{
    size_t          i;
    unsigned char   c;

    if (len == 0 || len > ECI_KEY_VALUE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = (unsigned char) value[i];

        if (c < 0x21 || c > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static int
eci_ks_entry_cmp(const void *a, const void *b)
{
    int                    rc;
    size_t                 n;
    const eci_ks_entry_t  *x = a, *y = b;

    n = (x->name_len < y->name_len) ? x->name_len : y->name_len;

    rc = memcmp(x->name, y->name, n);
    if (rc != 0) {
        return rc;
    }

    /* the same order as strcmp(), used by eci_keystore_get() */
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}


/*
 * Copies the entries into a new region and swaps it into ks; the old
 * region (which the entries may point into) is wiped only afterwards.
 */

static int
eci_ks_fill(eci_keystore_t *ks, eci_ks_entry_t *e, size_t n, eci_err_t *err)
{
    char       *p;
    void       *region;
    size_t      i, size;
    eci_key_t  *keys;

    if (n == 0) {
        eci_secret_unmap(ks->region, ks->region_size);
        ks->keys = NULL;
        ks->nkeys = 0;
        ks->region = NULL;
        ks->region_size = 0;
        return 0;
    }

    qsort(e, n, sizeof(eci_ks_entry_t), eci_ks_entry_cmp);

    size = n * sizeof(eci_key_t);

    for (i = 0; i < n; i++) {
        size += e[i].name_len + 1 + e[i].len + 1;
    }

    region = eci_secret_map(&size, "keystore", err);
    if (region == NULL) {
        return -1;
    }

    keys = region;
    p = (char *) (keys + n);

    for (i = 0; i < n; i++) {
        memcpy(p, e[i].name, e[i].name_len);
        p[e[i].name_len] = '\0';
        keys[i].name = p;
        p += e[i].name_len + 1;

        memcpy(p, e[i].value, e[i].len);
        p[e[i].len] = '\0';
        keys[i].value = p;
        keys[i].len = e[i].len;
        p += e[i].len + 1;

        eci_fingerprint(keys[i].value, keys[i].len, keys[i].fingerprint);
    }

    eci_secret_seal(region, size);

    eci_secret_unmap(ks->region, ks->region_size);

    ks->keys = keys;
    ks->nkeys = n;
    ks->region = region;
    ks->region_size = size;

    return 0;
}


/*
 * jansson's error texts quote the input near the error, which may be a
 * key, so only the position and our own words are reported.
 */

static int
eci_ks_parse(eci_keystore_t *ks, const char *path, const char *data,
    size_t len, eci_err_t *err)
{
    int              rc;
    size_t           i, n;
    json_t          *root, *v;
    const char      *name;
    json_error_t     jerr;
    eci_ks_entry_t  *e;

    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (json_error_code(&jerr) == json_error_duplicate_key) {
            eci_err_set(err, "\"%s\": line %d column %d: duplicate key name",
                        path, jerr.line, jerr.column);

        } else {
            eci_err_set(err, "\"%s\": line %d column %d: invalid JSON",
                        path, jerr.line, jerr.column);
        }

        return -1;
    }

    rc = -1;
    e = NULL;

    if (!json_is_object(root)) {
        eci_err_set(err, "\"%s\": expected a JSON object of "
                    "\"name\": \"key\" pairs", path);
        goto done;
    }

    n = json_object_size(root);

    if (n != 0) {
        e = malloc(n * sizeof(eci_ks_entry_t));
        if (e == NULL) {
            eci_err_set(err, "\"%s\": out of memory", path);
            goto done;
        }
    }

    i = 0;

    json_object_foreach(root, name, v) {
        e[i].name = name;
        e[i].name_len = strlen(name);

        if (!eci_ks_name_valid(name, e[i].name_len)) {
            /* not printed: a file with names and keys swapped would leak */
            eci_err_set(err, "\"%s\": entry #%zu: invalid key name: it must "
                        "be 1 to %d characters of A-Z a-z 0-9 . _ -",
                        path, i + 1, ECI_KEY_NAME_MAX);
            goto done;
        }

        if (!json_is_string(v)) {
            eci_err_set(err, "\"%s\": key \"%s\": the value must be a string",
                        path, name);
            goto done;
        }

        e[i].value = json_string_value(v);
        e[i].len = json_string_length(v);

        if (!eci_ks_value_valid(e[i].value, e[i].len)) {
            eci_err_set(err, "\"%s\": key \"%s\": the value must be 1 to %d "
                        "printable ASCII characters without spaces",
                        path, name, ECI_KEY_VALUE_MAX);
            goto done;
        }

        i++;
    }

    rc = eci_ks_fill(ks, e, n, err);

    if (rc != 0) {
        /* eci_ks_fill()'s message lacks the path */
        eci_err_set(err, "\"%s\": cannot allocate memory for the keys", path);
    }

done:

    free(e);
    json_decref(root);

    return rc;
}


static eci_keystore_t *
eci_ks_open_plain(const char *path, eci_err_t *err)
{
    size_t           len;
    unsigned char   *buf;
    eci_keystore_t  *ks;

    if (eci_ks_file_load(path, ECI_KS_FILE_MAX, eci_ks_plain_check, &buf,
                         &len, err)
        != 0)
    {
        return NULL;
    }

    ks = eci_keystore_open_buffer(buf, len, NULL, path, err);

    OPENSSL_cleanse(buf, len);
    free(buf);

    return ks;
}


/* the keys are in the clear: only their owner may read them */
static int
eci_ks_plain_check(const char *path, const struct stat *st, eci_err_t *err)
{
    if (!S_ISREG(st->st_mode)) {
        eci_err_set(err, "\"%s\": plain keystore is not a regular file",
                    path);
        return -1;
    }

    if ((st->st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        eci_err_set(err, "\"%s\": plain keystore must not be readable by "
                    "group or others (mode %04o); chmod 600 it or seal it "
                    "with eci-keytool",
                    path, (unsigned) (st->st_mode & 07777));
        return -1;
    }

    return 0;
}


int
eci_keystore_lock(const eci_keystore_t *ks)
{
    if (ks == NULL) {
        return 0;
    }

    return eci_secret_lock(ks->region, ks->region_size);
}


int
eci_key_reserved(const char *name)
{
    size_t  i;

    static const char  *reserved[] = ECI_KEY_RESERVED;

    for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strcmp(name, reserved[i]) == 0) {
            return 1;
        }
    }

    return 0;
}
