/*
 * The error table (eci_error.c) and the user's reference, docs/errors.md,
 * say the same: every code in the table has a row there with its status,
 * every row there is a code of the table, and the codes are the ones the
 * JSON error bodies use (lower case, [a-z_]).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "eci_error.h"

#define ROWS_MAX  64


typedef struct {
    char  code[64];
    char  status[64];
} row_t;


/* "| `code` | status | ..." rows of the first table whose head is "code" */
static int
read_rows(const char *path, row_t *rows, int max)
{
    int    n;
    char   line[4096], *p, *q, *bar;
    FILE  *f;

    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }

    n = 0;

    while (fgets(line, sizeof(line), f) != NULL && n < max) {
        if (strncmp(line, "| `", 3) != 0) {
            continue;
        }

        p = line + 3;
        q = strchr(p, '`');
        if (q == NULL || (size_t) (q - p) >= sizeof(rows[n].code)) {
            continue;
        }

        memcpy(rows[n].code, p, q - p);
        rows[n].code[q - p] = '\0';

        p = strchr(q, '|');
        if (p == NULL) {
            continue;
        }

        p++;
        bar = strchr(p, '|');
        if (bar == NULL || (size_t) (bar - p) >= sizeof(rows[n].status)) {
            continue;
        }

        memcpy(rows[n].status, p, bar - p);
        rows[n].status[bar - p] = '\0';
        n++;
    }

    fclose(f);

    return n;
}


int
main(void)
{
    int          i, j, n, found;
    char         want[8];
    const char  *path, *c;
    row_t        rows[ROWS_MAX];

    path = getenv("ECI_ERRORS_MD");
    if (path == NULL) {
        path = "docs/errors.md";
    }

    n = read_rows(path, rows, ROWS_MAX);
    ok(n > 0, "%s has a table of codes (%d rows)", path, n);

    is_str(eci_errors[ECI_ERROR_NONE].code, "", "code 0 is no error");

    for (i = 1; i < ECI_NERRORS; i++) {
        c = eci_errors[i].code;

        ok(c != NULL && c[0] != '\0' && strspn(c, "abcdefghijklmnopqrstuvw"
                                                  "xyz_") == strlen(c),
           "entry %d has a code of [a-z_]: %s", i, c ? c : "(null)");
        ok(eci_errors[i].status >= 400 && eci_errors[i].status < 600,
           "%s: an error status (%d)", c, eci_errors[i].status);
        ok(eci_errors[i].meaning != NULL && eci_errors[i].meaning[0],
           "%s: says what it means", c);

        for (j = 1; j < i; j++) {
            ok(strcmp(eci_errors[j].code, c) != 0, "%s: one entry", c);
        }

        found = -1;

        for (j = 0; j < n; j++) {
            if (strcmp(rows[j].code, c) == 0) {
                found = j;
            }
        }

        ok(found >= 0, "docs/errors.md has a row for %s", c);

        snprintf(want, sizeof(want), "%d", eci_errors[i].status);
        like(found >= 0 ? rows[found].status : "", want,
             "docs/errors.md gives %s the status %s", c, want);
    }

    for (j = 0; j < n; j++) {
        found = 0;

        for (i = 1; i < ECI_NERRORS; i++) {
            if (strcmp(rows[j].code, eci_errors[i].code) == 0) {
                found = 1;
            }
        }

        ok(found, "docs/errors.md's %s is a code of the table",
           rows[j].code);
    }

    return done_testing();
}
