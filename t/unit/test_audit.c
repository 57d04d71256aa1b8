/*
 * Unit tests of the audit record (eci_audit.c): the upstream response
 * parser, JSON escaping and the audit line.  Every line written is read
 * back with jansson, so "valid JSON on one line" is checked, not assumed.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_sha256.h"
#include "tap.h"


/* literal with its length, so embedded NULs count */
#define S(s)  (s), (sizeof(s) - 1)


/* the example from ExecuteReportDistributionV202106, as published */
static const char  example[] =
    "{  \"beginDate\": \"2026-03-30\",  \"endDate\": \"2026-03-30\",  "
    "\"numberOfRecipients\": 1,  \"reportDistribution\": {    "
    "\"createdByUser\": {      \"fullName\": \"string\",      "
    "\"userCode\": \"string\",      \"userId\": 1\n    },    "
    "\"reportCode\": \"string\",    \"reportDistributionId\": 1,    "
    "\"reportDistributionName\": \"string\"\n  },  "
    "\"reportDistributionLogId\": 1,  \"status\": \"string\"\n}";

static const char  *line_keys[] = {
    "time", "event", "requestId", "principal", "client", "method", "uri",
    "reportDistributionId", "overrideUserIds", "decision", "outcome",
    "error", "status", "upstreamStatus", "upstreamTimeMs", "clientClosed",
    "clientClosedAt", "responseBytes",
    "responseSha256", "responseTruncated", "responseValid", "response",
    NULL
};

static const char  *response_keys[] = {
    "reportDistributionLogId", "status", "numberOfRecipients", "beginDate",
    "endDate", "reportDistributionId", "reportCode",
    "reportDistributionName", "createdByUserId", NULL
};


/* each *_len is its string's strlen(): the line writer trusts them */
static int
lens_ok(const eci_audit_response_t *r)
{
    return r->status_len == strlen(r->status)
           && r->begin_date_len == strlen(r->begin_date)
           && r->end_date_len == strlen(r->end_date)
           && r->report_code_len == strlen(r->report_code)
           && r->report_distribution_name_len
              == strlen(r->report_distribution_name);
}


static int
parse(const char *body, eci_audit_response_t *out)
{
    int  rc;

    rc = eci_audit_response_parse(body, strlen(body), out);

    ok(lens_ok(out), "string lengths match their strings (%.40s)", body);

    return rc;
}


/* the body parses as invalid and leaves nothing behind */
static void
invalid(const char *body, size_t len, const char *name)
{
    int                    rc;
    eci_audit_response_t   r;

    memset(&r, 0x5a, sizeof(r));
    r.valid = 1;

    rc = eci_audit_response_parse(body, len, &r);

    ok(rc == 0 && r.valid == 0 && r.status[0] == '\0'
       && r.number_of_recipients == -1 && lens_ok(&r),
       "invalid: %s", name);
}


/* s is valid UTF-8: no character was cut in two */
static int
utf8_ok(const char *s)
{
    json_t  *j;
    int      good;

    j = json_string(s);     /* jansson refuses invalid UTF-8 */
    good = (j != NULL);
    json_decref(j);

    return good;
}


static size_t
escape(char *dst, const char *src, size_t len)
{
    size_t  n;

    n = eci_json_escape(dst, src, len);
    dst[n] = '\0';

    return n;
}


/*
 * Writes rec into a buffer of exactly eci_audit_line_max() bytes (so
 * valgrind sees any write past it) and checks the line's framing.
 */
static char *
write_line(const eci_audit_record_t *rec, size_t *lenp, const char *name)
{
    char    *buf;
    size_t   max, len;

    max = eci_audit_line_max(rec);
    buf = malloc(max + 1);

    if (buf == NULL) {
        perror("malloc");
        exit(2);
    }

    len = eci_audit_line_write(rec, buf, max);

    ok(len > 0 && len <= max, "%s: written, %zu <= line_max %zu", name,
       len, max);
    ok(len > 0 && buf[len - 1] == '\n'
       && memchr(buf, '\n', len - 1) == NULL,
       "%s: exactly one newline, at the end", name);

    buf[len] = '\0';
    *lenp = len;

    return buf;
}


static json_t *
read_line(const char *buf, size_t len, const char *name)
{
    json_t        *j;
    json_error_t   err;

    /* a NUL in a string comes out as \u0000, valid JSON */
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);

    ok(j != NULL && json_is_object(j), "%s: line parses as JSON", name);

    if (j == NULL) {
        printf("#   %s: %s\n#   %.200s\n", name, err.text, buf);
    }

    return j;
}


/* the keys come in the documented order (jansson keeps insertion order) */
static int
keys_in_order(json_t *obj, const char **order)
{
    size_t       i;
    const char  *key;
    json_t      *v;

    i = 0;

    json_object_foreach(obj, key, v) {
        (void) v;

        while (order[i] != NULL && strcmp(order[i], key) != 0) {
            i++;
        }

        if (order[i] == NULL) {
            printf("#   key \"%s\" out of order or unknown\n", key);
            return 0;
        }

        i++;
    }

    return 1;
}


static const char *
jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}


static long long
jint(json_t *obj, const char *key)
{
    json_t  *v;

    v = json_object_get(obj, key);

    return json_is_integer(v) ? (long long) json_integer_value(v) : -999999;
}


static int
jnull(json_t *obj, const char *key)
{
    return json_is_null(json_object_get(obj, key));
}


/* cap = actual - 1 fails without touching the guard bytes at [cap..] */
static void
too_small(const eci_audit_record_t *rec, size_t actual, const char *name)
{
    char    *buf;
    size_t   i, n, clean;

    buf = malloc(actual + 16);

    if (buf == NULL) {
        perror("malloc");
        exit(2);
    }

    memset(buf, 0xa5, actual + 16);

    n = eci_audit_line_write(rec, buf, actual - 1);

    clean = 1;
    for (i = actual - 1; i < actual + 16; i++) {
        if ((unsigned char) buf[i] != 0xa5) {
            clean = 0;
        }
    }

    ok(n == 0, "%s: cap = length - 1 returns 0", name);
    ok(clean, "%s: nothing written at or past cap", name);

    n = eci_audit_line_write(rec, buf, actual);
    is_int(n, actual, "%s: cap = length is enough", name);

    free(buf);
}


static void
test_parse(void)
{
    int                    rc;
    char                  *body;
    size_t                 i, n;
    eci_audit_response_t   r;

    rc = parse(example, &r);
    ok(rc == 1 && r.valid == 1, "API reference example parses valid");
    is_int(r.report_distribution_log_id, 1, "reportDistributionLogId");
    is_str(r.status, "string", "status");
    is_int(r.number_of_recipients, 1, "numberOfRecipients");
    ok(r.has_begin_date, "beginDate present");
    is_str(r.begin_date, "2026-03-30", "beginDate");
    ok(r.has_end_date, "endDate present");
    is_str(r.end_date, "2026-03-30", "endDate");
    is_int(r.report_distribution_id, 1, "reportDistributionId");
    ok(r.has_report_code, "reportCode present");
    is_str(r.report_code, "string", "reportCode");
    ok(r.has_report_distribution_name, "reportDistributionName present");
    is_str(r.report_distribution_name, "string", "reportDistributionName");
    is_int(r.created_by_user_id, 1, "createdByUser.userId");

    rc = parse("{\"reportDistributionLogId\":7,\"status\":\"In Progress\","
               "\"beginDate\":\"2026-11-29T07:05:03\",\"endDate\":null,"
               "\"numberOfRecipients\":3,"
               "\"reportDistribution\":{\"reportDistributionId\":42}}", &r);
    ok(rc == 1 && r.valid, "In Progress with endDate null is valid");
    ok(!r.has_end_date && r.end_date[0] == '\0', "endDate null: absent");
    is_int(r.report_distribution_id, 42, "reportDistributionId 42");
    ok(!r.has_report_code && !r.has_report_distribution_name,
       "absent reportCode and reportDistributionName");
    is_int(r.created_by_user_id, -1, "absent createdByUser: -1");

    rc = parse("{\"reportDistributionLogId\":8,\"status\":\"In Progress\","
               "\"reportDistribution\":{\"reportDistributionId\":42}}", &r);
    ok(rc == 1 && r.valid, "In Progress without endDate is valid");
    ok(!r.has_end_date && !r.has_begin_date, "no dates");
    is_int(r.number_of_recipients, -1, "absent numberOfRecipients: -1");
    is_str(r.status, "In Progress", "status In Progress");

    rc = parse("{\"reportDistributionLogId\":9,\"status\":\"Complete\","
               "\"endDate\":\"\",\"numberOfRecipients\":null,"
               "\"reportDistribution\":{\"reportDistributionId\":1,"
               "\"reportCode\":null,\"createdByUser\":null}}", &r);
    ok(rc == 1 && r.valid, "nulls in optional fields are valid");
    ok(r.has_end_date && r.end_date[0] == '\0',
       "endDate \"\" is present and empty, not null");
    ok(!r.has_report_code, "reportCode null: absent");
    is_int(r.number_of_recipients, -1, "numberOfRecipients null: -1");

    rc = parse("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
               "\"reportDistribution\":{\"reportDistributionId\":1,"
               "\"createdByUser\":{\"fullName\":null,\"userCode\":5}}}", &r);
    ok(rc == 1 && r.created_by_user_id == -1,
       "createdByUser without userId is valid; names are ignored");

    rc = parse("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
               "\"futureField\":{\"a\":[1,2,{\"b\":null}]},\"x\":1.5,"
               "\"reportDistribution\":{\"reportDistributionId\":5,"
               "\"schedule\":\"weekly\",\"createdByUser\":{\"userId\":3,"
               "\"email\":\"a@b\"}}}", &r);
    ok(rc == 1 && r.valid && r.created_by_user_id == 3,
       "unknown extra fields are ignored");

    invalid(S("{\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "missing reportDistributionLogId");
    invalid(S("{\"reportDistributionLogId\":null,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "null reportDistributionLogId");
    invalid(S("{\"reportDistributionLogId\":1,"
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "missing status");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\"}"),
            "missing reportDistribution");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{}}"),
            "missing reportDistribution.reportDistributionId");
    invalid(S("{\"reportDistributionLogId\":\"1\",\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "string reportDistributionLogId");
    invalid(S("{\"reportDistributionLogId\":1.0,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "real reportDistributionLogId");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"numberOfRecipients\":\"3\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "numberOfRecipients \"3\"");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":2,"
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "numeric status");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"beginDate\":20260330,"
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "numeric beginDate");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"endDate\":false,"
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "boolean endDate");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":[{\"reportDistributionId\":1}]}"),
            "reportDistribution an array");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":\"1\"}}"),
            "string reportDistributionId");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1,"
              "\"reportCode\":[]}}"),
            "array reportCode");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1,"
              "\"createdByUser\":\"admin\"}}"),
            "createdByUser a string");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1,"
              "\"createdByUser\":{\"userId\":\"1\"}}}"),
            "string createdByUser.userId");

    invalid(S("<html>502 Bad Gateway</html>"), "not JSON");
    invalid(example, sizeof(example) / 2, "truncated JSON");
    invalid("", 0, "empty body");
    invalid(NULL, 0, "NULL body");
    invalid(S("   "), "whitespace body");
    invalid(S("[{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}]"),
            "top-level array");
    invalid(S("\"Complete\""), "top-level string");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}} x"),
            "trailing garbage");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}{}"),
            "two documents");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"status\":\"Not sent\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "duplicate key status");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1,"
              "\"reportDistributionId\":2}}"),
            "duplicate nested key");

    /* keys are told apart by length and first 16 bytes, then in full */
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"x\":1,\"\\u0078\":2,"
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "duplicate short key, once escaped");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"aVeryLongKeyThatGoesOnAndOn\":1,"
              "\"aVeryLongKeyThatGoesOnAnd\\u004fn\":2,"
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "duplicate long key, escaped past the first 16 bytes");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
              "\"\\u0061VeryLongKeyThatGoesOnAndOnAndOnBeyondTheKeyBuffer\":1,"
              "\"aVeryLongKeyThatGoesOnAndOnAndOnBeyondTheKeyBuffer\":2,"
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "duplicate key longer than the key buffer, escaped at the start");
    rc = parse("{\"reportDistributionLogId\":1,\"status\":\"Complete\","
                 "\"aVeryLongKeyThatGoesOnAndOn\":1,"
                 "\"aVeryLongKeyThatGoesOnAndOm\":2,"
                 "\"aVeryLongKeyThatGoesOnAndOnAndOnBeyondTheKeyBuffer1\":3,"
                 "\"aVeryLongKeyThatGoesOnAndOnAndOnBeyondTheKeyBuffer2\":4,"
                 "\"reportDistribution\":{\"reportDistributionId\":1}}",
               &r);
    ok(rc == 1 && r.valid, "keys that differ only after 16 bytes, or after "
                           "the key buffer, are different keys");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"Com\\u0000\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "NUL escape in a string");
    invalid(S("{\"reportDistributionLogId\":1,\"status\":\"\xff\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "invalid UTF-8 in a string");
    invalid(S("{\"reportDistributionLogId\":99999999999999999999,"
              "\"status\":\"Complete\","
              "\"reportDistribution\":{\"reportDistributionId\":1}}"),
            "integer beyond 64 bits");

    /* a valid parse after an invalid one, into the same record */
    rc = parse(example, &r);
    invalid(S("{}"), "empty object");
    ok(rc == 1, "valid then invalid: the second leaves valid = 0");

    /* over-long strings: ASCII, 2-, 3- and 4-byte characters */
    body = malloc(4096);
    if (body == NULL) {
        exit(2);
    }

    n = (size_t) sprintf(body, "{\"reportDistributionLogId\":1,"
                         "\"status\":\"");
    for (i = 0; i < 600; i++) {
        body[n++] = 'a';
    }
    n += sprintf(body + n, "\",\"beginDate\":\"");
    for (i = 0; i < 300; i++) {
        n += sprintf(body + n, "\xc3\xa9");
    }
    n += sprintf(body + n, "\",\"endDate\":\"x");
    for (i = 0; i < 200; i++) {
        n += sprintf(body + n, "\xe2\x82\xac");
    }
    n += sprintf(body + n, "\",\"reportDistribution\":{"
                 "\"reportDistributionId\":1,\"reportCode\":\"");
    for (i = 0; i < 150; i++) {
        n += sprintf(body + n, "\xf0\x9f\x98\x80");
    }
    n += sprintf(body + n, "\",\"reportDistributionName\":\"");
    for (i = 0; i < ECI_AUDIT_FIELD_MAX - 1; i++) {
        body[n++] = 'n';
    }
    n += sprintf(body + n, "\"}}");

    rc = eci_audit_response_parse(body, n, &r);
    ok(rc == 1 && r.valid, "over-long strings: still valid");
    is_int(strlen(r.status), ECI_AUDIT_FIELD_MAX - 1,
           "600-byte ASCII status cut to 511 bytes");
    is_int(strlen(r.begin_date), 510, "2-byte characters cut to 510 bytes");
    ok(utf8_ok(r.begin_date), "2-byte cut on a character boundary");
    is_int(strlen(r.end_date), 511, "x + 3-byte characters cut to 511");
    ok(utf8_ok(r.end_date), "3-byte cut on a character boundary");
    is_int(strlen(r.report_code), 508, "4-byte characters cut to 508");
    ok(utf8_ok(r.report_code), "4-byte cut on a character boundary");
    is_int(strlen(r.report_distribution_name), ECI_AUDIT_FIELD_MAX - 1,
           "a string of exactly 511 bytes is kept whole");
    ok(lens_ok(&r), "over-long strings: lengths are the cut lengths");

    free(body);
}


static void
test_escape(void)
{
    int            good;
    char           dst[256], big[6 * 64 + 3];
    char           src[64];
    size_t         n, i, k;
    json_t        *j;
    uint32_t       seed;
    json_error_t   err;

    n = escape(dst, S("say \"hi\" \\ bye"));
    is_str(dst, "say \\\"hi\\\" \\\\ bye", "quotes and backslash");
    is_int(n, strlen(dst), "returns the bytes written");

    escape(dst, S("\b\f\n\r\t"));
    is_str(dst, "\\b\\f\\n\\r\\t", "short escapes");

    escape(dst, S("a\0b\x01\x1f\x7f"));
    is_str(dst, "a\\u0000b\\u0001\\u001f\\u007f", "NUL, controls, DEL");

    escape(dst, S("/<>'&~ "));
    is_str(dst, "/<>'&~ ", "other printable ASCII as is");

    escape(dst, S("\xff"));
    is_str(dst, "\\ufffd", "0xff: U+FFFD");

    escape(dst, S("\xe2\x82"));
    is_str(dst, "\\ufffd", "truncated e2 82: one U+FFFD");

    escape(dst, S("\xe2\x82x"));
    is_str(dst, "\\ufffdx", "truncated e2 82 before ASCII");

    escape(dst, S("\xc0\xaf"));
    is_str(dst, "\\ufffd\\ufffd", "overlong c0 af: two U+FFFD");

    escape(dst, S("\xe0\x80\xaf"));
    is_str(dst, "\\ufffd\\ufffd\\ufffd", "overlong e0 80 af");

    escape(dst, S("\xed\xa0\x80"));
    is_str(dst, "\\ufffd\\ufffd\\ufffd", "surrogate ed a0 80");

    escape(dst, S("\xf4\x90\x80\x80"));
    is_str(dst, "\\ufffd\\ufffd\\ufffd\\ufffd", "above U+10FFFF");

    escape(dst, S("\xf5\x80"));
    is_str(dst, "\\ufffd\\ufffd", "f5 lead byte");

    escape(dst, S("\x80"));
    is_str(dst, "\\ufffd", "lone continuation byte");

    escape(dst, S("\xf0\x9f\x98"));
    is_str(dst, "\\ufffd", "truncated 4-byte sequence at the end");

    escape(dst, S("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
                  "\xed\x9f\xbf \xef\xbf\xbf \xf4\x8f\xbf\xbf"));
    is_str(dst, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
                "\xed\x9f\xbf \xef\xbf\xbf \xf4\x8f\xbf\xbf",
           "valid multi-byte characters as is (incl. U+D7FF, U+10FFFF)");

    escape(dst, S("a\xe2\x80\xa8" "b\xe2\x80\xa9" "c\xe2\x80\xaa"));
    is_str(dst, "a\\u2028b\\u2029c\xe2\x80\xaa",
           "U+2028 and U+2029 escaped, U+202A not");

    is_int(eci_json_escape(dst, "", 0), 0, "empty input");

    memset(src, '\x01', sizeof(src));
    is_int(eci_json_escape(big, src, sizeof(src)), 6 * sizeof(src),
           "worst case is 6 bytes per input byte");

    /* random bytes: bounded, no raw control byte, always a JSON string */
    good = 1;
    seed = 12345;

    for (k = 0; k < 20000 && good; k++) {
        for (i = 0; i < sizeof(src); i++) {
            seed = seed * 1103515245 + 12345;
            src[i] = (char) (seed >> 16);

            /* bias towards UTF-8 structure so sequences get exercised */
            if ((seed >> 8 & 3) == 0) {
                src[i] = (char) (0x80 | (seed >> 24 & 0x3f));
            }
        }

        n = sizeof(src) - k % 7;

        big[0] = '"';
        i = eci_json_escape(big + 1, src, n);
        big[i + 1] = '"';

        if (i > 6 * n) {
            good = 0;
        }

        for (n = 1; n <= i; n++) {
            if ((unsigned char) big[n] < 0x20 || big[n] == 0x7f) {
                good = 0;
            }
        }

        j = json_loadb(big, i + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (!json_is_string(j)) {
            printf("#   %s\n", err.text);
            good = 0;
        }
        json_decref(j);
    }

    ok(good, "20000 random inputs: <= 6 bytes per byte, no raw control, "
       "valid JSON string");
}


static void
fill_response(eci_audit_response_t *r)
{
    if (parse(example, r) != 1) {
        printf("# example did not parse\n");
    }
}


static void
test_lines(void)
{
    char                  *buf, *big;
    size_t                 len, i, n, cap, guard_ok, zero_ok;
    json_t                *j, *v, *resp;
    int32_t               *ids;
    const char            *s;
    eci_audit_record_t     rec;
    eci_audit_response_t   r, bad;
    static const char      nasty[] =
        "q\"b\\s\nn\0z\x7f\xff|\xe2\x82|\xc0\xaf|\xed\xa0\x80|"
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8.";
    static const char      nasty_decoded[] =
        "q\"b\\s\nn\0z\x7f\xef\xbf\xbd|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xe2\x80\xa8.";
    static const char      valid_principal[] =
        "svc-r\xc3\xa9porting \xe2\x82\xac \xf0\x9f\x98\x80 \"x\"\\\t";

    /* a denied request: nothing reached the upstream */
    memset(&rec, 0, sizeof(rec));
    rec.time_ms = 1795935903123LL;
    rec.request_id.data = "4f1c0e";
    rec.request_id.len = 6;
    rec.client.data = "192.0.2.10";
    rec.client.len = 10;
    rec.method.data = "POST";
    rec.method.len = 4;
    rec.uri.data = "/api/v202106/reportdistribution/abc/exec";
    rec.uri.len = strlen(rec.uri.data);
    rec.decision = "deny";
    rec.error = "unknown_key";
    rec.status = 401;
    rec.upstream_time_ms = -1;

    buf = write_line(&rec, &len, "denied");
    j = read_line(buf, len, "denied");
    ok(keys_in_order(j, line_keys), "denied: keys in the documented order");
    is_int(json_object_size(j), 20, "denied: 20 keys (no event, response)");
    is_str(jstr(j, "outcome"), "sent", "denied: outcome as the record says");
    ok(json_is_false(json_object_get(j, "clientClosed")),
       "denied: clientClosed false");
    ok(jnull(j, "clientClosedAt"), "denied: clientClosedAt null");
    is_str(jstr(j, "time"), "2026-11-29T07:05:03.123Z", "denied: time");
    ok(json_object_get(j, "event") == NULL, "denied: no event key");
    is_str(jstr(j, "requestId"), "4f1c0e", "denied: requestId");
    ok(jnull(j, "principal"), "denied: principal null");
    is_str(jstr(j, "client"), "192.0.2.10", "denied: client");
    is_str(jstr(j, "method"), "POST", "denied: method");
    is_str(jstr(j, "uri"), rec.uri.data, "denied: uri");
    ok(jnull(j, "reportDistributionId"), "denied: id null");
    ok(jnull(j, "overrideUserIds"), "denied: overrideUserIds null");
    is_str(jstr(j, "decision"), "deny", "denied: decision");
    is_str(jstr(j, "error"), "unknown_key", "denied: error");
    is_int(jint(j, "status"), 401, "denied: status");
    ok(jnull(j, "upstreamStatus") && jnull(j, "upstreamTimeMs")
       && jnull(j, "responseBytes") && jnull(j, "responseSha256")
       && jnull(j, "responseTruncated") && jnull(j, "responseValid"),
       "denied: every upstream field null");
    ok(json_object_get(j, "response") == NULL, "denied: no response");
    too_small(&rec, len, "denied");
    json_decref(j);
    free(buf);

    /* every cap short of the line fails cleanly */
    big = malloc(len + 16);
    if (big == NULL) {
        exit(2);
    }

    guard_ok = 1;
    zero_ok = 1;

    for (cap = 0; cap < len; cap++) {
        memset(big, 0xa5, len + 16);

        if (eci_audit_line_write(&rec, big, cap) != 0) {
            zero_ok = 0;
        }

        for (i = cap; i < len + 16; i++) {
            if ((unsigned char) big[i] != 0xa5) {
                guard_ok = 0;
            }
        }
    }

    ok(zero_ok, "denied: every cap from 0 to length - 1 returns 0");
    ok(guard_ok, "denied: no cap is ever written past");
    free(big);

    /* an allowed request with a parsed response */
    fill_response(&r);

    memset(&rec, 0, sizeof(rec));
    ids = malloc(10000 * sizeof(int32_t));
    if (ids == NULL) {
        exit(2);
    }
    ids[0] = 17;
    ids[1] = 23;

    rec.time_ms = 951868799999LL;
    rec.event = "result";
    rec.request_id.data = "req-1";
    rec.request_id.len = 5;
    rec.principal.data = valid_principal;
    rec.principal.len = sizeof(valid_principal) - 1;
    rec.client.data = "2001:db8::1";
    rec.client.len = 11;
    rec.method.data = "POST";
    rec.method.len = 4;
    rec.uri.data = "/api/v202106/reportdistribution/42/exec"
                   "?overrideUserIds=17&overrideUserIds=23";
    rec.uri.len = strlen(rec.uri.data);
    rec.report_distribution_id = 42;
    rec.override_user_ids = ids;
    rec.n_override_user_ids = 2;
    rec.has_override_user_ids = 1;
    rec.decision = "allow";
    rec.status = 200;
    rec.upstream_status = 200;
    rec.upstream_time_ms = 0;
    rec.has_response = 1;
    rec.response_bytes = sizeof(example) - 1;
    for (i = 0; i < 32; i++) {
        rec.response_sha256[i] = (unsigned char) (i * 8 + 0x0a);
    }
    rec.response = &r;
    rec.outcome = ECI_OUTCOME_UNKNOWN;
    rec.client_closed_ms = 1795935903123LL;

    buf = write_line(&rec, &len, "allowed");
    j = read_line(buf, len, "allowed");
    ok(keys_in_order(j, line_keys), "allowed: keys in the documented order");
    is_int(json_object_size(j), 22, "allowed: 22 keys");
    is_str(jstr(j, "outcome"), "unknown", "allowed: outcome");
    ok(json_is_true(json_object_get(j, "clientClosed")),
       "allowed: clientClosed true");
    is_str(jstr(j, "clientClosedAt"), "2026-11-29T07:05:03.123Z",
           "allowed: clientClosedAt");
    is_str(jstr(j, "time"), "2000-02-29T23:59:59.999Z", "allowed: time");
    is_str(jstr(j, "event"), "result", "allowed: event");
    v = json_object_get(j, "principal");
    ok(json_is_string(v) && json_string_length(v) == rec.principal.len
       && memcmp(json_string_value(v), rec.principal.data,
                 rec.principal.len) == 0,
       "allowed: UTF-8 principal round-trips exactly");
    is_str(jstr(j, "client"), "2001:db8::1", "allowed: client");
    is_int(jint(j, "reportDistributionId"), 42, "allowed: id");
    v = json_object_get(j, "overrideUserIds");
    ok(json_is_array(v) && json_array_size(v) == 2
       && json_integer_value(json_array_get(v, 0)) == 17
       && json_integer_value(json_array_get(v, 1)) == 23,
       "allowed: overrideUserIds [17,23]");
    ok(jnull(j, "error"), "allowed: error null");
    is_int(jint(j, "upstreamStatus"), 200, "allowed: upstreamStatus");
    is_int(jint(j, "upstreamTimeMs"), 0, "allowed: upstreamTimeMs 0");
    is_int(jint(j, "responseBytes"), sizeof(example) - 1,
           "allowed: responseBytes");
    is_str(jstr(j, "responseSha256"),
           "0a121a222a323a424a525a626a727a828a929aa2aab2bac2cad2dae2eaf2fa02",
           "allowed: responseSha256 lowercase hex");
    ok(json_is_false(json_object_get(j, "responseTruncated")),
       "allowed: responseTruncated false");
    ok(json_is_true(json_object_get(j, "responseValid")),
       "allowed: responseValid true");

    resp = json_object_get(j, "response");
    ok(json_is_object(resp) && keys_in_order(resp, response_keys)
       && json_object_size(resp) == 9,
       "allowed: response object with its 9 keys in order");
    is_int(jint(resp, "reportDistributionLogId"), 1,
           "response: reportDistributionLogId");
    is_str(jstr(resp, "status"), "string", "response: status");
    is_int(jint(resp, "numberOfRecipients"), 1,
           "response: numberOfRecipients");
    is_str(jstr(resp, "beginDate"), "2026-03-30", "response: beginDate");
    is_str(jstr(resp, "endDate"), "2026-03-30", "response: endDate");
    is_int(jint(resp, "reportDistributionId"), 1,
           "response: reportDistributionId");
    is_str(jstr(resp, "reportCode"), "string", "response: reportCode");
    is_str(jstr(resp, "reportDistributionName"), "string",
           "response: reportDistributionName");
    is_int(jint(resp, "createdByUserId"), 1, "response: createdByUserId");
    too_small(&rec, len, "allowed");
    json_decref(j);
    free(buf);

    /* In Progress: absent fields are null in the line */
    (void) parse("{\"reportDistributionLogId\":5,\"status\":\"In Progress\","
                 "\"beginDate\":\"2026-11-29\",\"endDate\":null,"
                 "\"reportDistribution\":{\"reportDistributionId\":42,"
                 "\"reportCode\":\"\"}}", &r);
    rec.response_truncated = 1;
    buf = write_line(&rec, &len, "in progress");
    j = read_line(buf, len, "in progress");
    resp = json_object_get(j, "response");
    ok(jnull(resp, "endDate") && jnull(resp, "numberOfRecipients")
       && jnull(resp, "reportDistributionName")
       && jnull(resp, "createdByUserId"),
       "in progress: absent response fields are null");
    is_str(jstr(resp, "reportCode"), "", "in progress: \"\" stays \"\"");
    is_str(jstr(resp, "status"), "In Progress", "in progress: status");
    ok(json_is_true(json_object_get(j, "responseTruncated")),
       "in progress: responseTruncated true");
    json_decref(j);
    free(buf);

    /* a body that did not parse, and one never parsed */
    memset(&bad, 0, sizeof(bad));
    (void) parse("not json", &bad);
    rec.response = &bad;
    buf = write_line(&rec, &len, "invalid response");
    j = read_line(buf, len, "invalid response");
    ok(json_is_false(json_object_get(j, "responseValid"))
       && json_object_get(j, "response") == NULL
       && json_is_string(json_object_get(j, "responseSha256")),
       "invalid response: responseValid false, no response object");
    json_decref(j);
    free(buf);

    rec.response = NULL;
    buf = write_line(&rec, &len, "no response");
    j = read_line(buf, len, "no response");
    ok(json_is_false(json_object_get(j, "responseValid"))
       && json_object_get(j, "response") == NULL,
       "response NULL: responseValid false, no response object");
    json_decref(j);
    free(buf);

    /* a principal with everything that needs escaping */
    rec.principal.data = nasty;
    rec.principal.len = sizeof(nasty) - 1;
    buf = write_line(&rec, &len, "nasty principal");
    j = read_line(buf, len, "nasty principal");
    v = json_object_get(j, "principal");
    ok(json_is_string(v)
       && json_string_length(v) == sizeof(nasty_decoded) - 1
       && memcmp(json_string_value(v), nasty_decoded,
                 sizeof(nasty_decoded) - 1) == 0,
       "nasty principal: decodes to the input with U+FFFD for bad bytes");
    like(buf, "\\u2028", "nasty principal: U+2028 escaped in the line");
    like(buf, "\\u0000", "nasty principal: NUL escaped in the line");
    ok(strstr(buf, "\xe2\x80\xa8") == NULL,
       "nasty principal: no raw U+2028 in the line");
    json_decref(j);
    free(buf);

    /* a 4 KiB principal of worst-case bytes, and a 10 KB uri */
    big = malloc(10240);
    if (big == NULL) {
        exit(2);
    }

    for (i = 0; i < 4096; i++) {
        big[i] = "\"\x01\xc3\xa9\\\xff"[i % 6];
    }

    rec.principal.data = big;
    rec.principal.len = 4096;
    buf = write_line(&rec, &len, "4 KiB principal");
    j = read_line(buf, len, "4 KiB principal");
    v = json_object_get(j, "principal");
    ok(json_is_string(v) && json_string_length(v) > 4096,
       "4 KiB principal: all of it in the line");
    too_small(&rec, len, "4 KiB principal");
    json_decref(j);
    free(buf);

    rec.principal.data = "svc";
    rec.principal.len = 3;

    memset(big, 'u', 10240);
    rec.uri.data = big;
    rec.uri.len = 10240;
    buf = write_line(&rec, &len, "10 KB uri");
    j = read_line(buf, len, "10 KB uri");
    s = jstr(j, "uri");
    ok(s != NULL && strlen(s) == ECI_AUDIT_URI_MAX
       && strspn(s, "u") == ECI_AUDIT_URI_MAX,
       "10 KB uri: cut to its first 2048 bytes");
    json_decref(j);
    free(buf);

    /* the cut falls inside a character: step back to its start */
    memcpy(big + 2046, "\xe2\x82\xac", 3);
    buf = write_line(&rec, &len, "uri cut in a character");
    j = read_line(buf, len, "uri cut in a character");
    s = jstr(j, "uri");
    ok(s != NULL && strlen(s) == 2046 && strspn(s, "u") == 2046,
       "uri cut before a 3-byte character crossing 2048");
    json_decref(j);
    free(buf);

    /* escaping grows it, the cut is of input bytes */
    memset(big, '"', 10240);
    buf = write_line(&rec, &len, "uri of quotes");
    j = read_line(buf, len, "uri of quotes");
    s = jstr(j, "uri");
    ok(s != NULL && strlen(s) == ECI_AUDIT_URI_MAX,
       "uri of quotes: 2048 input bytes, 4096 escaped");
    json_decref(j);
    free(buf);

    rec.uri.data = "/api/v202106/reportdistribution/42/exec";
    rec.uri.len = strlen(rec.uri.data);
    free(big);

    /* 10,000 override ids, including the extremes */
    for (i = 0; i < 10000; i++) {
        ids[i] = (int32_t) (i * 7919 + 1);
    }
    ids[0] = INT32_MIN;
    ids[9999] = INT32_MAX;
    ids[5000] = -1;
    rec.n_override_user_ids = 10000;

    buf = write_line(&rec, &len, "10000 ids");
    j = read_line(buf, len, "10000 ids");
    v = json_object_get(j, "overrideUserIds");
    n = 0;
    for (i = 0; json_is_array(v) && i < json_array_size(v); i++) {
        if (json_integer_value(json_array_get(v, i)) == ids[i]) {
            n++;
        }
    }
    ok(json_array_size(v) == 10000 && n == 10000,
       "10000 ids: every id written in order");
    too_small(&rec, len, "10000 ids");
    json_decref(j);

    /* the bounded form: the count, and the digest of the list above */
    {
        char           *from, *to, *buf2, want[80], got[80];
        unsigned char   md[32];

        /* "[...]" as the full line has it */
        from = strstr(buf, "\"overrideUserIds\":") + 18;
        to = strstr(from, "],\"decision\"") + 1;
        eci_sha256(from, to - from, md);
        memcpy(want, "sha256:", 7);
        eci_hex(want + 7, md, 32);
        want[71] = '\0';
        free(buf);

        eci_audit_ids_digest(ids, 10000, md);
        memcpy(got, "sha256:", 7);
        eci_hex(got + 7, md, 32);
        got[71] = '\0';
        is_str(got, want,
               "eci_audit_ids_digest() hashes the list as the line has it");

        rec.override_user_ids_bounded = 1;
        buf = write_line(&rec, &len, "10000 ids bounded");
        j = read_line(buf, len, "10000 ids bounded");
        ok(json_object_get(j, "overrideUserIds") == NULL,
           "bounded: no overrideUserIds");
        is_int(json_integer_value(json_object_get(j, "overrideUserIdCount")),
               10000, "bounded: overrideUserIdCount");
        is_str(json_string_value(json_object_get(j,
                                                 "overrideUserIdsDigest")),
               want, "bounded: overrideUserIdsDigest, sha256: and hex");
        ok(len < 2048, "bounded: %zu bytes", len);
        too_small(&rec, len, "10000 ids bounded");
        json_decref(j);

        rec.has_override_user_ids = 0;
        buf2 = write_line(&rec, &len, "bounded, no ids");
        j = read_line(buf2, len, "bounded, no ids");
        ok(json_is_null(json_object_get(j, "overrideUserIds"))
           && json_object_get(j, "overrideUserIdCount") == NULL,
           "bounded without overrides: overrideUserIds null, no count");
        json_decref(j);
        free(buf2);
        rec.has_override_user_ids = 1;
        rec.override_user_ids_bounded = 0;
    }

    free(buf);

    rec.n_override_user_ids = 0;
    buf = write_line(&rec, &len, "empty id list");
    j = read_line(buf, len, "empty id list");
    v = json_object_get(j, "overrideUserIds");
    ok(json_is_array(v) && json_array_size(v) == 0,
       "has_override_user_ids with none: []");
    json_decref(j);
    free(buf);

    /* every digit count, and the numbers around each power of ten */
    {
        int       bad_num;
        char      want[64];
        uint64_t  p10, d;

        bad_num = 0;
        rec.response = NULL;
        rec.has_response = 1;
        n = 0;

        for (p10 = 1; ; p10 *= 10) {
            for (d = 0; d < 3; d++) {
                uint64_t  vals[3];

                vals[0] = p10 - 1 + d;          /* 10^k - 1, 10^k, +1 */
                vals[1] = p10 * 5 + d;
                vals[2] = (p10 - 1) * 9 / 7;

                for (i = 0; i < 3; i++) {
                    char  line[4096];

                    rec.response_bytes = vals[i];
                    len = eci_audit_line_write(&rec, line, sizeof(line) - 1);
                    line[len] = '\0';
                    snprintf(want, sizeof(want), "\"responseBytes\":%llu,",
                             (unsigned long long) vals[i]);
                    bad_num += (len == 0 || strstr(line, want) == NULL);
                    n++;
                }
            }

            if (p10 > UINT64_MAX / 10) {
                break;
            }
        }

        is_int(bad_num, 0, "numbers of every digit count written exactly "
                           "(%zu values)", n);
    }

    /* numbers at their widest */
    fill_response(&r);
    r.report_distribution_log_id = INT64_MIN;
    r.number_of_recipients = INT64_MAX;
    r.report_distribution_id = INT64_MIN;
    r.created_by_user_id = INT64_MIN;
    rec.response = &r;
    rec.report_distribution_id = INT32_MIN;
    rec.override_user_ids = ids;
    rec.n_override_user_ids = 3;
    ids[0] = ids[1] = ids[2] = INT32_MIN;
    rec.status = INT32_MIN;
    rec.upstream_status = INT32_MIN;
    rec.upstream_time_ms = INT64_MIN;
    rec.response_bytes = UINT64_MAX;
    rec.event = "intent";
    rec.error = "upstream \"timed out\"\n";

    /* UINT64_MAX is beyond what jansson reads back: check the text */
    n = eci_audit_line_max(&rec);
    buf = malloc(n);
    if (buf == NULL) {
        exit(2);
    }

    len = eci_audit_line_write(&rec, buf, n);
    ok(len > 0 && len <= n, "widest numbers: %zu <= line_max %zu", len, n);
    buf[len > 0 ? len - 1 : 0] = '\0';
    like(buf, "\"responseBytes\":18446744073709551615,",
         "widest numbers: UINT64_MAX bytes");
    like(buf, "\"upstreamTimeMs\":-9223372036854775808,",
         "widest numbers: INT64_MIN");
    like(buf, "[-2147483648,-2147483648,-2147483648]",
         "widest numbers: INT32_MIN ids");
    like(buf, "\"error\":\"upstream \\\"timed out\\\"\\n\"",
         "error escaped");
    like(buf, "{\"time\":\"2000-02-29T23:59:59.999Z\",\"event\":\"intent\","
         "\"requestId\":", "the line starts with time, event, requestId");
    free(buf);
    free(ids);
}


static void test_time_sweep(eci_audit_record_t *rec, char *buf, size_t cap);


static void
test_time(void)
{
    char                 buf[512];
    size_t               len;
    json_t              *j;
    eci_audit_record_t   rec;
    struct {
        int64_t      ms;
        const char  *want;
    } cases[] = {
        { 0, "1970-01-01T00:00:00.000Z" },
        { 1795935903123LL, "2026-11-29T07:05:03.123Z" },
        { 951868799999LL, "2000-02-29T23:59:59.999Z" },
        { 1000, "1970-01-01T00:00:01.000Z" },
        { 7, "1970-01-01T00:00:00.007Z" },
        { -1, "1969-12-31T23:59:59.999Z" },
        { 253402300799999LL, "9999-12-31T23:59:59.999Z" },
    };
    size_t               i;

    memset(&rec, 0, sizeof(rec));
    rec.decision = "deny";
    rec.upstream_time_ms = -1;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rec.time_ms = cases[i].ms;
        len = eci_audit_line_write(&rec, buf, sizeof(buf));
        j = (len > 0) ? json_loadb(buf, len, 0, NULL) : NULL;
        is_str(jstr(j, "time"), cases[i].want, "time %lld",
               (long long) cases[i].ms);
        json_decref(j);
    }

    rec.time_ms = 253402300800000LL;
    len = eci_audit_line_write(&rec, buf, sizeof(buf));
    j = (len > 0) ? json_loadb(buf, len, 0, NULL) : NULL;
    ok(j != NULL && jnull(j, "time"), "year 10000: time null");
    json_decref(j);

    rec.time_ms = INT64_MAX;
    len = eci_audit_line_write(&rec, buf, sizeof(buf));
    j = (len > 0) ? json_loadb(buf, len, 0, NULL) : NULL;
    ok(j != NULL && jnull(j, "time"), "INT64_MAX ms: time null");
    json_decref(j);

    rec.time_ms = INT64_MIN;
    len = eci_audit_line_write(&rec, buf, sizeof(buf));
    j = (len > 0) ? json_loadb(buf, len, 0, NULL) : NULL;
    ok(j != NULL && jnull(j, "time"), "INT64_MIN ms: time null");
    json_decref(j);

    test_time_sweep(&rec, buf, sizeof(buf));
}


/* the writer's date arithmetic against gmtime_r, years 0000 to 9999 */
static void
test_time_sweep(eci_audit_record_t *rec, char *buf, size_t cap)
{
    char        want[64];
    size_t      len, bad, n;
    time_t      t;
    int64_t     sec;
    struct tm   tm;

    bad = 0;
    n = 0;

    /* 0000-01-01 to 9999-12-31, every 6 days and 7,919 s apart */
    for (sec = -62167219200LL; sec < 253402300800LL;
         sec += 6 * 86400 + 7919)
    {
        t = (time_t) sec;

        if (gmtime_r(&t, &tm) == NULL) {
            bad++;
            continue;
        }

        snprintf(want, sizeof(want),
                 "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, (int) (n % 1000));

        rec->time_ms = sec * 1000 + (int64_t) (n % 1000);
        len = eci_audit_line_write(rec, buf, cap);

        if (len < strlen(want) || memcmp(buf, want, strlen(want)) != 0) {
            if (bad++ == 0) {
                printf("#   %lld: got %.36s want %s\n", (long long) sec,
                       buf, want);
            }
        }

        n++;
    }

    ok(n > 500000 && bad == 0, "time agrees with gmtime_r at %zu instants "
                               "from 0000-01-01 to 9999-12-31", n);
}


/*
 * A string field written by the line writer's fast paths (short strings
 * by overlapping loads, longer ones 16 bytes at a time) is exactly what
 * eci_json_escape() makes of it: every byte value at the first, a middle
 * and the last place of strings of 1 to 40 bytes, each string in a
 * buffer of its own length (so ASan or valgrind see any read past it).
 */
static void
test_short_strings(void)
{
    char                *s, *buf, *at, want[6 * 40 + 2];
    size_t               n, k, w, len, bad, cases;
    unsigned             c;
    eci_audit_record_t   rec;
    static const char    key[] = "\"principal\":\"";

    buf = malloc(4096);
    if (buf == NULL) {
        perror("malloc");
        exit(2);
    }

    memset(&rec, 0, sizeof(rec));
    rec.decision = "allow";
    rec.upstream_time_ms = -1;

    for (n = 1; n <= 40; n++) {
        bad = 0;
        cases = 0;

        for (k = 0; k < n; k += (n > 2) ? (n - 1) / 2 : 1) {
            for (c = 0; c < 256; c++) {
                s = malloc(n);
                if (s == NULL) {
                    perror("malloc");
                    exit(2);
                }

                memset(s, 'a' + (int) (n % 26), n);
                s[k] = (char) c;

                rec.principal.data = s;
                rec.principal.len = n;

                len = eci_audit_line_write(&rec, buf, 4096);
                w = eci_json_escape(want, s, n);
                want[w] = '"';

                at = (len > 0) ? strstr(buf, key) : NULL;

                if (at == NULL
                    || memcmp(at + sizeof(key) - 1, want, w + 1) != 0)
                {
                    if (bad++ == 0) {
                        printf("#   length %zu, byte 0x%02x at %zu\n", n, c,
                               k);
                    }
                }

                cases++;
                free(s);
            }
        }

        ok(bad == 0, "a %zu-byte string with each byte value in %zu "
                     "places is written as eci_json_escape() writes it",
           n, cases / 256);
    }

    free(buf);
}


int
main(void)
{
    test_parse();
    test_escape();
    test_lines();
    test_short_strings();
    test_time();

    return done_testing();
}
