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
    int                          override_user_ids_bounded;  /* count and
                                                  digest, not the list */
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
} eci_audit_record_t;

/*
 * An upper bound (never less, usually a little more) of the bytes
 * eci_audit_line_write() needs for rec, including the trailing '\n', and
 * what eci_chain_seal() adds to it.
 */
size_t eci_audit_line_max(const eci_audit_record_t *rec);

/*
 * Writes rec as one line of JSON ending in '\n' (no NUL) and returns its
 * length, or 0 when cap is too small.  Invalid UTF-8 and control bytes in
 * strings are escaped so the line is always valid JSON on one line.
 * Field order: time, event (only when set), requestId, principal, client,
 * method, uri, reportDistributionId, overrideUserIds (bounded: instead
 * overrideUserIdCount and overrideUserIdsDigest, "sha256:" and the hex of
 * eci_audit_ids_digest()), decision, error,
 * status, upstreamStatus, upstreamTimeMs, responseBytes, responseSha256,
 * responseTruncated, responseValid, response (only when valid: an object
 * of reportDistributionLogId, status, numberOfRecipients, beginDate,
 * endDate, reportDistributionId, reportCode, reportDistributionName,
 * createdByUserId, each null when absent).
 * Upstream fields are null when has_response is 0.  time is RFC 3339
 * UTC with milliseconds, or null when time_ms is outside years 0-9999.
 * A string eci_str_t with data NULL is written as "" (principal: null).
 * The line has no place in a chain yet: eci_chain_seal() gives it one.
 */
size_t eci_audit_line_write(const eci_audit_record_t *rec, char *buf,
    size_t cap);

/*
 * The digest a bounded line gives for its override ids: SHA-256 of the
 * overrideUserIds value the full line has ("[1,2,3]": decimal, comma,
 * no space, in the request's order).
 */
void eci_audit_ids_digest(const int32_t *ids, size_t n,
    unsigned char md[32]);

/*
 * v in decimal at buf (room for 20 digits); returns the digits written.
 */
size_t eci_audit_u64(char *buf, uint64_t v);

/*
 * ms as the quoted RFC 3339 time a line carries (26 bytes), or null
 * outside years 0-9999; returns the bytes written (buf: 26 at least).
 */
size_t eci_audit_time_write(char *buf, int64_t ms);

/*
 * JSON string body escaping (no quotes); returns bytes written; the
 * destination needs at most 6 * len bytes.  Each maximal ill-formed UTF-8
 * subpart becomes one \ufffd; U+2028 and U+2029 are escaped for
 * JavaScript; the output never holds a byte below 0x20 or 0x7f.
 */
size_t eci_json_escape(char *dst, const char *src, size_t len);

#endif /* ECI_AUDIT_H */
