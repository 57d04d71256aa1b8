/*
 * ngx_eci: definitions shared by the nginx-free core (eci_*).
 * The core never includes an nginx header.
 */

#ifndef ECI_COMMON_H
#define ECI_COMMON_H

#include <stddef.h>
#include <stdint.h>

/*
 * ECI_SSE2: SIMD fast paths may be compiled.  None is left today: each
 * saved under 1% of the worker's CPU per exec (make bench-simd,
 * docs/performance.md).  A new one goes behind #if (ECI_SSE2) with its
 * portable C twin beside it, used where the CPU has no SSE2 (arm64, ...)
 * and in the build make ECI_PORTABLE=1 makes (-DECI_PORTABLE), which CI
 * tests as well.
 */
#if defined(__SSE2__) && !defined(ECI_PORTABLE)
#define ECI_SSE2  1
#else
#define ECI_SSE2  0
#endif

/* size of every error message buffer the core fills */
#define ECI_ERR_LEN  512

typedef struct {
    char  msg[ECI_ERR_LEN];
} eci_err_t;

/* printf-style helper: fills err->msg, always NUL-terminated */
void eci_err_set(eci_err_t *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * n bytes as 2 * n lowercase hex digits (no NUL).  Every exec writes three
 * in hex (its $request_id, its body digest and its chain values).
 */
void eci_hex(char *out, const unsigned char *in, size_t n);

/*
 * Memory for secrets (the keystore's keys, the audit chain's keyed HMAC
 * states): whole pages of their own, left out of core dumps and locked
 * against swap where the system allows (best effort), wiped when freed.
 * eci_secret_map() rounds *size up to pages; what names the memory in the
 * error message.  eci_secret_seal() makes it read-only (a stray write
 * faults); eci_secret_lock() locks it again in a forked process, which
 * does not inherit the parent's lock.
 */
void *eci_secret_map(size_t *size, const char *what, eci_err_t *err);
void eci_secret_seal(void *p, size_t size);
void eci_secret_unmap(void *p, size_t size);
int eci_secret_lock(const void *p, size_t size);

#endif /* ECI_COMMON_H */
