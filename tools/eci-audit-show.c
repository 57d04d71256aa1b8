/*
 * eci-audit show: the lines as a table, filtered; and the text helpers
 * verify uses too (a string field, a terminal-safe escape).
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_chain.h"
#include "eci_keystore.h"
#include "eci-audit.h"


/* the requestIds that have a result line, sorted: for --outcome unknown */
typedef struct {
    char   **ids;
    size_t   n;
    size_t   cap;
} eci_au_ids_t;


static void eci_au_cell(char *buf, size_t size, json_t *v);
static const char *eci_au_outcome_of(json_t *j, eci_au_args_t *args,
    eci_au_ids_t *set);
static int eci_au_results_load(eci_au_args_t *args, eci_au_ids_t *set);
static int eci_au_id_cmp(const void *a, const void *b);


const char *
eci_au_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}


/*
 * s for a terminal: control characters (C0, DEL, and C1 such as U+009B,
 * which some terminals take for CSI) as \xNN or \u00NN, and backslash
 * doubled, so a caller's header cannot move the cursor, retitle or
 * recolour the auditor's terminal, or fake a line.  Cut to size.
 */
void
eci_au_escape(char *buf, size_t size, const char *s)
{
    size_t               n;
    const unsigned char  *p;
    char                  tmp[8];

    n = 0;
    buf[0] = '\0';

    for (p = (const unsigned char *) (s != NULL ? s : "-"); *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", *p);

        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            snprintf(tmp, sizeof(tmp), "\\u00%02x", *++p);

        } else if (*p == '\\') {
            snprintf(tmp, sizeof(tmp), "\\\\");

        } else {
            tmp[0] = (char) *p;
            tmp[1] = '\0';
        }

        if (n + strlen(tmp) >= size) {
            break;
        }

        memcpy(buf + n, tmp, strlen(tmp) + 1);
        n += strlen(tmp);
    }
}


/* a cell of the table: a string (escaped), a number, or "-" */
static void
eci_au_cell(char *buf, size_t size, json_t *v)
{
    if (json_is_string(v)) {
        eci_au_escape(buf, size, json_string_value(v));

    } else if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long) json_integer_value(v));

    } else {
        snprintf(buf, size, "-");
    }
}


int
eci_au_show(eci_au_args_t *args)
{
    int            fi, complete, rc;
    char          *line;
    size_t         len, i, n;
    FILE          *f;
    json_t        *j, *v, *ov;
    json_error_t   jerr;
    const char    *s, *outcome;
    unsigned long  lineno, shown;
    eci_au_ids_t   set;
    char           time[32], principal[64], id[16], status[8], up[8];
    char           logid[16], over[64], err[32], rid[9], event[16];
    char           decision[8];

    rc = ECI_AU_OK;
    shown = 0;
    memset(&set, 0, sizeof(set));

    if (args->outcome != NULL && eci_au_results_load(args, &set) != 0) {
        return ECI_AU_FAIL;
    }

    printf("%-24s %-8s %-7s %-24s %-10s %-6s %-8s %-6s %-6s %-10s %-24s "
           "%s\n",
           "TIME", "REQUEST", "EVENT", "PRINCIPAL", "ID", "DECIS.",
           "OUTCOME", "STATUS", "UPSTR.", "LOG-ID", "ERROR", "OVERRIDES");

    for (fi = 0; fi < args->nfiles; fi++) {

        f = fopen(args->files[fi], "r");
        if (f == NULL) {
            fprintf(stderr, "eci-audit: \"%s\": %s\n", args->files[fi],
                    strerror(errno));
            rc = ECI_AU_FAIL;
            continue;
        }

        lineno = 0;

        while ((line = eci_au_line_read(f, args->max_line, &len,
                                        &complete))
               != NULL)
        {
            lineno++;

            if (complete == ECI_AU_LINE_LONG) {
                free(line);
                fprintf(stderr, "eci-audit: %s:%lu: line of %zu bytes, "
                        "longer than %zu (--max-line): not shown\n",
                        args->files[fi], lineno, len, args->max_line);
                rc = ECI_AU_FAIL;
                continue;
            }

            j = json_loadb(line, len, 0, &jerr);
            free(line);

            if (j == NULL) {
                fprintf(stderr, "eci-audit: %s:%lu: not valid JSON\n",
                        args->files[fi], lineno);
                rc = ECI_AU_FAIL;
                continue;
            }

            s = eci_au_str(j, "time");
            outcome = eci_au_outcome_of(j, args, &set);

            /* the chain's own lines only when asked for by --event */
            if (args->event == NULL && eci_au_str(j, "sig") != NULL) {
                json_decref(j);
                continue;
            }

            if ((args->outcome != NULL
                 && (outcome == NULL || strcmp(outcome, args->outcome) != 0))
                || (args->principal != NULL
                 && (eci_au_str(j, "principal") == NULL
                     || strcmp(eci_au_str(j, "principal"), args->principal)
                        != 0))
                || (args->id > 0
                    && json_integer_value(json_object_get(j,
                                              "reportDistributionId"))
                       != args->id)
                || (args->decision != NULL
                    && (eci_au_str(j, "decision") == NULL
                        || strcmp(eci_au_str(j, "decision"), args->decision)
                           != 0))
                || (args->event != NULL
                    && (eci_au_str(j, "event") == NULL
                        || strcmp(eci_au_str(j, "event"), args->event) != 0))
                || (args->since != NULL
                    && (s == NULL || strcmp(s, args->since) < 0))
                || (args->until != NULL
                    && (s == NULL
                        || strncmp(s, args->until, strlen(args->until)) > 0)))
            {
                json_decref(j);
                continue;
            }

            eci_au_cell(time, sizeof(time), json_object_get(j, "time"));
            eci_au_cell(principal, sizeof(principal),
                        json_object_get(j, "principal"));
            eci_au_cell(id, sizeof(id),
                        json_object_get(j, "reportDistributionId"));
            eci_au_cell(status, sizeof(status), json_object_get(j, "status"));
            eci_au_cell(up, sizeof(up), json_object_get(j, "upstreamStatus"));
            eci_au_cell(err, sizeof(err), json_object_get(j, "error"));
            eci_au_cell(logid, sizeof(logid),
                        json_object_get(json_object_get(j, "response"),
                                        "reportDistributionLogId"));

            ov = json_object_get(j, "overrideUserIds");
            over[0] = '\0';
            n = 0;

            if (json_is_array(ov)) {
                for (i = 0; i < json_array_size(ov); i++) {
                    v = json_array_get(ov, i);
                    n += snprintf(over + n, sizeof(over) - n, "%s%lld",
                                  i ? "," : "",
                                  (long long) json_integer_value(v));
                    if (n >= sizeof(over) - 1) {
                        snprintf(over + sizeof(over) - 5, 5, "...");
                        break;
                    }
                }

            } else if (json_is_integer(json_object_get(j,
                                                   "overrideUserIdCount")))
            {
                /* a syslog line's bounded form: the count and the digest */
                snprintf(over, sizeof(over), "%lld ids %.23s...",
                         (long long) json_integer_value(
                             json_object_get(j, "overrideUserIdCount")),
                         eci_au_str(j, "overrideUserIdsDigest") != NULL
                         ? eci_au_str(j, "overrideUserIdsDigest") : "-");

            } else {
                snprintf(over, sizeof(over), "-");
            }

            eci_au_cell(rid, sizeof(rid), json_object_get(j, "requestId"));
            eci_au_cell(event, sizeof(event), json_object_get(j, "event"));
            eci_au_cell(decision, sizeof(decision),
                        json_object_get(j, "decision"));

            printf("%-24s %-8s %-7s %-24s %-10s %-6s %-8s %-6s %-6s "
                   "%-10s %-24s %s\n",
                   time, rid, event, principal, id, decision,
                   outcome != NULL ? outcome : "-", status, up, logid, err,
                   over);

            shown++;
            json_decref(j);
        }

        fclose(f);
    }

    fprintf(stderr, "%lu line%s shown\n", shown, shown == 1 ? "" : "s");

    for (i = 0; i < set.n; i++) {
        free(set.ids[i]);
    }

    free(set.ids);

    return rc;
}


/*
 * A result line's outcome; for an intent, "unknown" when --outcome asked
 * for results and the intent has none (its exec may have reached ECI).
 */
static const char *
eci_au_outcome_of(json_t *j, eci_au_args_t *args, eci_au_ids_t *set)
{
    const char  *event, *id;

    event = eci_au_str(j, "event");

    if (event == NULL || strcmp(event, "intent") != 0) {
        return eci_au_str(j, "outcome");
    }

    id = eci_au_str(j, "requestId");

    if (args->outcome == NULL || id == NULL
        || bsearch(&id, set->ids, set->n, sizeof(char *), eci_au_id_cmp)
           != NULL)
    {
        return NULL;
    }

    return "unknown";
}


/* a first pass over the files: which requests have a result line */
static int
eci_au_results_load(eci_au_args_t *args, eci_au_ids_t *set)
{
    int            fi, complete;
    char          *line, **ids;
    size_t         len;
    FILE          *f;
    json_t        *j;
    const char    *event, *id;

    for (fi = 0; fi < args->nfiles; fi++) {

        f = fopen(args->files[fi], "r");
        if (f == NULL) {
            continue;       /* the second pass says so */
        }

        while ((line = eci_au_line_read(f, args->max_line, &len,
                                        &complete))
               != NULL)
        {
            /* the second pass says so */
            j = (complete != ECI_AU_LINE_LONG)
                ? json_loadb(line, len, 0, NULL) : NULL;
            free(line);

            if (j == NULL) {
                continue;
            }

            event = eci_au_str(j, "event");
            id = eci_au_str(j, "requestId");

            if (event != NULL && strcmp(event, "result") == 0 && id != NULL) {
                if (set->n == set->cap) {
                    set->cap = set->cap ? 2 * set->cap : 1024;
                    ids = realloc(set->ids, set->cap * sizeof(char *));
                    if (ids == NULL) {
                        json_decref(j);
                        fclose(f);
                        fprintf(stderr, "eci-audit: out of memory\n");
                        return -1;
                    }
                    set->ids = ids;
                }

                set->ids[set->n] = strdup(id);
                if (set->ids[set->n] == NULL) {
                    json_decref(j);
                    fclose(f);
                    fprintf(stderr, "eci-audit: out of memory\n");
                    return -1;
                }

                set->n++;
            }

            json_decref(j);
        }

        fclose(f);
    }

    qsort(set->ids, set->n, sizeof(char *), eci_au_id_cmp);

    return 0;
}


static int
eci_au_id_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}
