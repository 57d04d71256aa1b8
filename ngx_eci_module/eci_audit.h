/*
 * The audit record: one JSON line per request, and the parser of the
 * upstream's ReportDistributionLogResponse body that feeds it.
 */

#ifndef ECI_AUDIT_H
#define ECI_AUDIT_H

#include "eci_common.h"

#define ECI_AUDIT_URI_MAX      2048     /* uri is cut here */
#define ECI_AUDIT_FIELD_MAX    512      /* response strings are cut here */

typedef struct {
    const char  *data;
    size_t       len;
} eci_str_t;

/*
 * What the audit keeps of a ReportDistributionLogResponse.  Strings are
 * NUL-terminated, cut at ECI_AUDIT_FIELD_MAX - 1 bytes on a UTF-8
 * character boundary.  An optional string is "present" when the upstream
 * sent it as a string (possibly ""); absent and null are the same and are
 * written as null, so the has_* flags, not "", tell the two apart.  Each
 * *_len is its string's strlen() (the scanner knows it; the line writer
 * need not count again).  An optional integer absent or null is -1.
 */
typedef struct {
    int          valid;                     /* parsed and well-typed */
    int64_t      report_distribution_log_id;
    char         status[ECI_AUDIT_FIELD_MAX];
    size_t       status_len;
    int64_t      number_of_recipients;      /* -1: absent */
    char         begin_date[ECI_AUDIT_FIELD_MAX];
    size_t       begin_date_len;
    int          has_begin_date;
    char         end_date[ECI_AUDIT_FIELD_MAX];
    size_t       end_date_len;
    int          has_end_date;              /* 0: null/absent (In Progress) */
    int64_t      report_distribution_id;    /* -1: absent */
    char         report_code[ECI_AUDIT_FIELD_MAX];
    size_t       report_code_len;
    int          has_report_code;
    char         report_distribution_name[ECI_AUDIT_FIELD_MAX];
    size_t       report_distribution_name_len;
    int          has_report_distribution_name;
    int64_t      created_by_user_id;        /* -1: absent */
} eci_audit_response_t;

/*
 * Parses body as a ReportDistributionLogResponse.  Required:
 * reportDistributionLogId (integer), status (string),
 * reportDistribution.reportDistributionId (integer); every other field is
 * optional but must have its documented type (null allowed for endDate).
 * Returns 1 and fills out when valid, else 0 with out->valid = 0.
 */
int eci_audit_response_parse(const char *body, size_t len,
    eci_audit_response_t *out);

/*
 * What is known of an exec once its result line is written (docs/audit.md):
 * sent (ECI answered 2xx and its response was read), refused (by the
 * gateway, or ECI answered 4xx), failed (ECI answered 5xx, or could not
 * be reached: nothing was sent), unknown (it may have reached ECI, but no
 * answer was read).
 */
typedef enum {
    ECI_OUTCOME_SENT = 0,
    ECI_OUTCOME_REFUSED,
    ECI_OUTCOME_FAILED,
    ECI_OUTCOME_UNKNOWN
} eci_outcome_t;

#define ECI_AUDIT_NOUTCOMES    4

extern const char *const  eci_audit_outcomes[ECI_AUDIT_NOUTCOMES];

typedef struct {
    int64_t                      time_ms;      /* Unix epoch, ms */
    const char                  *event;        /* NULL or "intent"/"result" */
    eci_str_t                    request_id;
    eci_str_t                    principal;    /* len 0 and data NULL: null */
    eci_str_t                    client;
    eci_str_t                    method;
    eci_str_t                    uri;          /* as received; cut at 2 KiB */
    int32_t                      report_distribution_id;  /* 0: null */
    const int32_t               *override_user_ids;
    size_t                       n_override_user_ids;
    int                          has_override_user_ids;   /* 0: null */
    const char                  *decision;     /* "allow" / "deny" */
    const char                  *api_key;      /* the key's name and
                                                  fingerprint, never the
                                                  key; NULL: no fields */
    const char                  *api_key_fp;
    const char                  *error;        /* NULL: null */
    int                          status;       /* sent to the caller */
    eci_outcome_t                outcome;
    const char                  *candidate;    /* NULL: no such field */
    const char                  *candidate_reason;
    int64_t                      client_closed_ms;  /* 0: the caller
                                                       stayed */
    int                          upstream_status;   /* 0: null */
    int64_t                      upstream_time_ms;  /* -1: null */
    int                          has_response;  /* upstream body fields */
    uint64_t                     response_bytes;
    unsigned char                response_sha256[32];
    int                          response_truncated;
    const eci_audit_response_t  *response;     /* NULL or parsed */
    int                          intent;       /* write-ahead line: no
                                                  outcome fields */
    uint64_t                     seq;          /* 0: no "seq" field */
} eci_audit_record_t;

/*
 * An upper bound (never less, usually a little more) of the bytes
 * eci_audit_line_write() needs for rec, including the trailing '\n'.
 */
size_t eci_audit_line_max(const eci_audit_record_t *rec);

/*
 * Writes rec as one line of JSON ending in '\n' (no NUL) and returns its
 * length, or 0 when cap is too small.  Invalid UTF-8 and control bytes in
 * strings are escaped so the line is always valid JSON on one line.
 * Field order: time, event (only when set), requestId, principal, client,
 * method, uri, reportDistributionId, overrideUserIds, decision, error,
 * status, upstreamStatus, upstreamTimeMs, responseBytes, responseSha256,
 * responseTruncated, responseValid, response (only when valid: an object
 * of reportDistributionLogId, status, numberOfRecipients, beginDate,
 * endDate, reportDistributionId, reportCode, reportDistributionName,
 * createdByUserId, each null when absent).
 * Upstream fields are null when has_response is 0.  time is RFC 3339
 * UTC with milliseconds, or null when time_ms is outside years 0-9999.
 * A string eci_str_t with data NULL is written as "" (principal: null).
 */
size_t eci_audit_line_write(const eci_audit_record_t *rec, char *buf,
    size_t cap);

/*
 * The tamper-evident chain.  A sealed line ends in
 *   ...,"seq":N,"chain":"<64 hex>"}\n
 * where the chain is HMAC-SHA256(key, prev || body): prev is the previous
 * line's chain as 64 hex characters (ECI_AUDIT_CHAIN_GENESIS before the
 * first line) and body is the line up to, not including, ,"chain":.
 * Changing, removing, inserting or reordering a line breaks it.
 */
#define ECI_AUDIT_CHAIN_HEX     64
#define ECI_AUDIT_CHAIN_ROOM    80     /* bytes sealing adds at most */
#define ECI_AUDIT_CHAIN_GENESIS                                             \
    "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct eci_audit_chain_s  eci_audit_chain_t;

/* an HMAC-SHA256 context keyed once, reused for every line */
eci_audit_chain_t *eci_audit_chain_new(const void *key, size_t len,
    eci_err_t *err);
void eci_audit_chain_free(eci_audit_chain_t *c);
/* mlock() again in a forked process; 0 or -1 with errno */
int eci_audit_chain_lock(const eci_audit_chain_t *c);

/* out = hex(HMAC(key, prev || body)); 0 or -1 */
int eci_audit_chain_mac(eci_audit_chain_t *c, const char *prev,
    const char *body, size_t len, char out[ECI_AUDIT_CHAIN_HEX + 1]);

/*
 * Gives a line eci_audit_line_write() wrote with rec->seq 0 its seq in
 * place, exactly as if it had been written with it: the final "}\n"
 * becomes ,"seq":N}\n.  So a line can be built before its place in the
 * chain is known.  Returns the new length, or 0 (the line unchanged) when
 * cap is too small, seq is 0 or the line is not a line of ours.
 */
size_t eci_audit_line_seq(char *line, size_t len, size_t cap, uint64_t seq);

/* bytes eci_audit_line_seq() adds at most: ,"seq": and 20 digits */
#define ECI_AUDIT_SEQ_ROOM      (sizeof(",\"seq\":") - 1 + 20)

/*
 * Seals a line eci_audit_line_write() wrote (with rec->seq set) in place:
 * its final "}\n" becomes ,"chain":"<hex>"}\n.  chain holds the previous
 * chain on entry and this line's on return.  Returns the new length, or 0
 * when cap is too small or the line is not a line of ours.
 */
size_t eci_audit_chain_seal(eci_audit_chain_t *c, char *line, size_t len,
    size_t cap, char chain[ECI_AUDIT_CHAIN_HEX + 1]);

/*
 * Splits a sealed line (with or without its '\n'): *body_len is the
 * length the MAC covers, *seq and chain the values the line carries.
 * Returns 0, or -1 when the line does not end in a seq and a chain.
 */
int eci_audit_chain_split(const char *line, size_t len, size_t *body_len,
    uint64_t *seq, char chain[ECI_AUDIT_CHAIN_HEX + 1]);

/*
 * JSON string body escaping (no quotes); returns bytes written; the
 * destination needs at most 6 * len bytes.  Each maximal ill-formed UTF-8
 * subpart becomes one \ufffd; U+2028 and U+2029 are escaped for
 * JavaScript; the output never holds a byte below 0x20 or 0x7f.
 */
size_t eci_json_escape(char *dst, const char *src, size_t len);

#endif /* ECI_AUDIT_H */
