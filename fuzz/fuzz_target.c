/*
 * libFuzzer target: the request target parsers and the canonical writer.
 *
 * The input is a request target as received: the path is the part before
 * the first '?', the query the part after it.  Each part is copied into a
 * buffer of its own size, so ASan sees a parser reading past its length.
 *
 * Invariants (abort() when broken): an accepted id is in 1..INT32_MAX
 * and its path is exactly the canonical one;
 * accepted override ids are in range, distinct and no more than
 * eci_target_query_max_ids() promised; the canonical target is written in
 * exactly eci_target_canonical_len() bytes, not in one byte less, and
 * parses back to the same id and ids.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_target.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_query(const char *query, size_t len, int32_t id,
    int have_id);
static void fuzz_canonical(int32_t id, const int32_t *ids, size_t n);
static void fuzz_fail(const char *what);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int32_t          id;
    char            *path, *query;
    size_t           plen, qlen;
    eci_err_t        err;
    const uint8_t   *q;
    eci_target_rc_t  rc;

    q = memchr(data, '?', size);
    plen = (q != NULL) ? (size_t) (q - data) : size;
    qlen = (q != NULL) ? size - plen - 1 : 0;

    /*
     * Exact-size copies, no terminator: ASan sees a read one byte past
     * (an escape or an id cut at the very end).  malloc(0) may return
     * NULL: one byte then, and the length stays 0.
     */
    path = malloc(plen ? plen : 1);
    query = malloc(qlen ? qlen : 1);
    if (path == NULL || query == NULL) {
        free(path);
        free(query);
        return 0;
    }

    memcpy(path, data, plen);
    if (qlen != 0) {
        memcpy(query, q + 1, qlen);
    }

    id = 0;
    rc = eci_target_path_parse(path, plen, &id, &err);

    if (rc != ECI_TARGET_OK && rc != ECI_TARGET_NOT_FOUND
        && rc != ECI_TARGET_INVALID)
    {
        fuzz_fail("path_parse returned an unknown code");
    }

    if (rc == ECI_TARGET_OK && id < 1) {
        fuzz_fail("path_parse accepted an id below 1");
    }

    /* only the canonical spelling is accepted, by either of its paths */
    if (rc == ECI_TARGET_OK) {
        char    canon[64];
        size_t  clen, cpath;

        clen = eci_target_canonical_write(canon, sizeof(canon), id, NULL, 0,
                                          &cpath);

        if (clen == 0 || cpath != plen || memcmp(canon, path, plen) != 0) {
            fuzz_fail("path_parse accepted a path that is not canonical");
        }
    }

    if (rc != ECI_TARGET_OK && memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
    {
        fuzz_fail("path_parse left the message unterminated");
    }

    fuzz_query(query, qlen, id, rc == ECI_TARGET_OK);

    /* the whole input as a query, too: '?' and all */
    fuzz_query((const char *) data, size, 1, 1);

    free(path);
    free(query);

    return 0;
}


static void
fuzz_query(const char *query, size_t len, int32_t id, int have_id)
{
    int              present;
    size_t           i, j, max, n;
    int32_t         *ids;
    eci_err_t        err;
    eci_target_rc_t  rc;

    max = eci_target_query_max_ids(query, len);

    if (max == 0 || max > ECI_MAX_OVERRIDES + 1) {
        fuzz_fail("query_max_ids out of range");
    }

    ids = malloc(max * sizeof(int32_t));
    if (ids == NULL) {
        return;
    }

    n = (size_t) -1;
    present = -1;

    rc = eci_target_query_parse(query, len, ids, max, &n, &present, &err);

    if (rc == ECI_TARGET_INVALID) {
        /* the caller's array was sized as documented */
        if (strcmp(err.msg, "too many overrideUserIds") == 0) {
            fuzz_fail("query_max_ids under-counted");
        }

        free(ids);
        return;
    }

    if (rc != ECI_TARGET_OK) {
        fuzz_fail("query_parse returned an unknown code");
    }

    if (n > max || n > ECI_MAX_OVERRIDES || (present != 0 && present != 1)
        || (present == 0 && n != 0) || (present == 1 && n == 0))
    {
        fuzz_fail("query_parse: count or presence inconsistent");
    }

    for (i = 0; i < n; i++) {
        if (ids[i] < 1) {
            fuzz_fail("query_parse accepted an id below 1");
        }

        /* the dedup is O(n log n) for large n; this check is for small */
        for (j = 0; n <= 64 && j < i; j++) {
            if (ids[j] == ids[i]) {
                fuzz_fail("query_parse kept a duplicate id");
            }
        }
    }

    if (have_id) {
        fuzz_canonical(id, ids, n);
    }

    free(ids);
}


static void
fuzz_canonical(int32_t id, const int32_t *ids, size_t n)
{
    int              present;
    char            *buf, *q;
    size_t           len, out, path_len, max, n2;
    int32_t          id2, *ids2;
    eci_err_t        err;

    len = eci_target_canonical_len(id, ids, n);

    buf = malloc(len);
    if (buf == NULL) {
        return;
    }

    if (eci_target_canonical_write(buf, len - 1, id, ids, n, NULL) != 0) {
        fuzz_fail("canonical_write wrote into a buffer one byte short");
    }

    path_len = 0;
    out = eci_target_canonical_write(buf, len, id, ids, n, &path_len);

    if (out != len) {
        fuzz_fail("canonical_write length differs from canonical_len");
    }

    if (path_len == 0 || path_len > len
        || (path_len < len && buf[path_len] != '?')
        || (n == 0 && path_len != len))
    {
        fuzz_fail("canonical_write: bad path length");
    }

    id2 = 0;

    if (eci_target_path_parse(buf, path_len, &id2, &err) != ECI_TARGET_OK
        || id2 != id)
    {
        fuzz_fail("canonical path does not parse back to the same id");
    }

    q = buf + path_len + (path_len < len);
    max = eci_target_query_max_ids(q, len - (size_t) (q - buf));

    ids2 = malloc(max * sizeof(int32_t));
    if (ids2 == NULL) {
        free(buf);
        return;
    }

    if (eci_target_query_parse(q, len - (size_t) (q - buf), ids2, max, &n2,
                               &present, &err)
        != ECI_TARGET_OK
        || n2 != n || present != (n != 0)
        || (n != 0 && memcmp(ids, ids2, n * sizeof(int32_t)) != 0))
    {
        fuzz_fail("canonical query does not parse back to the same ids");
    }

    free(ids2);
    free(buf);
}


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_target: invariant broken: %s\n", what);
    abort();
}
