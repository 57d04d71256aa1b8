/*
 * libFuzzer target: the keystore readers.
 *
 * Each input is opened three ways with eci_keystore_open_buffer():
 *   1. as a sealed store under the fixed test master key (the header
 *      checks and the GCM tag check; a mutated input cannot forge the tag,
 *      so this mostly exercises the refusals);
 *   2. as a plain JSON store;
 *   3. sealed here under the same key and opened as in 1, which puts the
 *      fuzzer's JSON behind a valid tag: the result must be the same store
 *      as in 2 (the same success, names and values).
 * Every store opened must be well-formed: names valid and strictly
 * sorted, values printable and of their stated length, get() finding each
 * name, fingerprints matching.  abort() otherwise.
 *
 * Every store is freed before the next input: each one is an mlock()ed
 * mapping, and RLIMIT_MEMLOCK is small.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "eci_keystore.h"


#define FUZZ_HEADER_LEN  24
#define FUZZ_TAG_LEN     16


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_store_check(const eci_keystore_t *ks);
static unsigned char *fuzz_seal(const uint8_t *data, size_t size,
    size_t *outlen);
static void fuzz_fail(const char *what);


/* the same 32 bytes as fuzz/fuzz-master.key, which made the seeds */
static const unsigned char  fuzz_master[ECI_MASTER_KEY_LEN] = {
    0x4e, 0xf8, 0x94, 0xde, 0x70, 0x57, 0x16, 0xb5,
    0xcc, 0xc4, 0xa8, 0xaa, 0x21, 0x06, 0x01, 0xc4,
    0xa7, 0x2e, 0xcd, 0xb1, 0x59, 0xca, 0x89, 0x06,
    0xd9, 0x95, 0xa3, 0x6a, 0x3a, 0xde, 0x98, 0x19
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t           i, slen;
    eci_err_t        err;
    unsigned char   *buf, *sealed;
    eci_keystore_t  *ks, *plain, *resealed;

    /* an exact-size copy: ASan sees reads past the end */
    buf = malloc(size ? size : 1);
    if (buf == NULL) {
        return 0;
    }

    memcpy(buf, data, size);

    ks = eci_keystore_open_buffer(buf, size, fuzz_master, "fuzz", &err);
    if (ks != NULL) {
        fuzz_store_check(ks);
        eci_keystore_free(ks);

    } else if (strncmp(err.msg, "\"fuzz\": ", 8) != 0) {
        fuzz_fail("sealed: the message does not name the store");
    }

    plain = eci_keystore_open_buffer(buf, size, NULL, "fuzz", &err);
    if (plain != NULL) {
        fuzz_store_check(plain);

    } else if (strncmp(err.msg, "\"fuzz\": ", 8) != 0
               && strncmp(err.msg, "keystore: ", 10) != 0)
    {
        fuzz_fail("plain: the message does not name the store");
    }

    sealed = fuzz_seal(data, size, &slen);

    if (sealed != NULL) {
        resealed = eci_keystore_open_buffer(sealed, slen, fuzz_master,
                                            "fuzz", &err);

        /* a plain store may not start with the magic; a sealed one may */
        if (size < 8 || memcmp(data, "ECIKSTR", 8) != 0) {
            if ((resealed == NULL) != (plain == NULL)) {
                fprintf(stderr, "%s\n", err.msg);
                fuzz_fail("sealed and plain readers disagree");
            }
        }

        if (resealed != NULL && plain != NULL) {
            fuzz_store_check(resealed);

            if (eci_keystore_count(resealed) != eci_keystore_count(plain)) {
                fuzz_fail("sealed and plain stores differ in size");
            }

            for (i = 0; i < eci_keystore_count(plain); i++) {
                if (strcmp(eci_keystore_at(plain, i)->name,
                           eci_keystore_at(resealed, i)->name) != 0
                    || strcmp(eci_keystore_at(plain, i)->value,
                              eci_keystore_at(resealed, i)->value) != 0)
                {
                    fuzz_fail("sealed and plain stores differ");
                }
            }
        }

        eci_keystore_free(resealed);
        free(sealed);
    }

    eci_keystore_free(plain);
    free(buf);

    return 0;
}


static void
fuzz_store_check(const eci_keystore_t *ks)
{
    char              fpr[ECI_KEY_FPR_LEN + 1];
    size_t            i, j, len;
    unsigned char     c;
    const eci_key_t  *k, *prev;

    prev = NULL;

    for (i = 0; i < eci_keystore_count(ks); i++) {
        k = eci_keystore_at(ks, i);

        if (k == NULL || k->name == NULL || k->value == NULL) {
            fuzz_fail("at() returned NULL within the count");
        }

        len = strlen(k->name);

        if (len == 0 || len > ECI_KEY_NAME_MAX) {
            fuzz_fail("name length out of range");
        }

        for (j = 0; j < len; j++) {
            c = (unsigned char) k->name[j];

            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                  || (c >= '0' && c <= '9') || c == '.' || c == '_'
                  || c == '-'))
            {
                fuzz_fail("invalid character in a name");
            }
        }

        if (k->len == 0 || k->len > ECI_KEY_VALUE_MAX
            || strlen(k->value) != k->len)
        {
            fuzz_fail("value length wrong");
        }

        for (j = 0; j < k->len; j++) {
            c = (unsigned char) k->value[j];

            if (c < 0x21 || c > 0x7e) {
                fuzz_fail("value not printable ASCII");
            }
        }

        if (prev != NULL && strcmp(prev->name, k->name) >= 0) {
            fuzz_fail("names not strictly sorted");
        }

        if (eci_keystore_get(ks, k->name) != k) {
            fuzz_fail("get() does not find a name");
        }

        eci_fingerprint(k->value, k->len, fpr);

        if (strcmp(fpr, k->fingerprint) != 0) {
            fuzz_fail("fingerprint does not match the value");
        }

        prev = k;
    }

    if (eci_keystore_at(ks, eci_keystore_count(ks)) != NULL) {
        fuzz_fail("at() past the end is not NULL");
    }
}


/*
 * The layout of eci_keystore.h with a fixed zero nonce: fine for a test
 * key that never protects anything, and keeps each input deterministic.
 */

static unsigned char *
fuzz_seal(const uint8_t *data, size_t size, size_t *outlen)
{
    int              n;
    size_t           len;
    unsigned char   *out;
    EVP_CIPHER_CTX  *ctx;

    if (size > 1024 * 1024) {
        return NULL;
    }

    len = FUZZ_HEADER_LEN + size + FUZZ_TAG_LEN;

    out = calloc(1, len);
    ctx = EVP_CIPHER_CTX_new();

    if (out == NULL || ctx == NULL) {
        goto failed;
    }

    memcpy(out, "ECIKSTR", 8);
    out[8] = 1;
    out[9] = 1;

    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1
        || EVP_EncryptInit_ex(ctx, NULL, NULL, fuzz_master, out + 12) != 1
        || EVP_EncryptUpdate(ctx, NULL, &n, out, FUZZ_HEADER_LEN) != 1
        || (size > 0
            && EVP_EncryptUpdate(ctx, out + FUZZ_HEADER_LEN, &n, data,
                                 (int) size) != 1)
        || EVP_EncryptFinal_ex(ctx, out + FUZZ_HEADER_LEN + size, &n) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, FUZZ_TAG_LEN,
                               out + len - FUZZ_TAG_LEN) != 1)
    {
        goto failed;
    }

    EVP_CIPHER_CTX_free(ctx);
    *outlen = len;

    return out;

failed:

    EVP_CIPHER_CTX_free(ctx);
    free(out);

    return NULL;
}


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_keystore: invariant broken: %s\n", what);
    abort();
}
