/*
 * Parsing and validation of the exec request target:
 *   POST /api/v202106/reportdistribution/{reportDistributionId}/exec
 *        [?overrideUserIds=...]
 */

#ifndef ECI_TARGET_H
#define ECI_TARGET_H

#include "eci_common.h"

#define ECI_EXEC_PATH_PREFIX  "/api/v202106/reportdistribution/"
#define ECI_EXEC_PATH_SUFFIX  "/exec"

/* documented limit: more override ids than this is a 400 */
#define ECI_MAX_OVERRIDES     10000

typedef enum {
    ECI_TARGET_OK = 0,
    ECI_TARGET_NOT_FOUND,      /* not the exec operation at all: 404 */
    ECI_TARGET_INVALID         /* exec, but malformed/non-canonical: 400 */
} eci_target_rc_t;

/*
 * path/len: the raw path of the request target as received, i.e. the part
 * of the unparsed URI before '?' (not percent-decoded, not normalised).
 * On ECI_TARGET_OK *id is in 1..INT32_MAX.
 */
eci_target_rc_t eci_target_path_parse(const char *path, size_t len,
    int32_t *id, eci_err_t *err);

/*
 * Upper bound of the number of ids eci_target_query_parse() can store for
 * this query (capped at ECI_MAX_OVERRIDES + 1), so the caller can size the
 * array from its own allocator.
 */
size_t eci_target_query_max_ids(const char *query, size_t len);

/*
 * query/len: the raw query string (after '?', without it); len may be 0.
 * Fills ids[0..*n) with the override user ids in order of first
 * appearance, duplicates dropped; *present is 1 when overrideUserIds was
 * given at all.  Returns ECI_TARGET_OK or ECI_TARGET_INVALID.
 */
eci_target_rc_t eci_target_query_parse(const char *query, size_t len,
    int32_t *ids, size_t cap, size_t *n, int *present, eci_err_t *err);

/*
 * Writes the canonical upstream target
 *   /api/v202106/reportdistribution/<id>/exec[?overrideUserIds=a&...]
 * into buf (no NUL).  Returns the length written, or 0 when cap is too
 * small.  eci_target_canonical_len() gives the exact size needed.
 * *path_len (may be NULL) receives the length of the part before '?'.
 */
size_t eci_target_canonical_len(int32_t id, const int32_t *ids, size_t n);
size_t eci_target_canonical_write(char *buf, size_t cap, int32_t id,
    const int32_t *ids, size_t n, size_t *path_len);

#endif /* ECI_TARGET_H */
