/*
 * The audit record: one JSON line per request (eci_audit_line.c), fed by
 * the upstream's ReportDistributionLogResponse (eci_response.h).
 */

#ifndef ECI_AUDIT_H
#define ECI_AUDIT_H

#include "eci_common.h"
#include "eci_json.h"
#include "eci_response.h"

#define ECI_AUDIT_URI_MAX      2048     /* uri is cut here */

typedef struct {
    const char  *data;
    size_t       len;
} eci_str_t;

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

#endif /* ECI_AUDIT_H */
