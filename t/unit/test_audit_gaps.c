/*
 * Audit behaviours a mutant of eci_audit.c showed no test pinned down
 * (issue 18): a multi-byte UTF-8 character cut off at the very end of a
 * response body or of a record's string, read from exact-size heap copies
 * (no terminator: ASan sees a read one byte past), and the chain seal and
 * seq given a line that does not end in "}\n".  The seal is tested through
 * eci_chain_seal() (the SHA-256 chain); the chain's rework may move
 * it.  Then numbers in a body (a minus, fractions, exponents, digits to
 * the end of the body), and lines refused whole when a digest, a SHA-256
 * or an escaped string does not fit, and 0 written as 0.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "eci_audit.h"
#include "eci_chain.h"
#include "tap.h"


static const char  body_json[] =
    "{\"reportDistributionLogId\":7,\"status\":\"Succ\xc3\xa8s\","
    "\"numberOfRecipients\":2,\"beginDate\":\"2026-01-01T00:00:00\","
    "\"endDate\":null,\"reportDistribution\":{\"reportDistributionId\":42,"
    "\"reportCode\":\"R\xe2\x82\xac\",\"reportDistributionName\":"
    "\"caf\xc3\xa9 \xf0\x9f\x98\x80\",\"extra\":\"\xe2\x80\xa8x\"},"
    "\"createdByUser\":{\"userId\":5,\"name\":\"\xf0\x9f\x98\x80\"}}";


/* a record of an event (NULL: none) and decision, the rest empty */
static void
record_init(eci_audit_record_t *rec, const char *event, const char *decision)
{
    memset(rec, 0, sizeof(eci_audit_record_t));
    rec->time_ms = 1767225600000LL;
    rec->event = event;
    rec->intent = (event != NULL && strcmp(event, "intent") == 0);
    rec->decision = decision;
    rec->upstream_time_ms = -1;
}


/* an allowed POST of uri (len bytes) with status 200, the rest empty */
static void
record_post(eci_audit_record_t *rec, const char *uri, size_t len)
{
    record_init(rec, NULL, "allow");
    rec->method.data = "POST";
    rec->method.len = 4;
    rec->uri.data = uri;
    rec->uri.len = len;
    rec->status = 200;
}


/* len bytes of body parsed from an exact-size heap copy (ASan sees any
   read past its end) */
static int
parse_exact(const char *body, size_t len, eci_audit_response_t *r)
{
    int    rc;
    char  *b;

    b = tap_copy(body, len);
    rc = eci_audit_response_parse(b, len, r);
    free(b);

    return rc;
}


static void
test_body_prefixes(void)
{
    char                  *b;
    size_t                 len, cut, bad;
    eci_audit_response_t   r;

    len = sizeof(body_json) - 1;
    b = tap_copy(body_json, len);
    is_int(eci_audit_response_parse(b, len, &r), 1,
           "the whole body (exact-size copy) is valid");
    is_int(r.report_distribution_id, 42, "its reportDistributionId");
    is_str(r.report_distribution_name, "caf\xc3\xa9 \xf0\x9f\x98\x80",
           "its name, with 2- and 4-byte characters");
    free(b);

    /* every cut: mid-character, mid-escape, mid-number, mid-literal */
    bad = 0;
    for (cut = 0; cut < len; cut++) {
        b = tap_copy(body_json, cut);
        if (eci_audit_response_parse(b, cut, &r) != 0 || r.valid != 0) {
            bad++;
        }
        free(b);
    }
    is_int(bad, 0, "each of the %zu prefixes (exact-size copies) is "
           "invalid", len);

    /* a body that ends right inside a character of a string */
    {
        static const char  *ends[] = {
            "{\"status\":\"a\xc3", "{\"status\":\"a\xe2\x82",
            "{\"status\":\"a\xe2", "{\"status\":\"\xf0\x9f\x98",
            "{\"x\":\"\xf0\x9f", "{\"\xe2\x82", "{\"a\":[\"\xc3"
        };
        size_t  i;

        for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
            len = strlen(ends[i]);
            b = tap_copy(ends[i], len);
            is_int(eci_audit_response_parse(b, len, &r), 0,
                   "body ending mid-character (%zu bytes) is invalid", len);
            free(b);
        }
    }
}


/* every escape a response string may hold, decoded to its bytes */

static void
test_body_escapes(void)
{
    static const char  body[] =
        "{\"reportDistributionLogId\":7,\"status\":\"ok\","
        "\"reportDistribution\":{\"reportDistributionId\":42,"
        "\"reportDistributionName\":"
        "\"\\b\\f\\n\\r\\t\\/\\\\\\\"\\u0041\\u00e9\\u07ff"
        "\\u0800\\uffff\\ud800\\udc00\\udbff\\udfff"
        "\\ud83d\\ude00\\uDB80\\uDC00\","
        "\"flag\":false,\"other\":true,\"none\":null}}";
    static const char  want[] =
        "\b\f\n\r\t/\\\"A\xc3\xa9\xdf\xbf"
        "\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"
        "\xf0\x9f\x98\x80\xf3\xb0\x80\x80";
    eci_audit_response_t   r;

    is_int(parse_exact(body, sizeof(body) - 1, &r), 1,
           "a body with every kind of escape, false, true and null is "
           "valid");
    is_int(r.report_distribution_name_len, sizeof(want) - 1,
           "the decoded name's length");
    ok(r.report_distribution_name_len == sizeof(want) - 1
       && memcmp(r.report_distribution_name, want, sizeof(want) - 1) == 0,
       "\\b \\f \\n \\r \\t \\/ \\\\ \\\" and \\u escapes of 1 to 4 "
       "UTF-8 bytes (surrogate pairs up to U+10FFFF) decode exactly");
}


/* record strings cut anywhere, as exact-size copies */

static void
test_record_strings(void)
{
    static const char  s[] = "/x\xc3\xa9y\xe2\x82\xac\xf0\x9f\x98\x80z";
    char                *u, *line;
    size_t               cut, max, len, bad;
    eci_audit_record_t   rec;

    bad = 0;

    for (cut = 0; cut <= sizeof(s) - 1; cut++) {
        u = tap_copy(s, cut);
        record_post(&rec, u, cut);
        rec.request_id.data = u;
        rec.request_id.len = cut;
        rec.client.data = u;
        rec.client.len = cut;

        max = eci_audit_line_max(&rec);
        line = malloc(max);
        len = eci_audit_line_write(&rec, line, max);

        if (len == 0 || len > max || line[len - 1] != '\n'
            || line[len - 2] != '}' || memchr(line, '\n', len - 1) != NULL)
        {
            bad++;
        }

        free(line);
        free(u);
    }

    is_int(bad, 0, "a line is written for each cut of a UTF-8 string "
           "(exact-size copies)");
}


static void
test_seal_needs_a_line(void)
{
    static const char  *bad[] = {
        "{\"a\":1}", "{\"a\":1}x", "{\"a\":1\n", "{\"a\":1}\n\n",
        "{\"a\":1} \n", "}", "\n", "", "x\n", "\n}"
    };
    char                *line;
    size_t               i, len, cap;
    eci_err_t            err;
    eci_chain_t          c, before;

    ok(eci_chain_init(&c, 1795935903123LL, &err) == 0, "chain state");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        len = strlen(bad[i]);
        cap = len + ECI_CHAIN_ROOM;
        line = malloc(cap);
        memcpy(line, bad[i], len);
        before = c;

        is_int(eci_chain_seal(&c, line, len, cap), 0,
               "seal refuses a line not ending in }\\n (#%zu)", i);
        ok(memcmp(line, bad[i], len) == 0
           && memcmp(&c, &before, sizeof(c)) == 0,
           "the line and the chain are left as they were (#%zu)", i);

        free(line);
    }

    /* the shortest line of ours, "}\n", in a buffer of exactly the room */
    cap = 2 + ECI_CHAIN_ROOM;
    line = malloc(cap);
    memcpy(line, "}\n", 2);
    len = eci_chain_seal(&c, line, 2, cap);
    ok(len > 2 && len <= cap && line[len - 1] == '\n'
       && line[len - 2] == '}' && line[0] == ',' && c.seq == 1,
       "seal accepts \"}\\n\" and ends it in }\\n (%zu bytes)", len);
    free(line);
}


/*
 * The uri is cut at 2048 bytes, stepping back only to a UTF-8 lead byte:
 * continuation bytes after ASCII, or four in a row, are garbage that is
 * escaped, and the cut stays at 2048.
 */

static int
uri_in_line(const char *uri, size_t len, const char *want)
{
    int                  found;
    char                *u, *line, *expect;
    size_t               max, n;
    eci_audit_record_t   rec;

    u = tap_copy(uri, len);
    record_post(&rec, u, len);

    max = eci_audit_line_max(&rec);
    line = malloc(max + 1);
    n = eci_audit_line_write(&rec, line, max);
    line[n] = '\0';

    expect = malloc(strlen(want) + 16);
    sprintf(expect, ",\"uri\":\"%s\",", want);
    found = (n > 0 && strstr(line, expect) != NULL);

    if (!found) {
        printf("# line: %.80s...\n", line);
    }

    free(expect);
    free(line);
    free(u);

    return found;
}


static void
test_uri_cut(void)
{
    char  uri[2100], want[2048 + 3 * 6 + 1];

    /* ASCII at 2047, a stray continuation byte at 2048 */
    memset(uri, 'x', sizeof(uri));
    uri[2047] = 'a';
    uri[2048] = (char) 0x80;
    memcpy(want, uri, 2048);
    want[2048] = '\0';
    ok(uri_in_line(uri, sizeof(uri), want), "uri cut at 2048 when the byte "
       "there continues no character: the ASCII before it kept");

    /* four continuation bytes up to 2048: no lead byte to step back to */
    memset(uri, 'x', sizeof(uri));
    memset(uri + 2045, 0x80, 4);
    memset(want, 'x', 2045);
    strcpy(want + 2045, "\\ufffd\\ufffd\\ufffd");
    ok(uri_in_line(uri, sizeof(uri), want), "uri of four continuation "
       "bytes across 2048: cut at 2048, the three before it escaped");

    /* a 2-byte character at 2047: stepped back to its lead byte */
    memset(uri, 'x', sizeof(uri));
    memcpy(uri + 2047, "\xc3\xa9", 2);
    memset(want, 'x', 2047);
    want[2047] = '\0';
    ok(uri_in_line(uri, sizeof(uri), want), "uri cut before a 2-byte "
       "character crossing 2048");

    /* 0xc0, the lowest lead byte (of overlong forms only), is one too */
    uri[2047] = (char) 0xc0;
    uri[2048] = (char) 0x80;
    ok(uri_in_line(uri, sizeof(uri), want), "uri cut before 0xc0 0x80 "
       "crossing 2048 (0xc0 is a lead byte)");
}


/* response strings of 511 and 512 bytes, and a cut before a character */

#define BODY_FMT                                                             \
    "{\"reportDistributionLogId\":7,\"status\":\"%s%s\","                    \
    "\"reportDistribution\":{\"reportDistributionId\":42}}"

static void
test_field_cut(void)
{
    char                  *b, *body, s[600];
    size_t                 len;
    eci_audit_response_t   r;

    static const char  *tail[] = { "\xc3\xa9" "b", "\\u00e9b",
                                   "\xe2\x82\xac" "b", "\\u20acb",
                                   "\xf0\x9f\x98\x80" "b" };
    size_t              i;

    body = malloc(2048);

    for (len = 510; len <= 513; len++) {
        memset(s, 'a', len);
        s[len] = '\0';
        sprintf(body, BODY_FMT, s, "");
        b = tap_copy(body, strlen(body));
        is_int(eci_audit_response_parse(b, strlen(body), &r), 1,
               "status of %zu bytes: the body is valid", len);
        is_int(r.status_len, len < 512 ? len : 511, "status of %zu bytes: "
               "%zu kept", len, len < 512 ? len : (size_t) 511);
        is_int(strlen(r.status), r.status_len, "status of %zu bytes: its "
               "length is what is stored", len);
        free(b);
    }

    /* 510 bytes, then a character that does not fit, then one that would */
    for (i = 0; i < sizeof(tail) / sizeof(tail[0]); i++) {
        memset(s, 'a', 510);
        s[510] = '\0';
        sprintf(body, BODY_FMT, s, tail[i]);
        b = tap_copy(body, strlen(body));
        is_int(eci_audit_response_parse(b, strlen(body), &r), 1,
               "status cut before character #%zu: valid", i);
        ok(r.status_len == 510 && strspn(r.status, "a") == 510
           && r.status[510] == '\0', "status cut before character #%zu: "
           "nothing after the cut is kept (%zu bytes)", i, r.status_len);
        free(b);
    }

    free(body);
}


/* an invalid body leaves every field empty, whatever was there before */

static void
test_invalid_clears(void)
{
    char                  *b;
    size_t                 len;
    eci_audit_response_t   r;

    static const char  full[] =
        "{\"reportDistributionLogId\":7,\"status\":\"Done\","
        "\"numberOfRecipients\":2,\"beginDate\":\"2026-01-01T00:00:00\","
        "\"endDate\":\"2026-01-01T00:01:00\",\"reportDistribution\":{"
        "\"reportDistributionId\":42,\"reportCode\":\"R1\","
        "\"reportDistributionName\":\"n\"}}";

    len = sizeof(full) - 1;
    b = tap_copy(full, len);
    is_int(eci_audit_response_parse(b, len, &r), 1, "a full body parses");
    ok(r.report_distribution_log_id == 7 && r.has_begin_date
       && r.has_end_date && r.has_report_code
       && r.has_report_distribution_name && r.number_of_recipients == 2
       && r.report_distribution_id == 42, "and fills its fields");

    /* the same body, cut before its last '}' */
    is_int(eci_audit_response_parse(b, len - 1, &r), 0,
           "the same body less its last byte is invalid");
    ok(r.valid == 0 && r.report_distribution_log_id == 0
       && r.status[0] == '\0' && r.status_len == 0
       && r.number_of_recipients == -1
       && r.begin_date[0] == '\0' && r.begin_date_len == 0
       && !r.has_begin_date
       && r.end_date[0] == '\0' && r.end_date_len == 0 && !r.has_end_date
       && r.report_distribution_id == -1
       && r.report_code[0] == '\0' && r.report_code_len == 0
       && !r.has_report_code
       && r.report_distribution_name[0] == '\0'
       && r.report_distribution_name_len == 0
       && !r.has_report_distribution_name
       && r.created_by_user_id == -1,
       "and leaves every field empty (no half-filled record)");
    free(b);
}


/* the optional fields each in their place: apiKey, candidate decision */

static void
test_optional_fields(void)
{
    char                *line;
    size_t               max, n;
    eci_audit_record_t   rec;

    memset(&rec, 0, sizeof(rec));
    rec.time_ms = 1767225600000LL;
    rec.method.data = "POST";
    rec.method.len = 4;
    rec.decision = "allow";
    rec.api_key = "team-a";
    rec.api_key_fp = "0123abcd";
    rec.candidate = "deny";
    rec.candidate_reason = "no grant";
    rec.status = 200;
    rec.upstream_time_ms = -1;

    max = eci_audit_line_max(&rec);
    line = malloc(max + 1);
    n = eci_audit_line_write(&rec, line, max);
    line[n] = '\0';

    like(line, "\"decision\":\"allow\",\"apiKey\":\"team-a\","
         "\"apiKeyFingerprint\":\"0123abcd\",\"outcome\":",
         "apiKey and its fingerprint follow the decision");
    like(line, ",\"candidateDecision\":\"deny\",\"candidateReason\":"
         "\"no grant\",\"error\":",
         "the candidate decision and its reason precede the error");

    rec.candidate = NULL;
    rec.api_key = NULL;
    n = eci_audit_line_write(&rec, line, max);
    line[n] = '\0';
    ok(n > 0 && strstr(line, "candidate") == NULL
       && strstr(line, "apiKey") == NULL, "without them, neither key");

    free(line);
}


/* JSON's whitespace (space, tab, newline, return) around every token */

static void
test_body_whitespace(void)
{
    static const char      ws[] =
        " \t{ \"reportDistributionLogId\" \n: 7 ,\r\n\"status\"\t:\t\"ok\" ,"
        " \"numberOfRecipients\" : 3 , \"reportDistribution\" :\n{ "
        "\"reportDistributionId\" : 42 ,\"x\" : [ 1 , { \"y\" : null } ] }"
        " }\n";
    eci_audit_response_t   r;

    is_int(parse_exact(ws, sizeof(ws) - 1, &r), 1,
           "whitespace around every token: valid");
    ok(r.report_distribution_log_id == 7 && strcmp(r.status, "ok") == 0
       && r.number_of_recipients == 3 && r.report_distribution_id == 42,
       "and read the same");
}


/*
 * An escaped key is compared with the others decoded: the same key twice
 * is refused, a different one of the same length is not.
 */

static void
test_escaped_keys(void)
{
    static const char      dup[] =
        "{\"reportDistributionLogId\":7,\"status\":\"a\",\"st\\u0061tus\":"
        "\"b\",\"reportDistribution\":{\"reportDistributionId\":42}}";
    static const char      other[] =
        "{\"reportDistributionLogId\":7,\"status\":\"a\",\"st\\u0061tuz\":"
        "\"b\",\"reportDistribution\":{\"reportDistributionId\":42}}";
    char                  *b;
    eci_audit_response_t   r;

    b = tap_copy(dup, sizeof(dup) - 1);
    is_int(eci_audit_response_parse(b, sizeof(dup) - 1, &r), 0,
           "\"status\" and \"st\\u0061tus\": one key twice, refused");
    free(b);

    b = tap_copy(other, sizeof(other) - 1);
    is_int(eci_audit_response_parse(b, sizeof(other) - 1, &r), 1,
           "\"status\" and \"st\\u0061tuz\": two keys, valid");
    is_str(r.status, "a", "and status is the one given");
    free(b);
}


/*
 * "createdByUser" is an object or null: a member with no value at all, or
 * with another kind of value, makes the body invalid.
 */

static void
test_object_member_value(void)
{
    size_t                 i;
    char                  *b;
    eci_audit_response_t   r;

    static const char     *bodies[] = {
        "{\"reportDistributionLogId\":7,\"status\":\"a\","
        "\"reportDistribution\":{\"reportDistributionId\":42,"
        "\"createdByUser\":}}",
        "{\"reportDistributionLogId\":7,\"status\":\"a\","
        "\"reportDistribution\":{\"createdByUser\":,"
        "\"reportDistributionId\":42}}",
        "{\"reportDistributionLogId\":7,\"status\":\"a\","
        "\"reportDistribution\":{\"reportDistributionId\":42,"
        "\"createdByUser\":5}}",
        NULL
    };

    for (i = 0; bodies[i] != NULL; i++) {
        b = tap_copy(bodies[i], strlen(bodies[i]));
        is_int(eci_audit_response_parse(b, strlen(bodies[i]), &r), 0,
               "createdByUser without an object or null (%zu): invalid", i);
        free(b);
    }
}


/* eci_audit_line_max() is enough for any decision text */

static void
test_line_max_decision(void)
{
    char                *line, *d;
    size_t               max;
    eci_audit_record_t   rec;

    /* control bytes: each is 6 in the line (\u00XX), the worst case */
    d = malloc(4001);
    memset(d, 0x01, 4000);
    d[4000] = '\0';

    memset(&rec, 0, sizeof(rec));
    rec.time_ms = 1767225600000LL;
    rec.decision = d;
    rec.upstream_time_ms = -1;

    max = eci_audit_line_max(&rec);
    line = malloc(max);
    ok(eci_audit_line_write(&rec, line, max) > 24000, "a line of a "
       "4000-byte decision of control bytes fits in eci_audit_line_max()'s "
       "bytes");
    free(line);
    free(d);
}


/* empty objects side by side do not add up to the nesting limit (64) */

static void
test_empty_objects(void)
{
    char                  *body, *p;
    size_t                 i, len;
    eci_audit_response_t   r;

    body = malloc(1024);
    p = body + sprintf(body, "{\"reportDistributionLogId\":7,\"status\":\"x\","
                       "\"x\":[");
    for (i = 0; i < 100; i++) {
        p += sprintf(p, "%s{}", i ? "," : "");
    }
    p += sprintf(p, "],\"reportDistribution\":{\"reportDistributionId\":42}}");
    len = p - body;

    is_int(eci_audit_response_parse(body, len, &r), 1,
           "100 empty objects side by side: valid");
    free(body);
}


/* nesting 64 deep (the body's object and 63 arrays) is valid, 65 is not */

static void
test_nesting_limit(void)
{
    char                  *body, *p;
    size_t                 i, k, len;
    eci_audit_response_t   r;

    body = malloc(1024);

    for (k = 63; k <= 64; k++) {
        p = body + sprintf(body, "{\"reportDistributionLogId\":7,"
                           "\"status\":\"x\",\"x\":");
        for (i = 0; i < k; i++) {
            *p++ = '[';
        }
        for (i = 0; i < k; i++) {
            *p++ = ']';
        }
        p += sprintf(p, ",\"reportDistribution\":"
                     "{\"reportDistributionId\":42}}");
        len = p - body;

        is_int(eci_audit_response_parse(body, len, &r), k == 63,
               "nested %zu deep: %s", k + 1, k == 63 ? "valid" : "invalid");
    }

    free(body);
}


/* the one-character escapes after runs of other lengths */

static void
test_escape_after_run(void)
{
    static const char      body[] =
        "{\"reportDistributionLogId\":7,\"status\":"
        "\"ab\\\"cd\\/ef\\\\gh\\nij\\rkl\\tmn\\bop\\fqr\","
        "\"reportDistribution\":{\"reportDistributionId\":42}}";
    char                  *b;
    eci_audit_response_t   r;

    b = tap_copy(body, sizeof(body) - 1);
    is_int(eci_audit_response_parse(b, sizeof(body) - 1, &r), 1,
           "each one-character escape after a run of 2: valid");
    is_str(r.status, "ab\"cd/ef\\gh\nij\rkl\tmn\bop\fqr",
           "each escape is one byte");
    is_int(r.status_len, 26, "26 bytes");
    free(b);
}


/* no cap short of the line gives a part of it: 0 or the whole line */
static void
every_cap(const eci_audit_record_t *rec, const char *name)
{
    char    *whole, *part;
    size_t   max, len, cap, n, bad;

    max = eci_audit_line_max(rec);
    whole = malloc(max);
    len = eci_audit_line_write(rec, whole, max);
    ok(len > 0, "%s: written", name);

    bad = 0;
    for (cap = 0; cap < len; cap++) {
        part = malloc(cap ? cap : 1);
        n = eci_audit_line_write(rec, part, cap);
        if (n != 0) {
            bad++;
        }
        free(part);
    }

    is_int(bad, 0, "%s: every cap from 0 to %zu returns 0", name, len - 1);
    free(whole);
}


/*
 * The 64 hex digits of a digest or SHA-256 do not fit the room left, but
 * what follows them would: the line is still refused, not written without
 * them.
 */
static void
test_hex_room(void)
{
    int32_t              ids[3] = { 3, 1, 2 };
    eci_audit_record_t   rec;

    record_init(&rec, "intent", "allow");
    rec.override_user_ids = ids;
    rec.n_override_user_ids = 3;
    rec.has_override_user_ids = 1;
    rec.override_user_ids_bounded = 1;
    every_cap(&rec, "an intent with the ids' digest");

    record_init(&rec, "result", "allow");
    rec.status = 200;
    rec.has_response = 1;
    rec.response_bytes = 10;
    memset(rec.response_sha256, 0xab, sizeof(rec.response_sha256));
    every_cap(&rec, "a result with the response's SHA-256");
}


/*
 * The last string of a line escaped into too little room, at each kind of
 * piece the escaper writes (a run, a two-character escape, \u00XX, a
 * UTF-8 character, \ufffd for a bad byte, \u2028): refused whole.
 */
static void
test_escape_room(void)
{
    eci_audit_record_t   rec;

    record_init(&rec, "intent",
                "abcd\"efgh\x01ijkl\xc3\xa9mnop\xffqrst\xe2\x80\xa8uvwx");
    every_cap(&rec, "an intent whose decision needs escapes");
}


/* 0 is written as 0, not -0; negative numbers with their minus */
static void
test_zero_and_negative(void)
{
    char                *line;
    size_t               max, n;
    int32_t              ids[4] = { 0, -5, 7, -2147483647 - 1 };
    eci_audit_record_t   rec;

    record_init(&rec, NULL, "deny");
    rec.override_user_ids = ids;
    rec.n_override_user_ids = 4;
    rec.has_override_user_ids = 1;
    rec.status = 0;

    max = eci_audit_line_max(&rec);
    line = malloc(max + 1);
    n = eci_audit_line_write(&rec, line, max);
    line[n] = '\0';

    like(line, "\"overrideUserIds\":[0,-5,7,-2147483648],",
         "ids 0, -5, 7 and INT32_MIN written as they are");
    like(line, "\"status\":0,", "status 0 as 0");
    free(line);
}


/*
 * values in a body: numbers (a minus, then digits), empty arrays, \u
 * escapes; each read from an exact copy
 */

/* a body made from fmt and value, cut to cut bytes if not 0, parsed from
   an exact-size copy */
static int
parse_made(const char *fmt, const char *value, size_t cut,
    eci_audit_response_t *r)
{
    int   len;
    char  body[256];

    len = snprintf(body, sizeof(body), fmt, value);
    len = (cut > 0) ? (int) cut : len;

    return parse_exact(body, len, r);
}


static int
body_with(const char *value, eci_audit_response_t *r)
{
    return parse_made("{\"reportDistributionLogId\":7,\"status\":\"ok\","
                      "\"x\":%s,\"reportDistribution\":"
                      "{\"reportDistributionId\":42}}", value, 0, r);
}


/*
 * overrideUserIdsDigest is the SHA-256 of the list as JSON, "[1,2,3]",
 * whatever its length and its ids' widths.  The digest is fed from a
 * 4 KiB buffer: the lists here end at every offset in it, its last byte
 * too (the "]" must still be hashed), with ids of 11 and 12 bytes
 * (",2147483647", ",-2147483648": the API takes any int32_t).
 */
static int
ids_digest_right(const int32_t *ids, size_t n, char *json)
{
    char           *p;
    size_t          i;
    unsigned char   want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];

    p = json;
    *p++ = '[';

    for (i = 0; i < n; i++) {
        p += sprintf(p, "%s%d", i ? "," : "", (int) ids[i]);
    }

    *p++ = ']';

    SHA256((unsigned char *) json, p - json, want);
    eci_audit_ids_digest(ids, n, got);

    return memcmp(want, got, sizeof(want)) == 0;
}


/* the bounded form of an empty list: a count of 0 and the digest of "[]" */
static void
test_bounded_empty(void)
{
    char                 line[1024], want[128], *p;
    size_t               n, i;
    unsigned char        md[SHA256_DIGEST_LENGTH];
    eci_audit_record_t   rec;

    record_post(&rec, "/x", 2);
    rec.has_override_user_ids = 1;
    rec.override_user_ids_bounded = 1;

    SHA256((const unsigned char *) "[]", 2, md);
    p = want + sprintf(want, ",\"overrideUserIdCount\":0,"
                       "\"overrideUserIdsDigest\":\"sha256:");
    for (i = 0; i < sizeof(md); i++) {
        p += sprintf(p, "%02x", md[i]);
    }

    n = eci_audit_line_write(&rec, line, sizeof(line) - 1);
    line[n] = '\0';
    ok(n > 0 && strstr(line, want) != NULL,
       "a bounded empty list: count 0, the digest of []");
}


static void
test_ids_digest(void)
{
    int             bad;
    char           *json;
    size_t          n, i, j, tried;
    int32_t         ids[1200];

    static const int32_t  widths[] = { 7, 42, 123, 1000000000, 2147483647 };

    json = malloc(sizeof(ids) / sizeof(ids[0]) * 12 + 3);
    if (json == NULL) {
        ok(0, "memory for the ids digest test");
        return;
    }

    bad = 0;
    tried = 0;

    /* one width, or two in turn */
    for (j = 0; j < sizeof(widths) / sizeof(widths[0]); j++) {
        for (n = 0; n < sizeof(ids) / sizeof(ids[0]); n++) {
            ids[n] = widths[j] - (int32_t) (n % 2);
            bad += !ids_digest_right(ids, n + 1, json);
            tried++;
        }
    }

    /* j ids of 11 bytes, then ids of 12: every end offset of the buffer */
    for (j = 0; j <= 12; j++) {
        for (i = 0; i < 400; i++) {
            ids[i] = (i < j) ? INT32_MAX : INT32_MIN;
        }

        for (n = 1; n <= 400; n++) {
            bad += !ids_digest_right(ids, n, json);
            tried++;
        }
    }

    ok(tried == 6000 + 13 * 400 && bad == 0,
       "the ids digest is SHA-256 of the JSON list (%zu lists, %d differ)",
       tried, bad);
    free(json);
}


static void
test_numbers(void)
{
    size_t                 i;
    eci_audit_response_t   r;

    static const char     *good[] = {
        "-3", "-0", "0", "-12.5", "-1e5", "-1.5E-3", "[-1,-2]", "12e+1",
        "[]", "[ ]", "[[],[]]", "\"\\u00e9\\u00C9\"",
        /* a 0 right after the point or the e */
        "1.0", "-0.05", "1e0", "2E-0", "3e+05", "1.0e0"
    };
    static const char     *bad[] = {
        "-", "-,\"y\":1", "[-]", "[-,1]", "-.5", "-e1", "-x", "--1",
        "1.", "1.e1", "1e", "1e+", "[1.]", "[1e]",
        /* \u and 4 hex digits, or the string is invalid */
        "\"\\u00zz\"", "\"\\u0g00\"", "\"\\uz000\"", "\"\\u000-\"",
        "\"\\ud800\\u00zz\"", "\"\\u,\"y\":\"a\"", "\"\\u0,\"y\":\"a\"",
        /* an escape JSON does not have */
        "\"\\q\"", "\"\\q,\"y\":\"a\"", "\"\\x41\""
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        is_int(body_with(good[i], &r), 1, "a value %s: valid", good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(body_with(bad[i], &r), 0, "a value %s: invalid", bad[i]);
    }

    {
        /* each \u escape at a UTF-8 length boundary, decoded */
        static const struct {
            const char  *esc;
            const char  *utf8;
        } cps[] = {
            { "\\u007f", "\x7f" },
            { "\\u0080", "\xc2\x80" },
            { "\\u07ff", "\xdf\xbf" },
            { "\\u0800", "\xe0\xa0\x80" },
            { "\\uffff", "\xef\xbf\xbf" },
            { "\\ud800\\udc00", "\xf0\x90\x80\x80" },
        };
        char  value[32];

        for (i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
            snprintf(value, sizeof(value), "\"%s\"", cps[i].esc);
            ok(parse_made("{\"reportDistributionLogId\":7,\"status\":%s,"
                          "\"reportDistribution\":"
                          "{\"reportDistributionId\":42}}", value, 0, &r)
               == 1 && strcmp(r.status, cps[i].utf8) == 0,
               "status %s is decoded to its UTF-8", cps[i].esc);
        }
    }

    {
        /*
         * a high surrogate with no \u after it, the body ending in what
         * would close it if the string stopped there: still invalid
         */
        static const char  cut[] =
            "{\"reportDistributionLogId\":7,\"reportDistribution\":"
            "{\"reportDistributionId\":42},\"status\":\"\\ud800}";
        char  *b;

        b = tap_copy(cut, sizeof(cut) - 1);
        is_int(eci_audit_response_parse(b, sizeof(cut) - 1, &r), 0,
               "a high surrogate then '}' at the body's end: invalid");
        free(b);
    }

    {
        static const char  body[] =
            "{\"reportDistributionLogId\":-7,\"status\":\"ok\","
            "\"numberOfRecipients\":-30,\"reportDistribution\":"
            "{\"reportDistributionId\":-42,\"createdByUser\":"
            "{\"userId\":-9223372036854775808}}}";
        char  *b;

        b = tap_copy(body, sizeof(body) - 1);
        is_int(eci_audit_response_parse(b, sizeof(body) - 1, &r), 1,
               "a body of negative integers is valid");
        ok(r.report_distribution_log_id == -7
           && r.number_of_recipients == -30
           && r.report_distribution_id == -42
           && r.created_by_user_id == INT64_MIN,
           "and each is read with its minus, INT64_MIN too");
        free(b);
    }
}


/* a body that ends in a number's digits: nothing past it is read */

static void
test_number_at_end(void)
{
    size_t                 i, len;
    char                  *b;
    eci_audit_response_t   r;

    static const char     *ends[] = {
        "{\"a\":12", "{\"a\":-12", "{\"a\":1.25", "{\"a\":1e10",
        "{\"a\":-1.5e-10", "{\"a\":[1", "{\"a\":0", "{\"a\":-0"
    };

    for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        len = strlen(ends[i]);
        b = tap_copy(ends[i], len);
        is_int(eci_audit_response_parse(b, len, &r), 0,
               "a body that ends in %s (exact-size copy): invalid",
               ends[i] + 5);
        free(b);
    }
}


/* createdByUser (in reportDistribution): an object or null, or invalid */

static int
user_body(const char *value, size_t cut, eci_audit_response_t *r)
{
    return parse_made("{\"reportDistributionLogId\":7,\"status\":\"ok\","
                      "\"reportDistribution\":{\"reportDistributionId\":42,"
                      "\"createdByUser\":%s}}", value, cut, r);
}


static void
test_created_by_user(void)
{
    size_t                 i, cut;
    eci_audit_response_t   r;

    static const char     *bad[] = {
        "5", "\"x\"", "[]", "true", "[\"userId\":5}", "x\"userId\":5}"
    };

    is_int(user_body("{\"userId\":5}", 0, &r), 1,
           "createdByUser an object: valid");
    is_int(r.created_by_user_id, 5, "its userId read");
    is_int(user_body("null", 0, &r), 1, "createdByUser null: valid");
    is_int(r.created_by_user_id, -1, "no userId");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(user_body(bad[i], 0, &r), 0, "createdByUser %s: invalid",
               bad[i]);
    }

    /* the body ends where its value would start (exact-size copy) */
    cut = strlen("{\"reportDistributionLogId\":7,\"status\":\"ok\","
                 "\"reportDistribution\":{\"reportDistributionId\":42,"
                 "\"createdByUser\":");
    is_int(user_body("null", cut, &r), 0,
           "a body that ends after \"createdByUser\": is invalid");
}


int
main(void)
{
    test_body_prefixes();
    test_body_escapes();
    test_record_strings();
    test_seal_needs_a_line();
    test_uri_cut();
    test_field_cut();
    test_invalid_clears();
    test_optional_fields();
    test_body_whitespace();
    test_escaped_keys();
    test_object_member_value();
    test_line_max_decision();
    test_empty_objects();
    test_nesting_limit();
    test_escape_after_run();
    test_hex_room();
    test_zero_and_negative();
    test_numbers();
    test_ids_digest();
    test_bounded_empty();
    test_escape_room();
    test_created_by_user();
    test_number_at_end();

    return done_testing();
}
