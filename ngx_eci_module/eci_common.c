/*
 * ngx_eci: helpers shared by the nginx-free core.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "eci_common.h"


void
eci_err_set(eci_err_t *err, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL) {
        return;
    }

    va_start(ap, fmt);
    (void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}


void
eci_hex(char *out, const unsigned char *in, size_t n)
{
    size_t   i;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0f];
    }
}


void *
eci_secret_map(size_t *size, const char *what, eci_err_t *err)
{
    long   page;
    void  *p;

    page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        page = 4096;
    }

    *size = (*size + (size_t) page - 1) & ~((size_t) page - 1);

    p = mmap(NULL, *size, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        eci_err_set(err, "%s: cannot map %zu bytes: %s", what, *size,
                    strerror(errno));
        return NULL;
    }

    (void) eci_secret_lock(p, *size);

    return p;
}


void
eci_secret_seal(void *p, size_t size)
{
    (void) mprotect(p, size, PROT_READ);
}


void
eci_secret_unmap(void *p, size_t size)
{
    if (p == NULL) {
        return;
    }

    if (mprotect(p, size, PROT_READ | PROT_WRITE) == 0) {
        OPENSSL_cleanse(p, size);
    }

    (void) munlock(p, size);
    (void) munmap(p, size);
}


int
eci_secret_lock(const void *p, size_t size)
{
    if (p == NULL) {
        return 0;
    }

#ifdef MADV_DONTDUMP
    (void) madvise((void *) p, size, MADV_DONTDUMP);
#endif

    return mlock(p, size);
}
