/*
 * Parsing and validation of the exec request target.
 *
 * What goes upstream is never the caller's spelling: the adapter rebuilds
 * the target from the parsed id and override ids with
 * eci_target_canonical_write().  So the parsers only have to make sure
 * that the caller's target has exactly one meaning, and that this meaning
 * is the one the ACL is asked about.  Anything the upstream (ASP.NET, which
 * routes case-insensitively, percent-decodes, and may normalise dot
 * segments and slashes) could read differently is refused with a 400.
 */

#include <stdlib.h>
#include <string.h>

#include "eci_target.h"


#define ECI_ID_MAX_DIGITS        10         /* "2147483647" */
#define ECI_QUERY_PARAM          "overrideUserIds="

/* below this many ids a plain scan is cheaper than sorting a copy */
#define ECI_DEDUP_SCAN_MAX       32


typedef struct {
    int32_t   value;
    uint32_t  index;
} eci_target_pair_t;


static int eci_target_segments_check(const char *path, size_t len,
    eci_err_t *err);
static int eci_target_char_allowed(unsigned char c);
static int eci_target_ci_equal(const char *a, const char *b, size_t len);
static int eci_target_id_parse(const char *p, size_t len, int32_t *id);
static int eci_target_query_char(const char **pp, const char *end);
static int eci_target_query_name_check(const char *p, size_t len,
    eci_err_t *err);
static int eci_target_query_value_parse(const char *p, size_t len,
    int32_t *ids, size_t cap, size_t *count, eci_err_t *err);
static size_t eci_target_ids_dedup(int32_t *ids, size_t n);
static int eci_target_pair_cmp(const void *a, const void *b);
static size_t eci_target_id_len(int32_t id);
static char *eci_target_id_write(char *p, int32_t id);


static const char  eci_target_id_msg[] =
    "report distribution id must be a decimal integer from 1 to "
    "2147483647 without leading zeros";

static const char  eci_target_override_msg[] =
    "overrideUserIds must be a comma-separated list of decimal integers "
    "from 1 to 2147483647 without leading zeros";


eci_target_rc_t
eci_target_path_parse(const char *path, size_t len, int32_t *id,
    eci_err_t *err)
{
    size_t          i, plen, slen, end, mlen;
    const char     *mid;
    unsigned char   c;

    if (len == 0 || path[0] != '/') {
        eci_err_set(err, "request path must start with \"/\"");
        return ECI_TARGET_INVALID;
    }

    plen = sizeof(ECI_EXEC_PATH_PREFIX) - 1;
    slen = sizeof(ECI_EXEC_PATH_SUFFIX) - 1;

    /*
     * The canonical spelling, as nearly every caller sends it, passes every
     * check below by construction: the prefix and suffix exactly, and only
     * an id between them.  Anything else takes the full checks, which also
     * say what is wrong.
     */
    if (len > plen + slen
        && memcmp(path, ECI_EXEC_PATH_PREFIX, plen) == 0
        && memcmp(path + len - slen, ECI_EXEC_PATH_SUFFIX, slen) == 0
        && eci_target_id_parse(path + plen, len - plen - slen, id) == 0)
    {
        return ECI_TARGET_OK;
    }

    /*
     * These checks apply to every path, not only to ones that look like
     * exec: each of them is a way to spell the exec path that the upstream
     * may decode or normalise into it.
     */

    for (i = 0; i < len; i++) {
        c = (unsigned char) path[i];

        if (c < 0x21 || c >= 0x7f) {
            eci_err_set(err, "request path must contain only printable "
                        "ASCII characters");
            return ECI_TARGET_INVALID;
        }

        if (c == '%') {
            eci_err_set(err, "request path must not contain "
                        "percent-encoding");
            return ECI_TARGET_INVALID;
        }

        if (c == ';') {
            eci_err_set(err, "request path must not contain path "
                        "parameters (\";\")");
            return ECI_TARGET_INVALID;
        }

        if (c == '\\') {
            eci_err_set(err, "request path must not contain backslashes");
            return ECI_TARGET_INVALID;
        }

        if (!eci_target_char_allowed(c)) {
            eci_err_set(err, "request path contains a character not "
                        "allowed in a URI path");
            return ECI_TARGET_INVALID;
        }
    }

    if (eci_target_segments_check(path, len, err) != 0) {
        return ECI_TARGET_INVALID;
    }

    if (len < plen || !eci_target_ci_equal(path, ECI_EXEC_PATH_PREFIX, plen))
    {
        goto not_found;
    }

    /* a trailing slash still routes to exec in ASP.NET */
    end = len;
    if (len > plen && path[len - 1] == '/') {
        end--;
    }

    /* at least one byte of id between the prefix and "/exec" */
    if (end < plen + 1 + slen
        || !eci_target_ci_equal(path + end - slen, ECI_EXEC_PATH_SUFFIX,
                                slen))
    {
        goto not_found;
    }

    /* from here on the upstream would route the path to exec */

    if (end != len) {
        eci_err_set(err, "request path must not end with \"/\": use "
                    "/api/v202106/reportdistribution/{id}/exec");
        return ECI_TARGET_INVALID;
    }

    if (memcmp(path, ECI_EXEC_PATH_PREFIX, plen) != 0
        || memcmp(path + end - slen, ECI_EXEC_PATH_SUFFIX, slen) != 0)
    {
        eci_err_set(err, "request path is case-sensitive: use "
                    "/api/v202106/reportdistribution/{id}/exec");
        return ECI_TARGET_INVALID;
    }

    mid = path + plen;
    mlen = end - slen - plen;

    if (memchr(mid, '/', mlen) != NULL) {
        eci_err_set(err, "request path must have exactly one segment, the "
                    "report distribution id, between "
                    "/api/v202106/reportdistribution/ and /exec");
        return ECI_TARGET_INVALID;
    }

    if (eci_target_id_parse(mid, mlen, id) != 0) {
        eci_err_set(err, "%s", eci_target_id_msg);
        return ECI_TARGET_INVALID;
    }

    return ECI_TARGET_OK;

not_found:

    eci_err_set(err, "no such operation: only POST "
                "/api/v202106/reportdistribution/{id}/exec is served");
    return ECI_TARGET_NOT_FOUND;
}


/*
 * Refuses empty segments ("//") and dot segments anywhere: both are
 * collapsed by some normalisers and not by others.  An empty last segment
 * (a trailing slash, or "/" itself) is left to the router.
 */

static int
eci_target_segments_check(const char *path, size_t len, eci_err_t *err)
{
    size_t       i, j, seg;

    for (i = 0; i < len; i = j) {
        /* path[i] == '/' */
        for (j = i + 1; j < len && path[j] != '/'; j++) {
            /* void */
        }

        seg = j - i - 1;

        if ((seg == 0 && j < len)
            || (seg == 1 && path[i + 1] == '.')
            || (seg == 2 && path[i + 1] == '.' && path[i + 2] == '.'))
        {
            eci_err_set(err, "request path must not contain dot segments "
                        "or repeated slashes");
            return -1;
        }
    }

    return 0;
}


/*
 * RFC 3986 pchar without '%' (refused before) and with '/': unreserved,
 * sub-delims, ':' and '@'.  Everything else (quotes, brackets, '#', ...)
 * is a client bug or an attempt to confuse a parser.
 */

static int
eci_target_char_allowed(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return strchr("/-._~!$&'()*+,;=:@", c) != NULL;
}


static int
eci_target_ci_equal(const char *a, const char *b, size_t len)
{
    size_t         i;
    unsigned char  ca, cb;

    for (i = 0; i < len; i++) {
        ca = (unsigned char) a[i];
        cb = (unsigned char) b[i];

        if (ca >= 'A' && ca <= 'Z') {
            ca |= 0x20;
        }

        if (cb >= 'A' && cb <= 'Z') {
            cb |= 0x20;
        }

        if (ca != cb) {
            return 0;
        }
    }

    return 1;
}


/* decimal 1..INT32_MAX; no sign, no leading zeros, no spaces */

static int
eci_target_id_parse(const char *p, size_t len, int32_t *id)
{
    size_t   i;
    int64_t  v;

    if (len == 0 || len > ECI_ID_MAX_DIGITS || p[0] == '0') {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        v = v * 10 + (p[i] - '0');
    }

    if (v > INT32_MAX) {
        return -1;
    }

    *id = (int32_t) v;

    return 0;
}


/*
 * The query.  ASP.NET percent-decodes names and values (with '+' as space)
 * and binds names case-insensitively, so this does the same before
 * looking at them; the ids it returns are re-encoded canonically.
 *
 * A percent-encoded comma ("%2C") in a value splits it like a plain comma:
 * clients that encode every reserved character send commas that way.
 * eci_target_query_max_ids() counts "%2C" as well as ',' for that reason.
 * An encoded '&' or '=' in a value is just an invalid id.
 *
 * The limit of ECI_MAX_OVERRIDES is on the ids as given, before duplicates
 * are dropped: it bounds the work done for one request.
 */

size_t
eci_target_query_max_ids(const char *query, size_t len)
{
    size_t  i, n;

    n = 1;

    for (i = 0; i < len; i++) {

        if (query[i] == ',' || query[i] == '&') {
            n++;

        } else if (query[i] == '%' && i + 2 < len && query[i + 1] == '2'
                   && (query[i + 2] == 'C' || query[i + 2] == 'c'))
        {
            n++;
        }

        if (n > ECI_MAX_OVERRIDES) {
            return ECI_MAX_OVERRIDES + 1;
        }
    }

    return n;
}


eci_target_rc_t
eci_target_query_parse(const char *query, size_t len, int32_t *ids,
    size_t cap, size_t *n, int *present, eci_err_t *err)
{
    size_t       count;
    const char  *p, *end, *param_end, *eq;

    *n = 0;
    *present = 0;

    if (len == 0) {
        return ECI_TARGET_OK;
    }

    count = 0;
    p = query;
    end = query + len;

    for ( ;; ) {
        param_end = memchr(p, '&', end - p);
        if (param_end == NULL) {
            param_end = end;
        }

        if (param_end == p) {
            eci_err_set(err, "query must not contain empty parameters "
                        "(\"&&\", or a leading or trailing \"&\")");
            return ECI_TARGET_INVALID;
        }

        eq = memchr(p, '=', param_end - p);
        if (eq == NULL) {
            eci_err_set(err, "query parameter must have the form "
                        "name=value");
            return ECI_TARGET_INVALID;
        }

        if (eci_target_query_name_check(p, eq - p, err) != 0) {
            return ECI_TARGET_INVALID;
        }

        *present = 1;

        if (eci_target_query_value_parse(eq + 1, param_end - eq - 1, ids,
                                         cap, &count, err)
            != 0)
        {
            return ECI_TARGET_INVALID;
        }

        if (param_end == end) {
            break;
        }

        p = param_end + 1;
    }

    *n = eci_target_ids_dedup(ids, count);

    return ECI_TARGET_OK;
}


/* returns the next decoded byte and advances *pp, or -1 on a bad escape */

static int
eci_target_query_char(const char **pp, const char *end)
{
    int          i, c, d, v;
    const char  *p;

    p = *pp;

    if (*p == '+') {
        *pp = p + 1;
        return ' ';
    }

    if (*p != '%') {
        *pp = p + 1;
        return (unsigned char) *p;
    }

    if (end - p < 3) {
        return -1;
    }

    v = 0;

    for (i = 1; i <= 2; i++) {
        c = (unsigned char) p[i];

        if (c >= '0' && c <= '9') {
            d = c - '0';

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            d = (c | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        v = v * 16 + d;
    }

    *pp = p + 3;

    return v;
}


/* the decoded name must be overrideUserIds, in any case; never echoed */

static int
eci_target_query_name_check(const char *p, size_t len, eci_err_t *err)
{
    int          c, match;
    size_t       n;
    const char  *end;

    /* ECI_OVERRIDE_NAME in lower case */
    static const char  name[] = "overrideuserids";

    if (len == 0) {
        eci_err_set(err, "query parameter name must not be empty");
        return -1;
    }

    end = p + len;
    n = 0;
    match = 1;

    while (p < end) {
        c = eci_target_query_char(&p, end);

        if (c < 0) {
            eci_err_set(err, "query contains an invalid percent-escape");
            return -1;
        }

        if (c < 0x20 || c == 0x7f) {
            eci_err_set(err, "query must not contain control characters");
            return -1;
        }

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (n >= sizeof(name) - 1 || c != name[n]) {
            match = 0;
        }

        n++;
    }

    if (!match || n != sizeof(name) - 1) {
        eci_err_set(err, "unknown query parameter: only overrideUserIds "
                    "is accepted");
        return -1;
    }

    return 0;
}


static int
eci_target_query_value_parse(const char *p, size_t len, int32_t *ids,
    size_t cap, size_t *count, eci_err_t *err)
{
    int          c, last;
    size_t       digits;
    int64_t      v;
    const char  *end;

    if (len == 0) {
        eci_err_set(err, "overrideUserIds must not be empty");
        return -1;
    }

    end = p + len;
    digits = 0;
    v = 0;

    for ( ;; ) {

        /* the end of the value closes the last element like a ',' */
        last = (p == end);

        if (last) {
            c = ',';

        } else {
            c = eci_target_query_char(&p, end);

            if (c < 0) {
                eci_err_set(err, "query contains an invalid "
                            "percent-escape");
                return -1;
            }

            if (c < 0x20 || c == 0x7f) {
                eci_err_set(err, "query must not contain control "
                            "characters");
                return -1;
            }
        }

        if (c == ',') {
            if (digits == 0) {
                eci_err_set(err, "overrideUserIds must not contain empty "
                            "elements (\",,\", or a leading or trailing "
                            "\",\")");
                return -1;
            }

            if (v > INT32_MAX) {
                eci_err_set(err, "%s", eci_target_override_msg);
                return -1;
            }

            if (*count >= ECI_MAX_OVERRIDES) {
                eci_err_set(err, "at most %d overrideUserIds",
                            ECI_MAX_OVERRIDES);
                return -1;
            }

            if (*count >= cap) {
                /* the caller did not size ids with query_max_ids() */
                eci_err_set(err, "too many overrideUserIds");
                return -1;
            }

            ids[(*count)++] = (int32_t) v;

            if (last) {
                return 0;
            }

            digits = 0;
            v = 0;
            continue;
        }

        if (c < '0' || c > '9' || (digits == 0 && c == '0')
            || digits == ECI_ID_MAX_DIGITS)
        {
            eci_err_set(err, "%s", eci_target_override_msg);
            return -1;
        }

        v = v * 10 + (c - '0');
        digits++;
    }
}


/*
 * Drops duplicates keeping the first appearance, in O(n log n): a sorted
 * copy of (value, position) pairs finds the later copies, which are then
 * zeroed (ids are >= 1) and squeezed out.  Sorting cannot be driven into
 * its worst case by chosen ids as a hash table could.
 */

static size_t
eci_target_ids_dedup(int32_t *ids, size_t n)
{
    size_t              i, j, k;
    eci_target_pair_t  *pairs;

    if (n < 2) {
        return n;
    }

    pairs = NULL;

    if (n > ECI_DEDUP_SCAN_MAX) {
        pairs = malloc(n * sizeof(eci_target_pair_t));
    }

    if (pairs == NULL) {
        /* small n, or no memory: slower but still correct */
        k = 0;

        for (i = 0; i < n; i++) {
            for (j = 0; j < k; j++) {
                if (ids[j] == ids[i]) {
                    break;
                }
            }

            if (j == k) {
                ids[k++] = ids[i];
            }
        }

        return k;
    }

    for (i = 0; i < n; i++) {
        pairs[i].value = ids[i];
        pairs[i].index = (uint32_t) i;
    }

    qsort(pairs, n, sizeof(eci_target_pair_t), eci_target_pair_cmp);

    for (i = 1; i < n; i++) {
        if (pairs[i].value == pairs[i - 1].value) {
            ids[pairs[i].index] = 0;
        }
    }

    free(pairs);

    k = 0;

    for (i = 0; i < n; i++) {
        if (ids[i] != 0) {
            ids[k++] = ids[i];
        }
    }

    return k;
}


static int
eci_target_pair_cmp(const void *a, const void *b)
{
    const eci_target_pair_t  *pa, *pb;

    pa = a;
    pb = b;

    if (pa->value != pb->value) {
        return (pa->value < pb->value) ? -1 : 1;
    }

    if (pa->index != pb->index) {
        return (pa->index < pb->index) ? -1 : 1;
    }

    return 0;
}


size_t
eci_target_canonical_len(int32_t id, const int32_t *ids, size_t n)
{
    size_t  i, len;

    len = sizeof(ECI_EXEC_PATH_PREFIX) - 1 + eci_target_id_len(id)
          + sizeof(ECI_EXEC_PATH_SUFFIX) - 1;

    for (i = 0; i < n; i++) {
        /* '?' or '&' */
        len += 1 + sizeof(ECI_QUERY_PARAM) - 1 + eci_target_id_len(ids[i]);
    }

    return len;
}


size_t
eci_target_canonical_write(char *buf, size_t cap, int32_t id,
    const int32_t *ids, size_t n, size_t *path_len)
{
    char    *p;
    size_t   i, len;

    len = eci_target_canonical_len(id, ids, n);

    if (cap < len) {
        return 0;
    }

    p = buf;

    memcpy(p, ECI_EXEC_PATH_PREFIX, sizeof(ECI_EXEC_PATH_PREFIX) - 1);
    p += sizeof(ECI_EXEC_PATH_PREFIX) - 1;
    p = eci_target_id_write(p, id);
    memcpy(p, ECI_EXEC_PATH_SUFFIX, sizeof(ECI_EXEC_PATH_SUFFIX) - 1);
    p += sizeof(ECI_EXEC_PATH_SUFFIX) - 1;

    if (path_len != NULL) {
        *path_len = p - buf;
    }

    for (i = 0; i < n; i++) {
        *p++ = (i == 0) ? '?' : '&';
        memcpy(p, ECI_QUERY_PARAM, sizeof(ECI_QUERY_PARAM) - 1);
        p += sizeof(ECI_QUERY_PARAM) - 1;
        p = eci_target_id_write(p, ids[i]);
    }

    return p - buf;
}


/* ids here come from the parsers, but negative ones must not overrun */

static size_t
eci_target_id_len(int32_t id)
{
    size_t    len;
    uint32_t  v;

    len = 1;

    if (id < 0) {
        len++;
        v = (uint32_t) 0 - (uint32_t) id;

    } else {
        v = (uint32_t) id;
    }

    while (v >= 10) {
        v /= 10;
        len++;
    }

    return len;
}


static char *
eci_target_id_write(char *p, int32_t id)
{
    char      tmp[ECI_ID_MAX_DIGITS + 1];
    size_t    i;
    uint32_t  v;

    if (id < 0) {
        *p++ = '-';
        v = (uint32_t) 0 - (uint32_t) id;

    } else {
        v = (uint32_t) id;
    }

    i = sizeof(tmp);

    do {
        tmp[--i] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);

    memcpy(p, tmp + i, sizeof(tmp) - i);

    return p + sizeof(tmp) - i;
}
