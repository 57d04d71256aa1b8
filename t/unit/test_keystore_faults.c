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
        if (rc == 0) {
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

    unlink(spath);
    unlink(kpath);
    rmdir(dir);

    return done_testing();
}
