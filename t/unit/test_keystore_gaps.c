/*
 * Keystore behaviours a mutant of eci_keystore.c showed no test pinned
 * down (issue 18): key bytes left in freed memory (glibc and ASan write
 * over the first bytes of a freed chunk, so the whole key is never found
 * there, its tail is: every 12-byte window of the key is searched), a
 * sealed store one byte shorter than header and tag, a store that grows
 * between fstat() and read().
 */

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "eci_keystore_int.h"
#include "tap.h"


#define KEY_LEN   40
#define WINDOW    12
#define XOR       0x5a

/*
 * The key is kept XORed: the test itself must hold no plain copy, or the
 * search would find it.  Plain bytes exist only in the buffers handed to
 * the keystore, which are wiped and freed before the search.
 */
static unsigned char  xkey[KEY_LEN];

static char  dir[] = "/tmp/eci-ks-gaps.XXXXXX";


/* a master key file of dir: 32 bytes of one value; 0, or -1 */
static int
master_put(char *path, size_t cap, const char *name, unsigned char byte)
{
    int            fd, rc;
    unsigned char  master[ECI_MASTER_KEY_LEN];

    snprintf(path, cap, "%s/%s", dir, name);
    memset(master, byte, sizeof(master));

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    rc = (fd != -1 && write(fd, master, sizeof(master)) == sizeof(master))
         ? 0 : -1;
    if (fd != -1) {
        close(fd);
    }
    OPENSSL_cleanse(master, sizeof(master));

    return rc;
}


/*
 * a sealed store's path in dir and its master key file (32 bytes of one
 * value) written: 0, or -1 (reported)
 */
static int
sealed_paths(char spath[256], char kpath[256], const char *store,
    const char *key, unsigned char byte)
{
    snprintf(spath, 256, "%s/%s", dir, store);

    if (master_put(kpath, 256, key, byte) != 0) {
        ok(0, "master key written");
        return -1;
    }

    return 0;
}


/* writes the plain key at p */
static void
key_put(unsigned char *p)
{
    size_t  i;

    for (i = 0; i < KEY_LEN; i++) {
        p[i] = xkey[i] ^ XOR;
    }
}


static int
window_at(const unsigned char *p, size_t i)
{
    size_t  t;

    for (t = 0; t < WINDOW; t++) {
        if ((unsigned char) (p[t] ^ XOR) != xkey[i + t]) {
            return 0;
        }
    }

    return 1;
}


/*
 * How many places in the process's readable memory, the stack aside,
 * hold some 12-byte window of the key.  Read through /proc/self/mem, so
 * freed and poisoned memory is read without ASan objecting; mappings over
 * 256 MB (ASan's shadow) and read-only files (code) are skipped.
 */

static size_t
key_windows_in_memory(void)
{
    FILE           *maps;
    int             fd;
    char            line[512], perms[8];
    size_t          found, i, j, k, n;
    ssize_t         got;
    unsigned long   lo, hi, a;
    unsigned char   buf[65536 + WINDOW], starts[256];

    /* the bytes a window can start with */
    memset(starts, 0, sizeof(starts));
    for (i = 0; i + WINDOW <= KEY_LEN; i++) {
        starts[xkey[i] ^ XOR] = 1;
    }

    maps = fopen("/proc/self/maps", "r");
    fd = open("/proc/self/mem", O_RDONLY);
    if (maps == NULL || fd == -1) {
        if (maps != NULL) {
            fclose(maps);
        }
        return (size_t) -1;
    }

    found = 0;

    while (fgets(line, sizeof(line), maps) != NULL) {
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3
            || perms[0] != 'r'
            || strstr(line, "[stack") != NULL
            || (strchr(line, '/') != NULL && perms[1] != 'w')
            || hi - lo > 256UL * 1024 * 1024)
        {
            continue;
        }

        k = 0;      /* bytes carried over from the chunk before */

        for (a = lo; a < hi; a += n) {
            n = (hi - a < 65536) ? hi - a : 65536;
            got = pread(fd, buf + k, n, (off_t) a);
            if (got <= 0) {
                break;
            }
            n = (size_t) got;

            for (j = 0; j + WINDOW <= k + n; j++) {
                if (!starts[buf[j]]) {
                    continue;
                }

                for (i = 0; i + WINDOW <= KEY_LEN; i++) {
                    if ((unsigned char) (buf[j] ^ XOR) == xkey[i]
                        && window_at(buf + j, i))
                    {
                        found++;
                        break;
                    }
                }
            }

            /* the last WINDOW - 1 bytes may start a window */
            i = (k + n < WINDOW - 1) ? k + n : WINDOW - 1;
            memmove(buf, buf + k + n - i, i);
            k = i;
        }
    }

    fclose(maps);
    close(fd);

    return found;
}


static void
test_wipe_plain(void)
{
    static const char  pre[] = "{\"gap-key\": \"", post[] = "\"}";
    size_t             len, before;
    unsigned char     *json;
    eci_err_t          err;
    eci_keystore_t    *ks;
    const eci_key_t   *key;

    len = sizeof(pre) - 1 + KEY_LEN + sizeof(post) - 1;
    json = malloc(len);
    memcpy(json, pre, sizeof(pre) - 1);
    key_put(json + sizeof(pre) - 1);
    memcpy(json + sizeof(pre) - 1 + KEY_LEN, post, sizeof(post) - 1);

    ks = eci_keystore_open_buffer(json, len, NULL, "mem", &err);
    OPENSSL_cleanse(json, len);
    free(json);

    ok(ks != NULL, "a plain store with the key opens");
    if (ks == NULL) {
        printf("# %s\n", err.msg);
        return;
    }

    key = eci_keystore_get(ks, "gap-key");
    ok(key != NULL && key->len == KEY_LEN
       && window_at((const unsigned char *) key->value, 0)
       && window_at((const unsigned char *) key->value + KEY_LEN - WINDOW,
                    KEY_LEN - WINDOW),
       "get() gives the key");

    before = key_windows_in_memory();
    ok(before != (size_t) -1 && before >= 1,
       "the search finds the key in the open store (%zu)", before);

    eci_keystore_free(ks);

    is_int(key_windows_in_memory(), 0,
           "after open_buffer() and free() no 12-byte window of the key is "
           "left in memory (jansson's freed copies wiped)");
}


static void
test_wipe_sealed(void)
{
    int               fd;
    char              kpath[256], spath[256];
    size_t            len;
    ssize_t           n;
    unsigned char     master[ECI_MASTER_KEY_LEN], *value, *buf;
    struct stat       st;
    eci_err_t         err;
    eci_keystore_t   *ks;

    if (sealed_paths(spath, kpath, "store.sealed", "master.key", 0x3c) != 0) {
        return;
    }
    memset(master, 0x3c, sizeof(master));

    ks = eci_keystore_new(&err);
    value = malloc(KEY_LEN);
    key_put(value);
    ok(ks != NULL
       && eci_keystore_set(ks, "gap-key", (char *) value, KEY_LEN, &err) == 0,
       "the key is set in a new store");
    OPENSSL_cleanse(value, KEY_LEN);
    free(value);

    is_int(eci_keystore_save(ks, spath, kpath, &err), 0, "sealed and saved");
    eci_keystore_free(ks);

    /* the sealed file read back, opened from a buffer */
    fd = open(spath, O_RDONLY);
    if (fd == -1 || fstat(fd, &st) == -1) {
        ok(0, "sealed store read");
        return;
    }
    len = (size_t) st.st_size;
    buf = malloc(len);
    n = read(fd, buf, len);
    close(fd);

    ks = eci_keystore_open_buffer(buf, (size_t) n, master, "mem", &err);
    ok(ks != NULL && eci_keystore_get(ks, "gap-key") != NULL,
       "the sealed store opens with the key");
    eci_keystore_free(ks);

    ks = eci_keystore_open(spath, kpath, &err);
    ok(ks != NULL, "and from its file");
    eci_keystore_free(ks);

    /*
     * GCM checks the tag last: a wrong one fails after decrypting.  Last,
     * so that no later allocation reuses the memory it decrypted into.
     */
    buf[n - 1] ^= 1;
    ks = eci_keystore_open_buffer(buf, (size_t) n, master, "mem", &err);
    ok(ks == NULL, "with its tag changed it is refused (after decrypting)");
    free(buf);

    is_int(key_windows_in_memory(), 0,
           "after set, save, open (buffer, tampered buffer and file) and "
           "free no 12-byte window of the key is left in memory");

    unlink(kpath);
    unlink(spath);
}


/* 64 bytes of a sealed store: its header (magic, version, cipher), zeros */
static void
sealed_header(unsigned char buf[64], unsigned char version)
{
    memset(buf, 0, 64);
    memcpy(buf, "ECIKSTR\0", 8);
    buf[8] = version;
    buf[9] = 1;         /* AES-256-GCM */
}


static void
test_sealed_sizes(void)
{
    unsigned char    buf[64], master[ECI_MASTER_KEY_LEN];
    unsigned char   *copy;
    size_t           len;
    eci_err_t        err;
    eci_keystore_t  *ks;

    memset(master, 0x3c, sizeof(master));
    sealed_header(buf, 1);

    for (len = 23; len <= 41; len++) {
        copy = malloc(len);
        memcpy(copy, buf, len);
        err.msg[0] = '\0';
        ks = eci_keystore_open_buffer(copy, len, master, "mem", &err);
        free(copy);
        ok(ks == NULL, "a sealed store of %zu bytes is refused", len);

        if (len < 24 + 16) {
            char  want[128];

            snprintf(want, sizeof(want),
                     "\"mem\": sealed keystore truncated (%zu bytes)", len);
            is_str(err.msg, want, "%zu bytes (header + tag - %zu): exact "
                   "message", len, 40 - len);

        } else {
            ok(strstr(err.msg, "truncated") == NULL,
               "%zu bytes (header + tag%s): not truncated, the tag "
               "decides (%s)", len, len == 40 ? "" : " + 1", err.msg);
        }
        eci_keystore_free(ks);
    }
}


/* /proc/self/auxv: a regular 0400 file whose size says 0 and reads more */

static void
test_grows_while_read(void)
{
    struct stat      st;
    eci_err_t        err;
    eci_keystore_t  *ks;
    unsigned char    key[ECI_MASTER_KEY_LEN];

    if (stat("/proc/self/auxv", &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size != 0 || (st.st_mode & 077) != 0)
    {
        ok(1, "# skip /proc/self/auxv is not a 0400 file of size 0 here");
        ok(1, "# skip");
        return;
    }

    err.msg[0] = '\0';
    ks = eci_keystore_open("/proc/self/auxv", NULL, &err);
    ok(ks == NULL, "a plain store that grows after fstat() is refused");
    is_str(err.msg, "\"/proc/self/auxv\": changed while being read",
           "the message says it changed");
    eci_keystore_free(ks);

    err.msg[0] = '\0';
    ok(eci_master_key_read("/proc/self/auxv", key, &err) != 0,
       "so is a master key file of size 0");
}


/*
 * The last key removed: the store holds no region any more (a pointer to
 * the unmapped one, with its size, would be locked, and unmapped again by
 * the next set(), possibly over the new region the kernel put at the same
 * address).  Either the NULL or the size 0 alone is enough (see
 * tools/mutation-equivalent.txt); this fails without both.
 */

static void
test_remove_last(void)
{
    eci_err_t         err;
    eci_keystore_t   *ks;
    const eci_key_t  *k;

    ks = eci_keystore_new(&err);
    ok(ks != NULL && eci_keystore_set(ks, "a", "value-a", 7, &err) == 0
       && eci_keystore_remove(ks, "a") == 0 && eci_keystore_count(ks) == 0,
       "the only key set, then removed");

    is_int(eci_keystore_lock(ks), 0, "a store whose last key was removed "
           "has no memory to lock (no dangling region)");

    ok(eci_keystore_set(ks, "b", "value-b", 7, &err) == 0,
       "a key set after that");
    ok(eci_keystore_set(ks, "c", "value-c", 7, &err) == 0,
       "and another (the region replaced)");
    k = eci_keystore_get(ks, "b");
    is_str(k != NULL ? k->value : NULL, "value-b", "the first is readable");
    k = eci_keystore_get(ks, "c");
    is_str(k != NULL ? k->value : NULL, "value-c", "so is the second");

    eci_keystore_free(ks);
}


/*
 * A store whose plain JSON (compact, sorted: what save() seals) is total
 * bytes: 3833 keys of 64 + 1024 characters and one more to make it up.
 */
static char *
store_json(size_t total, size_t *keys)
{
    char    *json, *p;
    size_t   i, k, last;

    k = (total - 72) / 1094;
    last = total - 71 - 1094 * k;

    json = malloc(total + 1);
    if (json == NULL || last < 1 || last > ECI_KEY_VALUE_MAX) {
        free(json);
        return NULL;
    }

    p = json;
    *p++ = '{';

    for (i = 0; i <= k; i++) {
        if (i > 0) {
            *p++ = ',';
        }
        p += sprintf(p, "\"k%05zu", i);
        memset(p, 'n', 58);
        p += 58;
        memcpy(p, "\":\"", 3);
        p += 3;
        memset(p, 'v', i < k ? ECI_KEY_VALUE_MAX : last);
        p += i < k ? ECI_KEY_VALUE_MAX : last;
        *p++ = '"';
    }

    *p++ = '}';
    *p = '\0';
    *keys = k + 1;

    return (size_t) (p - json) == total ? json : NULL;
}


/* the largest store that can be sealed makes a file of 4 MiB exactly */

static void
test_seal_limit(void)
{
    char            *json, kpath[256], spath[256], want[128];
    size_t           keys, max;
    struct stat      st;
    eci_err_t        err;
    eci_keystore_t  *ks;

    if (sealed_paths(spath, kpath, "big.sealed", "master.key", 0x3d) != 0) {
        return;
    }

    max = 4 * 1024 * 1024 - 24 - 16;

    json = store_json(max, &keys);
    ks = (json != NULL) ? eci_keystore_open_buffer((unsigned char *) json,
                                                   max, NULL, "big", &err)
                        : NULL;
    free(json);
    ok(ks != NULL && eci_keystore_count(ks) == keys, "a plain store of "
       "4 MiB - 40 bytes (%zu keys) opens", keys);

    err.msg[0] = '\0';
    is_int(eci_keystore_save(ks, spath, kpath, &err), 0,
           "4 MiB - header - tag bytes are sealed (%s)", err.msg);
    eci_keystore_free(ks);

    ok(stat(spath, &st) == 0 && st.st_size == 4 * 1024 * 1024,
       "into a file of 4 MiB exactly");

    ks = eci_keystore_open(spath, kpath, &err);
    ok(ks != NULL && eci_keystore_count(ks) == keys,
       "which opens again with its %zu keys", keys);
    eci_keystore_free(ks);

    json = store_json(max + 1, &keys);
    ks = (json != NULL) ? eci_keystore_open_buffer((unsigned char *) json,
                                                   max + 1, NULL, "big",
                                                   &err)
                        : NULL;
    free(json);

    err.msg[0] = '\0';
    ok(ks != NULL && eci_keystore_save(ks, spath, kpath, &err) == -1,
       "one byte more is not sealed");
    snprintf(want, sizeof(want), "keystore too large to seal (%zu bytes)",
             max + 1);
    is_str(err.msg, want, "the message says so, with the size");
    eci_keystore_free(ks);

    unlink(spath);
    unlink(kpath);
}


/* key names: each character range's ends, and their neighbours refused */

static void
test_name_chars(void)
{
    static const char  *good[] = { "A", "Z", "a", "z", "0", "9", ".", "_",
                                   "-", "Team-Z_9.a" };
    static const char  *bad[] = { "@", "[", "`", "{", "/", ":", "a b", "" };
    size_t              i;
    eci_err_t           err;
    eci_keystore_t     *ks;

    ks = eci_keystore_new(&err);

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok(eci_keystore_set(ks, good[i], "v", 1, &err) == 0
           && eci_keystore_get(ks, good[i]) != NULL,
           "key name \"%s\" is valid", good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ok(eci_keystore_set(ks, bad[i], "v", 1, &err) == -1,
           "key name \"%s\" is refused", bad[i]);
    }

    eci_keystore_free(ks);
}


/* a sealed store of another format version: the message names it */

static void
test_version_message(void)
{
    unsigned char    buf[64], master[ECI_MASTER_KEY_LEN];
    eci_err_t        err;
    eci_keystore_t  *ks;

    memset(master, 0x3c, sizeof(master));
    sealed_header(buf, 7);

    ks = eci_keystore_open_buffer(buf, sizeof(buf), master, "mem", &err);
    ok(ks == NULL, "a sealed store of version 7 is refused");
    like(err.msg, "unsupported keystore format version 7 ",
         "the message gives the version found");
    eci_keystore_free(ks);
}


/* messages at edges no other test reached (issue 18), asserted exactly */

static void
test_edge_messages(void)
{
    int              fd;
    char             kpath[256], want[512];
    unsigned char   *buf, hex[65], master[ECI_MASTER_KEY_LEN];
    eci_err_t        err;
    eci_keystore_t  *ks;

    memset(master, 0x3e, sizeof(master));

    /* over the cap: refused before a byte of it is read */
    buf = malloc(4 * 1024 * 1024 + 1);
    if (buf == NULL) {
        ok(0, "4 MiB + 1 allocated");
        return;
    }
    memset(buf, '{', 4 * 1024 * 1024 + 1);
    err.msg[0] = '\0';
    ks = eci_keystore_open_buffer(buf, 4 * 1024 * 1024 + 1, master, "big",
                                  &err);
    ok(ks == NULL, "a buffer of 4 MiB + 1 is refused");
    is_str(err.msg, "\"big\": too large (4194305 bytes, at most 4194304)",
           "the message gives its size and the cap");
    free(buf);

    /* one byte, "{": a plain store's first byte (an exact-size copy) */
    buf = (unsigned char *) tap_copy("{", 1);
    err.msg[0] = '\0';
    ks = eci_keystore_open_buffer(buf, 1, master, "one", &err);
    ok(ks == NULL, "a sealed store of one byte \"{\" is refused");
    is_str(err.msg, "\"one\": not a sealed keystore (it looks like a plain "
           "JSON one); seal it with eci-keytool",
           "one byte \"{\" looks like a plain store");
    free(buf);

    /* no byte, at an address that holds a '{' beyond the buffer's end */
    err.msg[0] = '\0';
    ks = eci_keystore_open_buffer((const unsigned char *) "{", 0, master,
                                  "none", &err);
    ok(ks == NULL, "an empty sealed store is refused");
    is_str(err.msg, "\"none\": not a sealed keystore (bad magic)",
           "no byte at all: bad magic (the byte after it is not read)");

    /* 65 bytes: 64 hex digits and something other than a newline */
    snprintf(kpath, sizeof(kpath), "%s/master.hex", dir);
    memset(hex, 'a', sizeof(hex));
    hex[64] = 'b';
    fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || write(fd, hex, sizeof(hex)) != sizeof(hex)) {
        ok(0, "master key file written");
        return;
    }
    close(fd);

    ks = eci_keystore_new(&err);
    err.msg[0] = '\0';
    ok(eci_keystore_save(ks, "/nonexistent/never", kpath, &err) == -1,
       "a master key of 64 hex digits and a 65th that is not a newline is "
       "refused");
    snprintf(want, sizeof(want), "master key file \"%s\": expected 32 raw "
             "bytes or 64 hex digits and a newline", kpath);
    is_str(err.msg, want, "the message says what a key file holds");
    eci_keystore_free(ks);
    unlink(kpath);

    /* a sealed store over the cap, and a directory read as one */
    snprintf(kpath, sizeof(kpath), "%s/big.sealed", dir);
    fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || ftruncate(fd, 4 * 1024 * 1024 + 1) != 0) {
        ok(0, "a file of 4 MiB + 1 made");
        return;
    }
    close(fd);

    err.msg[0] = '\0';
    ks = eci_keystore_open(kpath, "/nonexistent", &err);
    ok(ks == NULL, "a sealed store of 4 MiB + 1 is not read");
    snprintf(want, sizeof(want), "\"%s\": too large (4194305 bytes, at most "
             "4194304)", kpath);
    is_str(err.msg, want, "the message gives its size and the cap");
    unlink(kpath);

    err.msg[0] = '\0';
    ks = eci_keystore_open(dir, "/nonexistent", &err);
    ok(ks == NULL, "a directory is not read as a sealed store");
    snprintf(want, sizeof(want), "\"%s\": read failed: Is a directory", dir);
    is_str(err.msg, want, "read() fails, the message says why");

    /* a directory as the master key, a plain store that is not there */
    ks = eci_keystore_new(&err);
    err.msg[0] = '\0';
    ok(eci_keystore_save(ks, "/nonexistent/never", dir, &err) == -1,
       "a directory is not read as a master key");
    snprintf(want, sizeof(want), "master key file \"%s\": not a regular "
             "file", dir);
    is_str(err.msg, want, "the message says it is not a regular file");
    eci_keystore_free(ks);

    snprintf(kpath, sizeof(kpath), "%s/absent.json", dir);
    err.msg[0] = '\0';
    ks = eci_keystore_open(kpath, NULL, &err);
    ok(ks == NULL, "a plain store that is not there is not opened");
    snprintf(want, sizeof(want), "\"%s\": cannot open: No such file or "
             "directory", kpath);
    is_str(err.msg, want, "the message says why");

    /* a directory where a plain store should be */
    err.msg[0] = '\0';
    ks = eci_keystore_open(dir, NULL, &err);
    ok(ks == NULL, "a directory is not opened as a plain store");
    snprintf(want, sizeof(want), "\"%s\": plain keystore is not a regular "
             "file", dir);
    is_str(err.msg, want, "the message says it is not a regular file");
}


/* a store saved by a path without a slash: in the current directory */

static void
test_save_here(void)
{
    int              fd, here;
    glob_t           g;
    char             got[16];
    eci_err_t        err;
    eci_keystore_t  *ks;
    unsigned char    master[ECI_MASTER_KEY_LEN];
    const eci_key_t *k;

    here = open(".", O_RDONLY | O_DIRECTORY);
    if (here == -1 || chdir(dir) != 0) {
        ok(0, "into the test directory");
        return;
    }

    memset(master, 0x3f, sizeof(master));
    fd = open("m.key", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || write(fd, master, sizeof(master)) != sizeof(master)) {
        ok(0, "master key written");
        return;
    }
    close(fd);

    ks = eci_keystore_new(&err);
    err.msg[0] = '\0';
    ok(ks != NULL && eci_keystore_set(ks, "api", "v-here", 6, &err) == 0
       && eci_keystore_save(ks, "here.sealed", "m.key", &err) == 0,
       "a store is saved by a relative path without a slash (%s)", err.msg);
    eci_keystore_free(ks);

    ks = eci_keystore_open("here.sealed", "m.key", &err);
    k = eci_keystore_get(ks, "api");
    snprintf(got, sizeof(got), "%s", (k != NULL) ? k->value : "");
    is_str(got, "v-here", "and opens again from the current directory");
    eci_keystore_free(ks);

    /* a directory where the store should go: rename() fails */
    ks = eci_keystore_new(&err);
    err.msg[0] = '\0';
    ok(mkdir("sub", 0700) == 0 && mkdir("sub/x", 0700) == 0
       && eci_keystore_save(ks, "sub", "m.key", &err) == -1,
       "a store is not saved over a directory");
    is_int(strlen(err.msg), strlen("\"sub\": cannot rename \"sub.tmp.XXXXXX\" "
           "over it: Is a directory"), "the message's length");
    ok(strncmp(err.msg, "\"sub\": cannot rename \"sub.tmp.", 30) == 0
       && strcmp(err.msg + 36, "\" over it: Is a directory") == 0,
       "the message names the store, its temporary file and why (%s)",
       err.msg);
    ok(glob("sub.tmp.*", 0, NULL, &g) == GLOB_NOMATCH,
       "no temporary file is left");
    ok(rmdir("sub/x") == 0 && rmdir("sub") == 0,
       "and the directory is left as it was");
    eci_keystore_free(ks);

    unlink("here.sealed");
    unlink("m.key");

    if (fchdir(here) != 0) {
        printf("Bail out! fchdir\n");
        exit(1);
    }
    close(here);
}


/* the fingerprint is terminated: its caller's buffer need not be zeroed */

static void
test_fingerprint_end(void)
{
    char  out[ECI_KEY_FPR_LEN + 8];

    memset(out, 'x', sizeof(out));
    eci_fingerprint("k", 1, out);
    is_int(strlen(out), ECI_KEY_FPR_LEN, "a fingerprint is %d characters "
           "and a NUL, whatever the buffer held", ECI_KEY_FPR_LEN);
    is_str(out, "8254c329a92850f6", "the start of the SHA-256 of the key, "
           "in lower-case hex");
}


/*
 * Secret memory: whole pages (the size given back is what is mapped and
 * later unmapped), a message when none can be had, and gone once
 * unmapped (msync() of an unmapped page is ENOMEM).
 */

static void
test_secret_pages(void)
{
    char             want[128];
    void            *p;
    size_t           size, page;
    eci_err_t        err;
    eci_keystore_t  *ks;
    const eci_key_t *k;

    page = (size_t) sysconf(_SC_PAGESIZE);

    size = 1;
    p = eci_secret_map(&size, "test", &err);
    ok(p != NULL && size == page, "1 byte: one page of %zu bytes (%zu)",
       page, size);
    eci_secret_unmap(p, size);

    size = page;
    p = eci_secret_map(&size, "test", &err);
    ok(p != NULL && size == page, "a page: one page (%zu)", size);
    eci_secret_unmap(p, size);

    size = page + 1;
    p = eci_secret_map(&size, "test", &err);
    ok(p != NULL && size == 2 * page, "a page and a byte: two pages (%zu)",
       size);
    eci_secret_unmap(p, size);
    errno = 0;
    ok(p != NULL && msync(p, page, MS_ASYNC) == -1 && errno == ENOMEM
       && msync((char *) p + page, page, MS_ASYNC) == -1 && errno == ENOMEM,
       "unmapped: both pages are gone");

    /* more than any address space: mmap() fails */
    size = (size_t) 1 << 62;
    err.msg[0] = '\0';
    p = eci_secret_map(&size, "test", &err);
    ok(p == NULL, "2^62 bytes are not mapped");
    snprintf(want, sizeof(want), "test: cannot map %zu bytes: Cannot "
             "allocate memory", (size_t) 1 << 62);
    is_str(err.msg, want, "the message names the memory, its size and why");

    /* a store's keys live in such pages, unmapped when it is freed */
    ks = eci_keystore_new(&err);
    if (ks == NULL || eci_keystore_set(ks, "api", "v-pages", 7, &err) != 0) {
        ok(0, "a store with a key");
        return;
    }
    k = eci_keystore_get(ks, "api");
    p = (void *) ((uintptr_t) k->value & ~(uintptr_t) (page - 1));
    ok(msync(p, page, MS_ASYNC) == 0, "the key's page is mapped");
    eci_keystore_free(ks);
    errno = 0;
    ok(msync(p, page, MS_ASYNC) == -1 && errno == ENOMEM,
       "and unmapped when the store is freed");

    /* and when its last key is removed */
    ks = eci_keystore_new(&err);
    if (ks == NULL || eci_keystore_set(ks, "api", "v-pages", 7, &err) != 0) {
        ok(0, "a store with a key");
        return;
    }
    k = eci_keystore_get(ks, "api");
    p = (void *) ((uintptr_t) k->value & ~(uintptr_t) (page - 1));
    ok(eci_keystore_remove(ks, "api") == 0, "its one key removed");
    errno = 0;
    ok(msync(p, page, MS_ASYNC) == -1 && errno == ENOMEM,
       "the key's page is unmapped at once");
    eci_keystore_free(ks);

    ok(eci_keystore_get(NULL, "api") == NULL
       && eci_keystore_get(ks = eci_keystore_new(&err), NULL) == NULL,
       "get() without a store or without a name: no key");
    eci_keystore_free(ks);
}


/* a master key file whose hex goes bad halfway: no half key is left */

static void
test_master_half(void)
{
    int            fd;
    char           kpath[256], want[400], hex[66];
    size_t         i, zero;
    eci_err_t      err;
    unsigned char  key[ECI_MASTER_KEY_LEN];

    snprintf(kpath, sizeof(kpath), "%s/half.key", dir);
    memset(hex, '7', 64);
    hex[40] = 'x';
    hex[64] = '\n';
    fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd == -1 || write(fd, hex, 65) != 65) {
        ok(0, "master key file written");
        return;
    }
    close(fd);

    memset(key, 0xee, sizeof(key));
    err.msg[0] = '\0';
    is_int(eci_master_key_read(kpath, key, &err), -1,
           "64 \"hex digits\" with an 'x' at 41 are refused");
    snprintf(want, sizeof(want), "master key file \"%s\": expected 64 hex "
             "digits", kpath);
    is_str(err.msg, want, "the message says what was expected");

    for (i = 0, zero = 0; i < sizeof(key); i++) {
        zero += (key[i] == 0);
    }
    is_int(zero, ECI_MASTER_KEY_LEN, "the 20 bytes decoded before it are "
           "wiped from the caller's buffer");

    unlink(kpath);
}


/* the names kept for the audit chain's own keys, and only those */

static void
test_reserved(void)
{
    ok(eci_key_reserved(ECI_KEY_AUDIT_SIGNING) == 1
       && eci_key_reserved(ECI_KEY_AUDIT_CHAIN) == 1,
       "the audit chain's key names are reserved");
    ok(eci_key_reserved("api") == 0 && eci_key_reserved("") == 0,
       "other names are not (every reserved name tried, none past them)");
}


/*
 * The master key is wiped from save()'s frame before it returns: the
 * stack below this function's frame, where save() ran, is searched for
 * it (an uninitialised array over it, read through a volatile pointer).
 */

static size_t __attribute__((noinline))
stack_has(unsigned char byte, size_t run)
{
    unsigned char            area[16384];
    volatile unsigned char  *v = area;
    size_t                   i, n, found;

    found = 0;

    for (i = 0, n = 0; i < sizeof(area); i++) {
        n = (v[i] == byte) ? n + 1 : 0;
        if (n == run) {
            found++;
        }
    }

    return found;
}


/* saves an empty store; nothing runs after the save, to leave its frame */
static int __attribute__((noinline))
save_once(eci_keystore_t *ks, const char *spath, const char *kpath)
{
    eci_err_t  err;

    return eci_keystore_save(ks, spath, kpath, &err);
}


static void
test_master_wiped(void)
{
    int              rc;
    char             kpath[256], spath[256];
    size_t           found;
    eci_err_t        err;
    eci_keystore_t  *ks;

    if (sealed_paths(spath, kpath, "wiped.sealed", "wiped.key", 0xa7) != 0) {
        return;
    }

    ks = eci_keystore_new(&err);
    rc = save_once(ks, spath, kpath);
    found = stack_has(0xa7, ECI_MASTER_KEY_LEN);
    eci_keystore_free(ks);
    is_int(rc, 0, "an empty store saved");
    is_int(found, 0, "after a save, the master key is not on the stack it "
           "ran on");

    unlink(spath);
    unlink(kpath);
}


int
main(void)
{
    size_t  i;

    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    /* a key unlike any other bytes here: random, printable */
    if (RAND_bytes(xkey, sizeof(xkey)) != 1) {
        printf("Bail out! RAND_bytes\n");
        return 1;
    }
    for (i = 0; i < KEY_LEN; i++) {
        xkey[i] = ("abcdefghijklmnopqrstuvwxyz0123456789"[xkey[i] % 36])
                  ^ XOR;
    }

    test_sealed_sizes();

    is_int(eci_keystore_lock(NULL), 0, "eci_keystore_lock(NULL) is 0: no "
           "store, nothing to lock");
    test_grows_while_read();
    test_remove_last();
    test_name_chars();
    test_version_message();
    test_seal_limit();
    test_edge_messages();
    test_save_here();
    test_fingerprint_end();
    test_secret_pages();
    test_master_half();
    test_reserved();
    test_master_wiped();
    test_wipe_plain();
    test_wipe_sealed();

    rmdir(dir);

    return done_testing();
}
