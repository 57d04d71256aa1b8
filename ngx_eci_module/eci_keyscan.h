/*
 * ngx_eci: finding the API key's bytes in a response that arrives in
 * pieces (an upstream that reflects the key).
 *
 * The scan keeps no bytes of the stream, only how many of its last bytes
 * are a proper prefix of the key: those bytes are the key's own first
 * bytes, so the key says what they were.  A caller that must not pass the
 * key on holds that many bytes back until the next piece (or the end)
 * decides whether they begin the key.
 */

#ifndef ECI_KEYSCAN_H
#define ECI_KEYSCAN_H

#include <stddef.h>
#include <stdint.h>


typedef struct {
    const unsigned char  *key;
    size_t                len;
    size_t                held;    /* the stream ends in key[0..held) */
} eci_keyscan_t;


/* len 0: nothing is ever found */
void eci_keyscan_init(eci_keyscan_t *s, const void *key, size_t len);

/*
 * Scans the next n bytes of the stream.  Returns 1 when the key occurs in
 * the stream so far, at its first occurrence: *at is where it begins,
 * relative to data (negative: in the s->held bytes before data, at -held
 * at the earliest); then s is spent.  Returns 0 otherwise, with s->held
 * updated (at most len - 1).
 */
int eci_keyscan_feed(eci_keyscan_t *s, const void *data, size_t n,
    ptrdiff_t *at);

/* 1 when the key occurs in data[0..n) */
int eci_keyscan_contains(const void *data, size_t n, const void *key,
    size_t len);


#endif /* ECI_KEYSCAN_H */
