/*
 * eci-audit: reads the gateway's audit log.
 *
 *   eci-audit verify FILE... --keystore STORE (--master FILE | --plain)
 *   eci-audit show FILE... [--principal P] [--id N] [--decision D]
 *                          [--event E] [--since T] [--until T]
 *
 * verify checks the HMAC chain line by line and names the first line that
 * was changed, removed, inserted or reordered; show prints the lines as a
 * table, so daily work needs no jq.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_keystore.h"


#define ECI_AU_OK       0
#define ECI_AU_FAIL     1
#define ECI_AU_USAGE    2

#define ECI_AU_CHAIN_KEY  "audit-chain"

/* a line longer than this is not one the gateway writes */
#define ECI_AU_LINE_MAX   (4 * 1024 * 1024)


typedef struct {
    char       **files;
    int          nfiles;
    const char  *keystore;
    const char  *master;
    int          plain;
    const char  *principal;
    long         id;
    const char  *decision;
    const char  *event;
    const char  *since;
    const char  *until;
    const char  *outcome;
} eci_au_args_t;


/* the requestIds that have a result line, sorted: for --outcome unknown */
typedef struct {
    char   **ids;
    size_t   n;
    size_t   cap;
} eci_au_ids_t;


/* requestIds of intents still waiting for their result */
typedef struct {
    char   **ids;
    char   **where;
    size_t   n;
    size_t   cap;
} eci_au_pending_t;


static int eci_au_verify(eci_au_args_t *args);
static int eci_au_show(eci_au_args_t *args);
static int eci_au_parse(int argc, char **argv, eci_au_args_t *args,
    int verify);
static char *eci_au_line_read(FILE *f, size_t *len, int *complete);
static void eci_au_pending_add(eci_au_pending_t *p, const char *id,
    const char *file, unsigned long line);
static void eci_au_pending_remove(eci_au_pending_t *p, const char *id);
static void eci_au_pending_free(eci_au_pending_t *p);
static const char *eci_au_str(json_t *o, const char *key);
static void eci_au_usage(FILE *f);
static int eci_au_results_load(eci_au_args_t *args, eci_au_ids_t *set);
static const char *eci_au_outcome_of(json_t *j, eci_au_args_t *args,
    eci_au_ids_t *set);
static int eci_au_id_cmp(const void *a, const void *b);


int
main(int argc, char **argv)
{
    eci_au_args_t  args;

    if (argc < 2) {
        eci_au_usage(stderr);
        return ECI_AU_USAGE;
    }

    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0
        || strcmp(argv[1], "help") == 0)
    {
        eci_au_usage(stdout);
        return ECI_AU_OK;
    }

    memset(&args, 0, sizeof(eci_au_args_t));
    args.id = -1;

    if (strcmp(argv[1], "verify") == 0) {
        switch (eci_au_parse(argc - 1, argv + 1, &args, 1)) {
        case 1:
            eci_au_usage(stdout);
            return ECI_AU_OK;
        case -1:
            return ECI_AU_USAGE;
        }

        return eci_au_verify(&args);
    }

    if (strcmp(argv[1], "show") == 0) {
        switch (eci_au_parse(argc - 1, argv + 1, &args, 0)) {
        case 1:
            eci_au_usage(stdout);
            return ECI_AU_OK;
        case -1:
            return ECI_AU_USAGE;
        }

        return eci_au_show(&args);
    }

    fprintf(stderr, "eci-audit: unknown command \"%s\"; see eci-audit "
            "--help\n", argv[1]);

    return ECI_AU_USAGE;
}


static void
eci_au_usage(FILE *f)
{
    fprintf(f,
        "usage: eci-audit verify FILE... --keystore STORE "
        "(--master FILE | --plain)\n"
        "       eci-audit show FILE... [--principal P] [--id N] "
        "[--decision allow|deny]\n"
        "                      [--event intent|result] [--since TIME] "
        "[--until TIME]\n"
        "                      [--outcome sent|refused|failed|unknown]\n"
        "\n"
        "verify  checks the HMAC chain of the audit lines (keyed with the\n"
        "        keystore's \"" ECI_AU_CHAIN_KEY "\" key) and reports the "
        "first line that was\n"
        "        changed, removed, inserted or reordered, with its line "
        "number.\n"
        "        Give rotated files oldest first.  It also lists execs whose\n"
        "        intent line has no result line (the gateway stopped in "
        "between).\n"
        "        Exit 0 only for an intact chain.\n"
        "show    prints the lines as a table; TIME is a prefix of RFC 3339,\n"
        "        e.g. 2026-11-29 or 2026-11-29T07:30 (UTC); --until is\n"
        "        inclusive.  --outcome lists the result lines with that\n"
        "        outcome; unknown also lists every intent that has no result\n"
        "        line (the worker died, or the line was lost): reconcile\n"
        "        those with ECI's distribution log.\n");
}


/* 0: run, 1: --help, -1: usage error (printed) */
static int
eci_au_parse(int argc, char **argv, eci_au_args_t *args, int verify)
{
    int    c, i;
    char  *end;

    static struct option  opts[] = {
        { "keystore",  required_argument, NULL, 'k' },
        { "master",    required_argument, NULL, 'm' },
        { "plain",     no_argument,       NULL, 'P' },
        { "principal", required_argument, NULL, 'p' },
        { "id",        required_argument, NULL, 'i' },
        { "decision",  required_argument, NULL, 'd' },
        { "event",     required_argument, NULL, 'e' },
        { "since",     required_argument, NULL, 's' },
        { "until",     required_argument, NULL, 'u' },
        { "outcome",   required_argument, NULL, 'o' },
        { "help",      no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };

    optind = 1;
    opterr = 0;

    /* GNU getopt permutes: options may follow the files */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            return 1;
        case 'k':
            args->keystore = optarg;
            break;
        case 'm':
            args->master = optarg;
            break;
        case 'P':
            args->plain = 1;
            break;
        case 'p':
            args->principal = optarg;
            break;
        case 'i':
            errno = 0;
            args->id = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || args->id < 1
                || args->id > 2147483647)
            {
                fprintf(stderr, "eci-audit: --id takes a report "
                        "distribution id from 1 to 2147483647\n");
                return -1;
            }
            break;
        case 'd':
            args->decision = optarg;
            break;
        case 'e':
            args->event = optarg;
            break;
        case 's':
            args->since = optarg;
            break;
        case 'u':
            args->until = optarg;
            break;
        case 'o':
            for (i = 0; i < ECI_AUDIT_NOUTCOMES; i++) {
                if (strcmp(optarg, eci_audit_outcomes[i]) == 0) {
                    break;
                }
            }
            if (i == ECI_AUDIT_NOUTCOMES) {
                fprintf(stderr, "eci-audit: --outcome takes sent, refused, "
                        "failed or unknown\n");
                return -1;
            }
            args->outcome = optarg;
            break;
        default:
            fprintf(stderr, "eci-audit: unknown or incomplete option; see "
                    "eci-audit --help\n");
            return -1;
        }
    }

    args->files = argv + optind;
    args->nfiles = argc - optind;

    if (args->nfiles == 0) {
        fprintf(stderr, "eci-audit: no audit file given\n");
        return -1;
    }

    if (verify) {
        if (args->keystore == NULL
            || (args->master == NULL && !args->plain))
        {
            fprintf(stderr, "eci-audit: verify needs --keystore STORE and "
                    "--master FILE (or --plain)\n");
            return -1;
        }
    }

    return 0;
}


/*
 * Reads one line of any length up to ECI_AU_LINE_MAX; *complete is 0 when
 * the file ended before a newline.  NULL at end of file.
 */
static char *
eci_au_line_read(FILE *f, size_t *len, int *complete)
{
    int      c;
    char    *buf, *nbuf;
    size_t   n, cap;

    cap = 4096;
    buf = malloc(cap);
    if (buf == NULL) {
        return NULL;
    }

    n = 0;
    *complete = 0;

    while ((c = getc(f)) != EOF) {
        if (n + 1 >= cap) {
            if (cap >= ECI_AU_LINE_MAX) {
                break;
            }

            cap *= 2;
            nbuf = realloc(buf, cap);
            if (nbuf == NULL) {
                free(buf);
                return NULL;
            }

            buf = nbuf;
        }

        buf[n++] = (char) c;

        if (c == '\n') {
            *complete = 1;
            break;
        }
    }

    if (n == 0) {
        free(buf);
        return NULL;
    }

    buf[n] = '\0';
    *len = n;

    return buf;
}


static int
eci_au_verify(eci_au_args_t *args)
{
    int                 fi, complete, anchored, bad;
    char               *line;
    size_t              len, body, i;
    FILE               *f;
    json_t             *j;
    uint64_t            seq, expect, first;
    eci_err_t           err;
    json_error_t        jerr;
    unsigned long       lineno, total;
    eci_keystore_t     *ks;
    const eci_key_t    *key;
    eci_audit_chain_t  *chain;
    eci_au_pending_t    pending;
    const char         *event, *rid;
    char                prev[ECI_AUDIT_CHAIN_HEX + 1];
    char                got[ECI_AUDIT_CHAIN_HEX + 1];
    char                want[ECI_AUDIT_CHAIN_HEX + 1];

    ks = eci_keystore_open(args->keystore, args->plain ? NULL : args->master,
                           &err);
    if (ks == NULL) {
        fprintf(stderr, "eci-audit: %s\n", err.msg);
        return ECI_AU_FAIL;
    }

    key = eci_keystore_get(ks, ECI_AU_CHAIN_KEY);
    if (key == NULL) {
        fprintf(stderr, "eci-audit: keystore \"%s\" has no \""
                ECI_AU_CHAIN_KEY "\" key\n", args->keystore);
        eci_keystore_free(ks);
        return ECI_AU_FAIL;
    }

    chain = eci_audit_chain_new(key->value, key->len, &err);
    eci_keystore_free(ks);

    if (chain == NULL) {
        fprintf(stderr, "eci-audit: %s\n", err.msg);
        return ECI_AU_FAIL;
    }

    memset(&pending, 0, sizeof(eci_au_pending_t));
    memcpy(prev, ECI_AUDIT_CHAIN_GENESIS, sizeof(prev));

    expect = 1;
    first = 0;
    anchored = 0;
    bad = 0;
    total = 0;

    for (fi = 0; fi < args->nfiles && !bad; fi++) {

        f = fopen(args->files[fi], "r");
        if (f == NULL) {
            fprintf(stderr, "eci-audit: \"%s\": %s\n", args->files[fi],
                    strerror(errno));
            bad = 1;
            break;
        }

        lineno = 0;

        while (!bad && (line = eci_au_line_read(f, &len, &complete))
                       != NULL)
        {
            lineno++;

#define ECI_AU_BAD(...)                                                     \
            do {                                                            \
                printf("%s:%lu: ", args->files[fi], lineno);                \
                printf(__VA_ARGS__);                                        \
                printf("\n");                                               \
                bad = 1;                                                    \
            } while (0)

            if (!complete) {
                ECI_AU_BAD("line cut short (no newline): written when the "
                           "gateway stopped, or truncated");
                free(line);
                break;
            }

            j = json_loadb(line, len, 0, &jerr);

            if (j == NULL) {
                ECI_AU_BAD("not valid JSON (%s): line changed", jerr.text);

            } else if (eci_audit_chain_split(line, len, &body, &seq, got)
                       != 0)
            {
                ECI_AU_BAD("no seq and chain: not a gateway audit line, or "
                           "changed");

            } else if (total == 0 && seq != 1) {
                /* a rotated file: earlier lines are elsewhere */
                anchored = 1;
                first = seq;
                memcpy(prev, got, sizeof(prev));
                expect = seq + 1;

            } else if (seq > expect) {
                ECI_AU_BAD("seq jumps from %llu to %llu: %llu line(s) "
                           "before this one removed or moved",
                           (unsigned long long) (expect - 1),
                           (unsigned long long) seq,
                           (unsigned long long) (seq - expect));

            } else if (seq < expect) {
                ECI_AU_BAD("seq %llu after %llu: a line was inserted or the "
                           "lines reordered",
                           (unsigned long long) seq,
                           (unsigned long long) (expect - 1));

            } else if (eci_audit_chain_mac(chain, prev, line, body, want)
                       != 0
                       || strcmp(want, got) != 0)
            {
                ECI_AU_BAD("chain does not match: the line was changed, or "
                           "a line before it was replaced");

            } else {
                memcpy(prev, got, sizeof(prev));
                expect++;

                if (first == 0) {
                    first = seq;
                }
            }

            if (!bad) {
                total++;

                event = eci_au_str(j, "event");
                rid = eci_au_str(j, "requestId");

                if (event != NULL && rid != NULL) {
                    if (strcmp(event, "intent") == 0) {
                        eci_au_pending_add(&pending, rid, args->files[fi],
                                           lineno);

                    } else if (strcmp(event, "result") == 0) {
                        eci_au_pending_remove(&pending, rid);
                    }
                }
            }

            json_decref(j);
            free(line);
        }

        fclose(f);
    }

    if (!bad) {
        if (total == 0) {
            printf("no audit lines\n");

        } else {
            printf("%lu line%s, seq %llu to %llu: chain intact\n", total,
                   total == 1 ? "" : "s", (unsigned long long) first,
                   (unsigned long long) (expect - 1));

            if (anchored) {
                printf("note: the first line (seq %llu) is taken as given: "
                       "verify it with the file before it\n",
                       (unsigned long long) first);
            }
        }
    }

    if (pending.n > 0) {
        printf("%zu exec%s with an intent but no result (the gateway "
               "stopped before the response, or the exec is in flight):\n",
               pending.n, pending.n == 1 ? "" : "s");

        for (i = 0; i < pending.n; i++) {
            printf("  %s  %s\n", pending.ids[i], pending.where[i]);
        }
    }

    eci_au_pending_free(&pending);
    eci_audit_chain_free(chain);
    return bad ? ECI_AU_FAIL : ECI_AU_OK;
}


static void
eci_au_pending_add(eci_au_pending_t *p, const char *id, const char *file,
    unsigned long line)
{
    char   **ids, **where;
    size_t   cap;
    char     buf[4096];

    if (p->n == p->cap) {
        cap = p->cap ? 2 * p->cap : 64;

        ids = realloc(p->ids, cap * sizeof(char *));
        if (ids == NULL) {
            return;
        }

        p->ids = ids;

        where = realloc(p->where, cap * sizeof(char *));
        if (where == NULL) {
            return;
        }

        p->where = where;
        p->cap = cap;
    }

    snprintf(buf, sizeof(buf), "%s:%lu", file, line);

    p->ids[p->n] = strdup(id);
    p->where[p->n] = strdup(buf);

    if (p->ids[p->n] == NULL || p->where[p->n] == NULL) {
        free(p->ids[p->n]);
        free(p->where[p->n]);
        return;
    }

    p->n++;
}


static void
eci_au_pending_remove(eci_au_pending_t *p, const char *id)
{
    size_t  i;

    /* results follow their intents closely: search from the end */
    for (i = p->n; i > 0; i--) {
        if (strcmp(p->ids[i - 1], id) == 0) {
            free(p->ids[i - 1]);
            free(p->where[i - 1]);
            memmove(&p->ids[i - 1], &p->ids[i], (p->n - i) * sizeof(char *));
            memmove(&p->where[i - 1], &p->where[i],
                    (p->n - i) * sizeof(char *));
            p->n--;
            return;
        }
    }
}


static void
eci_au_pending_free(eci_au_pending_t *p)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        free(p->ids[i]);
        free(p->where[i]);
    }

    free(p->ids);
    free(p->where);
}


static const char *
eci_au_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}


/* a cell of the table: a string, a number, or "-" */
static void
eci_au_cell(char *buf, size_t size, json_t *v)
{
    if (json_is_string(v)) {
        snprintf(buf, size, "%s", json_string_value(v));

    } else if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long) json_integer_value(v));

    } else {
        snprintf(buf, size, "-");
    }
}


static int
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
    char           logid[16], over[64], err[32];

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

        while ((line = eci_au_line_read(f, &len, &complete)) != NULL) {
            lineno++;

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

            } else {
                snprintf(over, sizeof(over), "-");
            }

            s = eci_au_str(j, "requestId");

            printf("%-24s %-8.8s %-7s %-24s %-10s %-6s %-8s %-6s %-6s "
                   "%-10s %-24s %s\n",
                   time, s != NULL ? s : "-",
                   eci_au_str(j, "event") ? eci_au_str(j, "event") : "-",
                   principal, id,
                   eci_au_str(j, "decision") ? eci_au_str(j, "decision")
                                             : "-",
                   outcome != NULL ? outcome : "-",
                   status, up, logid, err, over);

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

        while ((line = eci_au_line_read(f, &len, &complete)) != NULL) {
            j = json_loadb(line, len, 0, NULL);
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
