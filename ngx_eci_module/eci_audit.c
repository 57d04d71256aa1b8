/*
 * ngx_eci: the audit record.
 *
 * eci_audit_response_parse() keeps what the audit needs of the upstream's
 * ReportDistributionLogResponse; eci_audit_line_write() writes one JSON
 * line per request.  The writer runs on every request, so it writes by
 * hand into a caller's buffer: no allocation, no printf.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include "eci_audit.h"
#include "eci_chain.h"
#include "eci_sha256.h"


/*
 * The literal parts of a line, in the order they are written.  Both the
 * writer and eci_audit_line_max() use them, so the bound cannot drift
 * from what is written.
 */
#define ECI_AUDIT_K_TIME       "{\"time\":"
#define ECI_AUDIT_K_EVENT      ",\"event\":"
#define ECI_AUDIT_K_REQID      ",\"requestId\":"
#define ECI_AUDIT_K_PRINCIPAL  ",\"principal\":"
#define ECI_AUDIT_K_CLIENT     ",\"client\":"
#define ECI_AUDIT_K_METHOD     ",\"method\":"
#define ECI_AUDIT_K_URI        ",\"uri\":"
#define ECI_AUDIT_K_ID         ",\"reportDistributionId\":"
#define ECI_AUDIT_K_OVERRIDES  ",\"overrideUserIds\":"
/* the bounded form (a syslog datagram): count and digest, not the list */
#define ECI_AUDIT_K_IDS_COUNT  ",\"overrideUserIdCount\":"
#define ECI_AUDIT_K_IDS_DIGEST ",\"overrideUserIdsDigest\":\"sha256:"
#define ECI_AUDIT_K_DECISION   ",\"decision\":"
#define ECI_AUDIT_K_KEY        ",\"apiKey\":"
#define ECI_AUDIT_K_KEY_FP     ",\"apiKeyFingerprint\":"
#define ECI_AUDIT_K_OUTCOME    ",\"outcome\":"
#define ECI_AUDIT_K_CANDIDATE  ",\"candidateDecision\":"
#define ECI_AUDIT_K_CAND_WHY   ",\"candidateReason\":"
#define ECI_AUDIT_K_ERROR      ",\"error\":"
#define ECI_AUDIT_K_STATUS     ",\"status\":"
#define ECI_AUDIT_K_UPSTATUS   ",\"upstreamStatus\":"
#define ECI_AUDIT_K_UPTIME     ",\"upstreamTimeMs\":"
#define ECI_AUDIT_K_CLOSED     ",\"clientClosed\":"
#define ECI_AUDIT_K_CLOSED_AT  ",\"clientClosedAt\":"
#define ECI_AUDIT_K_BYTES      ",\"responseBytes\":"
#define ECI_AUDIT_K_SHA256     ",\"responseSha256\":"
#define ECI_AUDIT_K_TRUNCATED  ",\"responseTruncated\":"
#define ECI_AUDIT_K_VALID      ",\"responseValid\":"
#define ECI_AUDIT_K_RESPONSE   ",\"response\":{\"reportDistributionLogId\":"
#define ECI_AUDIT_K_R_STATUS   ",\"status\":"
#define ECI_AUDIT_K_R_NREC     ",\"numberOfRecipients\":"
#define ECI_AUDIT_K_R_BEGIN    ",\"beginDate\":"
#define ECI_AUDIT_K_R_END      ",\"endDate\":"
#define ECI_AUDIT_K_R_ID       ",\"reportDistributionId\":"
#define ECI_AUDIT_K_R_CODE     ",\"reportCode\":"
#define ECI_AUDIT_K_R_NAME     ",\"reportDistributionName\":"
#define ECI_AUDIT_K_R_USER     ",\"createdByUserId\":"
#define ECI_AUDIT_K_R_CLOSE    "}"
#define ECI_AUDIT_K_CHAIN      ",\"chain\":\""
#define ECI_AUDIT_K_CLOSE      "}\n"

#define ECI_AUDIT_KEYS                                                      \
    ECI_AUDIT_K_TIME ECI_AUDIT_K_EVENT ECI_AUDIT_K_REQID                    \
    ECI_AUDIT_K_PRINCIPAL ECI_AUDIT_K_CLIENT ECI_AUDIT_K_METHOD             \
    ECI_AUDIT_K_URI ECI_AUDIT_K_ID ECI_AUDIT_K_OVERRIDES                    \
    ECI_AUDIT_K_DECISION ECI_AUDIT_K_KEY ECI_AUDIT_K_KEY_FP                 \
    ECI_AUDIT_K_OUTCOME ECI_AUDIT_K_CANDIDATE                               \
    ECI_AUDIT_K_CAND_WHY ECI_AUDIT_K_ERROR                                  \
    ECI_AUDIT_K_STATUS ECI_AUDIT_K_UPSTATUS ECI_AUDIT_K_UPTIME              \
    ECI_AUDIT_K_CLOSED ECI_AUDIT_K_CLOSED_AT ECI_AUDIT_K_BYTES              \
    ECI_AUDIT_K_SHA256 ECI_AUDIT_K_TRUNCATED ECI_AUDIT_K_VALID              \
    ECI_AUDIT_K_RESPONSE ECI_AUDIT_K_R_STATUS ECI_AUDIT_K_R_NREC            \
    ECI_AUDIT_K_R_BEGIN ECI_AUDIT_K_R_END ECI_AUDIT_K_R_ID                  \
    ECI_AUDIT_K_R_CODE ECI_AUDIT_K_R_NAME ECI_AUDIT_K_R_USER                 \
    ECI_AUDIT_K_R_CLOSE ECI_AUDIT_K_CLOSE

/* "-9223372036854775808" and 18446744073709551615; also covers
 * null, true and false */
#define ECI_AUDIT_INT_LEN      20

/* "-2147483648," */
#define ECI_AUDIT_ID_LEN       12

/* "\"2026-11-29T07:05:03.123Z\"" */
#define ECI_AUDIT_TIME_LEN     26

/* a string value: quotes plus escaping, or null */
#define eci_audit_str_len(n)   (6 * (size_t) (n) + 4)

#define eci_audit_lit(o, s)    eci_audit_put(o, s, sizeof(s) - 1)


typedef struct {
    char    *pos;
    char    *end;
    int      full;      /* something did not fit: the line is dropped */
} eci_audit_out_t;

/*
 * The writer's helpers are inlined into it, all of them: then its output
 * position never leaves a register for memory between two fields.
 */
#if defined(__GNUC__)
#define eci_audit_inline  inline __attribute__((always_inline))
#else
#define eci_audit_inline  inline
#endif


static void eci_audit_response_init(eci_audit_response_t *out);
static size_t eci_utf8_check(const unsigned char *p, size_t n, int *valid);
static const unsigned char *eci_json_run(const unsigned char *p,
    const unsigned char *end, int del);
static size_t eci_json_escape_cap(char *dst, size_t cap, const char *src,
    size_t len);
static size_t eci_audit_uri_len(const eci_str_t *uri);
static eci_audit_inline void eci_audit_put(eci_audit_out_t *o, const char *s,
    size_t n);
static eci_audit_inline void eci_audit_str(eci_audit_out_t *o,
    const char *s, size_t n);
static eci_audit_inline void eci_audit_cstr(eci_audit_out_t *o, const char *s);
static eci_audit_inline void eci_audit_opt(eci_audit_out_t *o, int has,
    const char *s, size_t len);
static eci_audit_inline void eci_audit_int(eci_audit_out_t *o, int64_t v);
static eci_audit_inline void eci_audit_int_or_null(eci_audit_out_t *o,
    int64_t v, int64_t none);
static eci_audit_inline void eci_audit_uint(eci_audit_out_t *o, uint64_t v);
static eci_audit_inline void eci_audit_bool(eci_audit_out_t *o, int v);
static eci_audit_inline void eci_audit_time(eci_audit_out_t *o, int64_t ms);
static eci_audit_inline void eci_audit_response(eci_audit_out_t *o,
    const eci_audit_response_t *r);


/*
 * The response is read by a single-pass scanner, not jansson: it runs on
 * every exec, and a tree of allocations for a 300-byte body cost more than
 * the rest of the gateway together.  It accepts what jansson's
 * json_loadb() with JSON_REJECT_DUPLICATES accepts (RFC 8259, valid UTF-8,
 * no \u0000, integers within int64_t, no duplicate key in any object) but
 * for a raw NUL byte after a number, which jansson lets through and RFC
 * 8259 does not; it keeps only the fields the audit needs.
 */

#define ECI_JS_DEPTH     64      /* nesting deeper than this is refused */
#define ECI_JS_KEYS      64      /* keys an object may have */
#define ECI_JS_KEY_MAX   32      /* known keys are shorter than this */

#define eci_min(a, b)    ((a) < (b) ? (a) : (b))


typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    unsigned              depth;
} eci_js_t;


/*
 * A key seen in an object: its decoded length, where it starts, and, when
 * it is plain (printable ASCII, no escape: nearly every key), the key
 * itself, which is then its own decoded form.
 */
typedef struct {
    size_t                len;
    const unsigned char  *raw;
    const unsigned char  *plain;     /* NULL: escaped or not ASCII */
} eci_js_key_t;


typedef int (*eci_js_member_pt)(eci_js_t *s, eci_audit_response_t *out,
    const char *key, size_t len);


static inline void eci_js_ws(eci_js_t *s);
static int eci_js_lit(eci_js_t *s, const char *lit, size_t len);
static int eci_js_hex4(eci_js_t *s, uint32_t *cp);
static int eci_js_string(eci_js_t *s, char *dst, size_t cap, size_t *dlen,
    uint64_t *hash);
static int eci_js_number(eci_js_t *s, int64_t *v, int *integer);
static int eci_js_key_same(const unsigned char *a, const unsigned char *b,
    const unsigned char *end);
static int eci_js_skip(eci_js_t *s);
static int eci_js_next(eci_js_t *s, unsigned char close);
static int eci_js_object(eci_js_t *s, eci_audit_response_t *out,
    eci_js_member_pt member);
static int eci_js_int(eci_js_t *s, int64_t *v, int *set);
static int eci_js_str(eci_js_t *s, char *dst, size_t *len, int *has);
static int eci_js_top(eci_js_t *s, eci_audit_response_t *out,
    const char *key, size_t len);
static int eci_js_rd(eci_js_t *s, eci_audit_response_t *out,
    const char *key, size_t len);
static int eci_js_user(eci_js_t *s, eci_audit_response_t *out,
    const char *key, size_t len);


/* what was seen, beyond the fields themselves */
#define ECI_JS_SEEN_LOGID   0x01
#define ECI_JS_SEEN_STATUS  0x02
#define ECI_JS_SEEN_RD      0x04
#define ECI_JS_SEEN_RDID    0x08


int
eci_audit_response_parse(const char *body, size_t len,
    eci_audit_response_t *out)
{
    eci_js_t  s;

    eci_audit_response_init(out);

    if (body == NULL || len == 0) {
        return 0;
    }

    s.p = (const unsigned char *) body;
    s.end = s.p + len;
    s.depth = 0;

    eci_js_ws(&s);

    if (s.p == s.end || *s.p != '{'
        || eci_js_object(&s, out, eci_js_top) != 0)
    {
        goto invalid;
    }

    eci_js_ws(&s);

    if (s.p != s.end) {
        goto invalid;
    }

    /* the flags were kept in valid while scanning */
    if ((out->valid & (ECI_JS_SEEN_LOGID | ECI_JS_SEEN_STATUS
                       | ECI_JS_SEEN_RD | ECI_JS_SEEN_RDID))
        != (ECI_JS_SEEN_LOGID | ECI_JS_SEEN_STATUS | ECI_JS_SEEN_RD
            | ECI_JS_SEEN_RDID))
    {
        goto invalid;
    }

    out->valid = 1;

    return 1;

invalid:

    /* no half-filled record: an invalid body yields only valid = 0 */
    eci_audit_response_init(out);

    return 0;
}


/* every field empty; the string buffers (2.5 KB) need only their first byte */
static void
eci_audit_response_init(eci_audit_response_t *out)
{
    out->valid = 0;
    out->report_distribution_log_id = 0;
    out->status[0] = '\0';
    out->status_len = 0;
    out->number_of_recipients = -1;
    out->begin_date[0] = '\0';
    out->begin_date_len = 0;
    out->has_begin_date = 0;
    out->end_date[0] = '\0';
    out->end_date_len = 0;
    out->has_end_date = 0;
    out->report_distribution_id = -1;
    out->report_code[0] = '\0';
    out->report_code_len = 0;
    out->has_report_code = 0;
    out->report_distribution_name[0] = '\0';
    out->report_distribution_name_len = 0;
    out->has_report_distribution_name = 0;
    out->created_by_user_id = -1;
}


/*
 * key == lit for n >= 4 bytes (every known key is 6 or longer): gcc calls
 * memcmp() for these lengths, about 30 instructions a key; words compared
 * inline, the last one overlapping, are a few.
 */
static inline int
eci_js_same(const char *key, const char *lit, size_t n)
{
    size_t    i;
    uint64_t  a, b;
    uint32_t  c, d;

    if (n < 8) {
        memcpy(&c, key, 4);
        memcpy(&d, lit, 4);

        if (c != d) {
            return 0;
        }

        memcpy(&c, key + n - 4, 4);
        memcpy(&d, lit + n - 4, 4);

        return c == d;
    }

    for (i = 0; i + 8 < n; i += 8) {
        memcpy(&a, key + i, 8);
        memcpy(&b, lit + i, 8);

        if (a != b) {
            return 0;
        }
    }

    memcpy(&a, key + n - 8, 8);
    memcpy(&b, lit + n - 8, 8);

    return a == b;
}


static int
eci_js_top(eci_js_t *s, eci_audit_response_t *out, const char *key,
    size_t len)
{
    int  set;

/* the length first; then the bytes, inline, a word at a time */
#define eci_js_key(k)                                                         \
    (len == sizeof(k) - 1 && eci_js_same(key, k, sizeof(k) - 1))

    if (eci_js_key("reportDistributionLogId")) {
        if (eci_js_int(s, &out->report_distribution_log_id, &set) != 0
            || !set)
        {
            return -1;
        }

        out->valid |= ECI_JS_SEEN_LOGID;
        return 0;
    }

    if (eci_js_key("status")) {
        if (eci_js_str(s, out->status, &out->status_len, &set) != 0
            || !set)
        {
            return -1;
        }

        out->valid |= ECI_JS_SEEN_STATUS;
        return 0;
    }

    if (eci_js_key("numberOfRecipients")) {
        return eci_js_int(s, &out->number_of_recipients, &set);
    }

    if (eci_js_key("beginDate")) {
        return eci_js_str(s, out->begin_date, &out->begin_date_len,
                          &out->has_begin_date);
    }

    if (eci_js_key("endDate")) {
        return eci_js_str(s, out->end_date, &out->end_date_len,
                          &out->has_end_date);
    }

    if (eci_js_key("reportDistribution")) {
        if (s->p == s->end || *s->p != '{'
            || eci_js_object(s, out, eci_js_rd) != 0)
        {
            return -1;
        }

        out->valid |= ECI_JS_SEEN_RD;
        return 0;
    }

    return eci_js_skip(s);
}


static int
eci_js_rd(eci_js_t *s, eci_audit_response_t *out, const char *key,
    size_t len)
{
    int  set;

    if (eci_js_key("reportDistributionId")) {
        if (eci_js_int(s, &out->report_distribution_id, &set) != 0 || !set) {
            return -1;
        }

        out->valid |= ECI_JS_SEEN_RDID;
        return 0;
    }

    if (eci_js_key("reportCode")) {
        return eci_js_str(s, out->report_code, &out->report_code_len,
                          &out->has_report_code);
    }

    if (eci_js_key("reportDistributionName")) {
        return eci_js_str(s, out->report_distribution_name,
                          &out->report_distribution_name_len,
                          &out->has_report_distribution_name);
    }

    if (eci_js_key("createdByUser")) {
        if (eci_js_lit(s, "null", 4) == 0) {
            return 0;
        }

        if (s->p == s->end || *s->p != '{') {
            return -1;
        }

        return eci_js_object(s, out, eci_js_user);
    }

    return eci_js_skip(s);
}


/* fullName and userCode are personal data the audit does not need */
static int
eci_js_user(eci_js_t *s, eci_audit_response_t *out, const char *key,
    size_t len)
{
    int  set;

    if (eci_js_key("userId")) {
        return eci_js_int(s, &out->created_by_user_id, &set);
    }

    return eci_js_skip(s);

#undef eci_js_key
}


/* an integer or null; *set says which */
static int
eci_js_int(eci_js_t *s, int64_t *v, int *set)
{
    int      integer;
    int64_t  n;

    *set = 0;

    if (eci_js_lit(s, "null", 4) == 0) {
        return 0;
    }

    if (eci_js_number(s, &n, &integer) != 0 || !integer) {
        return -1;
    }

    *v = n;
    *set = 1;

    return 0;
}


/* a string (cut at a character to ECI_AUDIT_FIELD_MAX - 1) or null */
static int
eci_js_str(eci_js_t *s, char *dst, size_t *len, int *has)
{
    size_t  n;

    *has = 0;
    *len = 0;

    if (eci_js_lit(s, "null", 4) == 0) {
        return 0;
    }

    if (s->p == s->end || *s->p != '"'
        || eci_js_string(s, dst, ECI_AUDIT_FIELD_MAX, &n, NULL) != 0)
    {
        return -1;
    }

    /* n is the whole decoded length; only a cut string is shorter */
    *len = (n < ECI_AUDIT_FIELD_MAX) ? n : strlen(dst);
    *has = 1;

    return 0;
}


static int
eci_js_object(eci_js_t *s, eci_audit_response_t *out,
    eci_js_member_pt member)
{
    size_t                i, n, klen;
    const char           *k;
    const unsigned char  *raw, *q, *plain;
    eci_js_key_t          seen[ECI_JS_KEYS];
    char                  key[ECI_JS_KEY_MAX];

    if (++s->depth > ECI_JS_DEPTH) {
        return -1;
    }

    s->p++;     /* '{' */
    n = 0;

    eci_js_ws(s);

    if (s->p < s->end && *s->p == '}') {
        s->p++;
        s->depth--;
        return 0;
    }

    for ( ;; ) {

        raw = s->p;

        if (s->p == s->end || *s->p != '"') {
            return -1;
        }

        /* a plain key is read in place: no copy, no decoding */
        q = eci_json_run(raw + 1, s->end, 0);

        if (q < s->end && *q == '"') {
            k = (const char *) raw + 1;
            klen = q - (raw + 1);
            s->p = q + 1;
            plain = raw + 1;

        } else {
            if (eci_js_string(s, key, sizeof(key), &klen, NULL) != 0) {
                return -1;
            }

            k = key;
            plain = NULL;
        }

        /* a duplicate key would let two readers see two answers */
        for (i = 0; i < n; i++) {
            if (seen[i].len != klen) {
                continue;
            }

            if (seen[i].plain != NULL && plain != NULL
                ? memcmp(seen[i].plain, plain, klen) == 0
                : eci_js_key_same(seen[i].raw, raw, s->end))
            {
                return -1;
            }
        }

        if (n == ECI_JS_KEYS) {
            return -1;
        }

        seen[n].len = klen;
        seen[n].raw = raw;
        seen[n].plain = plain;
        n++;

        eci_js_ws(s);

        if (s->p == s->end || *s->p != ':') {
            return -1;
        }

        s->p++;
        eci_js_ws(s);

        /* a key longer than the buffer is no key we know */
        if (member == NULL) {
            if (eci_js_skip(s) != 0) {
                return -1;
            }

        } else if (member(s, out, k, klen < sizeof(key) - 1 ? klen : 0)
                   != 0)
        {
            return -1;
        }

        switch (eci_js_next(s, '}')) {
        case 1:
            continue;
        case 0:
            return 0;
        default:
            return -1;
        }
    }
}


/*
 * Two keys of the same decoded length at a and b, one of them escaped or
 * not ASCII: the same key?  Both are decoded again (both already scanned
 * as valid): the same first ECI_JS_KEY_MAX - 1 bytes and, beyond those,
 * the same FNV-1a hash of the whole.
 */
static int
eci_js_key_same(const unsigned char *a, const unsigned char *b,
    const unsigned char *end)
{
    size_t    na, nb;
    uint64_t  ha, hb;
    eci_js_t  s;
    char      ka[ECI_JS_KEY_MAX], kb[ECI_JS_KEY_MAX];

    s.end = end;
    s.depth = 0;

    s.p = a;
    if (eci_js_string(&s, ka, sizeof(ka), &na, &ha) != 0) {
        return 1;
    }

    s.p = b;
    if (eci_js_string(&s, kb, sizeof(kb), &nb, &hb) != 0) {
        return 1;
    }

    return na == nb && ha == hb && strcmp(ka, kb) == 0;
}


/* any value, checked and passed over */
static int
eci_js_skip(eci_js_t *s)
{
    int      integer;
    size_t   n;
    int64_t  v;

    if (s->p == s->end) {
        return -1;
    }

    switch (*s->p) {

    case '"':
        return eci_js_string(s, NULL, 0, &n, NULL);

    case '{':
        return eci_js_object(s, NULL, NULL);

    case '[':
        if (++s->depth > ECI_JS_DEPTH) {
            return -1;
        }

        s->p++;
        eci_js_ws(s);

        if (s->p < s->end && *s->p == ']') {
            s->p++;
            s->depth--;
            return 0;
        }

        for ( ;; ) {
            if (eci_js_skip(s) != 0) {
                return -1;
            }

            switch (eci_js_next(s, ']')) {
            case 1:
                continue;
            case 0:
                return 0;
            default:
                return -1;
            }
        }

    case 't':
        return eci_js_lit(s, "true", 4);

    case 'f':
        return eci_js_lit(s, "false", 5);

    case 'n':
        return eci_js_lit(s, "null", 4);

    default:
        return eci_js_number(s, &v, &integer);
    }
}


/*
 * After a member or an element: 1 at ',' (another follows), 0 at the
 * closing bracket (the container ends, one level up), -1 otherwise.
 */
static int
eci_js_next(eci_js_t *s, unsigned char close)
{
    eci_js_ws(s);

    if (s->p == s->end) {
        return -1;
    }

    if (*s->p == ',') {
        s->p++;
        eci_js_ws(s);
        return 1;
    }

    if (*s->p == close) {
        s->p++;
        s->depth--;
        return 0;
    }

    return -1;
}


/* inline: called between all tokens, and mostly finds no white space */
static inline void
eci_js_ws(eci_js_t *s)
{
    while (s->p < s->end
           && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n'
               || *s->p == '\r'))
    {
        s->p++;
    }
}


static int
eci_js_lit(eci_js_t *s, const char *lit, size_t len)
{
    if ((size_t) (s->end - s->p) < len || memcmp(s->p, lit, len) != 0) {
        return -1;
    }

    s->p += len;

    return 0;
}


/*
 * A JSON number; *integer when it has neither fraction nor exponent, and
 * then *v holds it (jansson refuses integers beyond int64_t).
 */
static int
eci_js_number(eci_js_t *s, int64_t *v, int *integer)
{
    int                   neg;
    uint64_t              n, limit;
    const unsigned char  *p;

    p = s->p;
    neg = 0;
    n = 0;
    *integer = 1;

    if (p < s->end && *p == '-') {
        neg = 1;
        p++;
    }

    if (p == s->end || *p < '0' || *p > '9') {
        return -1;
    }

    limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;

    if (*p == '0') {
        p++;

    } else {
        while (p < s->end && *p >= '0' && *p <= '9') {
            if (n > (limit - (*p - '0')) / 10) {
                return -1;
            }

            n = n * 10 + (*p++ - '0');
        }
    }

    if (p < s->end && *p == '.') {
        *integer = 0;
        p++;

        if (p == s->end || *p < '0' || *p > '9') {
            return -1;
        }

        while (p < s->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < s->end && (*p == 'e' || *p == 'E')) {
        *integer = 0;
        p++;

        if (p < s->end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == s->end || *p < '0' || *p > '9') {
            return -1;
        }

        while (p < s->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (*integer) {
        *v = neg ? (int64_t) (0 - n) : (int64_t) n;
    }

    s->p = p;

    return 0;
}


static int
eci_js_hex4(eci_js_t *s, uint32_t *cp)
{
    int       i;
    uint32_t  c, d;

    if (s->end - s->p < 4) {
        return -1;
    }

    c = 0;

    for (i = 0; i < 4; i++) {
        d = s->p[i];

        if (d >= '0' && d <= '9') {
            d -= '0';

        } else if ((d | 0x20) >= 'a' && (d | 0x20) <= 'f') {
            d = (d | 0x20) - 'a' + 10;

        } else {
            return -1;
        }

        c = (c << 4) | d;
    }

    s->p += 4;
    *cp = c;

    return 0;
}


/*
 * A string, s->p at its '"'.  With dst, the decoded text goes there (whole
 * characters only, at most cap - 1 bytes, NUL-terminated); with hash, an
 * FNV-1a hash of all of it.  *dlen is the decoded length (all of it).
 */
static int
eci_js_string(eci_js_t *s, char *dst, size_t cap, size_t *dlen,
    uint64_t *hash)
{
    int                   valid;
    size_t                n, k, i, used;
    uint32_t              cp, lo;
    uint64_t              h;
    unsigned char         c, buf[4];
    const unsigned char  *p;

    s->p++;     /* '"' */
    used = 0;
    n = 0;
    h = 0xcbf29ce484222325ULL;

    for ( ;; ) {

        if (s->p == s->end) {
            return -1;
        }

        c = *s->p;

        if (c == '"') {
            s->p++;
            break;
        }

        if (c < 0x20) {
            return -1;
        }

        if (c < 0x80 && c != '\\') {
            /* a run of plain ASCII: the common case, taken whole */
            p = s->p;
            s->p = eci_json_run(s->p, s->end, 0);
            k = s->p - p;

            if (hash != NULL) {
                for (i = 0; i < k; i++) {
                    h = (h ^ p[i]) * 0x100000001b3ULL;
                }
            }

            if (dst != NULL && used + 1 < cap) {
                i = eci_min(k, cap - 1 - used);
                memcpy(dst + used, p, i);
                used += i;

                if (i < k) {
                    cap = used + 1;     /* cut: nothing more fits */
                }
            }

            n += k;
            continue;
        }

        if (c == '\\') {
            s->p++;

            if (s->p == s->end) {
                return -1;
            }

            c = *s->p++;

            switch (c) {
            case '"': case '\\': case '/':
                buf[0] = c;
                k = 1;
                break;
            case 'b':
                buf[0] = '\b';
                k = 1;
                break;
            case 'f':
                buf[0] = '\f';
                k = 1;
                break;
            case 'n':
                buf[0] = '\n';
                k = 1;
                break;
            case 'r':
                buf[0] = '\r';
                k = 1;
                break;
            case 't':
                buf[0] = '\t';
                k = 1;
                break;

            case 'u':
                if (eci_js_hex4(s, &cp) != 0) {
                    return -1;
                }

                if (cp >= 0xd800 && cp <= 0xdbff) {
                    if (s->end - s->p < 6 || s->p[0] != '\\'
                        || s->p[1] != 'u')
                    {
                        return -1;
                    }

                    s->p += 2;

                    if (eci_js_hex4(s, &lo) != 0
                        || lo < 0xdc00 || lo > 0xdfff)
                    {
                        return -1;
                    }

                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);

                } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                    /* a lone low surrogate; NUL, as jansson refuses it */
                    return -1;
                }

                if (cp < 0x80) {
                    buf[0] = (unsigned char) cp;
                    k = 1;

                } else if (cp < 0x800) {
                    buf[0] = 0xc0 | (cp >> 6);
                    buf[1] = 0x80 | (cp & 0x3f);
                    k = 2;

                } else if (cp < 0x10000) {
                    buf[0] = 0xe0 | (cp >> 12);
                    buf[1] = 0x80 | ((cp >> 6) & 0x3f);
                    buf[2] = 0x80 | (cp & 0x3f);
                    k = 3;

                } else {
                    buf[0] = 0xf0 | (cp >> 18);
                    buf[1] = 0x80 | ((cp >> 12) & 0x3f);
                    buf[2] = 0x80 | ((cp >> 6) & 0x3f);
                    buf[3] = 0x80 | (cp & 0x3f);
                    k = 4;
                }

                break;

            default:
                return -1;
            }

            p = buf;

        } else {
            k = eci_utf8_check(s->p, s->end - s->p, &valid);

            if (!valid) {
                return -1;
            }

            p = s->p;
            s->p += k;
        }

        if (hash != NULL) {
            for (i = 0; i < k; i++) {
                h = (h ^ p[i]) * 0x100000001b3ULL;
            }
        }

        /* whole characters only: a cut never splits one */
        if (dst != NULL && used + k < cap) {
            memcpy(dst + used, p, k);
            used += k;

        } else if (dst != NULL) {
            cap = used + 1;     /* nothing more fits after a cut */
        }

        n += k;
    }

    if (dst != NULL) {
        dst[used] = '\0';
    }

    if (hash != NULL) {
        *hash = h;
    }

    *dlen = n;

    return 0;
}


size_t
eci_json_escape(char *dst, const char *src, size_t len)
{
    return eci_json_escape_cap(dst, (size_t) -1, src, len);
}


/*
 * The length of the well-formed UTF-8 sequence at p (*valid = 1), or of
 * its maximal ill-formed subpart (*valid = 0), after Unicode's Table 3-7:
 * no overlongs, no surrogates, nothing above U+10FFFF.
 */
static size_t
eci_utf8_check(const unsigned char *p, size_t n, int *valid)
{
    size_t         need, i;
    unsigned char  c, lo, hi;

    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;

    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;

        if (c == 0xe0) {
            lo = 0xa0;

        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;

        if (c == 0xf0) {
            lo = 0x90;

        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        *valid = 0;
        return 1;
    }

    for (i = 1; i < need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *valid = 0;
            return i;
        }

        lo = 0x80;
        hi = 0xbf;
    }

    *valid = 1;

    return need;
}


/*
 * The end of a run of bytes that stand for themselves in a JSON string:
 * 0x20-0x7f but '"' and '\\', and with del also but DEL (0x7f), which a
 * JSON text may hold raw but the audit writes escaped.  A byte at a time
 * through the table: the SSE2 version saved under 1% of the worker's CPU
 * per exec (make bench-simd, docs/performance.md), so it went.
 */
/* 1: written as is by the audit; 2: taken as is from a JSON text */
static const unsigned char  eci_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 00-0f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 10-1f */
    3, 3, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 20-2f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 30-3f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 40-4f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 3, 3, 3,   /* 50-5f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 60-6f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2,   /* 70-7f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 80-8f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 90-9f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* a0-af */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* b0-bf */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* c0-cf */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* d0-df */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* e0-ef */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* f0-ff */
};




static const unsigned char *
eci_json_run(const unsigned char *p, const unsigned char *end, int del)
{
    unsigned char  mask;

    mask = del ? 1 : 2;

    while (p < end && (eci_json_plain[*p] & mask)) {
        p++;
    }

    return p;
}


/* eci_json_escape() into cap bytes; (size_t) -1 when it does not fit */
static size_t
eci_json_escape_cap(char *dst, size_t cap, const char *src, size_t len)
{
    int                   valid;
    size_t                i, o, start, n;
    unsigned char         c;
    const char           *esc;
    const unsigned char  *s;

    static const char     hex[] = "0123456789abcdef";


    s = (const unsigned char *) src;
    i = 0;
    o = 0;

    while (i < len) {

        /* the common case: a run of printable ASCII copied at once */
        start = i;
        i = eci_json_run(s + i, s + len, 1) - s;

        if (i > start) {
            n = i - start;

            if (cap - o < n) {
                return (size_t) -1;
            }

            memcpy(dst + o, src + start, n);
            o += n;

            if (i == len) {
                break;
            }
        }

        c = s[i];
        esc = NULL;
        n = 1;

        if (c < 0x80) {
            switch (c) {

            case '"':
                esc = "\\\"";
                break;

            case '\\':
                esc = "\\\\";
                break;

            case '\b':
                esc = "\\b";
                break;

            case '\f':
                esc = "\\f";
                break;

            case '\n':
                esc = "\\n";
                break;

            case '\r':
                esc = "\\r";
                break;

            case '\t':
                esc = "\\t";
                break;

            default:
                break;
            }

            if (esc != NULL) {
                if (cap - o < 2) {
                    return (size_t) -1;
                }

                dst[o++] = esc[0];
                dst[o++] = esc[1];
                i++;
                continue;
            }

            /* other controls and DEL */
            if (cap - o < 6) {
                return (size_t) -1;
            }

            memcpy(dst + o, "\\u00", 4);
            dst[o + 4] = hex[c >> 4];
            dst[o + 5] = hex[c & 0x0f];
            o += 6;
            i++;
            continue;
        }

        n = eci_utf8_check(s + i, len - i, &valid);

        if (!valid) {
            esc = "\\ufffd";

        } else if (n == 3 && c == 0xe2 && s[i + 1] == 0x80
                   && (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))
        {
            /* line and paragraph separators end a JavaScript string */
            esc = (s[i + 2] == 0xa8) ? "\\u2028" : "\\u2029";
        }

        if (esc != NULL) {
            if (cap - o < 6) {
                return (size_t) -1;
            }

            memcpy(dst + o, esc, 6);
            o += 6;

        } else {
            if (cap - o < n) {
                return (size_t) -1;
            }

            memcpy(dst + o, src + i, n);
            o += n;
        }

        i += n;
    }

    return o;
}


/* the uri is cut, before escaping, where a character starts if it can */
static size_t
eci_audit_uri_len(const eci_str_t *uri)
{
    size_t                n, k;
    const unsigned char  *s;

    if (uri->data == NULL) {
        return 0;
    }

    if (uri->len <= ECI_AUDIT_URI_MAX) {
        return uri->len;
    }

    s = (const unsigned char *) uri->data;
    n = ECI_AUDIT_URI_MAX;

    for (k = 0; k < 3 && (s[n - k] & 0xc0) == 0x80; k++) {
        /* void */
    }

    /* garbage without a lead byte near the cut is escaped anyway */
    if (k > 0 && s[n - k] >= 0xc0) {
        n -= k;
    }

    return n;
}


const char *const  eci_audit_outcomes[ECI_AUDIT_NOUTCOMES] = {
    "sent", "refused", "failed", "unknown"
};


size_t
eci_audit_line_max(const eci_audit_record_t *rec)
{
    size_t                       n;
    const eci_audit_response_t  *r;

    n = sizeof(ECI_AUDIT_KEYS) - 1
        + ECI_AUDIT_TIME_LEN
        + eci_audit_str_len(rec->event != NULL ? strlen(rec->event) : 0)
        + eci_audit_str_len(rec->request_id.len)
        + eci_audit_str_len(rec->principal.len)
        + eci_audit_str_len(rec->client.len)
        + eci_audit_str_len(rec->method.len)
        + eci_audit_str_len(eci_audit_uri_len(&rec->uri))
        + ECI_AUDIT_INT_LEN                            /* id */
        + 4 + ECI_AUDIT_ID_LEN * rec->n_override_user_ids  /* [], null */
        + (rec->override_user_ids_bounded
           ? sizeof(ECI_AUDIT_K_IDS_COUNT ECI_AUDIT_K_IDS_DIGEST "\"")
             + ECI_AUDIT_INT_LEN + 2 * ECI_SHA256_LEN
           : 0)
        + eci_audit_str_len(rec->decision != NULL
                            ? strlen(rec->decision) : 0)
        + eci_audit_str_len(rec->error != NULL ? strlen(rec->error) : 0)
        + eci_audit_str_len(sizeof("refused") - 1)      /* outcome */
        + eci_audit_str_len(rec->api_key != NULL ? strlen(rec->api_key) : 0)
        + eci_audit_str_len(rec->api_key_fp != NULL
                            ? strlen(rec->api_key_fp) : 0)
        + eci_audit_str_len(rec->candidate != NULL
                            ? strlen(rec->candidate) : 0)
        + eci_audit_str_len(rec->candidate_reason != NULL
                            ? strlen(rec->candidate_reason) : 0)
        + ECI_AUDIT_TIME_LEN + 2                        /* clientClosedAt */
        + 6 * ECI_AUDIT_INT_LEN     /* statuses, time, bytes, two bools */
        + 2 + 2 * 32                                    /* "sha256" */
        + ECI_CHAIN_ROOM;           /* what eci_chain_seal() adds */

    r = rec->response;

    if (r != NULL && r->valid) {
        n += 4 * ECI_AUDIT_INT_LEN
             + eci_audit_str_len(r->status_len)
             + eci_audit_str_len(r->begin_date_len)
             + eci_audit_str_len(r->end_date_len)
             + eci_audit_str_len(r->report_code_len)
             + eci_audit_str_len(r->report_distribution_name_len);
    }

    return n;
}


void
eci_audit_ids_digest(const int32_t *ids, size_t n,
    unsigned char md[ECI_SHA256_LEN])
{
    size_t           i;
    eci_sha256_t     c;
    eci_audit_out_t  o;
    char             buf[4096];

    eci_sha256_init(&c);

    o.pos = buf;
    o.end = buf + sizeof(buf);
    o.full = 0;

    eci_audit_lit(&o, "[");

    for (i = 0; i < n; i++) {
        if (o.end - o.pos < ECI_AUDIT_ID_LEN + 1) {  /* and "]" */
            eci_sha256_update(&c, buf, o.pos - buf);
            o.pos = buf;
        }

        if (i > 0) {
            eci_audit_lit(&o, ",");
        }

        eci_audit_int(&o, ids[i]);
    }

    eci_audit_lit(&o, "]");

    eci_sha256_update(&c, buf, o.pos - buf);
    eci_sha256_final(&c, md);
}


size_t
eci_audit_line_write(const eci_audit_record_t *rec, char *buf, size_t cap)
{
    size_t            i, n;
    eci_audit_out_t   o;
    unsigned char     md[ECI_SHA256_LEN];

    o.pos = buf;
    o.end = buf + cap;
    o.full = 0;

    eci_audit_lit(&o, ECI_AUDIT_K_TIME);
    eci_audit_time(&o, rec->time_ms);

    if (rec->event != NULL) {
        eci_audit_lit(&o, ECI_AUDIT_K_EVENT);
        eci_audit_cstr(&o, rec->event);
    }

    eci_audit_lit(&o, ECI_AUDIT_K_REQID);
    eci_audit_str(&o, rec->request_id.data, rec->request_id.len);

    eci_audit_lit(&o, ECI_AUDIT_K_PRINCIPAL);

    if (rec->principal.data == NULL) {
        eci_audit_lit(&o, "null");

    } else {
        eci_audit_str(&o, rec->principal.data, rec->principal.len);
    }

    eci_audit_lit(&o, ECI_AUDIT_K_CLIENT);
    eci_audit_str(&o, rec->client.data, rec->client.len);

    eci_audit_lit(&o, ECI_AUDIT_K_METHOD);
    eci_audit_str(&o, rec->method.data, rec->method.len);

    eci_audit_lit(&o, ECI_AUDIT_K_URI);
    eci_audit_str(&o, rec->uri.data, eci_audit_uri_len(&rec->uri));

    eci_audit_lit(&o, ECI_AUDIT_K_ID);

    eci_audit_int_or_null(&o, rec->report_distribution_id, 0);

    if (rec->has_override_user_ids && rec->override_user_ids_bounded) {
        n = (rec->override_user_ids != NULL) ? rec->n_override_user_ids : 0;

        eci_audit_lit(&o, ECI_AUDIT_K_IDS_COUNT);
        eci_audit_uint(&o, n);
        eci_audit_lit(&o, ECI_AUDIT_K_IDS_DIGEST);

        if ((size_t) (o.end - o.pos) < 2 * ECI_SHA256_LEN) {
            o.full = 1;

        } else if (!o.full) {
            eci_audit_ids_digest(rec->override_user_ids, n, md);
            eci_hex(o.pos, md, ECI_SHA256_LEN);
            o.pos += 2 * ECI_SHA256_LEN;
        }

        eci_audit_lit(&o, "\"");

    } else if (!rec->has_override_user_ids) {
        eci_audit_lit(&o, ECI_AUDIT_K_OVERRIDES "null");

    } else {
        eci_audit_lit(&o, ECI_AUDIT_K_OVERRIDES);
        eci_audit_lit(&o, "[");

        n = (rec->override_user_ids != NULL) ? rec->n_override_user_ids : 0;

        for (i = 0; i < n && !o.full; i++) {
            if (i > 0) {
                eci_audit_lit(&o, ",");
            }

            eci_audit_int(&o, rec->override_user_ids[i]);
        }

        eci_audit_lit(&o, "]");
    }

    eci_audit_lit(&o, ECI_AUDIT_K_DECISION);
    eci_audit_cstr(&o, rec->decision);

    /* which key an allowed exec goes with (one key per team) */
    if (rec->api_key != NULL) {
        eci_audit_lit(&o, ECI_AUDIT_K_KEY);
        eci_audit_cstr(&o, rec->api_key);
        eci_audit_lit(&o, ECI_AUDIT_K_KEY_FP);
        eci_audit_cstr(&o, rec->api_key_fp);
    }

    if (rec->intent) {
        /* written before the exec is forwarded: there is no outcome yet */
        goto close;
    }

    eci_audit_lit(&o, ECI_AUDIT_K_OUTCOME);
    eci_audit_cstr(&o, eci_audit_outcomes[rec->outcome]);

    /* eci_acl_candidate decided otherwise (only then) */
    if (rec->candidate != NULL) {
        eci_audit_lit(&o, ECI_AUDIT_K_CANDIDATE);
        eci_audit_cstr(&o, rec->candidate);
        eci_audit_lit(&o, ECI_AUDIT_K_CAND_WHY);
        eci_audit_cstr(&o, rec->candidate_reason);
    }

    eci_audit_lit(&o, ECI_AUDIT_K_ERROR);
    eci_audit_cstr(&o, rec->error);

    eci_audit_lit(&o, ECI_AUDIT_K_STATUS);
    eci_audit_int(&o, rec->status);

    eci_audit_lit(&o, ECI_AUDIT_K_UPSTATUS);

    eci_audit_int_or_null(&o, rec->upstream_status, 0);

    eci_audit_lit(&o, ECI_AUDIT_K_UPTIME);

    eci_audit_int_or_null(&o, rec->upstream_time_ms, -1);

    eci_audit_lit(&o, ECI_AUDIT_K_CLOSED);
    eci_audit_bool(&o, rec->client_closed_ms != 0);

    eci_audit_lit(&o, ECI_AUDIT_K_CLOSED_AT);

    if (rec->client_closed_ms == 0) {
        eci_audit_lit(&o, "null");

    } else {
        eci_audit_time(&o, rec->client_closed_ms);
    }

    if (!rec->has_response) {
        eci_audit_lit(&o, ECI_AUDIT_K_BYTES "null"
                          ECI_AUDIT_K_SHA256 "null"
                          ECI_AUDIT_K_TRUNCATED "null"
                          ECI_AUDIT_K_VALID "null");

    } else {
        eci_audit_lit(&o, ECI_AUDIT_K_BYTES);
        eci_audit_uint(&o, rec->response_bytes);

        eci_audit_lit(&o, ECI_AUDIT_K_SHA256 "\"");

        if ((size_t) (o.end - o.pos) < 2 * ECI_SHA256_LEN) {
            o.full = 1;

        } else if (!o.full) {
            eci_hex(o.pos, rec->response_sha256, ECI_SHA256_LEN);
            o.pos += 2 * ECI_SHA256_LEN;
        }

        eci_audit_lit(&o, "\"" ECI_AUDIT_K_TRUNCATED);
        eci_audit_bool(&o, rec->response_truncated);

        eci_audit_lit(&o, ECI_AUDIT_K_VALID);
        eci_audit_bool(&o, rec->response != NULL && rec->response->valid);
    }

    if (rec->response != NULL && rec->response->valid) {
        eci_audit_response(&o, rec->response);
    }

close:

    eci_audit_lit(&o, ECI_AUDIT_K_CLOSE);

    if (o.full) {
        return 0;
    }

    return o.pos - buf;
}


static eci_audit_inline void
eci_audit_response(eci_audit_out_t *o, const eci_audit_response_t *r)
{
    eci_audit_lit(o, ECI_AUDIT_K_RESPONSE);
    eci_audit_int(o, r->report_distribution_log_id);

    eci_audit_lit(o, ECI_AUDIT_K_R_STATUS);
    eci_audit_str(o, r->status, r->status_len);

    eci_audit_lit(o, ECI_AUDIT_K_R_NREC);

    eci_audit_int_or_null(o, r->number_of_recipients, -1);

    eci_audit_lit(o, ECI_AUDIT_K_R_BEGIN);
    eci_audit_opt(o, r->has_begin_date, r->begin_date, r->begin_date_len);

    eci_audit_lit(o, ECI_AUDIT_K_R_END);
    eci_audit_opt(o, r->has_end_date, r->end_date, r->end_date_len);

    eci_audit_lit(o, ECI_AUDIT_K_R_ID);

    eci_audit_int_or_null(o, r->report_distribution_id, -1);

    eci_audit_lit(o, ECI_AUDIT_K_R_CODE);
    eci_audit_opt(o, r->has_report_code, r->report_code, r->report_code_len);

    eci_audit_lit(o, ECI_AUDIT_K_R_NAME);
    eci_audit_opt(o, r->has_report_distribution_name,
                  r->report_distribution_name,
                  r->report_distribution_name_len);

    eci_audit_lit(o, ECI_AUDIT_K_R_USER);

    eci_audit_int_or_null(o, r->created_by_user_id, -1);

    eci_audit_lit(o, ECI_AUDIT_K_R_CLOSE);
}


/* inline: most calls copy a literal, which then needs no memcpy() call */
static eci_audit_inline void
eci_audit_put(eci_audit_out_t *o, const char *s, size_t n)
{
    if (o->full || (size_t) (o->end - o->pos) < n) {
        o->full = 1;
        return;
    }

    memcpy(o->pos, s, n);
    o->pos += n;
}


/* a quoted, escaped string; data NULL is "" */
static eci_audit_inline void
eci_audit_str(eci_audit_out_t *o, const char *s, size_t n)
{
    size_t          len, i;
    char           *d;
    unsigned char   c;

    if (s == NULL) {
        /* memcpy() from NULL is undefined even for 0 bytes */
        s = "";
        n = 0;
    }

    /* nothing to escape, as in nearly every field: one copy */
    if (!o->full && (size_t) (o->end - o->pos) >= n + 2) {

        if (n < 16) {
            /* a short string is checked while it is copied */
            d = o->pos + 1;

            for (i = 0; i < n; i++) {
                c = (unsigned char) s[i];

                if (!(eci_json_plain[c] & 1)) {
                    break;
                }

                d[i] = (char) c;
            }

            if (i == n) {
                o->pos[0] = '"';
                d[n] = '"';
                o->pos = d + n + 1;
                return;
            }

        } else if (eci_json_run((const unsigned char *) s,
                                (const unsigned char *) s + n, 1)
                   == (const unsigned char *) s + n)
        {
            *o->pos++ = '"';
            memcpy(o->pos, s, n);
            o->pos += n;
            *o->pos++ = '"';
            return;
        }
    }

    eci_audit_lit(o, "\"");

    if (o->full) {
        return;
    }

    len = eci_json_escape_cap(o->pos, o->end - o->pos, s, n);

    if (len == (size_t) -1) {
        o->full = 1;
        return;
    }

    o->pos += len;

    eci_audit_lit(o, "\"");
}


/* an optional response string: absent is null */
static eci_audit_inline void
eci_audit_opt(eci_audit_out_t *o, int has, const char *s, size_t len)
{
    if (!has) {
        eci_audit_lit(o, "null");
        return;
    }

    eci_audit_str(o, s, len);
}


/* a NUL-terminated string, NULL is null */
static eci_audit_inline void
eci_audit_cstr(eci_audit_out_t *o, const char *s)
{
    if (s == NULL) {
        eci_audit_lit(o, "null");
        return;
    }

    eci_audit_str(o, s, strlen(s));
}


static eci_audit_inline void
eci_audit_int(eci_audit_out_t *o, int64_t v)
{
    if (v < 0) {
        eci_audit_lit(o, "-");

        /* negated in unsigned arithmetic so INT64_MIN is exact */
        eci_audit_uint(o, 0 - (uint64_t) v);
        return;
    }

    eci_audit_uint(o, (uint64_t) v);
}


/* an optional integer: none (0 or -1, by field) is written as null */
static eci_audit_inline void
eci_audit_int_or_null(eci_audit_out_t *o, int64_t v, int64_t none)
{
    if (v == none) {
        eci_audit_lit(o, "null");

    } else {
        eci_audit_int(o, v);
    }
}


static eci_audit_inline void
eci_audit_uint(eci_audit_out_t *o, uint64_t v)
{
    size_t  d;
    char    tmp[ECI_AUDIT_INT_LEN];
    char   *p, *end;

    static const char  pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";

    end = tmp + sizeof(tmp);
    p = end;

    /* two digits a step: half the divisions */
    while (v >= 100) {
        d = 2 * (size_t) (v % 100);
        v /= 100;
        p -= 2;
        p[0] = pairs[d];
        p[1] = pairs[d + 1];
    }

    if (v >= 10) {
        p -= 2;
        p[0] = pairs[2 * v];
        p[1] = pairs[2 * v + 1];

    } else {
        *--p = (char) ('0' + v);
    }

    if (o->full || (size_t) (o->end - o->pos) < (size_t) (end - p)) {
        o->full = 1;
        return;
    }

    /* a few digits: a loop, not a memcpy() call */
    while (p < end) {
        *o->pos++ = *p++;
    }
}


static eci_audit_inline void
eci_audit_bool(eci_audit_out_t *o, int v)
{
    if (v) {
        eci_audit_lit(o, "true");

    } else {
        eci_audit_lit(o, "false");
    }
}


static eci_audit_inline void
eci_audit_time(eci_audit_out_t *o, int64_t ms)
{
    int      msec;
    char     t[ECI_AUDIT_TIME_LEN];
    int64_t  sec, days, era, doe, yoe, doy, mp, year, mon, mday, rem;

    /* floor division: a time before 1970 still has 0-999 ms */
    msec = (int) (ms % 1000);
    sec = ms / 1000;

    if (msec < 0) {
        msec += 1000;
        sec--;
    }

    days = sec / 86400;
    rem = sec % 86400;

    if (rem < 0) {
        rem += 86400;
        days--;
    }

    /*
     * The proleptic Gregorian date of a day number (days since 1970-01-01),
     * in plain arithmetic rather than gmtime_r(), which takes libc's time
     * zone lock on every line: H. Hinnant's civil_from_days().
     */
    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    mday = doy - (153 * mp + 2) / 5 + 1;
    mon = mp < 10 ? mp + 3 : mp - 9;
    year = yoe + era * 400 + (mon <= 2);

    /* RFC 3339 has four-digit years only */
    if (year < 0 || year > 9999) {
        eci_audit_lit(o, "null");
        return;
    }

    t[0] = '"';
    t[1] = (char) ('0' + year / 1000);
    t[2] = (char) ('0' + year / 100 % 10);
    t[3] = (char) ('0' + year / 10 % 10);
    t[4] = (char) ('0' + year % 10);
    t[5] = '-';
    t[6] = (char) ('0' + mon / 10);
    t[7] = (char) ('0' + mon % 10);
    t[8] = '-';
    t[9] = (char) ('0' + mday / 10);
    t[10] = (char) ('0' + mday % 10);
    t[11] = 'T';
    t[12] = (char) ('0' + rem / 36000);
    t[13] = (char) ('0' + rem / 3600 % 10);
    t[14] = ':';
    t[15] = (char) ('0' + rem % 3600 / 600);
    t[16] = (char) ('0' + rem % 3600 / 60 % 10);
    t[17] = ':';

    /* time_t has no leap seconds: POSIX days are 86400 s */
    t[18] = (char) ('0' + rem % 60 / 10);
    t[19] = (char) ('0' + rem % 10);
    t[20] = '.';
    t[21] = (char) ('0' + msec / 100);
    t[22] = (char) ('0' + msec / 10 % 10);
    t[23] = (char) ('0' + msec % 10);
    t[24] = 'Z';
    t[25] = '"';

    eci_audit_put(o, t, sizeof(t));
}


size_t
eci_audit_u64(char *buf, uint64_t v)
{
    eci_audit_out_t  o;

    o.pos = buf;
    o.end = buf + ECI_AUDIT_INT_LEN;
    o.full = 0;

    eci_audit_uint(&o, v);

    return o.pos - buf;
}


size_t
eci_audit_time_write(char *buf, int64_t ms)
{
    eci_audit_out_t  o;

    o.pos = buf;
    o.end = buf + ECI_AUDIT_TIME_LEN;
    o.full = 0;

    eci_audit_time(&o, ms);

    return o.pos - buf;
}
