/*
 * ngx_eci: the audit chain read back: a line parsed, its place in its
 * chain and its signature checked, and the tail of a file checked before
 * a chain goes on in it (eci-audit verify, and nginx at start).  See
 * eci_chain.h for the format.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "eci_chain_int.h"
#include "eci_sha256.h"


static void eci_chain_found(eci_chain_tail_t *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;


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


int
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


int
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
