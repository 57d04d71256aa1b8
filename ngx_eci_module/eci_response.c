/*
 * ngx_eci: the upstream's ReportDistributionLogResponse, scanned.
 *
 * eci_audit_response_parse() keeps what the audit needs of the body the
 * upstream answered an exec with; eci_audit_line_write() (eci_audit_line.c)
 * writes it into the exec's audit line.  Strings are decoded by
 * eci_js_string() (eci_json.c).
 */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "eci_response.h"
#include "eci_json_int.h"



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


/*
 * A member the audit keeps, found by its key, and where its value goes in
 * eci_audit_response_t (offsets, as nginx's commands give theirs): one
 * table per object of the response; other members are checked and passed
 * over.
 */
typedef struct eci_js_field_s  eci_js_field_t;

struct eci_js_field_s {
    const char            *key;
    size_t                 len;
    unsigned               type;
    unsigned               seen;     /* not 0: null refused; set in valid */
    size_t                 value;    /* the int64_t, or the string */
    size_t                 value_len;   /* ECI_JS_STR: its length */
    size_t                 has;      /* ECI_JS_STR: its has_ flag; 0: none */
    const eci_js_field_t  *fields;   /* ECI_JS_OBJECT: its members */
};

#define ECI_JS_INT      0       /* an integer, or null */
#define ECI_JS_STR      1       /* a string, or null */
#define ECI_JS_OBJECT   2       /* an object, or null */

#define eci_js_field(k, type, seen, v, vlen, has, fields)                    \
    { k, sizeof(k) - 1, type, seen, v, vlen, has, fields }

#define eci_js_int_field(k, seen, f)                                          \
    eci_js_field(k, ECI_JS_INT, seen, offsetof(eci_audit_response_t, f),    \
                 0, 0, NULL)

#define eci_js_str_field(k, seen, f, has)                                     \
    eci_js_field(k, ECI_JS_STR, seen, offsetof(eci_audit_response_t, f),    \
                 offsetof(eci_audit_response_t, f##_len), has, NULL)

#define eci_js_has(f)  offsetof(eci_audit_response_t, f)


static inline void eci_js_ws(eci_js_t *s);
static int eci_js_lit(eci_js_t *s, const char *lit, size_t len);
static int eci_js_number(eci_js_t *s, int64_t *v, int *integer);
static int eci_js_key_same(const unsigned char *a, const unsigned char *b,
    const unsigned char *end);
static int eci_js_skip(eci_js_t *s);
static inline int eci_js_open(eci_js_t *s, unsigned char close);
static int eci_js_next(eci_js_t *s, unsigned char close);
static int eci_js_object(eci_js_t *s, eci_audit_response_t *out,
    const eci_js_field_t *fields);
static int eci_js_member(eci_js_t *s, eci_audit_response_t *out,
    const eci_js_field_t *f, const char *key, size_t len);
static int eci_js_int(eci_js_t *s, int64_t *v, int *set);
static int eci_js_str(eci_js_t *s, char *dst, size_t *len, int *has);
static void eci_audit_response_init(eci_audit_response_t *out);
static inline void eci_js_str_clear(char *s, size_t *len, int *has);


/* what was seen, beyond the fields themselves */
#define ECI_JS_SEEN_LOGID   0x01
#define ECI_JS_SEEN_STATUS  0x02
#define ECI_JS_SEEN_RD      0x04
#define ECI_JS_SEEN_RDID    0x08


/* fullName and userCode are personal data the audit does not need */
static const eci_js_field_t  eci_js_user[] = {
    eci_js_int_field("userId", 0, created_by_user_id),
    { NULL, 0, 0, 0, 0, 0, 0, NULL }
};

static const eci_js_field_t  eci_js_rd[] = {
    eci_js_int_field("reportDistributionId", ECI_JS_SEEN_RDID,
                     report_distribution_id),
    eci_js_str_field("reportCode", 0, report_code,
                     eci_js_has(has_report_code)),
    eci_js_str_field("reportDistributionName", 0, report_distribution_name,
                     eci_js_has(has_report_distribution_name)),
    eci_js_field("createdByUser", ECI_JS_OBJECT, 0, 0, 0, 0, eci_js_user),
    { NULL, 0, 0, 0, 0, 0, 0, NULL }
};

static const eci_js_field_t  eci_js_top[] = {
    eci_js_int_field("reportDistributionLogId", ECI_JS_SEEN_LOGID,
                     report_distribution_log_id),
    eci_js_str_field("status", ECI_JS_SEEN_STATUS, status, 0),
    eci_js_int_field("numberOfRecipients", 0, number_of_recipients),
    eci_js_str_field("beginDate", 0, begin_date, eci_js_has(has_begin_date)),
    eci_js_str_field("endDate", 0, end_date, eci_js_has(has_end_date)),
    eci_js_field("reportDistribution", ECI_JS_OBJECT, ECI_JS_SEEN_RD, 0, 0, 0,
                 eci_js_rd),
    { NULL, 0, 0, 0, 0, 0, 0, NULL }
};


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
    int  has_status;     /* status is required: it has no has_ flag */

    out->valid = 0;
    out->report_distribution_log_id = 0;
    out->number_of_recipients = -1;
    out->report_distribution_id = -1;
    out->created_by_user_id = -1;

    eci_js_str_clear(out->status, &out->status_len, &has_status);
    eci_js_str_clear(out->begin_date, &out->begin_date_len,
                     &out->has_begin_date);
    eci_js_str_clear(out->end_date, &out->end_date_len, &out->has_end_date);
    eci_js_str_clear(out->report_code, &out->report_code_len,
                     &out->has_report_code);
    eci_js_str_clear(out->report_distribution_name,
                     &out->report_distribution_name_len,
                     &out->has_report_distribution_name);
}


static inline void
eci_js_str_clear(char *s, size_t *len, int *has)
{
    s[0] = '\0';
    *len = 0;
    *has = 0;
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


/*
 * The member key (len 0: longer than any known key) of an object whose
 * known members are f: its value read into out, or checked and passed
 * over.
 */
static int
eci_js_member(eci_js_t *s, eci_audit_response_t *out,
    const eci_js_field_t *f, const char *key, size_t len)
{
    int             rc, set;
    unsigned char  *base;

    /* the length first; then the bytes, inline, a word at a time */
    while (f->key != NULL
           && (f->len != len || !eci_js_same(key, f->key, len)))
    {
        f++;
    }

    if (f->key == NULL) {
        return eci_js_skip(s);
    }

    base = (unsigned char *) out;

    switch (f->type) {

    case ECI_JS_INT:
        rc = eci_js_int(s, (int64_t *) (base + f->value), &set);
        break;

    case ECI_JS_STR:
        rc = eci_js_str(s, (char *) (base + f->value),
                        (size_t *) (base + f->value_len), &set);

        if (f->has != 0) {
            *(int *) (base + f->has) = set;
        }

        break;

    default: /* ECI_JS_OBJECT */
        set = (eci_js_lit(s, "null", 4) != 0);

        if (!set) {
            rc = 0;

        } else if (s->p == s->end || *s->p != '{') {
            rc = -1;

        } else {
            rc = eci_js_object(s, out, f->fields);
        }
    }

    if (rc != 0 || (f->seen != 0 && !set)) {
        return -1;
    }

    out->valid |= f->seen;

    return 0;
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


/* an object: its members in fields read into out, the rest passed over */
static int
eci_js_object(eci_js_t *s, eci_audit_response_t *out,
    const eci_js_field_t *fields)
{
    int                   rc;
    size_t                i, n, klen;
    const char           *k;
    const unsigned char  *raw, *q, *plain;
    eci_js_key_t          seen[ECI_JS_KEYS];
    char                  key[ECI_JS_KEY_MAX];

    rc = eci_js_open(s, '}');
    if (rc != 1) {
        return rc;
    }

    n = 0;

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
        if (fields == NULL) {
            if (eci_js_skip(s) != 0) {
                return -1;
            }

        } else if (eci_js_member(s, out, fields, k,
                                 klen < sizeof(key) - 1 ? klen : 0)
                   != 0)
        {
            return -1;
        }

        rc = eci_js_next(s, '}');
        if (rc != 1) {
            return rc;
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
    int      rc, integer;
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
        rc = eci_js_open(s, ']');

        while (rc == 1) {
            if (eci_js_skip(s) != 0) {
                return -1;
            }

            rc = eci_js_next(s, ']');
        }

        return rc;

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
 * At the '{' or '[' of a container: 1, a member or an element follows; 0
 * at once the closing bracket (empty, and passed over); -1 too deep.
 * Inline: every object and array starts here.
 */
static inline int
eci_js_open(eci_js_t *s, unsigned char close)
{
    if (++s->depth > ECI_JS_DEPTH) {
        return -1;
    }

    s->p++;
    eci_js_ws(s);

    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return 0;
    }

    return 1;
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
