/*
 * Failure injection for the unit tests of the core.  A test binary named
 * test_*_faults is linked with -Wl,--wrap= for malloc, calloc, realloc,
 * write, read, close, open, fstat, fchmod, fsync, fchown, geteuid, mmap,
 * OPENSSL_cleanse (a checked loop, see below), the
 * OpenSSL calls of the keystore's sealing, fingerprint and nonce, and the
 * ACL's arena allocator eci_acl_alloc (Makefile, FAULT_WRAP): every call
 * the core and the test make to those goes through the wrappers below,
 * which count the calls and fail the one chosen the way the library
 * would.  Nothing changes in the core or in any other binary.  Calls made
 * inside jansson, OpenSSL and libc themselves, and eci_arena.c's own, are
 * not wrapped (their references are bound in their own library or
 * object).  One visible difference: in these binaries "malloc" names the
 * wrapper, so the keystore's check that jansson still uses malloc() fails
 * and its wiping allocator is not installed (the wipe is
 * test_keystore_gaps.c's to test).
 */

#ifndef ECI_FAULTS_H
#define ECI_FAULTS_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "eci_acl.h"


void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_close(int fd);
int __real_open(const char *path, int flags, ...);
int __real_fstat(int fd, struct stat *st);
int __real_fchmod(int fd, mode_t mode);
int __real_fsync(int fd);
int __real_fchown(int fd, uid_t uid, gid_t gid);
uid_t __real_geteuid(void);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
    off_t off);
void *__real_eci_acl_alloc(eci_acl_t *acl, size_t size);
ssize_t __real_read(int fd, void *buf, size_t n);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_close(int fd);
int __wrap_open(const char *path, int flags, ...);
int __wrap_fstat(int fd, struct stat *st);
int __wrap_fchmod(int fd, mode_t mode);
int __wrap_fsync(int fd);
int __wrap_fchown(int fd, uid_t uid, gid_t gid);
uid_t __wrap_geteuid(void);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
    off_t off);
void *__wrap_eci_acl_alloc(eci_acl_t *acl, size_t size);
ssize_t __wrap_read(int fd, void *buf, size_t n);
void __wrap_OPENSSL_cleanse(void *p, size_t n);


/* read(): the call at fault_read_at fails with EIO */
static long    fault_reads;
static long    fault_read_at = -1;

/* OPENSSL_cleanse(): the last region wiped */
static const void  *fault_cleansed;
static size_t       fault_cleansed_len;

/* allocations (malloc, calloc, realloc) counted from 0 since the reset */
static long    fault_allocs;
static long    fault_alloc_at = -1;     /* this one fails; -1: none */
static int     fault_alloc_hit;         /* it was reached */

/* write(): at most this many bytes a call (0: no limit) */
static size_t  fault_write_max;
static int     fault_write_eintr;       /* calls to fail with EINTR */
static int     fault_write_errno;       /* if set, every call fails so */
static long    fault_writes;

/* close(): calls counted; the one at fault_close_at closes, returns EIO */
static long    fault_closes;
static long    fault_close_at = -1;
static int     fault_close_fd = -1;     /* the fd of that failed close */
static int     fault_close_again;       /* close() calls after it */

/*
 * open() (EACCES), fstat() (EIO), fchmod() (EPERM), fsync() (EIO),
 * fchown() (EPERM), mmap() (ENOMEM): calls of each counted; the one at
 * *_at fails; open() may instead fail for one path only
 */
static long         fault_opens;
static long         fault_open_at = -1;
static const char  *fault_open_path;
static long         fault_fstats;
static long         fault_fstat_at = -1;
static long         fault_fchmods;
static long         fault_fchmod_at = -1;
static long         fault_fsyncs;
static long         fault_fsync_at = -1;
static long         fault_fchowns;
static long         fault_fchown_at = -1;
static long         fault_mmaps;
static long         fault_mmap_at = -1;

/* fstat() reports this size (-1: the file's own): a file that changes */
static off_t        fault_fstat_size = -1;

/* geteuid() says root (the keystore then gives a store its owner's ids) */
static int          fault_root;

/* eci_acl_alloc() (the ACL's arena) calls counted; this one returns NULL */
static long    fault_arena_allocs;
static long    fault_arena_at = -1;
static int     fault_arena_hit;

/*
 * OpenSSL: the call to the function named here fails as OpenSSL reports
 * a failure (0, or NULL), after fault_ssl_skip calls to it that do not;
 * fault_ssl_hit says it was reached
 */
static const char  *fault_ssl_name;
static int          fault_ssl_skip;
static int          fault_ssl_hit;


static void
faults_reset(void)
{
    fault_allocs = 0;
    fault_alloc_at = -1;
    fault_alloc_hit = 0;
    fault_write_max = 0;
    fault_write_eintr = 0;
    fault_write_errno = 0;
    fault_writes = 0;
    fault_closes = 0;
    fault_close_at = -1;
    fault_close_fd = -1;
    fault_close_again = 0;
    fault_opens = 0;
    fault_open_at = -1;
    fault_open_path = NULL;
    fault_fstats = 0;
    fault_fstat_at = -1;
    fault_fchmods = 0;
    fault_fchmod_at = -1;
    fault_fsyncs = 0;
    fault_fsync_at = -1;
    fault_fchowns = 0;
    fault_fchown_at = -1;
    fault_mmaps = 0;
    fault_mmap_at = -1;
    fault_fstat_size = -1;
    fault_root = 0;
    fault_arena_allocs = 0;
    fault_arena_at = -1;
    fault_arena_hit = 0;
    fault_reads = 0;
    fault_read_at = -1;
    fault_cleansed = NULL;
    fault_cleansed_len = 0;
    fault_ssl_name = NULL;
    fault_ssl_skip = 0;
    fault_ssl_hit = 0;
}


static int
fault_alloc_fails(void)
{
    if (fault_allocs++ != fault_alloc_at) {
        return 0;
    }

    fault_alloc_hit = 1;
    errno = ENOMEM;

    return 1;
}


void *
__wrap_malloc(size_t n)
{
    return fault_alloc_fails() ? NULL : __real_malloc(n);
}


void *
__wrap_calloc(size_t n, size_t size)
{
    return fault_alloc_fails() ? NULL : __real_calloc(n, size);
}


void *
__wrap_realloc(void *p, size_t n)
{
    return fault_alloc_fails() ? NULL : __real_realloc(p, n);
}


ssize_t
__wrap_write(int fd, const void *buf, size_t n)
{
    fault_writes++;

    if (fault_write_eintr > 0) {
        fault_write_eintr--;
        errno = EINTR;
        return -1;
    }

    if (fault_write_errno != 0) {
        errno = fault_write_errno;
        return -1;
    }

    if (fault_write_max != 0 && n > fault_write_max) {
        n = fault_write_max;
    }

    return __real_write(fd, buf, n);
}


/* as on Linux, a close() that reports an error has released the fd */
int
__wrap_close(int fd)
{
    if (fault_close_fd != -1) {
        fault_close_again++;
    }

    if (fault_closes++ == fault_close_at) {
        (void) __real_close(fd);
        fault_close_fd = fd;
        errno = EIO;
        return -1;
    }

    return __real_close(fd);
}

int
__wrap_open(const char *path, int flags, ...)
{
    mode_t   mode;
    va_list  ap;

    mode = 0;

    if (flags & O_CREAT) {
        va_start(ap, flags);
        mode = (mode_t) va_arg(ap, int);
        va_end(ap);
    }

    if (fault_opens++ == fault_open_at
        || (fault_open_path != NULL && strcmp(path, fault_open_path) == 0))
    {
        errno = EACCES;
        return -1;
    }

    return __real_open(path, flags, mode);
}


int
__wrap_fstat(int fd, struct stat *st)
{
    if (fault_fstats++ == fault_fstat_at) {
        errno = EIO;
        return -1;
    }

    if (__real_fstat(fd, st) == -1) {
        return -1;
    }

    if (fault_fstat_size != -1) {
        st->st_size = fault_fstat_size;
    }

    return 0;
}


ssize_t
__wrap_read(int fd, void *buf, size_t n)
{
    if (fault_reads++ == fault_read_at) {
        errno = EIO;
        return -1;
    }

    return __real_read(fd, buf, n);
}


/*
 * OPENSSL_cleanse() as a loop compiled here: libcrypto is not built with
 * ASan, so a wipe past the end of a buffer inside it goes unseen; here
 * every byte written is checked.  It also records what it wiped.
 */
void
__wrap_OPENSSL_cleanse(void *p, size_t n)
{
    size_t                   i;
    volatile unsigned char  *q;

    q = p;

    for (i = 0; i < n; i++) {
        q[i] = 0;
    }

    fault_cleansed = p;
    fault_cleansed_len = n;
}


int
__wrap_fchmod(int fd, mode_t mode)
{
    if (fault_fchmods++ == fault_fchmod_at) {
        errno = EPERM;
        return -1;
    }

    return __real_fchmod(fd, mode);
}


int
__wrap_fsync(int fd)
{
    if (fault_fsyncs++ == fault_fsync_at) {
        errno = EIO;
        return -1;
    }

    return __real_fsync(fd);
}


int
__wrap_fchown(int fd, uid_t uid, gid_t gid)
{
    if (fault_fchowns++ == fault_fchown_at) {
        errno = EPERM;
        return -1;
    }

    return __real_fchown(fd, uid, gid);
}


uid_t
__wrap_geteuid(void)
{
    return fault_root ? 0 : __real_geteuid();
}


void *
__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (fault_mmaps++ == fault_mmap_at) {
        errno = ENOMEM;
        return MAP_FAILED;
    }

    return __real_mmap(addr, len, prot, flags, fd, off);
}


void *
__wrap_eci_acl_alloc(eci_acl_t *acl, size_t size)
{
    if (fault_arena_allocs++ == fault_arena_at) {
        fault_arena_hit = 1;
        return NULL;
    }

    return __real_eci_acl_alloc(acl, size);
}


static int
fault_ssl_fails(const char *name)
{
    if (fault_ssl_name == NULL || strcmp(name, fault_ssl_name) != 0) {
        return 0;
    }

    if (fault_ssl_skip > 0) {
        fault_ssl_skip--;
        return 0;
    }

    fault_ssl_name = NULL;
    fault_ssl_hit = 1;

    return 1;
}


/* an OpenSSL function's wrapper: fail when its turn comes, else call it */
#define FAULT_SSL(type, fail, name, params, args)                           \
    type __real_##name params;                                              \
    type __wrap_##name params;                                              \
                                                                            \
    type                                                                    \
    __wrap_##name params                                                    \
    {                                                                       \
        return fault_ssl_fails(#name) ? fail : __real_##name args;          \
    }

FAULT_SSL(EVP_CIPHER_CTX *, NULL, EVP_CIPHER_CTX_new, (void), ())

FAULT_SSL(int, 0, EVP_CIPHER_CTX_ctrl,
          (EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr),
          (ctx, type, arg, ptr))

FAULT_SSL(int, 0, EVP_EncryptInit_ex,
          (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl,
           const unsigned char *key, const unsigned char *iv),
          (ctx, cipher, impl, key, iv))

FAULT_SSL(int, 0, EVP_EncryptUpdate,
          (EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
           const unsigned char *in, int inl),
          (ctx, out, outl, in, inl))

FAULT_SSL(int, 0, EVP_EncryptFinal_ex,
          (EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl),
          (ctx, out, outl))

FAULT_SSL(int, 0, EVP_DecryptInit_ex,
          (EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, ENGINE *impl,
           const unsigned char *key, const unsigned char *iv),
          (ctx, cipher, impl, key, iv))

FAULT_SSL(int, 0, EVP_DecryptUpdate,
          (EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
           const unsigned char *in, int inl),
          (ctx, out, outl, in, inl))

FAULT_SSL(int, 0, EVP_DecryptFinal_ex,
          (EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl),
          (ctx, out, outl))

FAULT_SSL(int, 0, EVP_Digest,
          (const void *data, size_t count, unsigned char *md,
           unsigned int *size, const EVP_MD *type, ENGINE *impl),
          (data, count, md, size, type, impl))

FAULT_SSL(int, 0, RAND_bytes, (unsigned char *buf, int num), (buf, num))

#endif /* ECI_FAULTS_H */
