/*
 * ngx_eci: the audit chain (SHA-256, no key) and its signed lines
 * (Ed25519 through OpenSSL's EVP).  See eci_chain.h for the format.
 *
 * eci_chain_seal() runs on every line, so it writes by hand; the signed
 * lines are written at most a few times a second and may take their time.
 * Lines are read back and checked by eci_chain_verify.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "eci_chain_int.h"
#include "eci_audit.h"
#include "eci_sha256.h"


struct eci_chain_signer_s {
    unsigned char  seed[ECI_CHAIN_SEED_LEN];
    unsigned char  pub[ECI_CHAIN_PUB_LEN];
    size_t         size;                /* of the mapping */
};


static char *eci_chain_place(const eci_chain_t *c, char *p);
static char *eci_chain_hash(eci_chain_t *c, char *line, char *p);


int
eci_chain_init(eci_chain_t *c, int64_t start_ms, eci_err_t *err)
{
    time_t         sec;
    struct tm      tm;
    unsigned char  rnd[8];

    sec = (time_t) (start_ms / 1000);

    if (gmtime_r(&sec, &tm) == NULL
        || strftime(c->id, sizeof(c->id), "%Y%m%dT%H%M%SZ-", &tm) != 17)
    {
        eci_err_set(err, "audit chain: the start time is out of range");
        return -1;
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        eci_err_set(err, "audit chain: no random bytes for its id");
        return -1;
    }

    eci_hex(c->id + 17, rnd, sizeof(rnd));
    c->id[ECI_CHAIN_ID_LEN] = '\0';

    c->seq = 0;
    memcpy(c->head, ECI_CHAIN_GENESIS, sizeof(c->head));

    return 0;
}


size_t
eci_chain_seal(eci_chain_t *c, char *line, size_t len, size_t cap)
{
    char  *p;

    if (len < 2 || line[len - 2] != '}' || line[len - 1] != '\n') {
        return 0;
    }

    if (cap < len - 2 || cap - (len - 2) < ECI_CHAIN_ROOM) {
        return 0;
    }

    p = eci_chain_place(c, line + len - 2);
    p = eci_chain_hash(c, line, p);

    return p - line;
}


/* ,"seq":N,"chain":"<id>" for the line after c's last */
static char *
eci_chain_place(const eci_chain_t *c, char *p)
{
    p = eci_chain_lit(p, ECI_CHAIN_K_SEQ);
    p += eci_audit_u64(p, c->seq + 1);
    p = eci_chain_lit(p, ECI_CHAIN_K_CHAIN);
    memcpy(p, c->id, ECI_CHAIN_ID_LEN);
    p += ECI_CHAIN_ID_LEN;
    *p++ = '"';

    return p;
}


/* hashes line up to p, closes it with the hash and moves c on to it */
static char *
eci_chain_hash(eci_chain_t *c, char *line, char *p)
{
    eci_sha256_t   sha;
    unsigned char  md[ECI_SHA256_LEN];

    eci_sha256_init(&sha);
    eci_sha256_update(&sha, c->head, ECI_CHAIN_HASH_HEX);
    eci_sha256_update(&sha, line, p - line);
    eci_sha256_final(&sha, md);

    p = eci_chain_lit(p, ECI_CHAIN_K_HASH);
    eci_hex(p, md, ECI_SHA256_LEN);
    memcpy(c->head, p, ECI_CHAIN_HASH_HEX);
    p += ECI_CHAIN_HASH_HEX;
    p = eci_chain_lit(p, "\"}\n");

    c->seq++;

    return p;
}


eci_chain_signer_t *
eci_chain_signer_new(const char *hex, size_t len, eci_err_t *err)
{
    size_t               size, n;
    EVP_PKEY            *pkey;
    eci_chain_signer_t  *s;

    if (len != 2 * ECI_CHAIN_SEED_LEN || !eci_chain_is_hex(hex, len)) {
        eci_err_set(err, "the audit signing key is not 64 hex digits");
        return NULL;
    }

    size = sizeof(eci_chain_signer_t);

    s = eci_secret_map(&size, "audit signing key", err);
    if (s == NULL) {
        return NULL;
    }

    s->size = size;
    (void) eci_chain_unhex(hex, len, s->seed);

    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed,
                                        ECI_CHAIN_SEED_LEN);
    n = ECI_CHAIN_PUB_LEN;

    if (pkey == NULL
        || EVP_PKEY_get_raw_public_key(pkey, s->pub, &n) != 1
        || n != ECI_CHAIN_PUB_LEN)
    {
        EVP_PKEY_free(pkey);
        eci_secret_unmap(s, size);
        eci_err_set(err, "the audit signing key is no Ed25519 key");
        return NULL;
    }

    EVP_PKEY_free(pkey);
    eci_secret_seal(s, size);

    return s;
}


void
eci_chain_signer_free(eci_chain_signer_t *s)
{
    if (s != NULL) {
        eci_secret_unmap(s, s->size);
    }
}


int
eci_chain_signer_lock(const eci_chain_signer_t *s)
{
    return (s != NULL) ? eci_secret_lock(s, s->size) : 0;
}


/* the key object lives only while it signs: OpenSSL wipes it when freed */
static int
eci_chain_sign(eci_chain_signer_t *s, const char *msg, size_t len,
    char out[ECI_CHAIN_SIG_HEX])
{
    int             ok;
    size_t          n;
    EVP_PKEY       *pkey;
    EVP_MD_CTX     *md;
    unsigned char   sig[ECI_CHAIN_SIG_HEX / 2];

    pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed,
                                        ECI_CHAIN_SEED_LEN);
    md = EVP_MD_CTX_new();
    n = sizeof(sig);

    ok = pkey != NULL && md != NULL
         && EVP_DigestSignInit(md, NULL, NULL, NULL, pkey) == 1
         && EVP_DigestSign(md, sig, &n, (const unsigned char *) msg, len)
            == 1
         && n == sizeof(sig);

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);

    if (!ok) {
        return -1;
    }

    eci_hex(out, sig, sizeof(sig));

    return 0;
}


size_t
eci_chain_signer_pem(const eci_chain_signer_t *s, char *buf, size_t cap)
{
    BIO       *bio;
    long       n;
    char      *data;
    size_t     len;
    EVP_PKEY  *pkey;

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, s->pub,
                                       ECI_CHAIN_PUB_LEN);
    bio = BIO_new(BIO_s_mem());
    len = 0;

    if (pkey != NULL && bio != NULL && PEM_write_bio_PUBKEY(bio, pkey) == 1) {
        n = BIO_get_mem_data(bio, &data);

        if (n > 0 && (size_t) n < cap) {
            memcpy(buf, data, n);
            buf[n] = '\0';
            len = n;
        }
    }

    BIO_free(bio);
    EVP_PKEY_free(pkey);

    return len;
}


eci_chain_verifier_t *
eci_chain_signer_verifier(const eci_chain_signer_t *s, eci_err_t *err)
{
    eci_chain_verifier_t  *v;

    v = OPENSSL_zalloc(sizeof(eci_chain_verifier_t));
    if (v == NULL) {
        eci_err_set(err, "audit chain: out of memory");
        return NULL;
    }

    v->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, s->pub,
                                          ECI_CHAIN_PUB_LEN);
    if (v->pkey == NULL) {
        eci_err_set(err, "audit chain: cannot make the public key");
        OPENSSL_free(v);
        return NULL;
    }

    return v;
}


/* a JSON string value, escaped, quoted; p has room for 6 * len + 2 */
static char *
eci_chain_string(char *p, const char *s)
{
    *p++ = '"';
    p += eci_json_escape(p, s, strlen(s));
    *p++ = '"';

    return p;
}


size_t
eci_chain_event_write(eci_chain_t *c, eci_chain_signer_t *s,
    const eci_chain_event_t *ev, char *buf, size_t cap)
{
    char         *p;
    size_t        n;
    eci_chain_t   next;
    char          host[64];

    if (cap < ECI_CHAIN_EVENT_LINE_MAX) {
        return 0;
    }

    p = eci_chain_lit(buf, ECI_CHAIN_K_TIME);
    p += eci_audit_time_write(p, ev->time_ms);
    p = eci_chain_lit(p, ",\"event\":");
    p = eci_chain_string(p, ev->event);

    if (ev->host != NULL) {
        /* cut to a bound: the line has a fixed room */
        n = strlen(ev->host);
        n = n < sizeof(host) - 1 ? n : sizeof(host) - 1;
        memcpy(host, ev->host, n);
        host[n] = '\0';

        p = eci_chain_lit(p, ",\"host\":");
        p = eci_chain_string(p, host);
    }

    if (ev->pid != 0) {
        p = eci_chain_lit(p, ",\"pid\":");
        p += eci_audit_u64(p, (uint64_t) ev->pid);
    }

    if (strcmp(ev->event, ECI_CHAIN_START) == 0) {
        p = eci_chain_lit(p, ",\"follows\":");

        if (ev->follows == NULL || ev->follows->seq == 0) {
            p = eci_chain_lit(p, "null");

        } else {
            p = eci_chain_lit(p, "{\"chain\":");
            p = eci_chain_string(p, ev->follows->id);
            p = eci_chain_lit(p, ",\"seq\":");
            p += eci_audit_u64(p, ev->follows->seq);
            p = eci_chain_lit(p, ",\"hash\":\"");
            memcpy(p, ev->follows->head, ECI_CHAIN_HASH_HEX);
            p += ECI_CHAIN_HASH_HEX;
            p = eci_chain_lit(p, "\"}");
        }
    }

    if (ev->found != NULL) {
        /* the bound of what a discontinuity says keeps the line bounded */
        n = strnlen(ev->found, ECI_CHAIN_FOUND_MAX);
        p = eci_chain_lit(p, ",\"found\":\"");
        p += eci_json_escape(p, ev->found, n);
        *p++ = '"';
    }

    p = eci_chain_lit(p, ECI_CHAIN_K_HEAD);
    memcpy(p, c->head, ECI_CHAIN_HASH_HEX);
    p += ECI_CHAIN_HASH_HEX;
    *p++ = '"';

    p = eci_chain_place(c, p);

    /* the signature covers the line up to here */
    n = p - buf;
    p = eci_chain_lit(p, ECI_CHAIN_K_SIG);

    if (eci_chain_sign(s, buf, n, p) != 0) {
        return 0;
    }

    p += ECI_CHAIN_SIG_HEX;
    *p++ = '"';

    next = *c;
    p = eci_chain_hash(&next, buf, p);
    *c = next;

    return p - buf;
}
