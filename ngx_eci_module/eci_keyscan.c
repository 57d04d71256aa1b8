/*
 * ngx_eci: finding the API key's bytes in a stream fed in pieces.
 */

/* memmem(3): linear whatever the bytes (an upstream chooses them) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <string.h>

#include "eci_keyscan.h"


static size_t eci_keyscan_tail(const unsigned char *p, size_t n,
    const unsigned char *key, size_t len);


void
eci_keyscan_init(eci_keyscan_t *s, const void *key, size_t len)
{
    s->key = key;
    s->len = len;
    s->held = 0;
}


int
eci_keyscan_feed(eci_keyscan_t *s, const void *data, size_t n,
    ptrdiff_t *at)
{
    size_t                i, h, need, held, cont;
    const unsigned char  *p, *key, *m;

    p = data;
    key = s->key;

    if (s->len == 0 || n == 0) {
        return 0;
    }

    /*
     * An occurrence that begins in the held bytes, at key[i]: key[i..held)
     * is then also a prefix of the key, and data goes on with the rest.
     * The earliest beginning is tried first; once data is too short to
     * decide, it is for every later one too, and the longest of those
     * that data continues is what is held next.
     */

    held = s->held;
    cont = 0;

    for (i = 0; i < held; i++) {
        h = held - i;

        if (i > 0 && memcmp(key + i, key, h) != 0) {
            continue;
        }

        need = s->len - h;

        if (n >= need) {
            if (memcmp(p, key + h, need) == 0) {
                *at = - (ptrdiff_t) h;
                return 1;
            }

            continue;
        }

        if (memcmp(p, key + h, n) == 0) {
            cont = h + n;
            break;
        }
    }

    m = memmem(p, n, key, s->len);

    if (m != NULL) {
        *at = m - p;
        return 1;
    }

    /* a continuation is longer than any tail of data alone (n < need) */
    s->held = cont ? cont : eci_keyscan_tail(p, n, key, s->len);

    return 0;
}


int
eci_keyscan_contains(const void *data, size_t n, const void *key,
    size_t len)
{
    /* also no memmem() of an empty string, which may be NULL */
    return len > 0 && n >= len && memmem(data, n, key, len) != NULL;
}


/* the longest tail of p[0..n) that is a proper prefix of the key */
static size_t
eci_keyscan_tail(const unsigned char *p, size_t n, const unsigned char *key,
    size_t len)
{
    size_t  h;

    h = (n < len - 1) ? n : len - 1;

    for ( /* void */ ; h > 0; h--) {
        if (p[n - h] == key[0] && memcmp(p + n - h, key, h) == 0) {
            return h;
        }
    }

    return 0;
}
