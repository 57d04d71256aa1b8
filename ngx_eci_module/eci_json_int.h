/*
 * The parts of eci_json.c that the core's other JSON code uses: the
 * response scanner (eci_response.c) decodes strings with eci_js_string(),
 * the audit line writer (eci_audit_line.c) passes over plain bytes with
 * eci_json_plain and eci_json_run() and escapes the rest.  Not for the
 * adapter or the tools: they use eci_json.h.
 */

#ifndef ECI_JSON_INT_H
#define ECI_JSON_INT_H

#include "eci_json.h"


/* the scanner's position in a JSON text */
typedef struct {
    const unsigned char  *p;
    const unsigned char  *end;
    unsigned              depth;
} eci_js_t;


/* the JSON string at s->p decoded (eci_json.c says how) */
int eci_js_string(eci_js_t *s, char *dst, size_t cap, size_t *dlen,
    uint64_t *hash);

/*
 * Per byte: 1 when the audit writes it as is, 2 when a JSON text may hold
 * it as is.
 */
extern const unsigned char  eci_json_plain[256];

/*
 * The end of a run of bytes that stand for themselves in a JSON string
 * (eci_json_plain & 2; with del, & 1: DEL escaped too).
 */
const unsigned char *eci_json_run(const unsigned char *p,
    const unsigned char *end, int del);

/* eci_json_escape() into cap bytes; (size_t) -1 when it does not fit */
size_t eci_json_escape_cap(char *dst, size_t cap, const char *src,
    size_t len);

#endif /* ECI_JSON_INT_H */
