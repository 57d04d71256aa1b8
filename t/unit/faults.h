/*
 * Failure injection for the unit tests of the core.  A test binary named
 * test_*_faults is linked with -Wl,--wrap=malloc,calloc,realloc,write,
 * close (Makefile, FAULT_WRAP): every call the core and the test make to
 * those goes through the wrappers below, which count the calls and fail
 * the one chosen the way the C library would.  Nothing changes in the
 * core or in any other binary.  Calls made inside jansson, OpenSSL and
 * libc themselves are not wrapped (their own references are bound in
 * their libraries).  One visible difference: in these binaries "malloc"
 * names the wrapper, so the keystore's check that jansson still uses
 * malloc() fails and its wiping allocator is not installed (the wipe is
 * test_keystore_gaps.c's to test).
 */

#ifndef ECI_FAULTS_H
#define ECI_FAULTS_H

#include <errno.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>


void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
int __real_close(int fd);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_close(int fd);


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

#endif /* ECI_FAULTS_H */
