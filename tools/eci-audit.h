/*
 * eci-audit's files: eci-audit.c (main, the options, reading a line),
 * eci-audit-verify.c (verify) and eci-audit-show.c (show, and the text
 * helpers both commands use).
 */

#ifndef ECI_AUDIT_TOOL_H
#define ECI_AUDIT_TOOL_H

#include <stdio.h>

#include <jansson.h>


#define ECI_AU_OK       0
#define ECI_AU_FAIL     1
#define ECI_AU_USAGE    2
/* intact, but a gateway reported a discontinuity */
#define ECI_AU_GAP      3

/*
 * A line longer than this is refused unparsed (--max-line changes it):
 * jansson takes up to about 25 times a line's size.  The gateway's
 * longest line with nginx's default header buffers is about 200 KB
 * (10,000 override ids and a principal of 8 KB escaped).
 */
#define ECI_AU_LINE_MAX   (1024 * 1024)

/* what eci_au_line_read() found: a line, one cut by the file's end, or
 * one longer than the limit (read to its end, only its start kept) */
#define ECI_AU_LINE_WHOLE  1
#define ECI_AU_LINE_CUT    0
#define ECI_AU_LINE_LONG   2

/*
 * Intents without a result that verify lists at most; those beyond are
 * counted, not tracked (about 130 bytes each).
 */
#define ECI_AU_PENDING_MAX  100000


typedef struct {
    char       **files;
    int          nfiles;
    const char  *pubkey;
    const char  *principal;
    long         id;
    const char  *decision;
    const char  *event;
    const char  *since;
    const char  *until;
    const char  *outcome;
    size_t       max_line;
} eci_au_args_t;


/* eci-audit.c */
char *eci_au_line_read(FILE *f, size_t max, size_t *len,
    int *complete);

/* eci-audit-verify.c */
int eci_au_verify(eci_au_args_t *args);

/* eci-audit-show.c */
int eci_au_show(eci_au_args_t *args);
const char *eci_au_str(json_t *o, const char *key);
void eci_au_escape(char *buf, size_t size, const char *s);

#endif /* ECI_AUDIT_TOOL_H */
