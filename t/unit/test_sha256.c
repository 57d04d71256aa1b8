/*
 * eci_sha256 and eci_hmac_sha256 (the request path's hashing, which skips
 * EVP): known answers (FIPS 180-2, RFC 4231), then agreement with
 * OpenSSL's EVP_Digest and EVP_MAC over many lengths, keys and splits.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "eci_audit.h"
#include "eci_chain.h"
#include "eci_sha256.h"
#include "tap.h"


static void
hex(const unsigned char *md, size_t n, char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", md[i]);
    }
}


static void
evp_sha256(const void *data, size_t len, unsigned char md[32])
{
    unsigned int  n;

    n = 32;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
}


static void
evp_hmac(const void *key, size_t klen, const void *data, size_t len,
    unsigned char *md)
{
    size_t        n;
    EVP_MAC      *mac;
    EVP_MAC_CTX  *ctx;
    OSSL_PARAM    params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();

    mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ctx = EVP_MAC_CTX_new(mac);

    /* EVP_MAC_init refuses a NULL key even with length 0 */
    if (EVP_MAC_init(ctx, klen ? key : (const void *) "", klen, params) != 1
        || EVP_MAC_update(ctx, data, len) != 1
        || EVP_MAC_final(ctx, md, &n, 32) != 1)
    {
        memset(md, 0, 32);
    }

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}


static const char *
rfc4231(const void *key, size_t klen, const char *data, size_t len)
{
    unsigned char       md[32];
    eci_hmac_sha256_t   h;
    static char         out[65];

    eci_hmac_sha256_key(&h, key, klen);

    /* split anywhere: a || b must MAC as the concatenation */
    eci_hmac_sha256(&h, data, len / 3, data + len / 3, len - len / 3, md);
    eci_hmac_sha256_wipe(&h);

    hex(md, 32, out);

    return out;
}


int
main(void)
{
    size_t              i, len, klen, split, bad_sha, bad_mac;
    unsigned char       md[32], want[32], key[200], data[1100], cat[600];
    unsigned char       k20[20], k25[25], k131[131], d50[50];
    char                out[65];
    eci_sha256_t        c;
    eci_hmac_sha256_t   h, zero;
    const char         *t6, *t7;

    /* FIPS 180-2 */
    eci_sha256("abc", 3, md);
    hex(md, 32, out);
    is_str(out, "ba7816bf8f01cfea414140de5dae2223"
                "b00361a396177a9cb410ff61f20015ad", "SHA-256 of \"abc\"");

    eci_sha256("", 0, md);
    hex(md, 32, out);
    is_str(out, "e3b0c44298fc1c149afbf4c8996fb924"
                "27ae41e4649b934ca495991b7852b855", "SHA-256 of nothing");

    /* RFC 4231, test cases 1-4, 6, 7 (5 is a truncated output) */
    memset(k20, 0x0b, sizeof(k20));
    is_str(rfc4231(k20, 20, "Hi There", 8),
           "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
           "RFC 4231 case 1");

    is_str(rfc4231("Jefe", 4, "what do ya want for nothing?", 28),
           "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
           "RFC 4231 case 2");

    memset(k20, 0xaa, sizeof(k20));
    memset(d50, 0xdd, sizeof(d50));
    is_str(rfc4231(k20, 20, (const char *) d50, 50),
           "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
           "RFC 4231 case 3");

    for (i = 0; i < sizeof(k25); i++) {
        k25[i] = (unsigned char) (i + 1);
    }

    memset(d50, 0xcd, sizeof(d50));
    is_str(rfc4231(k25, 25, (const char *) d50, 50),
           "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
           "RFC 4231 case 4");

    memset(k131, 0xaa, sizeof(k131));
    t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    is_str(rfc4231(k131, 131, t6, strlen(t6)),
           "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
           "RFC 4231 case 6: a key longer than a block is hashed first");

    t7 = "This is a test using a larger than block-size key and a larger "
         "than block-size data. The key needs to be hashed before being "
         "used by the HMAC algorithm.";
    is_str(rfc4231(k131, 131, t7, strlen(t7)),
           "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
           "RFC 4231 case 7");

    /* against EVP: every length across block edges, split in pieces */
    srand(4231);

    for (i = 0; i < sizeof(data); i++) {
        data[i] = (unsigned char) rand();
    }

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char) rand();
    }

    bad_sha = 0;
    bad_mac = 0;

    for (len = 0; len <= sizeof(data); len += (len < 200 ? 1 : 37)) {

        split = len ? (size_t) rand() % (len + 1) : 0;

        eci_sha256_init(&c);
        eci_sha256_update(&c, data, split);
        eci_sha256_update(&c, data + split, len - split);
        eci_sha256_final(&c, md);

        (void) EVP_Digest(data, len, want, NULL, EVP_sha256(), NULL);

        if (memcmp(md, want, 32) != 0) {
            bad_sha++;
        }

        klen = (size_t) rand() % (sizeof(key) + 1);

        eci_hmac_sha256_key(&h, key, klen);
        eci_hmac_sha256(&h, data, split, data + split, len - split, md);
        eci_hmac_sha256_wipe(&h);

        evp_hmac(key, klen, data, len, want);

        if (memcmp(md, want, 32) != 0) {
            bad_mac++;
        }
    }

    is_int(bad_sha, 0, "SHA-256 agrees with EVP_Digest at 0-1100 bytes, "
                       "split anywhere");
    is_int(bad_mac, 0, "HMAC-SHA256 agrees with EVP_MAC for keys of 0-200 "
                       "bytes and messages of 0-1100 bytes");

    /* the same key MACs the same twice: the keyed states are not used up */
    eci_hmac_sha256_key(&h, key, 32);
    eci_hmac_sha256(&h, "a", 1, "b", 1, md);
    eci_hmac_sha256(&h, "ab", 2, "", 0, want);
    ok(memcmp(md, want, 32) == 0, "keyed states are reused, not consumed");

    /* hex of every byte value at every place, every length up to 40 */
    {
        int            bad_hex, b;
        size_t         j, len;
        char           got[82], w[82];
        unsigned char  d[40];

        bad_hex = 0;

        for (len = 0; len <= sizeof(d); len++) {
            for (b = 0; b < 256; b++) {
                for (j = 0; j < len; j++) {
                    d[j] = (unsigned char) (b + 37 * j);
                }

                w[0] = '\0';
                hex(d, len, w);
                memset(got, 'x', sizeof(got));
                eci_hex(got, d, len);

                /* nothing written past 2 * len */
                bad_hex += got[2 * len] != 'x';
                got[2 * len] = '\0';

                bad_hex += strcmp(got, w) != 0;
            }
        }

        is_int(bad_hex, 0, "eci_hex() writes lowercase hex of every byte "
                           "value at every position, 0-40 bytes, and no "
                           "more");
    }

    memset(&zero, 0, sizeof(zero));
    eci_hmac_sha256_wipe(&h);
    ok(memcmp(&h, &zero, sizeof(h)) == 0, "wipe leaves no keyed state");

    /* a chain line's hash is SHA-256(prev || body) as eci_chain.h says */
    {
        size_t            n;
        eci_chain_t       ch;
        eci_chain_line_t  l;
        char              line[512], w[65];

        memset(&ch, 0, sizeof(ch));
        memset(ch.id, 'a', ECI_CHAIN_ID_LEN);
        memset(ch.head, 'f', ECI_CHAIN_HASH_HEX);
        ch.seq = 41;

        memcpy(line, "{\"a\":1}\n", 8);
        n = eci_chain_seal(&ch, line, 8, sizeof(line));
        ok(n > 0 && eci_chain_line_parse(line, n, &l) == 0 && l.seq == 42,
           "a sealed line parses");

        memset(cat, 'f', ECI_CHAIN_HASH_HEX);
        memcpy(cat + ECI_CHAIN_HASH_HEX, line, l.hashed);
        evp_sha256(cat, ECI_CHAIN_HASH_HEX + l.hashed, want);
        hex(want, 32, w);
        is_str(l.hash, w, "chain hash = SHA-256(prev || body), as EVP "
                          "computes it");
        ok(memcmp(line + l.hashed, ",\"hash\":\"", 9) == 0,
           "the body ends where the hash starts");
    }

    return done_testing();
}
