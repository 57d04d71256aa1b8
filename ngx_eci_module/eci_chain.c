/*
 * ngx_eci: the audit chain (SHA-256, no key) and its signed lines
 * (Ed25519 through OpenSSL's EVP).  See eci_chain.h for the format.
 *
 * eci_chain_seal() runs on every line, so it writes by hand; the signed
 * lines are written at most a few times a second and may take their time.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "eci_chain.h"
#include "eci_audit.h"
#include "eci_sha256.h"


#define ECI_CHAIN_K_SEQ      ",\"seq\":"
#define ECI_CHAIN_K_CHAIN    ",\"chain\":\""
#define ECI_CHAIN_K_HASH     ",\"hash\":\""
#define ECI_CHAIN_K_SIG      ",\"sig\":\""
#define ECI_CHAIN_K_HEAD     ",\"head\":\""
#define ECI_CHAIN_K_TIME     "{\"time\":"
#define ECI_CHAIN_K_EVENT    ",\"event\":\""

#define eci_chain_lit(p, s)  (memcpy(p, s, sizeof(s) - 1), (p) + sizeof(s) - 1)
#define eci_chain_klen(s)    (sizeof(s) - 1)


struct eci_chain_signer_s {
    unsigned char  seed[ECI_CHAIN_SEED_LEN];
    unsigned char  pub[ECI_CHAIN_PUB_LEN];
    size_t         size;                /* of the mapping */
};


struct eci_chain_verifier_s {
    EVP_PKEY      *pkey;
};


static char *eci_chain_place(const eci_chain_t *c, char *p);
static char *eci_chain_hash(eci_chain_t *c, char *line, char *p);
static int eci_chain_unhex(const char *hex, size_t n, unsigned char *out);
static int eci_chain_is_hex(const char *p, size_t n);
static void eci_chain_found(eci_chain_tail_t *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;


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


eci_chain_verifier_t *
eci_chain_verifier_open(const char *path, eci_err_t *err)
{
    FILE                  *f;
    EVP_PKEY              *pkey;
    eci_chain_verifier_t  *v;

    f = fopen(path, "r");
    if (f == NULL) {
        eci_err_set(err, "public key \"%s\": cannot open", path);
        return NULL;
    }

    pkey = PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);

    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(pkey);
        eci_err_set(err, "public key \"%s\": not an Ed25519 public key in "
                    "PEM (make it with eci-keytool pubkey)", path);
        return NULL;
    }

    v = OPENSSL_zalloc(sizeof(eci_chain_verifier_t));
    if (v == NULL) {
        EVP_PKEY_free(pkey);
        eci_err_set(err, "audit chain: out of memory");
        return NULL;
    }

    v->pkey = pkey;

    return v;
}


void
eci_chain_verifier_free(eci_chain_verifier_t *v)
{
    if (v != NULL) {
        EVP_PKEY_free(v->pkey);
        OPENSSL_free(v);
    }
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


/* the quoted 64 hex digits of key at p, ending at end: 0 or -1 */
static int
eci_chain_field(const char *line, size_t end, const char *key, size_t klen,
    size_t n, char *out)
{
    const char  *b;

    if (end < klen + n + 1) {
        return -1;
    }

    b = line + end - (klen + n + 1);

    if (memcmp(b, key, klen) != 0 || b[klen + n] != '"') {
        return -1;
    }

    memcpy(out, b + klen, n);
    out[n] = '\0';

    return 0;
}


int
eci_chain_line_parse(const char *line, size_t len, eci_chain_line_t *l)
{
    size_t       end, k, i;
    uint64_t     v;
    const char  *e;

    memset(l, 0, sizeof(eci_chain_line_t));

    if (len > 0 && line[len - 1] == '\n') {
        len--;
    }

    if (len < 2 || line[len - 2] != '"' || line[len - 1] != '}') {
        return -1;
    }

    end = len - 1;

    if (eci_chain_field(line, end, ECI_CHAIN_K_HASH,
                        eci_chain_klen(ECI_CHAIN_K_HASH), ECI_CHAIN_HASH_HEX,
                        l->hash)
        != 0
        || !eci_chain_is_hex(l->hash, ECI_CHAIN_HASH_HEX))
    {
        /* the old HMAC chain: ..."seq":N,"chain":"<64 hex>"} */
        if (eci_chain_field(line, end, ECI_CHAIN_K_CHAIN,
                            eci_chain_klen(ECI_CHAIN_K_CHAIN),
                            ECI_CHAIN_HASH_HEX, l->hash)
            != 0
            || !eci_chain_is_hex(l->hash, ECI_CHAIN_HASH_HEX))
        {
            return -1;
        }

        end -= eci_chain_klen(ECI_CHAIN_K_CHAIN) + ECI_CHAIN_HASH_HEX + 1;
        l->hashed = end;
        goto seq;
    }

    end -= eci_chain_klen(ECI_CHAIN_K_HASH) + ECI_CHAIN_HASH_HEX + 1;
    l->hashed = end;

    if (eci_chain_field(line, end, ECI_CHAIN_K_SIG,
                        eci_chain_klen(ECI_CHAIN_K_SIG), ECI_CHAIN_SIG_HEX,
                        l->sig)
        == 0)
    {
        if (!eci_chain_is_hex(l->sig, ECI_CHAIN_SIG_HEX)) {
            return -1;
        }

        l->is_signed = 1;
        end -= eci_chain_klen(ECI_CHAIN_K_SIG) + ECI_CHAIN_SIG_HEX + 1;
        l->signed_len = end;
    }

    if (eci_chain_field(line, end, ECI_CHAIN_K_CHAIN,
                        eci_chain_klen(ECI_CHAIN_K_CHAIN), ECI_CHAIN_ID_LEN,
                        l->chain)
        != 0)
    {
        return -1;
    }

    for (i = 0; i < ECI_CHAIN_ID_LEN; i++) {
        if (!((l->chain[i] >= '0' && l->chain[i] <= '9')
              || (l->chain[i] >= 'a' && l->chain[i] <= 'f')
              || l->chain[i] == 'T' || l->chain[i] == 'Z'
              || l->chain[i] == '-'))
        {
            return -1;
        }
    }

    end -= eci_chain_klen(ECI_CHAIN_K_CHAIN) + ECI_CHAIN_ID_LEN + 1;

seq:

    /* ,"seq":<digits> */
    k = end;
    while (k > 0 && line[k - 1] >= '0' && line[k - 1] <= '9') {
        k--;
    }

    if (k == end || end - k > 20 || k < eci_chain_klen(ECI_CHAIN_K_SEQ)
        || memcmp(line + k - eci_chain_klen(ECI_CHAIN_K_SEQ),
                  ECI_CHAIN_K_SEQ, eci_chain_klen(ECI_CHAIN_K_SEQ))
           != 0)
    {
        return -1;
    }

    v = 0;
    for (i = k; i < end; i++) {
        if (v > (UINT64_MAX - 9) / 10) {
            return -1;
        }

        v = v * 10 + (uint64_t) (line[i] - '0');
    }

    if (v == 0) {
        return -1;
    }

    l->seq = v;
    end = k - eci_chain_klen(ECI_CHAIN_K_SEQ);

    if (l->chain[0] == '\0') {
        return 1;
    }

    /* {"time":"..." or null,"event":"<name>" opens the line */
    k = eci_chain_klen(ECI_CHAIN_K_TIME);

    if (len > k && memcmp(line, ECI_CHAIN_K_TIME, k) == 0) {
        if (len > k + 4 && memcmp(line + k, "null", 4) == 0) {
            k += 4;

        } else if (line[k] == '"') {
            e = memchr(line + k + 1, '"', len - k - 1);
            k = (e != NULL) ? (size_t) (e - line) + 1 : len;
        }

        if (len - k > eci_chain_klen(ECI_CHAIN_K_EVENT)
            && memcmp(line + k, ECI_CHAIN_K_EVENT,
                      eci_chain_klen(ECI_CHAIN_K_EVENT))
               == 0)
        {
            k += eci_chain_klen(ECI_CHAIN_K_EVENT);

            for (i = 0; i < ECI_CHAIN_EVENT_MAX - 1 && k + i < len
                        && line[k + i] >= 'a' && line[k + i] <= 'z'; i++)
            {
                l->event[i] = line[k + i];
            }

            if (k + i >= len || line[k + i] != '"') {
                l->event[0] = '\0';

            } else {
                l->event[i] = '\0';
            }
        }
    }

    if (!l->is_signed) {
        return 0;
    }

    /* a signed line is one of ours, with the head it follows */
    if ((strcmp(l->event, ECI_CHAIN_START) != 0
         && strcmp(l->event, ECI_CHAIN_CHECKPOINT) != 0
         && strcmp(l->event, ECI_CHAIN_DISCONTINUITY) != 0
         && strcmp(l->event, ECI_CHAIN_STOP) != 0)
        || eci_chain_field(line, end, ECI_CHAIN_K_HEAD,
                           eci_chain_klen(ECI_CHAIN_K_HEAD),
                           ECI_CHAIN_HASH_HEX, l->head)
           != 0
        || !eci_chain_is_hex(l->head, ECI_CHAIN_HASH_HEX))
    {
        return -1;
    }

    return 0;
}


int
eci_chain_line_follows(const char *line, const eci_chain_line_t *l,
    const char *prev)
{
    eci_sha256_t   sha;
    unsigned char  md[ECI_SHA256_LEN];
    char           hex[ECI_CHAIN_HASH_HEX];

    eci_sha256_init(&sha);
    eci_sha256_update(&sha, prev, ECI_CHAIN_HASH_HEX);
    eci_sha256_update(&sha, line, l->hashed);
    eci_sha256_final(&sha, md);

    eci_hex(hex, md, ECI_SHA256_LEN);

    return memcmp(hex, l->hash, ECI_CHAIN_HASH_HEX) == 0;
}


int
eci_chain_line_signed_by(const char *line, const eci_chain_line_t *l,
    eci_chain_verifier_t *v)
{
    int             ok;
    EVP_MD_CTX     *md;
    unsigned char   sig[ECI_CHAIN_SIG_HEX / 2];

    if (!l->is_signed
        || eci_chain_unhex(l->sig, ECI_CHAIN_SIG_HEX, sig) != 0)
    {
        return 0;
    }

    md = EVP_MD_CTX_new();

    ok = md != NULL
         && EVP_DigestVerifyInit(md, NULL, NULL, NULL, v->pkey) == 1
         && EVP_DigestVerify(md, sig, sizeof(sig),
                             (const unsigned char *) line, l->signed_len)
            == 1;

    EVP_MD_CTX_free(md);

    return ok;
}


/* the start of the line that ends at end (after its '\n') */
static size_t
eci_chain_line_start(const char *buf, size_t end)
{
    size_t  p;

    p = end - 1;
    while (p > 0 && buf[p - 1] != '\n') {
        p--;
    }

    return p;
}


void
eci_chain_tail_check(const char *buf, size_t n, int whole,
    eci_chain_verifier_t *v, int live, eci_chain_tail_t *t)
{
    int               partial;
    size_t            end, at, start;
    uint64_t          signed_seq, next;
    eci_chain_line_t  l, last;
    char              prev[ECI_CHAIN_HASH_HEX + 1];

    memset(t, 0, sizeof(eci_chain_tail_t));

    end = n;
    partial = 0;

    if (end > 0 && buf[end - 1] != '\n') {
        partial = 1;
        while (end > 0 && buf[end - 1] != '\n') {
            end--;
        }
    }

    /* a window may start inside a line: that one is not read */
    if (!whole) {
        start = 0;
        while (start < end && buf[start] != '\n') {
            start++;
        }

        start = (start < end) ? start + 1 : end;

    } else {
        start = 0;
    }

    if (end <= start) {
        if (partial) {
            eci_chain_found(t, "the file holds a partial line only");
        }

        return;
    }

    at = eci_chain_line_start(buf, end);

    switch (eci_chain_line_parse(buf + at, end - at, &last)) {

    case 1:
        t->legacy_seq = last.seq;
        goto done;

    case -1:
        eci_chain_found(t, "the last line is not an audit line");
        goto done;
    }

    memcpy(t->follows.id, last.chain, sizeof(t->follows.id));
    t->follows.seq = last.seq;
    memcpy(t->follows.head, last.hash, sizeof(t->follows.head));

    /* back to the chain's last signed line */
    for ( ;; ) {
        if (eci_chain_line_parse(buf + at, end - at, &l) == 0
            && strcmp(l.chain, last.chain) == 0 && l.is_signed)
        {
            break;
        }

        end = at;

        if (at <= start) {
            if (whole) {
                eci_chain_found(t, "chain %s has no signed line",
                                last.chain);
            }

            goto stop;
        }

        at = eci_chain_line_start(buf, at);
    }

    if (!eci_chain_line_follows(buf + at, &l, l.head)
        || !eci_chain_line_signed_by(buf + at, &l, v))
    {
        eci_chain_found(t, "the signed line at seq %llu of chain %s does "
                        "not verify", (unsigned long long) l.seq, l.chain);
        goto stop;
    }

    t->checked = 1;

    /* and on from it to the end */
    memcpy(prev, l.hash, sizeof(prev));
    signed_seq = l.seq;
    next = l.seq + 1;
    for (at = at + 1; at < n && buf[at - 1] != '\n'; at++) {
        /* void */
    }

    while (at < n) {
        end = at;
        while (end < n && buf[end] != '\n') {
            end++;
        }

        if (end == n) {
            break;          /* the partial line */
        }

        end++;

        if (eci_chain_line_parse(buf + at, end - at, &l) == -1) {
            eci_chain_found(t, "a line that is not an audit line after "
                            "seq %llu of chain %s", (unsigned long long)
                            (next - 1), last.chain);
            goto stop;
        }

        if (l.chain[0] != '\0' && strcmp(l.chain, last.chain) == 0) {
            if (l.seq != next || !eci_chain_line_follows(buf + at, &l, prev)
                || (l.is_signed && strcmp(l.head, prev) != 0))
            {
                eci_chain_found(t, "chain %s does not go on from its "
                                "signed seq %llu at seq %llu: lines were "
                                "changed, removed or inserted", last.chain,
                                (unsigned long long) signed_seq,
                                (unsigned long long) l.seq);
                goto stop;
            }

            memcpy(prev, l.hash, sizeof(prev));
            next++;
        }

        at = end;
    }

stop:

    if (!live && strcmp(last.event, ECI_CHAIN_STOP) != 0) {
        eci_chain_found(t, "chain %s ends at seq %llu without its stop "
                        "line: its gateway was killed or crashed, or the "
                        "end of the file was cut", last.chain,
                        (unsigned long long) last.seq);
    }

done:

    if (partial) {
        eci_chain_found(t, "a partial line at the end");
    }
}


/* appends to what was found, "; " between two findings */
static void
eci_chain_found(eci_chain_tail_t *t, const char *fmt, ...)
{
    size_t   n;
    va_list  ap;

    n = strlen(t->found);

    if (n > 0 && n + 2 < sizeof(t->found)) {
        memcpy(t->found + n, "; ", 3);
        n += 2;
    }

    va_start(ap, fmt);
    (void) vsnprintf(t->found + n, sizeof(t->found) - n, fmt, ap);
    va_end(ap);
}


static int
eci_chain_is_hex(const char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
        {
            return 0;
        }
    }

    return 1;
}


static int
eci_chain_unhex(const char *hex, size_t n, unsigned char *out)
{
    size_t  i;
    int     hi, lo;

    for (i = 0; i < n / 2; i++) {
        hi = OPENSSL_hexchar2int((unsigned char) hex[2 * i]);
        lo = OPENSSL_hexchar2int((unsigned char) hex[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return -1;
        }

        out[i] = (unsigned char) (hi << 4 | lo);
    }

    return 0;
}
