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

#if (ECI_SSE2)
#include <emmintrin.h>
#endif


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

    i = 0;

#if (ECI_SSE2)
    {
        __m128i  v, hi, lo, nine, zero, gap, mask;

        mask = _mm_set1_epi8(0x0f);
        nine = _mm_set1_epi8(9);
        zero = _mm_set1_epi8('0');
        gap = _mm_set1_epi8('a' - '0' - 10);

/* nibbles 0-15 to digits: '0' + n, and 'a' - 10 + n above 9 */
#define eci_hex_digits(x)                                                     \
    _mm_add_epi8(_mm_add_epi8((x), zero),                                     \
                 _mm_and_si128(_mm_cmpgt_epi8((x), nine), gap))

        for ( /* void */ ; i + 16 <= n; i += 16) {
            v = _mm_loadu_si128((const __m128i *) (in + i));
            hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
            lo = _mm_and_si128(v, mask);

            _mm_storeu_si128((__m128i *) (out + 2 * i),
                             eci_hex_digits(_mm_unpacklo_epi8(hi, lo)));
            _mm_storeu_si128((__m128i *) (out + 2 * i + 16),
                             eci_hex_digits(_mm_unpackhi_epi8(hi, lo)));
        }

#undef eci_hex_digits
    }
#endif

    for ( /* void */ ; i < n; i++) {
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
