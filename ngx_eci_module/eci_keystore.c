/*
 * ngx_eci: the keystore.  Reads, validates, seals and writes the named ECI
 * API keys; see eci_keystore.h for the file layout.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "eci_keystore.h"
#include "eci_jansson.h"


#define ECI_KS_MAGIC        "ECIKSTR\0"
#define ECI_KS_MAGIC_LEN    8
#define ECI_KS_VERSION      1
#define ECI_KS_CIPHER_GCM   1
#define ECI_KS_NONCE_LEN    12
#define ECI_KS_HEADER_LEN   24
#define ECI_KS_TAG_LEN      16

/*
 * A store is a handful of keys; the cap only keeps a wrong path (a log
 * file, a device) from being read whole into memory.
 */
#define ECI_KS_FILE_MAX     (4 * 1024 * 1024)


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
static int eci_ks_file_read(const char *path, int fd, size_t max,
    unsigned char **out, size_t *outlen, eci_err_t *err);
static eci_keystore_t *eci_ks_open_plain(const char *path, eci_err_t *err);
static eci_keystore_t *eci_ks_open_sealed(const char *path,
    const char *master_path, eci_err_t *err);
static int eci_ks_header_check(const char *path, const unsigned char *buf,
    size_t len, eci_err_t *err);
static int eci_ks_unseal(const char *path, const unsigned char *in,
    size_t len, const unsigned char *key, unsigned char **out,
    size_t *outlen, eci_err_t *err);
static int eci_ks_seal(const unsigned char *plain, size_t len,
    const unsigned char *key, unsigned char **out, size_t *outlen,
    eci_err_t *err);
static int eci_ks_file_replace(const char *path, const unsigned char *data,
    size_t len, eci_err_t *err);
static int eci_ks_write_all(int fd, const unsigned char *p, size_t len);
static int eci_ks_hex(int c);


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


/*
 * The master key file may be readable by its group: systemd credentials
 * and files shared with nginx's group are 0440.  Readable or writable by
 * others is refused, since then every local user could unseal the store
 * (or replace the key under nginx).
 */

int
eci_master_key_read(const char *path, unsigned char key[ECI_MASTER_KEY_LEN],
    eci_err_t *err)
{
    int             fd, hi, lo, rc;
    size_t          i, len;
    struct stat     st;
    unsigned char  *buf;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        eci_err_set(err, "master key file \"%s\": cannot open: %s", path,
                    strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        eci_err_set(err, "master key file \"%s\": cannot stat: %s", path,
                    strerror(errno));
        (void) close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        eci_err_set(err, "master key file \"%s\": not a regular file", path);
        (void) close(fd);
        return -1;
    }

    if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
        eci_err_set(err, "master key file \"%s\": must not be accessible by "
                    "others (mode %04o); chmod 400 it",
                    path, (unsigned) (st.st_mode & 07777));
        (void) close(fd);
        return -1;
    }

    if (st.st_size != ECI_MASTER_KEY_LEN
        && st.st_size != 2 * ECI_MASTER_KEY_LEN
        && st.st_size != 2 * ECI_MASTER_KEY_LEN + 1)
    {
        eci_err_set(err, "master key file \"%s\": expected 32 raw bytes or "
                    "64 hex digits, found %lld bytes",
                    path, (long long) st.st_size);
        (void) close(fd);
        return -1;
    }

    rc = eci_ks_file_read(path, fd, 2 * ECI_MASTER_KEY_LEN + 1, &buf, &len,
                          err);
    (void) close(fd);

    if (rc != 0) {
        return -1;
    }

    rc = -1;

    if (len == ECI_MASTER_KEY_LEN) {
        memcpy(key, buf, ECI_MASTER_KEY_LEN);
        rc = 0;
        goto done;
    }

    if (len == 2 * ECI_MASTER_KEY_LEN + 1 && buf[len - 1] != '\n') {
        eci_err_set(err, "master key file \"%s\": expected 32 raw bytes or "
                    "64 hex digits and a newline", path);
        goto done;
    }

    if (len != 2 * ECI_MASTER_KEY_LEN && len != 2 * ECI_MASTER_KEY_LEN + 1) {
        eci_err_set(err, "master key file \"%s\": changed while being read",
                    path);
        goto done;
    }

    for (i = 0; i < ECI_MASTER_KEY_LEN; i++) {
        hi = eci_ks_hex(buf[2 * i]);
        lo = eci_ks_hex(buf[2 * i + 1]);

        if (hi == -1 || lo == -1) {
            eci_err_set(err, "master key file \"%s\": expected 64 hex digits",
                        path);
            OPENSSL_cleanse(key, ECI_MASTER_KEY_LEN);
            goto done;
        }

        key[i] = (unsigned char) (hi << 4 | lo);
    }

    rc = 0;

done:

    OPENSSL_cleanse(buf, len);
    free(buf);

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


/* reads the rest of fd, at most max bytes, into a malloc()ed buffer */

static int
eci_ks_file_read(const char *path, int fd, size_t max, unsigned char **out,
    size_t *outlen, eci_err_t *err)
{
    size_t          len, size;
    ssize_t         n;
    struct stat     st;
    unsigned char  *buf;

    if (fstat(fd, &st) == -1) {
        eci_err_set(err, "\"%s\": cannot stat: %s", path, strerror(errno));
        return -1;
    }

    if (st.st_size < 0 || (unsigned long long) st.st_size > max) {
        eci_err_set(err, "\"%s\": too large (%lld bytes, at most %zu)",
                    path, (long long) st.st_size, max);
        return -1;
    }

    /* one spare byte to notice a file that grows while being read */
    size = (size_t) st.st_size + 1;

    buf = malloc(size);
    if (buf == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        return -1;
    }

    len = 0;

    while (len < size) {
        n = read(fd, buf + len, size - len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            eci_err_set(err, "\"%s\": read failed: %s", path, strerror(errno));
            OPENSSL_cleanse(buf, len);
            free(buf);
            return -1;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    if (len == size) {
        eci_err_set(err, "\"%s\": changed while being read", path);
        OPENSSL_cleanse(buf, len);
        free(buf);
        return -1;
    }

    *out = buf;
    *outlen = len;

    return 0;
}


static eci_keystore_t *
eci_ks_open_plain(const char *path, eci_err_t *err)
{
    int              fd, rc;
    size_t           len;
    struct stat      st;
    unsigned char   *buf;
    eci_keystore_t  *ks;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        eci_err_set(err, "\"%s\": cannot open: %s", path, strerror(errno));
        return NULL;
    }

    /* fstat() of the open file: no window to swap it after the check */
    if (fstat(fd, &st) == -1) {
        eci_err_set(err, "\"%s\": cannot stat: %s", path, strerror(errno));
        (void) close(fd);
        return NULL;
    }

    if (!S_ISREG(st.st_mode)) {
        eci_err_set(err, "\"%s\": plain keystore is not a regular file",
                    path);
        (void) close(fd);
        return NULL;
    }

    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        eci_err_set(err, "\"%s\": plain keystore must not be readable by "
                    "group or others (mode %04o); chmod 600 it or seal it "
                    "with eci-keytool",
                    path, (unsigned) (st.st_mode & 07777));
        (void) close(fd);
        return NULL;
    }

    rc = eci_ks_file_read(path, fd, ECI_KS_FILE_MAX, &buf, &len, err);
    (void) close(fd);

    if (rc != 0) {
        return NULL;
    }

    ks = eci_keystore_open_buffer(buf, len, NULL, path, err);

    OPENSSL_cleanse(buf, len);
    free(buf);

    return ks;
}


static eci_keystore_t *
eci_ks_open_sealed(const char *path, const char *master_path, eci_err_t *err)
{
    int              fd, rc;
    size_t           len;
    unsigned char    key[ECI_MASTER_KEY_LEN];
    unsigned char   *buf;
    eci_keystore_t  *ks;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        eci_err_set(err, "\"%s\": cannot open: %s", path, strerror(errno));
        return NULL;
    }

    rc = eci_ks_file_read(path, fd, ECI_KS_FILE_MAX, &buf, &len, err);
    (void) close(fd);

    if (rc != 0) {
        return NULL;
    }

    ks = NULL;

    /*
     * The header is checked before the master key is read, so that a
     * wrong file is reported as such even when the key file is bad too.
     */
    if (eci_ks_header_check(path, buf, len, err) != 0) {
        goto done;
    }

    if (eci_master_key_read(master_path, key, err) != 0) {
        goto done;
    }

    ks = eci_keystore_open_buffer(buf, len, key, path, err);
    OPENSSL_cleanse(key, sizeof(key));

done:

    /* ciphertext only, nothing to wipe */
    free(buf);

    return ks;
}


/* the checks of a sealed store that need no key */

static int
eci_ks_header_check(const char *path, const unsigned char *buf, size_t len,
    eci_err_t *err)
{
    if (len < ECI_KS_MAGIC_LEN
        || memcmp(buf, ECI_KS_MAGIC, ECI_KS_MAGIC_LEN) != 0)
    {
        if (len > 0 && buf[0] == '{') {
            eci_err_set(err, "\"%s\": not a sealed keystore (it looks like "
                        "a plain JSON one); seal it with eci-keytool", path);

        } else {
            eci_err_set(err, "\"%s\": not a sealed keystore (bad magic)",
                        path);
        }

        return -1;
    }

    if (len < ECI_KS_HEADER_LEN) {
        eci_err_set(err, "\"%s\": sealed keystore truncated (%zu bytes)",
                    path, len);
        return -1;
    }

    if (buf[8] != ECI_KS_VERSION) {
        eci_err_set(err, "\"%s\": unsupported keystore format version %u "
                    "(this build reads version %d)",
                    path, (unsigned) buf[8], ECI_KS_VERSION);
        return -1;
    }

    if (buf[9] != ECI_KS_CIPHER_GCM) {
        eci_err_set(err, "\"%s\": unsupported keystore cipher id %u "
                    "(this build knows %d, AES-256-GCM)",
                    path, (unsigned) buf[9], ECI_KS_CIPHER_GCM);
        return -1;
    }

    /* nonzero reserved bytes are caught by the tag: the header is the AAD */

    if (len < ECI_KS_HEADER_LEN + ECI_KS_TAG_LEN) {
        eci_err_set(err, "\"%s\": sealed keystore truncated (%zu bytes)",
                    path, len);
        return -1;
    }

    return 0;
}


static int
eci_ks_unseal(const char *path, const unsigned char *in, size_t len,
    const unsigned char *key, unsigned char **out, size_t *outlen,
    eci_err_t *err)
{
    int               n, total, rc;
    size_t            clen;
    unsigned char    *plain;
    EVP_CIPHER_CTX   *ctx;

    clen = len - ECI_KS_HEADER_LEN - ECI_KS_TAG_LEN;

    /* at least one byte: OpenSSL dislikes a zero-size malloc() */
    plain = malloc(clen + 1);
    if (plain == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        return -1;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        free(plain);
        return -1;
    }

    rc = -1;
    total = 0;

    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ECI_KS_NONCE_LEN,
                               NULL) != 1
        || EVP_DecryptInit_ex(ctx, NULL, NULL, key, in + 12) != 1
        || EVP_DecryptUpdate(ctx, NULL, &n, in, ECI_KS_HEADER_LEN) != 1)
    {
        eci_err_set(err, "\"%s\": cannot unseal: AES-256-GCM unavailable",
                    path);
        goto done;
    }

    if (EVP_DecryptUpdate(ctx, plain, &n, in + ECI_KS_HEADER_LEN, (int) clen)
        != 1)
    {
        goto failed;
    }

    total = n;

    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ECI_KS_TAG_LEN,
                            (void *) (in + len - ECI_KS_TAG_LEN)) != 1)
    {
        goto failed;
    }

    if (EVP_DecryptFinal_ex(ctx, plain + total, &n) != 1) {
        goto failed;
    }

    total += n;

    *out = plain;
    *outlen = (size_t) total;
    plain = NULL;
    rc = 0;
    goto done;

failed:

    eci_err_set(err, "\"%s\": cannot unseal: wrong master key or the file "
                "was modified", path);

done:

    EVP_CIPHER_CTX_free(ctx);

    if (plain != NULL) {
        OPENSSL_cleanse(plain, clen + 1);
        free(plain);
    }

    return rc;
}


static int
eci_ks_seal(const unsigned char *plain, size_t len, const unsigned char *key,
    unsigned char **out, size_t *outlen, eci_err_t *err)
{
    int              n, total, rc;
    size_t           size;
    unsigned char   *buf;
    EVP_CIPHER_CTX  *ctx;

    if (len > ECI_KS_FILE_MAX - ECI_KS_HEADER_LEN - ECI_KS_TAG_LEN) {
        eci_err_set(err, "keystore too large to seal (%zu bytes)", len);
        return -1;
    }

    size = ECI_KS_HEADER_LEN + len + ECI_KS_TAG_LEN;

    buf = malloc(size);
    if (buf == NULL) {
        eci_err_set(err, "out of memory");
        return -1;
    }

    memcpy(buf, ECI_KS_MAGIC, ECI_KS_MAGIC_LEN);
    buf[8] = ECI_KS_VERSION;
    buf[9] = ECI_KS_CIPHER_GCM;
    buf[10] = 0;
    buf[11] = 0;

    /* a nonce must never repeat under one key: fresh on every write */
    if (RAND_bytes(buf + 12, ECI_KS_NONCE_LEN) != 1) {
        eci_err_set(err, "cannot get random bytes for the nonce");
        free(buf);
        return -1;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        eci_err_set(err, "out of memory");
        free(buf);
        return -1;
    }

    rc = -1;

    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ECI_KS_NONCE_LEN,
                               NULL) != 1
        || EVP_EncryptInit_ex(ctx, NULL, NULL, key, buf + 12) != 1
        || EVP_EncryptUpdate(ctx, NULL, &n, buf, ECI_KS_HEADER_LEN) != 1
        || EVP_EncryptUpdate(ctx, buf + ECI_KS_HEADER_LEN, &n, plain,
                             (int) len) != 1)
    {
        eci_err_set(err, "cannot seal: AES-256-GCM failed");
        goto done;
    }

    total = n;

    if (EVP_EncryptFinal_ex(ctx, buf + ECI_KS_HEADER_LEN + total, &n) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ECI_KS_TAG_LEN,
                               buf + size - ECI_KS_TAG_LEN) != 1)
    {
        eci_err_set(err, "cannot seal: AES-256-GCM failed");
        goto done;
    }

    *out = buf;
    *outlen = size;
    buf = NULL;
    rc = 0;

done:

    EVP_CIPHER_CTX_free(ctx);
    free(buf);

    return rc;
}


/*
 * Readers see either the old store or the new one, and a crash leaves
 * one of them on disk, never a torn file.
 */

static int
eci_ks_file_replace(const char *path, const unsigned char *data, size_t len,
    eci_err_t *err)
{
    int           fd, dfd, rc;
    char         *tmp, *dir, *slash;
    size_t        plen;
    struct stat   st;

    static const char  suffix[] = ".tmp.XXXXXX";

    plen = strlen(path);

    tmp = malloc(plen + sizeof(suffix));
    dir = malloc(plen + 2);

    if (tmp == NULL || dir == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        free(tmp);
        free(dir);
        return -1;
    }

    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof(suffix));

    slash = strrchr(path, '/');

    if (slash == NULL) {
        memcpy(dir, ".", 2);

    } else if (slash == path) {
        memcpy(dir, "/", 2);

    } else {
        memcpy(dir, path, (size_t) (slash - path));
        dir[slash - path] = '\0';
    }

    rc = -1;

    /* mkstemp() opens with O_EXCL and mode 0600 */
    fd = mkstemp(tmp);
    if (fd == -1) {
        eci_err_set(err, "\"%s\": cannot create a temporary file in \"%s\": "
                    "%s", path, dir, strerror(errno));
        goto done;
    }

    (void) fcntl(fd, F_SETFD, FD_CLOEXEC);

    if (fchmod(fd, S_IRUSR | S_IWUSR) == -1) {
        eci_err_set(err, "\"%s\": cannot chmod: %s", tmp, strerror(errno));
        goto failed;
    }

    /*
     * root updating a store that belongs to someone else (say, the user
     * who runs eci-keytool on a schedule) keeps it theirs
     */
    if (geteuid() == 0 && stat(path, &st) == 0
        && fchown(fd, st.st_uid, st.st_gid) == -1)
    {
        /* not silently root's: its owner would lose the store */
        eci_err_set(err, "\"%s\": cannot give it the store's owner: %s",
                    tmp, strerror(errno));
        goto failed;
    }

    if (eci_ks_write_all(fd, data, len) != 0) {
        eci_err_set(err, "\"%s\": write failed: %s", tmp, strerror(errno));
        goto failed;
    }

    if (fsync(fd) == -1) {
        eci_err_set(err, "\"%s\": fsync failed: %s", tmp, strerror(errno));
        goto failed;
    }

    if (close(fd) == -1) {
        fd = -1;
        eci_err_set(err, "\"%s\": close failed: %s", tmp, strerror(errno));
        goto failed;
    }

    fd = -1;

    if (rename(tmp, path) == -1) {
        eci_err_set(err, "\"%s\": cannot rename \"%s\" over it: %s",
                    path, tmp, strerror(errno));
        goto failed;
    }

    /* the rename itself is durable only once the directory is synced */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1) {
        eci_err_set(err, "\"%s\": written, but cannot open directory \"%s\" "
                    "to sync it: %s", path, dir, strerror(errno));
        goto done;
    }

    if (fsync(dfd) == -1) {
        eci_err_set(err, "\"%s\": written, but fsync of directory \"%s\" "
                    "failed: %s", path, dir, strerror(errno));
        (void) close(dfd);
        goto done;
    }

    (void) close(dfd);

    rc = 0;
    goto done;

failed:

    if (fd != -1) {
        (void) close(fd);
    }

    (void) unlink(tmp);

done:

    free(tmp);
    free(dir);

    return rc;
}


static int
eci_ks_write_all(int fd, const unsigned char *p, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = write(fd, p, len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        p += n;
        len -= (size_t) n;
    }

    return 0;
}


static int
eci_ks_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
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
