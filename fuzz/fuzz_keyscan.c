/*
 * libFuzzer target: eci_keyscan, the key found in a stream fed in pieces.
 *
 * The input: one byte for the key's length (1..16), one seeding the
 * lengths of the pieces (0 to twice the key's length, so keys straddle
 * them), the key, then the stream.  Each piece is copied into a buffer of
 * its own size, so ASan sees a read past it.
 *
 * Invariants (abort() when broken), against a plain search over the whole
 * stream: the scan reports the first occurrence, at its place, with the
 * piece that holds its end and not before; and what it holds back is the
 * longest tail of the stream so far that is a proper prefix of the key.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_keyscan.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long fuzz_find(const uint8_t *s, size_t n, const uint8_t *key,
    size_t len);
static size_t fuzz_tail(const uint8_t *s, size_t n, const uint8_t *key,
    size_t len);
static void fuzz_fail(const char *what);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long            want;
    size_t          len, n, from, to, piece;
    uint8_t        *copy;
    unsigned        seed;
    ptrdiff_t       at;
    const uint8_t  *key, *s;
    eci_keyscan_t   ks;

    if (size < 2) {
        return 0;
    }

    len = 1 + data[0] % 16;
    seed = data[1];

    if (size < 2 + len) {
        return 0;
    }

    key = data + 2;
    s = key + len;
    n = size - 2 - len;

    eci_keyscan_init(&ks, key, len);

    for (from = 0; from < n; from = to) {
        seed = seed * 1103515245 + 12345;
        piece = (seed >> 16) % (2 * len + 1);
        to = (from + piece < n) ? from + piece : n;

        copy = malloc(to - from + 1);
        if (copy == NULL) {
            return 0;
        }

        memcpy(copy, s + from, to - from);

        want = fuzz_find(s, to, key, len);

        if (eci_keyscan_feed(&ks, copy, to - from, &at)) {
            free(copy);

            if (want != (long) from + at) {
                fuzz_fail("found the key where a plain search does not");
            }

            return 0;
        }

        free(copy);

        if (want != -1 && to > from) {
            fuzz_fail("missed the key");
        }

        if (ks.held != fuzz_tail(s, to, key, len)) {
            fuzz_fail("holds back other than the longest beginning");
        }
    }

    return 0;
}


static long
fuzz_find(const uint8_t *s, size_t n, const uint8_t *key, size_t len)
{
    size_t  i;

    for (i = 0; i + len <= n; i++) {
        if (memcmp(s + i, key, len) == 0) {
            return (long) i;
        }
    }

    return -1;
}


static size_t
fuzz_tail(const uint8_t *s, size_t n, const uint8_t *key, size_t len)
{
    size_t  h;

    for (h = (n < len - 1) ? n : len - 1; h > 0; h--) {
        if (memcmp(s + n - h, key, h) == 0) {
            return h;
        }
    }

    return 0;
}


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_keyscan: %s\n", what);
    abort();
}
