/*
 * ngx_eci: memory for secrets (the keystore's keys, the chain's signing
 * key): pages of their own, kept out of core dumps, locked against swap
 * where the system allows, wiped when freed (eci_common.h).
 */

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "eci_common.h"


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
