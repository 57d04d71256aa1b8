/*
 * Target behaviours a mutant of eci_target.c showed no test pinned down
 * (issue 18): canonical ids whose digits start with "10", escapes cut at
 * the very end of an exact-size query, and duplicates that are not
 * adjacent in a list longer than the plain scan handles.  Every input is
 * an exact-size heap copy without a terminator, so that ASan (make
 * test-asan, make mutation) sees a read one byte past it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_target.h"
#include "tap.h"


/* the canonical target of id and ids, in a buffer of exactly its size */

static void
canonical(int32_t id, const int32_t *ids, size_t n)
{
    char    want[1024], *buf, *p;
    size_t  i, len, wlen, plen;

    p = want;
    p += sprintf(p, "/api/v202106/reportdistribution/%d/exec", (int) id);
    for (i = 0; i < n; i++) {
        p += sprintf(p, "%coverrideUserIds=%d", i ? '&' : '?', (int) ids[i]);
    }
    wlen = p - want;

    len = eci_target_canonical_len(id, ids, n);
    is_int(len, wlen, "id %d, %zu ids: canonical length", (int) id, n);

    buf = malloc(len);
    if (buf == NULL) {
        return;
    }

    plen = 0;
    is_int(eci_target_canonical_write(buf, len, id, ids, n, &plen), wlen,
           "id %d: written in exactly its length", (int) id);
    ok(len == wlen && memcmp(buf, want, wlen) == 0,
       "id %d: canonical target %.*s", (int) id, (int) wlen, want);
    is_int(plen, strchr(want, '?') ? (size_t) (strchr(want, '?') - want)
                                   : wlen, "id %d: path length", (int) id);
    is_int(eci_target_canonical_write(buf, len - 1, id, ids, n, NULL), 0,
           "id %d: one byte short is refused", (int) id);
    free(buf);
}


static void
test_ids_starting_with_10(void)
{
    static const int32_t  ids[] = {
        1, 9, 10, 11, 19, 99, 100, 101, 105, 109, 110, 999, 1000, 1001,
        1050, 1099, 1100, 9999, 10000, 10099, 100000, 1000000, 10000000,
        100000000, 1000000000, 1099999999, 2147483647
    };
    size_t                i;
    int32_t               id, got;
    eci_err_t             err;
    char                  path[64], *p;
    size_t                len;

    /*
     * 0 and negative ids come from no parser, but the writer must still
     * write what it measured ("0", "-1"), never a byte more
     */
    {
        static const int32_t  odd[] = { 0, -1, -10, INT32_MIN };

        for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
            canonical(odd[i], NULL, 0);
            canonical(7, &odd[i], 1);
        }
    }

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        canonical(ids[i], NULL, 0);
        canonical(7, &ids[i], 1);
        canonical(ids[i], ids, i + 1);

        /* and it parses back from an exact-size copy */
        id = ids[i];
        len = snprintf(path, sizeof(path),
                       "/api/v202106/reportdistribution/%d/exec", (int) id);
        p = tap_copy(path, len);
        got = -1;
        is_int(eci_target_path_parse(p, len, &got, &err), ECI_TARGET_OK,
               "%s parses", path);
        is_int(got, id, "%s: id %d", path, (int) id);
        free(p);
    }
}


static void
query(const char *s, eci_target_rc_t want, const int32_t *wids, size_t wn,
    const char *what)
{
    char       *q;
    int         present;
    size_t      len, n, cap, i;
    int32_t    *ids;
    eci_err_t   err;
    eci_target_rc_t  rc;

    len = strlen(s);
    q = tap_copy(s, len);
    cap = eci_target_query_max_ids(q, len);
    ids = malloc((cap ? cap : 1) * sizeof(int32_t));

    err.msg[0] = '\0';
    rc = eci_target_query_parse(q, len, ids, cap, &n, &present, &err);
    is_int(rc, want, "%s: %s", what, want == ECI_TARGET_OK ? "ok" : "invalid");

    if (want == ECI_TARGET_OK) {
        is_int(n, wn, "%s: %zu ids", what, wn);
        for (i = 0; i < wn && i < n; i++) {
            if (ids[i] != wids[i]) {
                break;
            }
        }
        ok(i == wn, "%s: the ids in order of first appearance", what);

    } else {
        like(err.msg, "percent-escape", "%s: the message says why", what);
    }

    free(ids);
    free(q);
}


static void
test_escapes_at_the_end(void)
{
    static const int32_t  i78[] = { 78 }, i7[] = { 7 }, i7_8[] = { 7, 8 };

    query("overrideUserIds=7%2", ECI_TARGET_INVALID, NULL, 0,
          "value ends mid-escape (one hex digit)");
    query("overrideUserIds=7%", ECI_TARGET_INVALID, NULL, 0,
          "value ends with '%'");
    query("overrideUserIds=%", ECI_TARGET_INVALID, NULL, 0,
          "value is a lone '%'");
    query("overrideUser%4=1", ECI_TARGET_INVALID, NULL, 0,
          "name ends mid-escape");
    query("overrideUserIds=1&overrideUserIds%3=2", ECI_TARGET_INVALID, NULL,
          0, "the last name ends mid-escape");
    query("overrideUserIds=7%38", ECI_TARGET_OK, i78, 1,
          "a whole escape at the very end");
    query("overrideUserIds=%37", ECI_TARGET_OK, i7, 1,
          "the value is one escape, at the very end");
    query("overrideUserIds=7%2C8", ECI_TARGET_OK, i7_8, 2,
          "an escaped comma, then the last id");
    query("overrideUserIds=7&overrideUserId%73=8", ECI_TARGET_OK, i7_8, 2,
          "an escape ending the name of the last parameter");
}


/*
 * overrideUserIds=<n ids from first, step by step>,<tail>: the query and
 * the ids expected (the run, then extra, the first copies the tail adds)
 */

static void
dedup(int32_t first, int step, size_t n, const char *tail,
    const int32_t *extra, size_t nextra, const char *what)
{
    char     q[2048], *p;
    int32_t  want[64];
    size_t   i, nw;

    p = q + sprintf(q, "overrideUserIds=");
    nw = 0;
    for (i = 0; i < n; i++) {
        want[nw] = first + step * (int32_t) i;
        p += sprintf(p, "%s%d", i ? "," : "", (int) want[nw++]);
    }
    sprintf(p, "%s", tail);

    for (i = 0; i < nextra; i++) {
        want[nw++] = extra[i];
    }

    query(q, ECI_TARGET_OK, want, nw, what);
}


/* more than 32 ids (the plain scan's limit): the sort-based dedup */

static void
test_dedup_not_adjacent(void)
{
    static const int32_t  one[] = { 1 }, s77[] = { 77 };

    dedup(1000, 1, 40, ",1005,1,1020&overrideUserIds=1,1039", one, 1,
          "45 ids, 4 later copies not adjacent to their first");

    /* descending, the first copy late: which copy is kept decides order */
    dedup(500, -1, 36, ",499,77,500,77,470", s77, 1,
          "41 ids descending, copies far from their first");

    dedup(33, -1, 33, ",33", NULL, 0, "34 ids, the first repeated last");

    /* the plain scan's last size and the sort's first */
    dedup(90, 1, 31, ",90", NULL, 0, "32 ids, the first repeated last");
    dedup(90, 1, 32, ",90", NULL, 0, "33 ids, the first repeated last");
}


/* every character a path may hold: not found, never invalid */

static void
test_path_characters(void)
{
    static const char  *paths[] = {
        "/zz", "/ZZ", "/aA", "/09", "/a-._~!$&'()*+,=:@z", "/api/Zz9"
    };
    size_t     i, len;
    char      *p;
    int32_t    id;
    eci_err_t  err;

    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        len = strlen(paths[i]);
        p = tap_copy(paths[i], len);
        is_int(eci_target_path_parse(p, len, &id, &err),
               ECI_TARGET_NOT_FOUND, "path %s: allowed characters, not "
               "found", paths[i]);
        free(p);
    }
}


int
main(void)
{
    test_ids_starting_with_10();
    test_path_characters();
    test_escapes_at_the_end();
    test_dedup_not_adjacent();

    return done_testing();
}
