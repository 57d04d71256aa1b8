/*
 * The keystore's atomic replacement and its allocations when the system
 * fails them (issue 18: no test provoked a short write, a failed close()
 * or an allocation failure, so mutants of those paths survived).  The
 * failures are injected by t/unit/faults.h.
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "eci_keystore.h"
#include "faults.h"
#include "tap.h"


static char  dir[] = "/tmp/eci-ks-faults.XXXXXX";
static char  kpath[256], spath[256];

#define VALUE_OLD  "old-value-0123456789"
#define VALUE_NEW  "new-value-abcdefghijklmnopqrstuvwxyz-0123456789"


/* files in dir other than the master key and the store: temp files left */
static int
leftovers(void)
{
    int             n;
    DIR            *d;
    struct dirent  *e;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0
            && strcmp(e->d_name, "master.key") != 0
            && strcmp(e->d_name, "store") != 0)
        {
            n++;
        }
    }

    closedir(d);

    return n;
}


/* a file of dir, written with the real write() */
static void
file_put(char *path, size_t cap, const char *name, const char *data,
    size_t len)
{
    int  fd;

    snprintf(path, cap, "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || __real_write(fd, data, len) != (ssize_t) len) {
        printf("Bail out! %s\n", path);
        exit(1);
    }
    (void) __real_close(fd);
}


/* the value of "api" in the store on disk, or "" */
static void
stored(char *out, size_t cap)
{
    eci_err_t         err;
    const eci_key_t  *k;
    eci_keystore_t   *ks;

    out[0] = '\0';

    ks = eci_keystore_open(spath, kpath, &err);
    if (ks == NULL) {
        printf("# open: %s\n", err.msg);
        return;
    }

    k = eci_keystore_get(ks, "api");
    if (k != NULL) {
        snprintf(out, cap, "%s", k->value);
    }

    eci_keystore_free(ks);
}


static eci_keystore_t *
store_with(const char *value)
{
    eci_err_t        err;
    eci_keystore_t  *ks;

    ks = eci_keystore_new(&err);
    if (ks == NULL
        || eci_keystore_set(ks, "api", value, strlen(value), &err) != 0
        || eci_keystore_set(ks, "other", "x1", 2, &err) != 0)
    {
        printf("Bail out! a store: %s\n", err.msg);
        exit(1);
    }

    return ks;
}


static void
reset_store(void)
{
    eci_err_t        err;
    eci_keystore_t  *ks;

    faults_reset();
    ks = store_with(VALUE_OLD);
    if (eci_keystore_save(ks, spath, kpath, &err) != 0) {
        printf("Bail out! save: %s\n", err.msg);
        exit(1);
    }
    eci_keystore_free(ks);

    /* what the next save does is counted from 0 */
    faults_reset();
}


static void
test_short_writes(void)
{
    int              rc;
    char             got[128];
    eci_err_t        err;
    eci_keystore_t  *ks;

    ks = store_with(VALUE_NEW);

    /* a store is written in one write() unless the kernel writes less */
    reset_store();
    fault_write_max = 7;
    rc = eci_keystore_save(ks, spath, kpath, &err);
    ok(rc == 0 && fault_writes > 10, "saved with writes of at most 7 bytes "
       "(%ld write() calls)", fault_writes);
    faults_reset();
    stored(got, sizeof(got));
    is_str(got, VALUE_NEW, "the short writes make up the whole store");

    reset_store();
    fault_write_eintr = 3;
    rc = eci_keystore_save(ks, spath, kpath, &err);
    ok(rc == 0 && fault_writes == 4, "a write() interrupted 3 times is "
       "tried again (%ld calls)", fault_writes);
    faults_reset();
    stored(got, sizeof(got));
    is_str(got, VALUE_NEW, "and the store is whole");

    reset_store();
    fault_write_errno = ENOSPC;
    err.msg[0] = '\0';
    rc = eci_keystore_save(ks, spath, kpath, &err);
    faults_reset();
    ok(rc == -1, "a write() that fails (ENOSPC) fails the save");
    like(err.msg, "write failed: No space left on device",
         "the message says the write failed and why");
    stored(got, sizeof(got));
    is_str(got, VALUE_OLD, "the store on disk is the old one");
    is_int(leftovers(), 0, "no temporary file is left");

    eci_keystore_free(ks);
}


/*
 * Each close() of a save made to fail in turn: the store's own temporary
 * file is the one whose failure counts (a close() error there may mean
 * the data never reached the disk); the master key file and the directory
 * are only read.
 */
static void
test_close_fails(void)
{
    int              rc, again, seen;
    long             at;
    char             got[128];
    eci_err_t        err;
    eci_keystore_t  *ks;

    ks = store_with(VALUE_NEW);
    seen = 0;

    for (at = 0; at < 16; at++) {
        reset_store();
        fault_close_at = at;
        err.msg[0] = '\0';
        rc = eci_keystore_save(ks, spath, kpath, &err);
        again = fault_close_again;
        faults_reset();

        if (fault_close_fd == -1 && at >= 3 && rc == 0) {
            /* past the last close() of a save */
            break;
        }

        stored(got, sizeof(got));

        if (rc == -1) {
            seen++;
            like(err.msg, "close failed: Input/output error",
                 "close() %ld fails: the save fails, saying so", at);
            is_str(got, VALUE_OLD, "close() %ld fails: the old store stays",
                   at);
            is_int(leftovers(), 0, "close() %ld fails: the temporary file "
                   "is removed", at);
            is_int(again, 0, "close() %ld fails: no close() follows (the "
                   "fd is released; closing it, or fd 0, again would close "
                   "another file)", at);

        } else {
            ok(rc == 0 && strcmp(got, VALUE_NEW) == 0, "close() %ld fails: "
               "a file only read, the save succeeds", at);
        }
    }

    is_int(seen, 1, "one close() of a save is the temporary file's");

    eci_keystore_free(ks);
}


/* each allocation of the core made to fail in turn */
static void
test_allocs_fail(void)
{
    int              rc, bad;
    long             at;
    char             got[128];
    eci_err_t        err;
    eci_keystore_t  *ks, *o;

    /* set(), remove() */
    bad = 0;
    for (at = 0; ; at++) {
        faults_reset();
        ks = eci_keystore_new(&err);
        fault_alloc_at = fault_allocs + at;
        err.msg[0] = '\0';
        rc = eci_keystore_set(ks, "api", VALUE_NEW, strlen(VALUE_NEW), &err);
        if (rc == 0 && eci_keystore_get(ks, "api") == NULL) {
            /* success said, nothing stored */
            bad++;
            printf("# set, allocation %ld: 0 and no key\n", at);

        } else if (rc == 0) {
            rc = eci_keystore_remove(ks, "api");
            if (rc == 0 && eci_keystore_count(ks) != 0) {
                bad++;
            }
        } else if (strcmp(err.msg, "keystore: out of memory") != 0
                   || eci_keystore_count(ks) != 0)
        {
            bad++;
            printf("# set, allocation %ld: %s\n", at, err.msg);
        }
        eci_keystore_free(ks);
        if (!fault_alloc_hit) {
            break;
        }
    }
    faults_reset();
    is_int(bad, 0, "set() and remove() with an allocation failing: an "
           "error (\"out of memory\") and the store unchanged, %ld tried", at);

    /* save() */
    ks = store_with(VALUE_NEW);
    bad = 0;
    for (at = 0; ; at++) {
        reset_store();
        fault_alloc_at = at;
        err.msg[0] = '\0';
        rc = eci_keystore_save(ks, spath, kpath, &err);
        if (!fault_alloc_hit) {
            faults_reset();
            break;
        }
        faults_reset();
        stored(got, sizeof(got));
        if (rc == 0 || strstr(err.msg, "out of memory") == NULL
            || strcmp(got, VALUE_OLD) != 0 || leftovers() != 0)
        {
            bad++;
            printf("# save, allocation %ld: rc %d \"%s\", stored \"%s\"\n",
                   at, rc, err.msg, got);
        }
    }
    ok(at >= 3, "save() makes %ld allocations", at);
    is_int(bad, 0, "save() with an allocation failing: \"out of memory\", "
           "the old store stays, no temporary file");
    stored(got, sizeof(got));
    is_str(got, VALUE_NEW, "with all its memory, the save is made");

    /* open() */
    bad = 0;
    for (at = 0; ; at++) {
        faults_reset();
        fault_alloc_at = at;
        err.msg[0] = '\0';
        o = eci_keystore_open(spath, kpath, &err);
        if (!fault_alloc_hit) {
            faults_reset();
            ok(o != NULL && eci_keystore_get(o, "api") != NULL,
               "open() with all its memory");
            eci_keystore_free(o);
            break;
        }
        faults_reset();
        if (o != NULL) {
            bad++;
            eci_keystore_free(o);
        } else if (strstr(err.msg, "out of memory") == NULL
                   && strstr(err.msg, "cannot") == NULL)
        {
            bad++;
            printf("# open, allocation %ld: \"%s\"\n", at, err.msg);
        }
    }
    is_int(bad, 0, "open() with an allocation failing: no store, a "
           "message (%ld tried)", at);

    eci_keystore_free(ks);
}


/*
 * A save whose system call fails, one kind at a time: the save fails with
 * the message given exactly, the old store stays unless the new one was
 * already in place, and no temporary file is left.
 */

static void
save_fails(eci_keystore_t *ks, const char *want, const char *on_disk,
    const char *what)
{
    int         rc;
    char        got[128], exact[ECI_ERR_LEN];
    const char *x;
    eci_err_t   err;

    err.msg[0] = '\0';
    rc = eci_keystore_save(ks, spath, kpath, &err);
    faults_reset();

    /* the temporary file's name: mkstemp()'s six characters, as given */
    snprintf(exact, sizeof(exact), "%s", want);
    x = strstr(want, ".tmp.XXXXXX");
    if (x != NULL && strlen(err.msg) == strlen(want)) {
        memcpy(exact + (x - want) + 5, err.msg + (x - want) + 5, 6);
    }
    want = exact;

    ok(rc == -1, "%s: the save fails", what);
    is_str(err.msg, want, "%s: the message", what);
    stored(got, sizeof(got));
    is_str(got, on_disk, "%s: the store on disk is the %s one", what,
           strcmp(on_disk, VALUE_OLD) == 0 ? "old" : "new");
    is_int(leftovers(), 0, "%s: no temporary file is left", what);
}


static void
test_calls_fail(void)
{
    char             want[512], tmp[512];
    eci_err_t        err;
    eci_keystore_t  *ks, *o;

    ks = store_with(VALUE_NEW);

    /* the save's fstat() calls: the master key's, then its reader's */
    reset_store();
    fault_fstat_at = 0;
    snprintf(want, sizeof(want), "master key file \"%s\": cannot stat: "
             "Input/output error", kpath);
    save_fails(ks, want, VALUE_OLD, "fstat() of the master key fails");

    reset_store();
    fault_fstat_at = 1;
    snprintf(want, sizeof(want), "\"%s\": cannot stat: Input/output error",
             kpath);
    save_fails(ks, want, VALUE_OLD, "fstat() in reading the master key "
               "fails");

    reset_store();
    fault_open_path = kpath;
    snprintf(want, sizeof(want), "master key file \"%s\": cannot open: "
             "Permission denied", kpath);
    save_fails(ks, want, VALUE_OLD, "open() of the master key fails");

    /* the temporary file's mode: 0600 */
    snprintf(want, sizeof(want), "\"%s.tmp.XXXXXX\": cannot chmod: "
             "Operation not permitted", spath);
    reset_store();
    fault_fchmod_at = 0;
    save_fails(ks, want, VALUE_OLD, "fchmod() of the temporary file fails");

    snprintf(want, sizeof(want), "\"%s.tmp.XXXXXX\": fsync failed: "
             "Input/output error", spath);
    reset_store();
    fault_fsync_at = 0;
    save_fails(ks, want, VALUE_OLD, "fsync() of the temporary file fails");

    /* root keeps a store its owner's: fchown() failing fails the save */
    snprintf(want, sizeof(want), "\"%s.tmp.XXXXXX\": cannot give it the "
             "store's owner: Operation not permitted", spath);
    reset_store();
    fault_root = 1;
    fault_fchown_at = 0;
    save_fails(ks, want, VALUE_OLD, "fchown() of the temporary file fails");

    /* renamed: the new store is in place, but not known to be durable */
    reset_store();
    fault_open_path = dir;
    snprintf(want, sizeof(want), "\"%s\": written, but cannot open "
             "directory \"%s\" to sync it: Permission denied", spath, dir);
    save_fails(ks, want, VALUE_NEW, "open() of the directory fails");

    reset_store();
    fault_fsync_at = 1;
    snprintf(want, sizeof(want), "\"%s\": written, but fsync of directory "
             "\"%s\" failed: Input/output error", spath, dir);
    save_fails(ks, want, VALUE_NEW, "fsync() of the directory fails");

    /* opening: the sealed store's fstat(), then the master key's two */
    reset_store();
    snprintf(want, sizeof(want), "\"%s\": cannot stat: Input/output error",
             spath);
    snprintf(tmp, sizeof(tmp), "master key file \"%s\": cannot stat: "
             "Input/output error", kpath);
    fault_fstat_at = 0;
    err.msg[0] = '\0';
    o = eci_keystore_open(spath, kpath, &err);
    ok(o == NULL, "open(): the store's fstat() fails: no store");
    is_str(err.msg, want, "open(): the store's fstat() fails: the message");
    eci_keystore_free(o);

    faults_reset();
    fault_fstat_at = 1;
    err.msg[0] = '\0';
    o = eci_keystore_open(spath, kpath, &err);
    ok(o == NULL, "open(): the master key's fstat() fails: no store");
    is_str(err.msg, tmp, "open(): the master key's fstat() fails: the "
           "message");
    eci_keystore_free(o);

    faults_reset();
    fault_open_path = spath;
    err.msg[0] = '\0';
    o = eci_keystore_open(spath, kpath, &err);
    snprintf(want, sizeof(want), "\"%s\": cannot open: Permission denied",
             spath);
    ok(o == NULL, "open(): open() of the store fails: no store");
    is_str(err.msg, want, "open(): open() of the store fails: the message");
    eci_keystore_free(o);
    faults_reset();

    eci_keystore_free(ks);
}


/*
 * a plain store: one fstat() of the open file serves its type and mode
 * check and its reader (eci_ks_file_load()); a second is never made; then
 * its read() failing
 */
static void
test_plain_stat_fails(void)
{
    long             at;
    char             path[300], want[400];
    eci_err_t        err;
    eci_keystore_t  *o;

    file_put(path, sizeof(path), "plain.json", "{\"api\":\"v1\"}", 12);

    snprintf(want, sizeof(want), "\"%s\": cannot stat: Input/output error",
             path);

    for (at = 0; at < 2; at++) {
        faults_reset();
        fault_fstat_at = at;
        err.msg[0] = '\0';
        o = eci_keystore_open(path, NULL, &err);
        faults_reset();

        if (at == 0) {
            ok(o == NULL, "plain store, fstat() fails: no store");
            is_str(err.msg, want, "plain store, fstat() fails: the message");

        } else {
            ok(o != NULL && eci_keystore_count(o) == 1,
               "plain store: a second fstat() is never made");
        }

        eci_keystore_free(o);
    }

    /*
     * a read that fails after the store's bytes were read: refused, and
     * what was read is wiped before it is freed (those bytes are keys)
     */
    snprintf(want, sizeof(want), "\"%s\": read failed: Input/output error",
             path);

    faults_reset();
    fault_read_at = 1;
    err.msg[0] = '\0';
    o = eci_keystore_open(path, NULL, &err);
    ok(o == NULL && fault_reads == 2,
       "a read() failing after the first fails the open");
    is_str(err.msg, want, "its message");
    is_int(fault_cleansed_len, 12, "the 12 bytes read are wiped");
    faults_reset();
    eci_keystore_free(o);

    o = eci_keystore_open(path, NULL, &err);
    ok(o != NULL && eci_keystore_count(o) == 1, "and opens when it works");
    eci_keystore_free(o);

    unlink(path);
}


/* OpenSSL's calls, each failed in turn */
typedef struct {
    const char  *name;
    int          skip;
    const char  *msg;       /* %s: the store's path */
} ssl_fault_t;


static void
test_ssl_fails(void)
{
    char             want[512], what[128];
    size_t           i;
    eci_err_t        err;
    eci_keystore_t  *ks, *o;

    static const ssl_fault_t  seal[] = {
        { "EVP_CIPHER_CTX_new", 0, "out of memory" },
        { "RAND_bytes", 0, "cannot get random bytes for the nonce" },
        { "EVP_EncryptInit_ex", 0, "cannot seal: AES-256-GCM failed" },
        { "EVP_CIPHER_CTX_ctrl", 0, "cannot seal: AES-256-GCM failed" },
        { "EVP_EncryptInit_ex", 1, "cannot seal: AES-256-GCM failed" },
        { "EVP_EncryptUpdate", 0, "cannot seal: AES-256-GCM failed" },
        { "EVP_EncryptUpdate", 1, "cannot seal: AES-256-GCM failed" },
        { "EVP_EncryptFinal_ex", 0, "cannot seal: AES-256-GCM failed" },
        { "EVP_CIPHER_CTX_ctrl", 1, "cannot seal: AES-256-GCM failed" },
    };

    static const ssl_fault_t  unseal[] = {
        { "EVP_CIPHER_CTX_new", 0, "\"%s\": out of memory" },
        { "EVP_DecryptInit_ex", 0,
          "\"%s\": cannot unseal: AES-256-GCM unavailable" },
        { "EVP_CIPHER_CTX_ctrl", 0,
          "\"%s\": cannot unseal: AES-256-GCM unavailable" },
        { "EVP_DecryptInit_ex", 1,
          "\"%s\": cannot unseal: AES-256-GCM unavailable" },
        { "EVP_DecryptUpdate", 0,
          "\"%s\": cannot unseal: AES-256-GCM unavailable" },
        { "EVP_DecryptUpdate", 1, "\"%s\": cannot unseal: wrong master key "
          "or the file was modified" },
        { "EVP_CIPHER_CTX_ctrl", 1, "\"%s\": cannot unseal: wrong master "
          "key or the file was modified" },
        { "EVP_DecryptFinal_ex", 0, "\"%s\": cannot unseal: wrong master "
          "key or the file was modified" },
    };

    ks = store_with(VALUE_NEW);

    for (i = 0; i < sizeof(seal) / sizeof(seal[0]); i++) {
        snprintf(what, sizeof(what), "sealing, %s #%d fails", seal[i].name,
                 seal[i].skip + 1);
        reset_store();
        fault_ssl_name = seal[i].name;
        fault_ssl_skip = seal[i].skip;
        save_fails(ks, seal[i].msg, VALUE_OLD, what);
    }

    for (i = 0; i < sizeof(unseal) / sizeof(unseal[0]); i++) {
        reset_store();
        fault_ssl_name = unseal[i].name;
        fault_ssl_skip = unseal[i].skip;
        err.msg[0] = '\0';
        o = eci_keystore_open(spath, kpath, &err);
        ok(o == NULL && fault_ssl_hit, "unsealing, %s #%d fails: no store",
           unseal[i].name, unseal[i].skip + 1);
        snprintf(want, sizeof(want), unseal[i].msg, spath);
        is_str(err.msg, want, "unsealing, %s #%d fails: the message",
               unseal[i].name, unseal[i].skip + 1);
        eci_keystore_free(o);
    }

    faults_reset();
    eci_keystore_free(ks);
}


/* SHA-256 unavailable: a fingerprint of '?', never a partial one */
static void
test_digest_fails(void)
{
    char  out[ECI_KEY_FPR_LEN + 8];

    memset(out, 'x', sizeof(out));
    faults_reset();
    fault_ssl_name = "EVP_Digest";
    eci_fingerprint("k", 1, out);
    ok(fault_ssl_hit, "EVP_Digest() made to fail");
    faults_reset();
    is_str(out, "????????????????", "the fingerprint is %d '?' and a NUL",
           ECI_KEY_FPR_LEN);
}


/*
 * jansson's own allocations (the store's JSON, its encoding) failed in
 * turn through its allocator hooks: each fails the save with one of two
 * messages.
 */
static long  json_allocs;
static long  json_fail_at = -1;

static void *
json_fail_malloc(size_t n)
{
    return (json_allocs++ == json_fail_at) ? NULL : __real_malloc(n);
}


static void
test_json_fails(void)
{
    int              rc;
    long             at;
    char             oom[300], enc[300], got[128];
    size_t           n_oom, n_enc, bad;
    eci_err_t        err;
    json_malloc_t    m;
    json_free_t      f;
    eci_keystore_t  *ks;

    ks = store_with(VALUE_NEW);

    snprintf(oom, sizeof(oom), "\"%s\": out of memory", spath);
    snprintf(enc, sizeof(enc), "\"%s\": cannot encode the keystore", spath);

    json_get_alloc_funcs(&m, &f);
    json_set_alloc_funcs(json_fail_malloc, free);

    n_oom = 0;
    n_enc = 0;
    bad = 0;

    for (at = 0; ; at++) {
        reset_store();
        json_allocs = 0;
        json_fail_at = at;
        err.msg[0] = '\0';
        rc = eci_keystore_save(ks, spath, kpath, &err);
        json_fail_at = -1;

        if (json_allocs <= at) {
            ok(rc == 0, "with all of jansson's %ld allocations, the save is "
               "made", at);
            break;
        }

        stored(got, sizeof(got));

        if (rc == -1 && strcmp(err.msg, oom) == 0
            && strcmp(got, VALUE_OLD) == 0)
        {
            n_oom++;

        } else if (rc == -1 && strcmp(err.msg, enc) == 0
                   && strcmp(got, VALUE_OLD) == 0)
        {
            n_enc++;

        } else {
            bad++;
            printf("# jansson allocation %ld: rc %d \"%s\"\n", at, rc,
                   err.msg);
        }
    }

    json_set_alloc_funcs(m, f);

    is_int(bad, 0, "each of jansson's allocations failed fails the save, "
           "the old store staying");
    ok(n_oom >= 2, "building the JSON: \"out of memory\" (%zu)", n_oom);
    ok(n_enc >= 2, "encoding it, in the size and the copy: \"cannot "
       "encode the keystore\" (%zu)", n_enc);

    eci_keystore_free(ks);
}


/* no pages for the keys: mmap() fails */
static void
test_mmap_fails(void)
{
    char             want[400];
    eci_err_t        err;
    eci_keystore_t  *ks, *o;

    faults_reset();
    ks = eci_keystore_new(&err);
    fault_mmap_at = 0;
    err.msg[0] = '\0';
    ok(eci_keystore_set(ks, "api", VALUE_NEW, strlen(VALUE_NEW), &err) == -1,
       "set(): mmap() fails: the key is not set");
    faults_reset();
    is_str(err.msg, "keystore: cannot map 4096 bytes: Cannot allocate memory",
           "set(): mmap() fails: the message");
    ok(eci_keystore_count(ks) == 0 && eci_keystore_get(ks, "api") == NULL,
       "set(): mmap() fails: the store is still empty");
    eci_keystore_free(ks);

    reset_store();
    fault_mmap_at = 0;
    err.msg[0] = '\0';
    o = eci_keystore_open(spath, kpath, &err);
    faults_reset();
    ok(o == NULL, "open(): mmap() fails: no store");
    snprintf(want, sizeof(want), "\"%s\": cannot allocate memory for the "
             "keys", spath);
    is_str(err.msg, want, "open(): mmap() fails: the message");
    eci_keystore_free(o);
}


/* a master key file that fstat() says is 64 bytes, read as 10 */
static void
test_master_changes(void)
{
    char             path[300], want[400];
    eci_err_t        err;
    eci_keystore_t  *ks;

    file_put(path, sizeof(path), "short.key", "0123456789", 10);

    ks = store_with(VALUE_NEW);
    reset_store();
    fault_fstat_size = 64;
    err.msg[0] = '\0';
    ok(eci_keystore_save(ks, spath, path, &err) == -1,
       "a master key file that shrinks between fstat() and read() is "
       "refused");
    faults_reset();
    snprintf(want, sizeof(want), "master key file \"%s\": changed while "
             "being read", path);
    is_str(err.msg, want, "the message says it changed");
    eci_keystore_free(ks);

    unlink(path);
}


/* a save that fails at rename(): the temporary file closed once only */
static void
test_rename_fails(void)
{
    int              rc;
    char             path[300];
    eci_err_t        err;
    eci_keystore_t  *ks;

    snprintf(path, sizeof(path), "%s/adir", dir);
    if (mkdir(path, 0700) != 0) {
        printf("Bail out! mkdir\n");
        exit(1);
    }

    ks = store_with(VALUE_NEW);
    faults_reset();
    rc = eci_keystore_save(ks, path, kpath, &err);
    ok(rc == -1 && strstr(err.msg, "over it: Is a directory") != NULL,
       "a save over a directory fails at rename()");
    is_int(fault_closes, 2, "two close() calls: the master key's, the "
           "temporary file's (not again after the failure: the fd may "
           "be another file's by then)");
    faults_reset();
    eci_keystore_free(ks);

    rmdir(path);
}


int
main(void)
{
    int            fd;
    unsigned char  master[ECI_MASTER_KEY_LEN];

    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }

    snprintf(kpath, sizeof(kpath), "%s/master.key", dir);
    snprintf(spath, sizeof(spath), "%s/store", dir);

    memset(master, 0x5c, sizeof(master));
    fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || __real_write(fd, master, sizeof(master))
                    != (ssize_t) sizeof(master))
    {
        printf("Bail out! master key\n");
        return 1;
    }
    (void) __real_close(fd);

    test_short_writes();
    test_close_fails();
    test_allocs_fail();
    test_calls_fail();
    test_plain_stat_fails();
    test_ssl_fails();
    test_digest_fails();
    test_json_fails();
    test_mmap_fails();
    test_master_changes();
    test_rename_fails();

    unlink(spath);
    unlink(kpath);
    rmdir(dir);

    return done_testing();
}
