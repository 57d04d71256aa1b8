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
 * The end of a run of bytes that stand for themselves in a JSON string:
 * 0x20-0x7f but '"' and '\\', and with del also but DEL (0x7f), which a
 * JSON text may hold raw but the audit writes escaped.  A byte at a time
 * through the table: the SSE2 version saved under 1% of the worker's CPU
 * per exec (make bench-simd, docs/performance.md), so it went.
 *
 * The inner loop of the response scanner, the string decoder and escaper
 * and the line writer: inline in each of their files, as when the three
 * were one (a call per run and the table through the GOT cost the scanner
 * and the writer a fifth of their time).
 */

/* 1: written as is by the audit; 2: taken as is from a JSON text */
static const unsigned char  eci_json_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 00-0f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 10-1f */
    3, 3, 0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 20-2f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 30-3f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 40-4f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 3, 3, 3,   /* 50-5f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,   /* 60-6f */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2,   /* 70-7f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 80-8f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* 90-9f */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* a0-af */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* b0-bf */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* c0-cf */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* d0-df */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* e0-ef */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,   /* f0-ff */
};


static inline const unsigned char *
eci_json_run(const unsigned char *p, const unsigned char *end, int del)
{
    unsigned char  mask;

    mask = del ? 1 : 2;

    while (p < end && (eci_json_plain[*p] & mask)) {
        p++;
    }

    return p;
}


/* eci_json_escape() into cap bytes; (size_t) -1 when it does not fit */
size_t eci_json_escape_cap(char *dst, size_t cap, const char *src,
    size_t len);

#endif /* ECI_JSON_INT_H */
