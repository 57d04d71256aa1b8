/*
 * The table of eci_error.h.  The order is the enum's; the status is the
 * one the gateway itself answers with (nginx's own 408 and 413 pages are
 * answered as invalid_request with their own status).
 */

#include "eci_error.h"


const eci_error_info_t  eci_errors[ECI_NERRORS] = {

    [ECI_ERROR_NONE] = { "", 200, "no error" },

    [ECI_ERROR_INVALID_REQUEST] = { "invalid_request", 400,
        "the request is not a valid exec call (id, query, body)" },

    [ECI_ERROR_UNAUTHENTICATED] = { "unauthenticated", 401,
        "no verified principal could be found for the caller" },

    [ECI_ERROR_FORBIDDEN] = { "forbidden", 403,
        "the ACL does not allow this principal this exec" },

    [ECI_ERROR_NOT_FOUND] = { "not_found", 404,
        "the path is not an exec call of the ECI API" },

    [ECI_ERROR_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405,
        "an exec is a POST" },

    [ECI_ERROR_UNSUPPORTED_MEDIA_TYPE] = { "unsupported_media_type", 415,
        "a request body that is not JSON" },

    [ECI_ERROR_UPSTREAM_REJECTED_KEY] = { "upstream_rejected_key", 502,
        "the ECI API answered 401 to the gateway's key" },

    [ECI_ERROR_UPSTREAM_UNAVAILABLE] = { "upstream_unavailable", 502,
        "the ECI API could not be reached or answered invalidly" },

    [ECI_ERROR_UPSTREAM_TIMEOUT] = { "upstream_timeout", 504,
        "the ECI API did not answer in time" },

    [ECI_ERROR_AUDIT_UNAVAILABLE] = { "audit_unavailable", 503,
        "the exec's intent line could not be written" },

    [ECI_ERROR_DUPLICATE_EXEC] = { "duplicate_exec", 409,
        "the same exec was sent within the eci_exec_guard window" },

    [ECI_ERROR_SERVICE_UNAVAILABLE] = { "service_unavailable", 503,
        "the gateway cannot take the exec now" },

    [ECI_ERROR_INTERNAL_ERROR] = { "internal_error", 500,
        "the gateway failed to handle the request" },

    [ECI_ERROR_TOO_MANY_REQUESTS] = { "too_many_requests", 429,
        "a rate limit in front of the gateway refused the request" },

    [ECI_ERROR_UPSTREAM_REFLECTED_KEY] = { "upstream_reflected_key", 502,
        "the ECI API's response carried the API key" },
};
