/*
 * ngx_eci: the audit line.
 *
 * eci_audit_line_write() writes one JSON line per request from its record
 * (the response's fields as eci_response.c scanned them).  The writer
 * runs on every request, so it writes by hand into a caller's buffer: no
 * allocation, no printf.  eci_chain_seal() (eci_chain.c) then gives the
 * line its place in a chain.
 */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eci_audit.h"
#include "eci_chain.h"
#include "eci_json_int.h"
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


static size_t eci_audit_uri_len(const eci_str_t *uri);
static size_t eci_audit_alone(char *buf, int time, uint64_t v);
static eci_audit_inline void eci_audit_out_init(eci_audit_out_t *o,
    char *buf, size_t cap);
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

    eci_audit_out_init(&o, buf, sizeof(buf));

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

    eci_audit_out_init(&o, buf, cap);

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
    return eci_audit_alone(buf, 0, v);
}


size_t
eci_audit_time_write(char *buf, int64_t ms)
{
    return eci_audit_alone(buf, 1, (uint64_t) ms);
}


/*
 * One value written by itself, as in a line (for eci_chain.c's lines):
 * a time (v is the int64_t ms) or an unsigned integer.
 */
static size_t
eci_audit_alone(char *buf, int time, uint64_t v)
{
    eci_audit_out_t  o;

    if (time) {
        eci_audit_out_init(&o, buf, ECI_AUDIT_TIME_LEN);
        eci_audit_time(&o, (int64_t) v);

    } else {
        eci_audit_out_init(&o, buf, ECI_AUDIT_INT_LEN);
        eci_audit_uint(&o, v);
    }

    return o.pos - buf;
}


static eci_audit_inline void
eci_audit_out_init(eci_audit_out_t *o, char *buf, size_t cap)
{
    o->pos = buf;
    o->end = buf + cap;
    o->full = 0;
}
