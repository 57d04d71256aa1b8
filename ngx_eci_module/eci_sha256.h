/*
 * ngx_eci: SHA-256 and HMAC-SHA256 for the request path.
 *
 * OpenSSL 3's EVP layer looks algorithms up, allocates and frees a context
 * and walks parameter lists on every init; for the few hundred bytes an
 * exec hashes that overhead cost more than the hashing.  These calls use
 * OpenSSL's SHA-256 block functions directly (the same SHA-NI/AVX code),
 * with no allocation; HMAC (RFC 2104) keeps the keyed inner and outer
 * states, so each MAC hashes only the message.
 */

#ifndef ECI_SHA256_H
#define ECI_SHA256_H

#include "eci_common.h"

#define ECI_SHA256_LEN    32
#define ECI_SHA256_BLOCK  64

/* the size of OpenSSL's SHA256_CTX, with room to spare; checked in .c */
typedef struct {
    uint64_t  opaque[16];
} eci_sha256_t;

typedef struct {
    eci_sha256_t  inner;        /* after (key ^ ipad) */
    eci_sha256_t  outer;        /* after (key ^ opad) */
} eci_hmac_sha256_t;

void eci_sha256_init(eci_sha256_t *c);
void eci_sha256_update(eci_sha256_t *c, const void *data, size_t len);
void eci_sha256_final(eci_sha256_t *c, unsigned char md[ECI_SHA256_LEN]);
void eci_sha256(const void *data, size_t len,
    unsigned char md[ECI_SHA256_LEN]);

/* keys the two states; the caller wipes h (eci_hmac_sha256_wipe) */
void eci_hmac_sha256_key(eci_hmac_sha256_t *h, const void *key,
    size_t len);
void eci_hmac_sha256(const eci_hmac_sha256_t *h, const void *a,
    size_t alen, const void *b, size_t blen,
    unsigned char md[ECI_SHA256_LEN]);
void eci_hmac_sha256_wipe(eci_hmac_sha256_t *h);

#endif /* ECI_SHA256_H */
