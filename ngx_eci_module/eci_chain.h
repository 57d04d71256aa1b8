/*
 * The audit chain and its signed checkpoints.
 *
 * Every line of an audit file belongs to one chain: the lines one gateway
 * writes from its start to its stop.  A line ends in
 *
 *   ...,"seq":N,"chain":"<id>","hash":"<64 hex>"}\n
 *
 * where hash is SHA-256(prev || body): prev is the previous line's hash as
 * 64 hex characters (ECI_CHAIN_GENESIS before a chain's first line) and
 * body is the line up to, not including, ,"hash":.  Anyone can recompute
 * it: the hash keeps the order, the signatures make it evidence.
 *
 * A signed line is one the gateway writes itself (start, checkpoint,
 * discontinuity, stop):
 *
 *   {"time":T,"event":E,...,"head":"<prev>","seq":N,"chain":"<id>",
 *    "sig":"<128 hex>","hash":"<64 hex>"}\n
 *
 * sig is Ed25519 over the line up to, not including, ,"sig": (its time,
 * event, head, seq and chain id); so it signs every line of its chain up
 * to and including itself.  Lines after a chain's last signed line are
 * "not yet signed": anyone could have written them.
 */

#ifndef ECI_CHAIN_H
#define ECI_CHAIN_H

#include "eci_common.h"

#define ECI_CHAIN_HASH_HEX     64
#define ECI_CHAIN_SIG_HEX      128
#define ECI_CHAIN_SEED_LEN     32      /* an Ed25519 private key */
#define ECI_CHAIN_PUB_LEN      32
/* "20261203T150102Z-" and 16 hex digits: the start and the instance */
#define ECI_CHAIN_ID_LEN       33
#define ECI_CHAIN_EVENT_MAX    16
#define ECI_CHAIN_GENESIS                                                   \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* bytes eci_chain_seal() adds at most: seq, chain id and hash */
#define ECI_CHAIN_ROOM                                                      \
    (sizeof(",\"seq\":,\"chain\":\"\",\"hash\":\"\"") - 1 + 20              \
     + ECI_CHAIN_ID_LEN + ECI_CHAIN_HASH_HEX)

/* the longest signed line eci_chain_event_write() writes */
#define ECI_CHAIN_EVENT_LINE_MAX  4096
/* what a discontinuity line says, at most */
#define ECI_CHAIN_FOUND_MAX       300


/* where a chain stands: plain bytes, so it can live in shared memory */
typedef struct {
    char          id[ECI_CHAIN_ID_LEN + 1];
    uint64_t      seq;                      /* the last line's, 0: none */
    char          head[ECI_CHAIN_HASH_HEX + 1];   /* the last line's hash */
} eci_chain_t;


/* a new chain: id from its start time and 8 random bytes, at genesis */
int eci_chain_init(eci_chain_t *c, int64_t start_ms, eci_err_t *err);

/*
 * Seals a line eci_audit_line_write() wrote, in place: its final "}\n"
 * becomes ,"seq":N,"chain":"<id>","hash":"<hex>"}\n with N = c->seq + 1,
 * and c moves on to it.  Returns the new length, or 0 (c unchanged) when
 * cap is too small or the line does not end in "}\n".
 */
size_t eci_chain_seal(eci_chain_t *c, char *line, size_t len, size_t cap);


/* --- signing (the gateway) and verifying (eci-audit) --------------------- */

typedef struct eci_chain_signer_s    eci_chain_signer_t;
typedef struct eci_chain_verifier_s  eci_chain_verifier_t;

/*
 * The signing key from its keystore value: 64 hex digits, the Ed25519
 * private key.  It is kept in secret memory (eci_common.h); an OpenSSL key
 * object exists only while a line is signed.
 */
eci_chain_signer_t *eci_chain_signer_new(const char *hex, size_t len,
    eci_err_t *err);
void eci_chain_signer_free(eci_chain_signer_t *s);
/* mlock() again in a forked process; 0 or -1 with errno */
int eci_chain_signer_lock(const eci_chain_signer_t *s);

/* the public key as PEM (SubjectPublicKeyInfo); its length or 0 */
size_t eci_chain_signer_pem(const eci_chain_signer_t *s, char *buf,
    size_t cap);

/* a verifier of the signer's own key (the gateway reading its tail) */
eci_chain_verifier_t *eci_chain_signer_verifier(const eci_chain_signer_t *s,
    eci_err_t *err);

/* a PEM public key file, as eci-keytool pubkey writes it */
eci_chain_verifier_t *eci_chain_verifier_open(const char *path,
    eci_err_t *err);
void eci_chain_verifier_free(eci_chain_verifier_t *v);


/* what a signed line says besides its place in the chain */
typedef struct {
    const char   *event;          /* "start", "checkpoint", ... */
    int64_t       time_ms;
    /* start: who started the chain and the head it follows */
    const char   *host;
    int64_t       pid;            /* 0: no pid */
    const eci_chain_t *follows;   /* NULL: none (an empty file) */
    /* discontinuity: what was found */
    const char   *found;
} eci_chain_event_t;

/*
 * Writes ev as the next signed line of c into buf (at least
 * ECI_CHAIN_EVENT_LINE_MAX bytes) and moves c on to it.  Returns the
 * line's length, or 0 when signing failed (c unchanged).
 */
size_t eci_chain_event_write(eci_chain_t *c, eci_chain_signer_t *s,
    const eci_chain_event_t *ev, char *buf, size_t cap);


/* --- reading lines back ------------------------------------------------- */

typedef struct {
    char          event[ECI_CHAIN_EVENT_MAX];   /* "" when it has none */
    char          chain[ECI_CHAIN_ID_LEN + 1];
    uint64_t      seq;
    char          hash[ECI_CHAIN_HASH_HEX + 1];
    size_t        hashed;         /* the bytes the hash covers */
    int           is_signed;
    char          head[ECI_CHAIN_HASH_HEX + 1]; /* signed lines */
    char          sig[ECI_CHAIN_SIG_HEX + 1];
    size_t        signed_len;     /* the bytes the signature covers */
} eci_chain_line_t;

/*
 * Takes a line (with or without its '\n') apart.  Returns 0; 1 when it is
 * a line of the old HMAC chain (..."seq":N,"chain":"<64 hex>"}: l->seq
 * and l->hash are set); -1 when it is no audit line.
 */
int eci_chain_line_parse(const char *line, size_t len, eci_chain_line_t *l);

/* 1 when the line's hash is SHA-256(prev || its body) */
int eci_chain_line_follows(const char *line, const eci_chain_line_t *l,
    const char *prev);

/* 1 when a signed line's signature verifies under v */
int eci_chain_line_signed_by(const char *line, const eci_chain_line_t *l,
    eci_chain_verifier_t *v);

/*
 * What a new chain finds at the end of the file it goes on in: the head
 * it follows (the last line of the last chain there) and, when the end
 * does not look as a gateway leaves it, what is wrong with it.
 */
typedef struct {
    eci_chain_t   follows;        /* seq 0: nothing to follow */
    uint64_t      legacy_seq;     /* the file ends in the old HMAC chain */
    int           checked;        /* a signature of that chain verified */
    char          found[ECI_CHAIN_FOUND_MAX + 1];   /* "": sound */
} eci_chain_tail_t;

/*
 * Checks the last n bytes of a file (whole: all of it) as a gateway leaves
 * it: its last chain's lines after its last signed line chain on from it,
 * that line's signature verifies under v, and the chain ends in its stop
 * line, unless live (its gateway still runs: a binary upgrade).
 */
void eci_chain_tail_check(const char *buf, size_t n, int whole,
    eci_chain_verifier_t *v, int live, eci_chain_tail_t *t);

/* the events of signed lines */
#define ECI_CHAIN_START          "start"
#define ECI_CHAIN_CHECKPOINT     "checkpoint"
#define ECI_CHAIN_DISCONTINUITY  "discontinuity"
#define ECI_CHAIN_STOP           "stop"

#endif /* ECI_CHAIN_H */
