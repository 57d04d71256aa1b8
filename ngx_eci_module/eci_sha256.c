/*
 * ngx_eci: SHA-256 and HMAC-SHA256 without EVP's per-call overhead (see
 * eci_sha256.h).  OpenSSL 3 marks SHA256_Init() and friends deprecated in
 * favour of EVP, but keeps them; asking for the 1.1.1 API here, and only
 * here, keeps that choice in one file.  t/unit/test_sha256.c checks both
 * functions against EVP and RFC 4231's vectors.
 */

#define OPENSSL_API_COMPAT  0x10101000L

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "eci_sha256.h"


typedef char  eci_sha256_fits[sizeof(SHA256_CTX) <= sizeof(eci_sha256_t)
                               ? 1 : -1];


void
eci_sha256_init(eci_sha256_t *c)
{
    (void) SHA256_Init((SHA256_CTX *) c);
}


void
eci_sha256_update(eci_sha256_t *c, const void *data, size_t len)
{
    (void) SHA256_Update((SHA256_CTX *) c, data, len);
}


void
eci_sha256_final(eci_sha256_t *c, unsigned char md[ECI_SHA256_LEN])
{
    (void) SHA256_Final(md, (SHA256_CTX *) c);
}


void
eci_sha256(const void *data, size_t len, unsigned char md[ECI_SHA256_LEN])
{
    eci_sha256_t  c;

    eci_sha256_init(&c);
    eci_sha256_update(&c, data, len);
    eci_sha256_final(&c, md);
}


void
eci_hmac_sha256_key(eci_hmac_sha256_t *h, const void *key, size_t len)
{
    size_t         i;
    unsigned char  k[ECI_SHA256_BLOCK], pad[ECI_SHA256_BLOCK];

    memset(k, 0, sizeof(k));

    /* a key longer than a block is hashed first (RFC 2104, 2) */
    if (len > ECI_SHA256_BLOCK) {
        eci_sha256(key, len, k);

    } else if (len > 0) {
        memcpy(k, key, len);
    }

    for (i = 0; i < ECI_SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x36;
    }

    eci_sha256_init(&h->inner);
    eci_sha256_update(&h->inner, pad, sizeof(pad));

    for (i = 0; i < ECI_SHA256_BLOCK; i++) {
        pad[i] = k[i] ^ 0x5c;
    }

    eci_sha256_init(&h->outer);
    eci_sha256_update(&h->outer, pad, sizeof(pad));

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}


/* HMAC over a || b: the chain MACs the previous value and the line */
void
eci_hmac_sha256(const eci_hmac_sha256_t *h, const void *a, size_t alen,
    const void *b, size_t blen, unsigned char md[ECI_SHA256_LEN])
{
    eci_sha256_t  c;

    c = h->inner;
    eci_sha256_update(&c, a, alen);
    eci_sha256_update(&c, b, blen);
    eci_sha256_final(&c, md);

    c = h->outer;
    eci_sha256_update(&c, md, ECI_SHA256_LEN);
    eci_sha256_final(&c, md);

    /* c started as a keyed state: none of it stays on the stack */
    OPENSSL_cleanse(&c, sizeof(eci_sha256_t));
}


void
eci_hmac_sha256_wipe(eci_hmac_sha256_t *h)
{
    OPENSSL_cleanse(h, sizeof(eci_hmac_sha256_t));
}
