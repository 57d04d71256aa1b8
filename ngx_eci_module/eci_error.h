/*
 * Every error the gateway answers or audits: one entry each, with the code
 * callers and the audit see, the HTTP status it is answered with and what
 * it means.  The adapter keeps an eci_error_t, never a string, so nothing
 * compares codes per request; docs/errors.md is the user's version of this
 * table, and t/unit/test_errors.c fails when the two disagree.
 */

#ifndef ECI_ERROR_H
#define ECI_ERROR_H

typedef enum {
    ECI_ERROR_NONE = 0,
    ECI_ERROR_INVALID_REQUEST,
    ECI_ERROR_UNAUTHENTICATED,
    ECI_ERROR_FORBIDDEN,
    ECI_ERROR_NOT_FOUND,
    ECI_ERROR_METHOD_NOT_ALLOWED,
    ECI_ERROR_UNSUPPORTED_MEDIA_TYPE,
    ECI_ERROR_UPSTREAM_REJECTED_KEY,
    ECI_ERROR_UPSTREAM_UNAVAILABLE,
    ECI_ERROR_UPSTREAM_TIMEOUT,
    ECI_ERROR_AUDIT_UNAVAILABLE,
    ECI_ERROR_DUPLICATE_EXEC,
    ECI_ERROR_SERVICE_UNAVAILABLE,
    ECI_ERROR_INTERNAL_ERROR,
    ECI_ERROR_TOO_MANY_REQUESTS,
    ECI_ERROR_UPSTREAM_REFLECTED_KEY,
    ECI_NERRORS
} eci_error_t;

typedef struct {
    const char   *code;       /* "" for ECI_ERROR_NONE */
    int           status;     /* the HTTP status it is answered with */
    const char   *meaning;
} eci_error_info_t;

extern const eci_error_info_t  eci_errors[ECI_NERRORS];

#endif /* ECI_ERROR_H */
