/*
 * Unit tests of the keystore: sealing, tampering, plain stores, master key
 * files, validation, messages and memory hygiene.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "eci_keystore.h"
#include "tap.h"


#define KEY_A   "sk-live-AAAA.1234567890abcdef"
#define KEY_B   "sk-live-BBBB~!@#$%^&*()_+{}|:<>?"


static char  dir[] = "/tmp/eci-ks-test.XXXXXX";


static const char *
path_of(const char *name)
{
    static char  buf[4][256];
    static int   n;

    n = (n + 1) % 4;
    snprintf(buf[n], sizeof(buf[n]), "%s/%s", dir, name);

    return buf[n];
}


static int
write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int  fd;

    (void) unlink(path);

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd == -1) {
        return -1;
    }

    if (write(fd, data, len) != (ssize_t) len) {
        (void) close(fd);
        return -1;
    }

    (void) fchmod(fd, mode);

    return close(fd);
}


static unsigned char *
read_file(const char *path, size_t *len)
{
    FILE           *f;
    long            size;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    (void) fseek(f, 0, SEEK_END);
    size = ftell(f);
    (void) fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) size + 1);
    if (buf != NULL && fread(buf, 1, (size_t) size, f) != (size_t) size) {
        free(buf);
        buf = NULL;
    }

    (void) fclose(f);
    *len = (size_t) size;

    return buf;
}


static int
mem_has(const unsigned char *p, size_t len, const char *needle)
{
    size_t  i, n;

    n = strlen(needle);

    for (i = 0; i + n <= len; i++) {
        if (memcmp(p + i, needle, n) == 0) {
            return 1;
        }
    }

    return 0;
}


/* the message names the file and never holds key material */
static void
check_msg(const eci_err_t *err, const char *path, const char *want,
    const char *what)
{
    like(err->msg, path, "%s: message names \"%s\"", what, path);
    like(err->msg, want, "%s: message says \"%s\"", what, want);
    ok(strstr(err->msg, KEY_A) == NULL && strstr(err->msg, KEY_B) == NULL
       && strstr(err->msg, "sk-live") == NULL,
       "%s: message holds no key", what);
}


/* the mapping holding addr as listed in /proc/self/smaps, or "" */
static int
mapping_flags(const void *addr, char *flags, size_t size)
{
    FILE                *f;
    char                 line[512];
    int                  in;
    unsigned long long   lo, hi, a;

    f = fopen("/proc/self/smaps", "r");
    if (f == NULL) {
        return -1;
    }

    a = (unsigned long long) (uintptr_t) addr;
    in = 0;
    flags[0] = '\0';

    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2
            && strchr(line, '-') == line + strspn(line, "0123456789abcdef"))
        {
            in = (a >= lo && a < hi);
            continue;
        }

        if (in && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, size, "%s", line + 8);
            (void) fclose(f);
            return 1;
        }
    }

    (void) fclose(f);

    return 0;
}


/* mlock() is best effort: is it in effect in this process at all? */
static int
mlock_works(void)
{
    int    rc;
    char   flags[512];
    void  *p;

    p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        return 0;
    }

    rc = (mlock(p, 4096) == 0 && mapping_flags(p, flags, sizeof(flags)) == 1
          && strstr(flags, " lo") != NULL);

    (void) munmap(p, 4096);

    return rc;
}


static int
temp_files_left(void)
{
    int             n;
    DIR            *d;
    struct dirent  *de;

    d = opendir(dir);
    if (d == NULL) {
        return -1;
    }

    n = 0;

    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".tmp.") != NULL) {
            n++;
        }
    }

    (void) closedir(d);

    return n;
}


static void
test_round_trip(const char *master)
{
    char              fpr[ECI_KEY_FPR_LEN + 1];
    eci_err_t         err;
    eci_keystore_t   *ks;
    const eci_key_t  *k;

    ks = eci_keystore_new(&err);
    ok(ks != NULL, "new store");
    is_int(eci_keystore_count(ks), 0, "new store is empty");

    is_int(eci_keystore_set(ks, "zeta", KEY_B, strlen(KEY_B), &err), 0,
           "set zeta");
    is_int(eci_keystore_set(ks, "alpha", "temporary", 9, &err), 0,
           "set alpha");
    is_int(eci_keystore_set(ks, "alpha", KEY_A, strlen(KEY_A), &err), 0,
           "replace alpha");
    is_int(eci_keystore_count(ks), 2, "two keys");
    is_int(eci_keystore_save(ks, path_of("ks.sealed"), master, &err), 0,
           "save");
    eci_keystore_free(ks);

    ks = eci_keystore_open(path_of("ks.sealed"), master, &err);
    ok(ks != NULL, "open the saved store");
    if (ks == NULL) {
        printf("# %s\n", err.msg);
        return;
    }

    is_int(eci_keystore_count(ks), 2, "two keys after reopening");
    is_str(eci_keystore_at(ks, 0)->name, "alpha", "keys in name order (0)");
    is_str(eci_keystore_at(ks, 1)->name, "zeta", "keys in name order (1)");
    ok(eci_keystore_at(ks, 2) == NULL, "at() past the end is NULL");

    k = eci_keystore_get(ks, "alpha");
    ok(k != NULL && k->len == strlen(KEY_A)
       && memcmp(k->value, KEY_A, k->len) == 0 && k->value[k->len] == '\0',
       "alpha holds the replaced value");

    k = eci_keystore_get(ks, "zeta");
    ok(k != NULL && strcmp(k->value, KEY_B) == 0, "zeta round-trips");

    /* sha256("sk-live-AAAA.1234567890abcdef"), from sha256sum(1) */
    eci_fingerprint(KEY_A, strlen(KEY_A), fpr);
    is_int(strlen(fpr), ECI_KEY_FPR_LEN, "fingerprint is 16 hex digits");
    is_str(eci_keystore_get(ks, "alpha")->fingerprint, fpr,
           "key fingerprint is eci_fingerprint() of its value");
    eci_fingerprint("abc", 3, fpr);
    is_str(fpr, "ba7816bf8f01cfea", "fingerprint of \"abc\" is SHA-256's");

    ok(eci_keystore_get(ks, "missing") == NULL, "get of a missing name");
    ok(eci_keystore_get(ks, "alph") == NULL, "get needs the whole name");

    eci_keystore_free(ks);
}


/* the buffer API the file readers and the fuzzers share */

static void
test_buffer(void)
{
    size_t            len;
    eci_err_t         err;
    unsigned char     key[ECI_MASTER_KEY_LEN];
    unsigned char    *buf;
    eci_keystore_t   *ks;
    const eci_key_t  *k;

    static const char  plain[] = "{\"alpha\": \"" KEY_A "\"}";

    memset(key, 0x5a, sizeof(key));

    buf = read_file(path_of("ks.sealed"), &len);
    ok(buf != NULL, "read the sealed store");
    if (buf == NULL) {
        return;
    }

    ks = eci_keystore_open_buffer(buf, len, key, "mem", &err);
    ok(ks != NULL, "open_buffer unseals");
    k = eci_keystore_get(ks, "alpha");
    ok(k != NULL && strcmp(k->value, KEY_A) == 0,
       "open_buffer gives the keys");
    eci_keystore_free(ks);

    buf[len - 1] ^= 1;
    ks = eci_keystore_open_buffer(buf, len, key, "mem", &err);
    ok(ks == NULL, "open_buffer refuses a modified tag");
    is_str(err.msg, "\"mem\": cannot unseal: wrong master key or the file "
           "was modified", "and names the buffer");

    ks = eci_keystore_open_buffer(buf, 20, key, "mem", &err);
    ok(ks == NULL, "open_buffer refuses a truncated header");
    is_str(err.msg, "\"mem\": sealed keystore truncated (20 bytes)",
           "and says so");

    /* the magic alone is a sealed store cut short; one byte less is not */
    ks = eci_keystore_open_buffer(buf, 8, key, "mem", &err);
    ok(ks == NULL, "open_buffer refuses the magic alone");
    is_str(err.msg, "\"mem\": sealed keystore truncated (8 bytes)",
           "as a truncated sealed store");
    ks = eci_keystore_open_buffer(buf, 7, key, "mem", &err);
    is_str(err.msg, "\"mem\": not a sealed keystore (bad magic)",
           "7 bytes of it: not a sealed store");

    ks = eci_keystore_open_buffer(buf, len, NULL, "mem", &err);
    ok(ks == NULL, "a sealed buffer is not a plain store");
    like(err.msg, "a sealed keystore, not a plain one", "and says so");
    free(buf);

    ks = eci_keystore_open_buffer((const unsigned char *) plain,
                                  sizeof(plain) - 1, NULL, "mem", &err);
    ok(ks != NULL && eci_keystore_count(ks) == 1,
       "open_buffer reads a plain store");
    eci_keystore_free(ks);

    ks = eci_keystore_open_buffer((const unsigned char *) plain,
                                  sizeof(plain) - 1, key, "mem", &err);
    ok(ks == NULL, "a plain buffer is not a sealed store");
    like(err.msg, "looks like a plain JSON one", "and says so");

    ks = eci_keystore_open_buffer((const unsigned char *) "", 0, NULL, "mem",
                                  &err);
    ok(ks == NULL, "an empty buffer is invalid JSON");
}


static void
test_wrong_master(void)
{
    eci_err_t        err;
    eci_keystore_t  *ks;

    ks = eci_keystore_open(path_of("ks.sealed"), path_of("other.key"), &err);
    ok(ks == NULL, "wrong master key fails");
    check_msg(&err, path_of("ks.sealed"),
              "cannot unseal: wrong master key or the file was modified",
              "wrong master");

    ks = eci_keystore_open(path_of("ks.sealed"), path_of("absent.key"), &err);
    ok(ks == NULL, "missing master key file fails");
    check_msg(&err, path_of("absent.key"), "cannot open", "missing master");
}


static void
test_tamper(const char *master)
{
    size_t           i, len, cuts[6];
    eci_err_t        err;
    unsigned char   *orig, *buf;
    eci_keystore_t  *ks;

    static const struct {
        long         off;          /* negative: from the end */
        const char  *want;
        const char  *what;
    } cases[] = {
        { 0,   "not a sealed keystore (bad magic)", "magic" },
        { 7,   "not a sealed keystore (bad magic)", "magic NUL" },
        { 8,   "unsupported keystore format version", "version" },
        { 9,   "unsupported keystore cipher", "cipher id" },
        { 10,  "wrong master key or the file was modified", "reserved" },
        { 12,  "wrong master key or the file was modified", "nonce first" },
        { 23,  "wrong master key or the file was modified", "nonce last" },
        { 24,  "wrong master key or the file was modified", "ciphertext" },
        { 30,  "wrong master key or the file was modified", "ciphertext+6" },
        { -17, "wrong master key or the file was modified", "ct last" },
        { -16, "wrong master key or the file was modified", "tag first" },
        { -1,  "wrong master key or the file was modified", "tag last" },
    };

    orig = read_file(path_of("ks.sealed"), &len);
    ok(orig != NULL && len > 40, "read the sealed file");
    if (orig == NULL) {
        return;
    }

    ok(memcmp(orig, "ECIKSTR\0\1\1\0\0", 12) == 0,
       "header: magic, version 1, cipher 1, reserved zero");
    ok(!mem_has(orig, len, KEY_A) && !mem_has(orig, len, "alpha"),
       "neither key nor name appears in the sealed file");

    buf = malloc(len);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(buf, orig, len);
        buf[cases[i].off >= 0 ? (size_t) cases[i].off
                              : len + cases[i].off] ^= 0x01;
        (void) write_file(path_of("tampered"), buf, len, 0600);

        ks = eci_keystore_open(path_of("tampered"), master, &err);
        ok(ks == NULL, "flipped %s byte fails", cases[i].what);
        eci_keystore_free(ks);
        check_msg(&err, path_of("tampered"), cases[i].want, cases[i].what);
    }

    /* truncations: in the tag, the whole tag, into the header, to zero */
    cuts[0] = 1;
    cuts[1] = 16;
    cuts[2] = 17;
    cuts[3] = len - 30;
    cuts[4] = len - 10;
    cuts[5] = len;

    for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        (void) write_file(path_of("tampered"), orig, len - cuts[i], 0600);
        ks = eci_keystore_open(path_of("tampered"), master, &err);
        ok(ks == NULL, "truncated by %zu bytes fails", cuts[i]);
        eci_keystore_free(ks);
        like(err.msg, path_of("tampered"), "truncated by %zu: path named",
             cuts[i]);
    }

    /* appended garbage moves the tag: must fail too */
    memcpy(buf, orig, len);
    buf = realloc(buf, len + 1);
    buf[len] = 'x';
    (void) write_file(path_of("tampered"), buf, len + 1, 0600);
    ks = eci_keystore_open(path_of("tampered"), master, &err);
    ok(ks == NULL, "a byte appended fails");
    eci_keystore_free(ks);

    free(buf);
    free(orig);
}


static void
test_fresh_nonce(const char *master)
{
    size_t           len1, len2;
    eci_err_t        err;
    unsigned char   *a, *b;
    eci_keystore_t  *ks;

    ks = eci_keystore_open(path_of("ks.sealed"), master, &err);
    a = read_file(path_of("ks.sealed"), &len1);
    is_int(eci_keystore_save(ks, path_of("ks.sealed"), master, &err), 0,
           "save again");
    b = read_file(path_of("ks.sealed"), &len2);

    ok(a != NULL && b != NULL && len1 == len2, "same length");
    ok(a != NULL && b != NULL && memcmp(a + 12, b + 12, 12) != 0,
       "two saves use different nonces");
    ok(a != NULL && b != NULL && memcmp(a + 24, b + 24, len1 - 24) != 0,
       "two saves give different ciphertexts");
    is_int(temp_files_left(), 0, "no temporary file left behind");

    /* a failed save leaves the old store as it was */
    is_int(eci_keystore_save(ks, path_of("ks.sealed"), path_of("absent.key"),
                             &err), -1, "save with a missing master fails");
    free(a);
    a = read_file(path_of("ks.sealed"), &len1);
    ok(a != NULL && len1 == len2 && memcmp(a, b, len1) == 0,
       "failed save left the store untouched");

    is_int(eci_keystore_save(ks, path_of("no/such/dir/ks"), master, &err), -1,
           "save into a missing directory fails");
    like(err.msg, "cannot create a temporary file", "and says why");

    eci_keystore_free(ks);
    free(a);
    free(b);
}


static void
test_plain(void)
{
    struct stat       st;
    eci_err_t         err;
    eci_keystore_t   *ks;
    const char       *json;

    json = "{\"b\": \"" KEY_B "\", \"a\": \"" KEY_A "\"}\n";

    (void) write_file(path_of("plain.json"), json, strlen(json), 0644);
    ks = eci_keystore_open(path_of("plain.json"), NULL, &err);
    ok(ks == NULL, "plain store of mode 0644 refused");
    check_msg(&err, path_of("plain.json"),
              "plain keystore must not be readable by group or others "
              "(mode 0644); chmod 600 it or seal it with eci-keytool",
              "plain 0644");

    (void) chmod(path_of("plain.json"), 0640);
    ks = eci_keystore_open(path_of("plain.json"), NULL, &err);
    ok(ks == NULL, "plain store of mode 0640 refused");
    like(err.msg, "(mode 0640)", "mode 0640 named");

    (void) chmod(path_of("plain.json"), 0600);
    ks = eci_keystore_open(path_of("plain.json"), NULL, &err);
    ok(ks != NULL, "plain store of mode 0600 accepted");
    is_int(eci_keystore_count(ks), 2, "plain store has two keys");
    ok(ks != NULL && strcmp(eci_keystore_at(ks, 0)->name, "a") == 0,
       "plain store sorted by name");
    ok(ks != NULL && strcmp(eci_keystore_get(ks, "b")->value, KEY_B) == 0,
       "plain store value");
    eci_keystore_free(ks);

    (void) chmod(path_of("plain.json"), 0400);
    ks = eci_keystore_open(path_of("plain.json"), NULL, &err);
    ok(ks != NULL, "plain store of mode 0400 accepted");
    eci_keystore_free(ks);

    ks = eci_keystore_open(dir, NULL, &err);
    ok(ks == NULL, "a directory is refused");

    ks = eci_keystore_open(path_of("ks.sealed"), NULL, &err);
    ok(ks == NULL, "a sealed store opened as plain is refused");
    like(err.msg, "a sealed keystore", "and says it is sealed");

    ks = eci_keystore_open(path_of("plain.json"), path_of("master.raw"),
                           &err);
    ok(ks == NULL, "a plain store opened as sealed is refused");
    like(err.msg, "looks like a plain JSON one", "and says it looks plain");

    (void) stat(path_of("ks.sealed"), &st);
    is_int(st.st_mode & 07777, 0600, "saved store has mode 0600");
}


static void
test_plain_content(void)
{
    size_t            i;
    eci_err_t         err;
    eci_keystore_t   *ks;

    static const struct {
        const char  *json;
        const char  *want;
    } cases[] = {
        { "[\"" KEY_A "\"]", "expected a JSON object" },
        { "{\"a\": \"" KEY_A "\"", "invalid JSON" },
        { "{\"a\": " KEY_A "}", "invalid JSON" },
        { "{\"a\": \"" KEY_A "\", \"a\": \"" KEY_B "\"}",
          "duplicate key name" },
        { "{\"a\": 12}", "the value must be a string" },
        { "{\"a\": \"\"}", "the value must be 1 to 1024 printable" },
        { "{\"a\": \"sk-live with space\"}", "printable ASCII" },
        { "{\"a\": \"sk-live\\ttab\"}", "printable ASCII" },
        { "{\"a\": \"sk-live\\u00e9\"}", "printable ASCII" },
        { "{\"sk-live bad name\": \"x\"}", "entry #1: invalid key name" },
        { "{\"\": \"x\"}", "invalid key name" },
        { "\"" KEY_A "\"", "invalid JSON" },
        { "", "invalid JSON" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void) write_file(path_of("bad.json"), cases[i].json,
                          strlen(cases[i].json), 0600);
        ks = eci_keystore_open(path_of("bad.json"), NULL, &err);
        ok(ks == NULL, "bad plain store %zu refused", i);
        eci_keystore_free(ks);
        check_msg(&err, path_of("bad.json"), cases[i].want, "bad content");
    }
}


static void
test_validation(void)
{
    char             name[ECI_KEY_NAME_MAX + 2];
    char             value[ECI_KEY_VALUE_MAX + 2];
    eci_err_t        err;
    eci_keystore_t  *ks;

    ks = eci_keystore_new(&err);

    memset(name, 'n', sizeof(name));
    name[ECI_KEY_NAME_MAX] = '\0';
    is_int(eci_keystore_set(ks, name, "v", 1, &err), 0, "64-char name ok");
    name[ECI_KEY_NAME_MAX] = 'n';
    name[ECI_KEY_NAME_MAX + 1] = '\0';
    is_int(eci_keystore_set(ks, name, "v", 1, &err), -1,
           "65-char name refused");
    like(err.msg, "invalid key name", "says invalid key name");

    is_int(eci_keystore_set(ks, "", "v", 1, &err), -1, "empty name refused");
    is_int(eci_keystore_set(ks, NULL, "v", 1, &err), -1, "NULL name refused");
    is_int(eci_keystore_set(ks, "a b", "v", 1, &err), -1, "space in name");
    is_int(eci_keystore_set(ks, "a/b", "v", 1, &err), -1, "slash in name");
    is_int(eci_keystore_set(ks, "a:b", "v", 1, &err), -1, "colon in name");
    is_int(eci_keystore_set(ks, "A-z_0.9", "v", 1, &err), 0,
           "all name classes ok");

    memset(value, '~', sizeof(value));
    is_int(eci_keystore_set(ks, "v", value, ECI_KEY_VALUE_MAX, &err), 0,
           "1024-byte value ok");
    is_int(eci_keystore_set(ks, "v", value, ECI_KEY_VALUE_MAX + 1, &err), -1,
           "1025-byte value refused");
    like(err.msg, "key \"v\": the value must be", "message names the key");
    is_int(eci_keystore_set(ks, "v", "", 0, &err), -1, "empty value refused");
    is_int(eci_keystore_set(ks, "v", "sk-live a", 9, &err), -1,
           "space in value refused");
    ok(strstr(err.msg, "sk-live") == NULL, "message holds no value");
    is_int(eci_keystore_set(ks, "v", "sk\r\nX: y", 8, &err), -1,
           "CR LF in value refused (header injection)");
    is_int(eci_keystore_set(ks, "v", "sk\0x", 4, &err), -1,
           "NUL in value refused");
    is_int(eci_keystore_set(ks, "v", "sk\x7f", 3, &err), -1,
           "DEL in value refused");
    is_int(eci_keystore_set(ks, "v", "sk\xc3\xa9", 4, &err), -1,
           "8-bit value refused");
    is_int(eci_keystore_set(ks, "v", NULL, 1, &err), -1,
           "NULL value refused");
    is_int(eci_keystore_count(ks), 3, "refused sets changed nothing");

    is_int(eci_keystore_remove(ks, "absent"), -1, "remove absent fails");
    is_int(eci_keystore_remove(ks, "v"), 0, "remove v");
    ok(eci_keystore_get(ks, "v") == NULL, "v is gone");
    is_int(eci_keystore_remove(ks, "A-z_0.9"), 0, "remove A-z_0.9");
    is_int(eci_keystore_remove(ks, "nnnnnnnn"), -1, "remove by prefix fails");
    name[ECI_KEY_NAME_MAX] = '\0';
    is_int(eci_keystore_remove(ks, name), 0, "remove the last");
    is_int(eci_keystore_count(ks), 0, "store empty");

    is_int(eci_keystore_save(ks, path_of("empty.sealed"),
                             path_of("master.raw"), &err), 0,
           "save an empty store");
    eci_keystore_free(ks);

    ks = eci_keystore_open(path_of("empty.sealed"), path_of("master.raw"),
                           &err);
    ok(ks != NULL && eci_keystore_count(ks) == 0,
       "reopen the empty store");
    eci_keystore_free(ks);
}


static void
test_master_files(void)
{
    int              i;
    char             hex[66];
    eci_err_t        err;
    unsigned char    raw[ECI_MASTER_KEY_LEN], got[ECI_MASTER_KEY_LEN];
    eci_keystore_t  *ks;

    for (i = 0; i < ECI_MASTER_KEY_LEN; i++) {
        raw[i] = (unsigned char) (i * 37 + 5);
        snprintf(hex + 2 * i, 3, i % 2 ? "%02x" : "%02X", raw[i]);
    }

    hex[64] = '\n';
    hex[65] = '\0';

    (void) write_file(path_of("m.hex"), hex, 64, 0400);
    memset(got, 0, sizeof(got));
    is_int(eci_master_key_read(path_of("m.hex"), got, &err), 0,
           "64 hex digits (mixed case)");
    ok(memcmp(got, raw, sizeof(raw)) == 0, "hex decodes to the raw key");

    (void) write_file(path_of("m.hex"), hex, 65, 0440);
    memset(got, 0, sizeof(got));
    is_int(eci_master_key_read(path_of("m.hex"), got, &err), 0,
           "64 hex digits and a newline, mode 0440");
    ok(memcmp(got, raw, sizeof(raw)) == 0, "hex+newline decodes");

    (void) write_file(path_of("m.raw"), raw, 32, 0600);
    is_int(eci_master_key_read(path_of("m.raw"), got, &err), 0,
           "32 raw bytes");
    ok(memcmp(got, raw, sizeof(raw)) == 0, "raw read as is");

    /* a store sealed under the raw file opens with the hex file */
    ks = eci_keystore_new(&err);
    (void) eci_keystore_set(ks, "k", KEY_A, strlen(KEY_A), &err);
    is_int(eci_keystore_save(ks, path_of("mk.sealed"), path_of("m.raw"),
                             &err), 0, "seal under the raw master");
    eci_keystore_free(ks);
    ks = eci_keystore_open(path_of("mk.sealed"), path_of("m.hex"), &err);
    ok(ks != NULL, "open with the same key in hex");
    eci_keystore_free(ks);

    (void) write_file(path_of("m.bad"), raw, 31, 0400);
    is_int(eci_master_key_read(path_of("m.bad"), got, &err), -1,
           "31 bytes refused");
    check_msg(&err, path_of("m.bad"), "expected 32 raw bytes or 64 hex "
              "digits, found 31 bytes", "31 bytes");

    (void) write_file(path_of("m.bad"), raw, 0, 0400);
    is_int(eci_master_key_read(path_of("m.bad"), got, &err), -1,
           "empty file refused");

    hex[64] = 'x';
    (void) write_file(path_of("m.bad"), hex, 65, 0400);
    is_int(eci_master_key_read(path_of("m.bad"), got, &err), -1,
           "65th byte not a newline refused");

    hex[64] = '\n';
    hex[65] = '\n';
    (void) write_file(path_of("m.bad"), hex, 66, 0400);
    is_int(eci_master_key_read(path_of("m.bad"), got, &err), -1,
           "two newlines refused");

    hex[10] = 'g';
    (void) write_file(path_of("m.bad"), hex, 64, 0400);
    is_int(eci_master_key_read(path_of("m.bad"), got, &err), -1,
           "non-hex digit refused");
    check_msg(&err, path_of("m.bad"), "expected 64 hex digits", "non-hex");

    (void) write_file(path_of("m.bad"), raw, 32, 0644);
    is_int(eci_master_key_read(path_of("m.bad"), got, &err), -1,
           "world-readable master refused");
    check_msg(&err, path_of("m.bad"), "must not be accessible by others "
              "(mode 0644)", "mode 0644");

    (void) write_file(path_of("m.bad"), raw, 32, 0602);
    is_int(eci_master_key_read(path_of("m.bad"), got, &err), -1,
           "world-writable master refused");

    is_int(eci_master_key_read(dir, got, &err), -1, "directory refused");
}


static void
test_hygiene(const char *master)
{
    char              flags[512];
    const void       *addr;
    eci_err_t         err;
    json_malloc_t     m;
    json_free_t       f;
    eci_keystore_t   *ks;

    json_get_alloc_funcs(&m, &f);
    ok(m == malloc && f != free,
       "jansson frees through the wiping free function");

    ks = eci_keystore_open(path_of("ks.sealed"), master, &err);
    addr = eci_keystore_get(ks, "alpha")->value;

    ok(mapping_flags(addr, flags, sizeof(flags)) == 1,
       "key value lives in its own mapping");
    like(flags, " dd", "the mapping is MADV_DONTDUMP (VmFlags dd)");
    if (mlock_works()) {
        like(flags, " lo", "the mapping is mlock()ed (VmFlags lo)");

    } else {
        /* RLIMIT_MEMLOCK, or ASan, whose mlock() does nothing */
        ok(1, "# skip mlock() does not lock here");
    }

    ok(strstr(flags, " wr") == NULL, "the mapping is read-only");

    eci_keystore_free(ks);

    /* whether it was wiped cannot be read back; it must at least be gone */
    ok(mapping_flags(addr, flags, sizeof(flags)) == 0,
       "the mapping is unmapped by eci_keystore_free()");

    eci_keystore_free(NULL);
    ok(1, "eci_keystore_free(NULL) is harmless");
}


int
main(void)
{
    char             cmd[300], master_buf[256];
    eci_err_t        err;
    unsigned char    key[ECI_MASTER_KEY_LEN];
    const char      *master;

    if (mkdtemp(dir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    memset(key, 0x5a, sizeof(key));
    (void) write_file(path_of("master.raw"), key, sizeof(key), 0400);
    memset(key, 0xa5, sizeof(key));
    (void) write_file(path_of("other.key"), key, sizeof(key), 0400);

    /* path_of() reuses its buffers: keep a copy */
    snprintf(master_buf, sizeof(master_buf), "%s", path_of("master.raw"));
    master = master_buf;

    is_int(eci_master_key_read(master, key, &err), 0, "read master key");

    test_round_trip(master);
    test_wrong_master();
    test_buffer();
    test_tamper(master);
    test_fresh_nonce(master);
    test_plain();
    test_plain_content();
    test_validation();
    test_master_files();
    test_hygiene(master);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        printf("# cannot remove %s\n", dir);
    }

    return done_testing();
}
