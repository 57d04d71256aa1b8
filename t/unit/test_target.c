/*
 * Unit tests of the exec request target parser (eci_target.c).
 */

#include <stdlib.h>
#include <string.h>

#include "eci_target.h"
#include "tap.h"


#define P  "/api/v202106/reportdistribution/"

/* literal with its length, so embedded NULs count */
#define S(s)  (s), (sizeof(s) - 1)


static const char  *id_msg =
    "report distribution id must be a decimal integer from 1 to "
    "2147483647 without leading zeros";


/* a message is one printable line */
static int
msg_clean(const char *msg)
{
    const unsigned char  *p;

    for (p = (const unsigned char *) msg; *p != '\0'; p++) {
        if (*p < 0x20 || *p >= 0x7f) {
            return 0;
        }
    }

    return msg[0] != '\0';
}


static void
path_ok(const char *path, size_t len, int32_t want)
{
    int32_t          id;
    eci_err_t        err;
    eci_target_rc_t  rc;

    id = -1;
    err.msg[0] = '\0';
    rc = eci_target_path_parse(path, len, &id, &err);

    is_int(rc, ECI_TARGET_OK, "path %s is the exec operation", path);
    is_int(id, want, "path %s: id %d", path, (int) want);
}


static void
path_bad(const char *path, size_t len, eci_target_rc_t want,
    const char *msg, const char *name)
{
    int32_t          id;
    eci_err_t        err;
    eci_target_rc_t  rc;

    id = -1;
    err.msg[0] = '\0';
    rc = eci_target_path_parse(path, len, &id, &err);

    is_int(rc, want, "%s: %s", name,
           want == ECI_TARGET_INVALID ? "invalid" : "not found");
    like(err.msg, msg, "%s: message", name);
    ok(msg_clean(err.msg), "%s: message is printable", name);
    is_int(id, -1, "%s: id untouched", name);
}


static void
test_paths(void)
{
    int32_t    id;
    eci_err_t  err;

    path_ok(S(P "1/exec"), 1);
    path_ok(S(P "42/exec"), 42);
    path_ok(S(P "1000000000/exec"), 1000000000);
    path_ok(S(P "2147483647/exec"), 2147483647);

    /* the length is what counts, not a NUL */
    id = 0;
    is_int(eci_target_path_parse(P "42/exec/..", sizeof(P "42/exec") - 1,
                                 &id, &err),
           ECI_TARGET_OK, "path is read up to len only");
    is_int(id, 42, "id read up to len only");

    /* percent-encoding, anywhere */
    path_bad(S(P "%34%32/exec"), ECI_TARGET_INVALID,
             "must not contain percent-encoding", "encoded id");
    path_bad(S(P "42/%65xec"), ECI_TARGET_INVALID,
             "must not contain percent-encoding", "encoded exec");
    path_bad(S(P "42%2Fexec"), ECI_TARGET_INVALID,
             "must not contain percent-encoding", "encoded slash");
    path_bad(S("/api%2Fv202106/reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "must not contain percent-encoding",
             "encoded slash in prefix");
    path_bad(S("/health%20check"), ECI_TARGET_INVALID,
             "must not contain percent-encoding", "encoding elsewhere");

    /* path parameters */
    path_bad(S(P "42;x=1/exec"), ECI_TARGET_INVALID,
             "must not contain path parameters", "path parameter on id");
    path_bad(S(P "42/exec;jsessionid=1"), ECI_TARGET_INVALID,
             "must not contain path parameters", "path parameter on exec");
    path_bad(S("/api;/v202106/reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "must not contain path parameters",
             "path parameter on prefix");

    /* backslashes */
    path_bad(S(P "42\\exec"), ECI_TARGET_INVALID,
             "must not contain backslashes", "backslash before exec");
    path_bad(S("/api\\v202106\\reportdistribution\\42\\exec"),
             ECI_TARGET_INVALID, "must not contain backslashes",
             "backslashes everywhere");

    /* repeated slashes */
    path_bad(S("//api/v202106/reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "dot segments or repeated slashes",
             "leading double slash");
    path_bad(S("/api/v202106//reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "dot segments or repeated slashes",
             "double slash in prefix");
    path_bad(S(P "/42/exec"), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "double slash before id");
    path_bad(S(P "42//exec"), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "double slash after id");
    path_bad(S(P "42/exec//"), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "double trailing slash");
    path_bad(S(P "/exec"), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "empty id");

    /* dot segments */
    path_bad(S("/api/v202106/./reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "dot segments or repeated slashes",
             "/./ in prefix");
    path_bad(S("/api/v202106/x/../reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "dot segments or repeated slashes",
             "/../ in prefix");
    path_bad(S(P "42/./exec"), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "/./ before exec");
    path_bad(S(P "42/exec/."), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "trailing /.");
    path_bad(S(P "42/exec/.."), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "trailing /..");
    path_bad(S(P "42/exec/x/.."), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "trailing /x/..");
    path_bad(S("/.."), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "/..");
    path_bad(S("/./health"), ECI_TARGET_INVALID,
             "dot segments or repeated slashes", "dot segment elsewhere");

    /* bytes outside printable ASCII */
    path_bad(S(P "42\0/exec"), ECI_TARGET_INVALID,
             "only printable ASCII", "NUL");
    path_bad(S(P "42/exec\0"), ECI_TARGET_INVALID,
             "only printable ASCII", "trailing NUL");
    path_bad(S(P "42\t/exec"), ECI_TARGET_INVALID,
             "only printable ASCII", "tab");
    path_bad(S(P " 42/exec"), ECI_TARGET_INVALID,
             "only printable ASCII", "space");
    path_bad(S(P "42/exec\r\n"), ECI_TARGET_INVALID,
             "only printable ASCII", "CRLF");
    path_bad(S(P "42/exec\x7f"), ECI_TARGET_INVALID,
             "only printable ASCII", "DEL");
    path_bad(S(P "42/ex\xc3\xa9" "c"), ECI_TARGET_INVALID,
             "only printable ASCII", "UTF-8");
    path_bad(S(P "\xd9\xa1/exec"), ECI_TARGET_INVALID,
             "only printable ASCII", "arabic-indic digit");
    path_bad(S(P "42/exec\x80"), ECI_TARGET_INVALID,
             "only printable ASCII", "byte 0x80");

    /* characters a URI path cannot hold */
    path_bad(S(P "42/exec#x"), ECI_TARGET_INVALID,
             "not allowed in a URI path", "fragment");
    path_bad(S(P "\"42\"/exec"), ECI_TARGET_INVALID,
             "not allowed in a URI path", "quotes");
    path_bad(S(P "{42}/exec"), ECI_TARGET_INVALID,
             "not allowed in a URI path", "braces");
    path_bad(S(P "42|1/exec"), ECI_TARGET_INVALID,
             "not allowed in a URI path", "pipe");

    /* must start with '/' */
    path_bad(S(""), ECI_TARGET_INVALID, "must start with", "empty path");
    path_bad(S("api/v202106/reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "must start with", "relative path");
    path_bad(S("*"), ECI_TARGET_INVALID, "must start with", "asterisk");

    /* case variants */
    path_bad(S("/API/v202106/reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "is case-sensitive", "/API");
    path_bad(S("/api/V202106/reportdistribution/42/exec"),
             ECI_TARGET_INVALID, "is case-sensitive", "/V202106");
    path_bad(S("/api/v202106/ReportDistribution/42/exec"),
             ECI_TARGET_INVALID, "is case-sensitive", "/ReportDistribution");
    path_bad(S(P "42/Exec"), ECI_TARGET_INVALID,
             "is case-sensitive", "/Exec");
    path_bad(S(P "42/EXEC"), ECI_TARGET_INVALID,
             "is case-sensitive", "/EXEC");

    /* trailing slash */
    path_bad(S(P "42/exec/"), ECI_TARGET_INVALID,
             "must not end with", "trailing slash");
    path_bad(S("/API/v202106/reportdistribution/42/EXEC/"),
             ECI_TARGET_INVALID, "must not end with",
             "trailing slash on a case variant");

    /* ids */
    path_bad(S(P "042/exec"), ECI_TARGET_INVALID, id_msg, "leading zero");
    path_bad(S(P "00/exec"), ECI_TARGET_INVALID, id_msg, "id 00");
    path_bad(S(P "0/exec"), ECI_TARGET_INVALID, id_msg, "id 0");
    path_bad(S(P "2147483648/exec"), ECI_TARGET_INVALID, id_msg,
             "id 2^31");
    path_bad(S(P "4294967297/exec"), ECI_TARGET_INVALID, id_msg,
             "id 2^32 + 1");
    path_bad(S(P "99999999999/exec"), ECI_TARGET_INVALID, id_msg,
             "id with 11 digits");
    path_bad(S(P "18446744073709551617/exec"), ECI_TARGET_INVALID, id_msg,
             "id 2^64 + 1");
    path_bad(S(P "abc/exec"), ECI_TARGET_INVALID, id_msg, "id abc");
    path_bad(S(P "+1/exec"), ECI_TARGET_INVALID, id_msg, "id +1");
    path_bad(S(P "-1/exec"), ECI_TARGET_INVALID, id_msg, "id -1");
    path_bad(S(P "1e3/exec"), ECI_TARGET_INVALID, id_msg, "id 1e3");
    path_bad(S(P "0x10/exec"), ECI_TARGET_INVALID, id_msg, "id 0x10");
    path_bad(S(P "1.0/exec"), ECI_TARGET_INVALID, id_msg, "id 1.0");
    path_bad(S(P "42./exec"), ECI_TARGET_INVALID, id_msg, "id 42.");
    path_bad(S(P "{id}/exec"), ECI_TARGET_INVALID,
             "not allowed in a URI path", "id {id}");

    /* extra segments under the prefix that end in /exec */
    path_bad(S(P "1/2/exec"), ECI_TARGET_INVALID,
             "exactly one segment", "two ids");
    path_bad(S(P "x/42/exec"), ECI_TARGET_INVALID,
             "exactly one segment", "extra segment before id");
    path_bad(S(P "42/exec/exec"), ECI_TARGET_INVALID,
             "exactly one segment", "exec twice");
    path_bad(S("/api/v202106/reportdistribution/42/exec/EXEC"),
             ECI_TARGET_INVALID, "is case-sensitive",
             "exec twice, case variant");

    /* the message never echoes the caller's bytes */
    err.msg[0] = '\0';
    (void) eci_target_path_parse(S(P "EVILMARKER/exec"), &id, &err);
    ok(strstr(err.msg, "EVILMARKER") == NULL, "id is not echoed");

    err.msg[0] = '\0';
    (void) eci_target_path_parse(S("/EVILMARKER"), &id, &err);
    ok(strstr(err.msg, "EVILMARKER") == NULL, "404 path is not echoed");

    /* plainly different paths */
    path_bad(S("/"), ECI_TARGET_NOT_FOUND, "no such operation", "/");
    path_bad(S("/health"), ECI_TARGET_NOT_FOUND, "no such operation",
             "/health");
    path_bad(S(P "5"), ECI_TARGET_NOT_FOUND, "no such operation",
             "distribution without exec");
    path_bad(S(P "5/"), ECI_TARGET_NOT_FOUND, "no such operation",
             "distribution with slash");
    path_bad(S("/api/v202106/reportdistribution"), ECI_TARGET_NOT_FOUND,
             "no such operation", "collection");
    path_bad(S(P), ECI_TARGET_NOT_FOUND, "no such operation",
             "collection with slash");
    path_bad(S(P "exec"), ECI_TARGET_NOT_FOUND, "no such operation",
             "id exec");
    path_bad(S("/api/v202106/other/5/exec"), ECI_TARGET_NOT_FOUND,
             "no such operation", "other controller");
    path_bad(S("/api/v202106/reportdistributions/5/exec"),
             ECI_TARGET_NOT_FOUND, "no such operation",
             "similar controller");
    path_bad(S("/api/v202201/reportdistribution/5/exec"),
             ECI_TARGET_NOT_FOUND, "no such operation", "other version");
    path_bad(S(P "5/execute"), ECI_TARGET_NOT_FOUND, "no such operation",
             "other action");
    path_bad(S(P "5/exec/more"), ECI_TARGET_NOT_FOUND, "no such operation",
             "below exec");
    path_bad(S("/API/v202106/reportdistribution/5"), ECI_TARGET_NOT_FOUND,
             "no such operation", "case variant of another path");
    path_bad(S("/api/v202106/reportdistribution/5/.exec"),
             ECI_TARGET_NOT_FOUND, "no such operation", "dot file");
}


static void
query_ok(const char *q, size_t len, const int32_t *want, size_t nwant,
    const char *name)
{
    int              present, same;
    size_t           i, n, cap;
    int32_t         *ids;
    eci_err_t        err;
    eci_target_rc_t  rc;

    cap = eci_target_query_max_ids(q, len);
    ids = calloc(cap, sizeof(int32_t));

    n = 12345;
    present = -1;
    err.msg[0] = '\0';
    rc = eci_target_query_parse(q, len, ids, cap, &n, &present, &err);

    is_int(rc, ECI_TARGET_OK, "%s: ok", name);

    if (rc != ECI_TARGET_OK) {
        printf("#   %s\n", err.msg);
    }

    is_int(present, nwant > 0, "%s: present", name);
    is_int(n, nwant, "%s: %d ids", name, (int) nwant);

    same = (n == nwant);

    for (i = 0; same && i < n; i++) {
        same = (ids[i] == want[i]);
    }

    ok(same, "%s: ids in order of first appearance", name);

    free(ids);
}


static void
query_bad(const char *q, size_t len, const char *msg, const char *name)
{
    int              present;
    size_t           n, cap;
    int32_t         *ids;
    eci_err_t        err;
    eci_target_rc_t  rc;

    cap = eci_target_query_max_ids(q, len);
    ids = calloc(cap, sizeof(int32_t));

    err.msg[0] = '\0';
    rc = eci_target_query_parse(q, len, ids, cap, &n, &present, &err);

    is_int(rc, ECI_TARGET_INVALID, "%s: invalid", name);
    like(err.msg, msg, "%s: message", name);
    ok(msg_clean(err.msg), "%s: message is printable", name);

    free(ids);
}


/* "overrideUserIds=1,2,...,count" with each id repeated rep times */
static char *
ids_query(size_t count, size_t rep, int distinct)
{
    char    *q, *p;
    size_t   i, r;

    q = malloc(32 + count * rep * 12);
    p = q + sprintf(q, "overrideUserIds=");

    for (i = 0; i < count; i++) {
        for (r = 0; r < rep; r++) {
            p += sprintf(p, "%s%d", (i == 0 && r == 0) ? "" : ",",
                         distinct ? (int) (count - i) : 7);
        }
    }

    return q;
}


static void
test_queries(void)
{
    int              present;
    char            *q;
    size_t           i, n, cap;
    int32_t         *ids;
    eci_err_t        err;
    eci_target_rc_t  rc;

    static const int32_t  one[] = { 7 };
    static const int32_t  three[] = { 7, 8, 9 };
    static const int32_t  five[] = { 5 };
    static const int32_t  dedup[] = { 9, 7, 8, 10 };
    static const int32_t  max[] = { 2147483647, 1 };

    query_ok(S(""), NULL, 0, "empty query");
    query_ok(S("overrideUserIds=7"), one, 1, "one id");
    query_ok(S("overrideUserIds=7,8,9"), three, 3, "comma list");
    query_ok(S("overrideUserIds=7&overrideUserIds=8&overrideUserIds=9"),
             three, 3, "repeated parameter");
    query_ok(S("overrideUserIds=7,8&OverrideUserIds=9"), three, 3,
             "lists and repeats mix");
    query_ok(S("overrideuserids=5"), five, 1, "lower-case name");
    query_ok(S("OVERRIDEUSERIDS=5"), five, 1, "upper-case name");
    query_ok(S("overrideUser%49ds=5"), five, 1, "encoded letter in name");
    query_ok(S("%6fverrideuser%69ds=5"), five, 1, "lower-case escapes");
    query_ok(S("overrideUserIds=%37"), one, 1, "encoded digit");
    query_ok(S("overrideUserIds=7%2C8%2c9"), three, 3,
             "encoded commas split");
    query_ok(S("overrideUserIds=2147483647,1"), max, 2, "largest id");
    query_ok(S("overrideUserIds=9,7,9,8,7&overrideUserIds=8,10,9"),
             dedup, 4, "duplicates dropped, first appearance kept");
    query_ok(S("overrideUserIds=7,7,7,7"), one, 1, "all duplicates");

    /* names */
    query_bad(S("overrideUserIds[0]=1"), "unknown query parameter",
              "indexed name");
    query_bad(S("overrideUserIds[]=1"), "unknown query parameter",
              "bracket name");
    query_bad(S("overrideUserIds.x=1"), "unknown query parameter",
              "dotted name");
    query_bad(S("overrideUserId=1"), "unknown query parameter",
              "short name");
    query_bad(S("overrideUserIdss=1"), "unknown query parameter",
              "long name");
    query_bad(S("override+UserIds=1"), "unknown query parameter",
              "plus in name");
    /* names as long as overrideUserIds, one character off */
    query_bad(S("xverrideUserIds=1"), "unknown query parameter",
              "first character off");
    query_bad(S("overrideXserIds=1"), "unknown query parameter",
              "middle character off");
    query_bad(S("overrideUserIdx=1"), "unknown query parameter",
              "last character off");
    query_bad(S("overrideUserId%78=1"), "unknown query parameter",
              "encoded last character off");
    query_bad(S("api_key_abcdefg=1"), "unknown query parameter",
              "another name of the same length");
    query_bad(S("overrideUserIds=7&api_key=x"), "unknown query parameter",
              "second unknown parameter");
    query_bad(S("=1"), "name must not be empty", "empty name");
    query_bad(S("overrideUserIds"), "must have the form name=value",
              "name without '='");
    query_bad(S("overrideUserIds=7&x"), "must have the form name=value",
              "second name without '='");
    query_bad(S("&"), "empty parameters", "lone '&'");
    query_bad(S("&overrideUserIds=1"), "empty parameters", "leading '&'");
    query_bad(S("overrideUserIds=1&"), "empty parameters", "trailing '&'");
    query_bad(S("overrideUserIds=1&&overrideUserIds=2"), "empty parameters",
              "'&&'");

    err.msg[0] = '\0';
    ids = calloc(4, sizeof(int32_t));
    rc = eci_target_query_parse(S("EVILMARKER=1"), ids, 4, &n, &present,
                                &err);
    is_int(rc, ECI_TARGET_INVALID, "unknown name refused");
    ok(strstr(err.msg, "EVILMARKER") == NULL, "unknown name is not echoed");

    /* escapes and control bytes */
    query_bad(S("overrideUserIds=%zz"), "invalid percent-escape",
              "bad escape in value");
    query_bad(S("overrideUserIds=7%2"), "invalid percent-escape",
              "short escape in value");
    query_bad(S("overrideUserIds=%"), "invalid percent-escape",
              "lone '%' in value");
    query_bad(S("overrideUser%4=1"), "invalid percent-escape",
              "short escape in name");
    query_bad(S("%=1"), "invalid percent-escape", "lone '%' in name");
    query_bad(S("overrideUserIds=7%00"), "control characters",
              "encoded NUL in value");
    query_bad(S("overrideUserIds%00=7"), "control characters",
              "encoded NUL in name");
    query_bad(S("overrideUserIds=7%0a8"), "control characters",
              "encoded LF in value");
    query_bad(S("overrideUserIds=7\x01"), "control characters",
              "raw control byte");
    query_bad(S("overrideUserIds=7\0"), "control characters", "raw NUL");
    query_bad(S("overrideUserIds=7%7F"), "control characters",
              "encoded DEL");

    /* values */
    query_bad(S("overrideUserIds="), "must not be empty", "empty value");
    query_bad(S("overrideUserIds=7&overrideUserIds="), "must not be empty",
              "second value empty");
    query_bad(S("overrideUserIds=7,,8"), "empty elements", "',,'");
    query_bad(S("overrideUserIds=7,"), "empty elements", "trailing ','");
    query_bad(S("overrideUserIds=,7"), "empty elements", "leading ','");
    query_bad(S("overrideUserIds=7%2C"), "empty elements",
              "trailing encoded ','");
    query_bad(S("overrideUserIds=0"), "from 1 to 2147483647", "id 0");
    query_bad(S("overrideUserIds=07"), "without leading zeros",
              "leading zero");
    query_bad(S("overrideUserIds=7,08"), "without leading zeros",
              "leading zero in a list");
    query_bad(S("overrideUserIds=-1"), "from 1 to 2147483647", "id -1");
    query_bad(S("overrideUserIds=+1"), "from 1 to 2147483647",
              "id +1 ('+' is a space)");
    query_bad(S("overrideUserIds=%2B1"), "from 1 to 2147483647",
              "id %2B1");
    query_bad(S("overrideUserIds=7+"), "from 1 to 2147483647",
              "trailing space");
    query_bad(S("overrideUserIds=7%208"), "from 1 to 2147483647",
              "space between ids");
    query_bad(S("overrideUserIds=1e3"), "from 1 to 2147483647", "id 1e3");
    query_bad(S("overrideUserIds=0x10"), "from 1 to 2147483647",
              "id 0x10");
    query_bad(S("overrideUserIds=abc"), "from 1 to 2147483647", "id abc");
    query_bad(S("overrideUserIds=2147483648"), "from 1 to 2147483647",
              "id 2^31");
    query_bad(S("overrideUserIds=99999999999"), "from 1 to 2147483647",
              "11 digits");
    query_bad(S("overrideUserIds=18446744073709551617"),
              "from 1 to 2147483647", "id 2^64 + 1");
    query_bad(S("overrideUserIds=7;8"), "from 1 to 2147483647",
              "';' is not a separator");
    query_bad(S("overrideUserIds=7%268"), "from 1 to 2147483647",
              "encoded '&' does not split");
    query_bad(S("overrideUserIds=7=8"), "from 1 to 2147483647",
              "'=' in value");
    query_bad(S("overrideUserIds=7%3D8"), "from 1 to 2147483647",
              "encoded '=' in value");
    query_bad(S("overrideUserIds=\xd9\xa1"), "from 1 to 2147483647",
              "non-ASCII digit");

    /* the upper bound */
    is_int(eci_target_query_max_ids(S("")), 1, "max ids of empty query");
    is_int(eci_target_query_max_ids(S("overrideUserIds=1,2&overrideUserIds"
                                      "=3")),
           3, "max ids counts ',' and '&'");
    is_int(eci_target_query_max_ids(S("overrideUserIds=1%2C2%2c3,4")), 4,
           "max ids counts %%2C");

    q = ids_query(ECI_MAX_OVERRIDES * 3, 1, 1);
    is_int(eci_target_query_max_ids(q, strlen(q)), ECI_MAX_OVERRIDES + 1,
           "max ids is capped");
    free(q);

    /* cap too small */
    rc = eci_target_query_parse(S("overrideUserIds=1,2,3"), ids, 2, &n,
                                &present, &err);
    is_int(rc, ECI_TARGET_INVALID, "too small a buffer is refused");
    free(ids);

    /* the limit */
    q = ids_query(ECI_MAX_OVERRIDES, 1, 1);
    cap = eci_target_query_max_ids(q, strlen(q));
    is_int(cap, ECI_MAX_OVERRIDES, "10000 ids: max ids is exact");
    ids = calloc(cap, sizeof(int32_t));
    rc = eci_target_query_parse(q, strlen(q), ids, cap, &n, &present, &err);
    is_int(rc, ECI_TARGET_OK, "10000 ids accepted");
    is_int(n, ECI_MAX_OVERRIDES, "10000 ids returned");

    for (i = 0; i < n && ids[i] == (int32_t) (ECI_MAX_OVERRIDES - i); i++) {
        /* void */
    }

    is_int(i, ECI_MAX_OVERRIDES, "10000 ids kept their order");
    free(ids);
    free(q);

    q = ids_query(ECI_MAX_OVERRIDES + 1, 1, 1);
    query_bad(q, strlen(q), "at most 10000 overrideUserIds", "10001 ids");
    free(q);

    /* the limit counts ids as given, before duplicates are dropped */
    q = ids_query(1, ECI_MAX_OVERRIDES + 1, 0);
    query_bad(q, strlen(q), "at most 10000 overrideUserIds",
              "10001 copies of one id");
    free(q);

    q = ids_query(1, ECI_MAX_OVERRIDES, 0);
    query_ok(q, strlen(q), one, 1, "10000 copies of one id");
    free(q);

    /* 10000 ids, every one twice: the dedup is not quadratic */
    q = ids_query(ECI_MAX_OVERRIDES / 2, 2, 1);
    cap = eci_target_query_max_ids(q, strlen(q));
    ids = calloc(cap, sizeof(int32_t));
    rc = eci_target_query_parse(q, strlen(q), ids, cap, &n, &present, &err);
    is_int(rc, ECI_TARGET_OK, "5000 ids twice accepted");
    is_int(n, ECI_MAX_OVERRIDES / 2, "5000 distinct ids returned");
    ok(ids[0] == ECI_MAX_OVERRIDES / 2 && ids[n - 1] == 1,
       "5000 distinct ids in order");
    free(ids);
    free(q);
}


static void
test_canonical(void)
{
    int              present;
    char             buf[512];
    size_t           len, plen, n;
    int32_t          id, ids[8];
    eci_err_t        err;

    static const int32_t  two[] = { 7, 2147483647 };
    static const char     want[] =
        P "2147483647/exec?overrideUserIds=7&overrideUserIds=2147483647";

    len = eci_target_canonical_write(buf, sizeof(buf), 42, NULL, 0, &plen);
    is_int(len, sizeof(P "42/exec") - 1, "canonical path length");
    buf[len] = '\0';
    is_str(buf, P "42/exec", "canonical path without overrides");
    is_int(plen, len, "path length without overrides");
    is_int(eci_target_canonical_len(42, NULL, 0), len,
           "canonical_len without overrides");

    len = eci_target_canonical_write(buf, sizeof(buf), 2147483647, two, 2,
                                     &plen);
    buf[len] = '\0';
    is_str(buf, want, "canonical target with overrides");
    is_int(len, sizeof(want) - 1, "canonical target length");
    is_int(plen, sizeof(P "2147483647/exec") - 1, "path part length");
    is_int(eci_target_canonical_len(2147483647, two, 2), len,
           "canonical_len with overrides");

    len = eci_target_canonical_write(buf, sizeof(want) - 1, 2147483647, two,
                                     2, NULL);
    is_int(len, sizeof(want) - 1, "exact cap is enough; path_len NULL");

    len = eci_target_canonical_write(buf, sizeof(want) - 2, 2147483647, two,
                                     2, NULL);
    is_int(len, 0, "one byte short: nothing written");

    len = eci_target_canonical_write(buf, 0, 1, NULL, 0, NULL);
    is_int(len, 0, "cap 0: nothing written");

    /* what is written parses back to the same values */
    len = eci_target_canonical_write(buf, sizeof(buf), 2147483647, two, 2,
                                     &plen);
    id = 0;
    is_int(eci_target_path_parse(buf, plen, &id, &err), ECI_TARGET_OK,
           "canonical path parses");
    is_int(id, 2147483647, "canonical path round trip");
    is_int(eci_target_query_parse(buf + plen + 1, len - plen - 1, ids, 8,
                                  &n, &present, &err),
           ECI_TARGET_OK, "canonical query parses");
    ok(n == 2 && ids[0] == 7 && ids[1] == 2147483647,
       "canonical query round trip");
}


int
main(void)
{
    test_paths();
    test_queries();
    test_canonical();

    return done_testing();
}
