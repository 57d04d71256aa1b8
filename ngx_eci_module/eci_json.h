/*
 * JSON strings written by hand (eci_json.c), for the audit line, the
 * chain's lines and the adapter's JSON error bodies.
 */

#ifndef ECI_JSON_H
#define ECI_JSON_H

#include "eci_common.h"

/*
 * JSON string body escaping (no quotes); returns bytes written; the
 * destination needs at most 6 * len bytes.  Each maximal ill-formed UTF-8
 * subpart becomes one \ufffd; U+2028 and U+2029 are escaped for
 * JavaScript; the output never holds a byte below 0x20 or 0x7f.
 */
size_t eci_json_escape(char *dst, const char *src, size_t len);

#endif /* ECI_JSON_H */
