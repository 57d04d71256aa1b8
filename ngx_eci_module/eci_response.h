/*
 * The upstream's answer to an exec, a ReportDistributionLogResponse, as
 * the audit keeps it (eci_response.c).
 */

#ifndef ECI_RESPONSE_H
#define ECI_RESPONSE_H

#include "eci_common.h"

#define ECI_AUDIT_FIELD_MAX    512      /* response strings are cut here */

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

#endif /* ECI_RESPONSE_H */
