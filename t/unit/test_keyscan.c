/*
 * eci_keyscan: the key found wherever the stream is cut into pieces, at
 * its first occurrence, and what is held back is exactly the longest tail
 * that could still begin it.  Checked against a plain search over the
 * whole stream for small alphabets, where keys overlap themselves.
 */

#include <stdlib.h>
#include <string.h>

#include "eci_keyscan.h"
#include "tap.h"


/* the first occurrence of key in s[0..n), or -1 */
static long
naive_find(const char *s, size_t n, const char *key, size_t len)
{
    size_t  i;

    for (i = 0; i + len <= n; i++) {
        if (memcmp(s + i, key, len) == 0) {
            return (long) i;
        }
    }

    return -1;
}


/* the longest tail of s[0..n) that is a proper prefix of key */
static size_t
naive_tail(const char *s, size_t n, const char *key, size_t len)
{
    size_t  h;

    for (h = (n < len - 1) ? n : len - 1; h > 0; h--) {
        if (memcmp(s + n - h, key, h) == 0) {
            return h;
        }
    }

    return 0;
}


/*
 * Feeds s in pieces; 0 when the scan agrees with the plain search at
 * every piece: it reports the first occurrence once the piece holding its
 * end arrives, and holds exactly the longest possible beginning.
 */
static int
agrees(const char *s, size_t n, const char *key, size_t len,
    const size_t *cuts, size_t ncuts)
{
    long           want;
    size_t         i, from, to;
    ptrdiff_t      at;
    eci_keyscan_t  ks;

    eci_keyscan_init(&ks, key, len);

    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : n;

        want = naive_find(s, to, key, len);

        if (eci_keyscan_feed(&ks, s + from, to - from, &at)) {
            return (want != (long) from + at) ? 1 : 0;
        }

        if (want != -1 && to > from) {
            return 1;
        }

        if (ks.held != naive_tail(s, to, key, len)) {
            return 1;
        }

        from = to;
    }

    return 0;
}


int
main(void)
{
    int            bad;
    char           s[64], *copy;
    size_t         i, k, n, ncuts, cuts[8], tries;
    ptrdiff_t      at;
    eci_keyscan_t  ks;

    static const char  *keys[] = {
        "a", "ab", "aab", "aba", "abab", "aaaa", "aaab", "abaab", "ababa",
        "abcabd", "aabaaab", "abababb"
    };

    /* the plain cases */

    eci_keyscan_init(&ks, "secret-key", 10);
    ok(eci_keyscan_feed(&ks, "xx secret-key yy", 16, &at) == 1 && at == 3,
       "the key inside one piece, at its offset");

    eci_keyscan_init(&ks, "secret-key", 10);
    ok(eci_keyscan_feed(&ks, "body ends secr", 14, &at) == 0
       && ks.held == 4, "a piece ending in the key's beginning holds it");
    ok(eci_keyscan_feed(&ks, "et-key and more", 15, &at) == 1 && at == -4,
       "the next piece finishing it: found, beginning in the held bytes");

    eci_keyscan_init(&ks, "secret-key", 10);
    (void) eci_keyscan_feed(&ks, "secr", 4, &at);
    ok(eci_keyscan_feed(&ks, "eta", 3, &at) == 0 && ks.held == 0,
       "a beginning that does not go on is released");

    eci_keyscan_init(&ks, "secret-key", 10);
    ok(eci_keyscan_feed(&ks, "s", 1, &at) == 0
       && eci_keyscan_feed(&ks, "ecr", 3, &at) == 0
       && eci_keyscan_feed(&ks, "et-ke", 5, &at) == 0 && ks.held == 9,
       "a key spread over pieces shorter than it is held whole but one");
    ok(eci_keyscan_feed(&ks, "y", 1, &at) == 1 && at == -9,
       "and found with its last byte");

    eci_keyscan_init(&ks, "k\0y", 3);
    ok(eci_keyscan_feed(&ks, "\0\0k\0y", 5, &at) == 1 && at == 2,
       "NUL bytes neither stop the search nor hide the key");

    eci_keyscan_init(&ks, "", 0);
    ok(eci_keyscan_feed(&ks, "abc", 3, &at) == 0 && ks.held == 0,
       "an empty key is never found");

    ok(eci_keyscan_contains("a Location: /x?k=secret-key", 27,
                            "secret-key", 10) == 1
       && eci_keyscan_contains("secret-ke", 9, "secret-key", 10) == 0,
       "contains: the key in a header value, not a part of it");

    /* a header value that is the key and nothing else (exact size) */
    copy = tap_copy("secret-key", 10);
    ok(copy != NULL && eci_keyscan_contains(copy, 10, "secret-key", 10) == 1,
       "contains: a value exactly as long as the key, and the key");
    free(copy);

    ok(eci_keyscan_contains("xax", 3, "a", 1) == 1
       && eci_keyscan_contains("xbx", 3, "a", 1) == 0,
       "contains: a key of one character");
    ok(eci_keyscan_contains("abc", 3, "", 0) == 0,
       "contains: an empty key is in nothing");

    /* nginx's empty strings (no status line, no charset) have NULL data */
    ok(eci_keyscan_contains(NULL, 0, "secret-key", 10) == 0,
       "contains: an empty string with no data carries nothing");

    /* every key, random streams over its alphabet, random cuts */

    srand(12);

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        bad = 0;

        for (tries = 0; tries < 20000 && !bad; tries++) {
            n = (size_t) (rand() % 40);

            for (i = 0; i < n; i++) {
                s[i] = "abcd"[rand() % ((k >= 9) ? 4 : 2)];
            }

            ncuts = n ? (size_t) (rand() % 8) : 0;

            for (i = 0; i < ncuts; i++) {
                cuts[i] = (size_t) (rand() % (int) (n + 1));
            }

            /* in order: a cut before the previous one is an empty piece */
            for (i = 1; i < ncuts; i++) {
                if (cuts[i] < cuts[i - 1]) {
                    cuts[i] = cuts[i - 1];
                }
            }

            bad = agrees(s, n, keys[k], strlen(keys[k]), cuts, ncuts);
        }

        ok(!bad, "key \"%s\": found where a plain search finds it, "
           "however the stream is cut (%zu streams)", keys[k], tries);

        if (bad) {
            printf("#   stream \"%.*s\"\n", (int) n, s);
        }
    }

    return done_testing();
}
