/*
 * A minimal TAP producer for the C unit tests of the core, read by prove.
 */

#ifndef ECI_TAP_H
#define ECI_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int  tap_n;
static int  tap_failed;

/*
 * ECI_TAP_BAIL=1 (make mutation sets it): after a failure (and its
 * diagnostics) the next test exits, as a mutation run needs to know only
 * that one failed; the rest of the file is not run.
 */
static inline void
tap_bail(void)
{
    const char  *b;

    b = getenv("ECI_TAP_BAIL");

    if (b != NULL && b[0] == '1') {
        printf("Bail out! ECI_TAP_BAIL: stopped at the first failure\n");
        fflush(stdout);
        exit(1);
    }
}

#define ok(cond, ...)                                                       \
    do {                                                                    \
        int  ok_c_;                                                         \
        if (tap_failed) {                                                   \
            tap_bail();                                                     \
        }                                                                   \
        ok_c_ = (cond) ? 1 : 0;                                             \
        tap_n++;                                                            \
        printf("%sok %d - ", ok_c_ ? "" : "not ", tap_n);                   \
        printf(__VA_ARGS__);                                                \
        printf("\n");                                                       \
        if (!ok_c_) {                                                       \
            tap_failed++;                                                   \
            printf("#   Failed at %s line %d\n", __FILE__, __LINE__);       \
        }                                                                   \
    } while (0)

#define is_int(got, want, ...)                                              \
    do {                                                                    \
        long long  g_ = (long long) (got), w_ = (long long) (want);         \
        ok(g_ == w_, __VA_ARGS__);                                          \
        if (g_ != w_) {                                                     \
            printf("#   got: %lld\n#   expected: %lld\n", g_, w_);          \
        }                                                                   \
    } while (0)

#define is_str(got, want, ...)                                              \
    do {                                                                    \
        const char  *g_ = (got), *w_ = (want);                              \
        int          e_ = (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0);\
        ok(e_, __VA_ARGS__);                                                \
        if (!e_) {                                                          \
            printf("#   got: '%s'\n#   expected: '%s'\n",                   \
                   g_ ? g_ : "(null)", w_ ? w_ : "(null)");                 \
        }                                                                   \
    } while (0)

#define like(got, needle, ...)                                              \
    do {                                                                    \
        const char  *g_ = (got), *n_ = (needle);                            \
        int          e_ = (g_ != NULL && strstr(g_, n_) != NULL);           \
        ok(e_, __VA_ARGS__);                                                \
        if (!e_) {                                                          \
            printf("#   '%s'\n#   does not contain '%s'\n",                 \
                   g_ ? g_ : "(null)", n_);                                 \
        }                                                                   \
    } while (0)

/*
 * An exact-size heap copy, no terminator, so that ASan (make test-asan,
 * make mutation) sees a read one byte past the end; one byte for len 0.
 */
static inline char *
tap_copy(const char *s, size_t len)
{
    char  *p;

    p = malloc(len ? len : 1);
    if (p != NULL) {
        memcpy(p, s, len);
    }

    return p;
}

/*
 * Fills 64 KiB of stack below the caller with non-zero bytes: a local
 * that the code under test (or a mutant of it) leaves uninitialised then
 * reads as garbage, not as the zero a fresh stack happens to hold.
 */
static __attribute__((noinline, unused)) void
tap_dirty_stack(void)
{
    unsigned char  buf[64 * 1024];

    memset(buf, 0xa5, sizeof(buf));
    __asm__ __volatile__ ("" : : "r" (buf) : "memory");
}

#define done_testing()                                                      \
    (printf("1..%d\n", tap_n), tap_failed ? 1 : 0)

#endif /* ECI_TAP_H */
