/*
 * eci-audit: reads the gateway's audit log.
 *
 *   eci-audit verify FILE... --pubkey FILE
 *   eci-audit show FILE... [--principal P] [--id N] [--decision D]
 *                          [--event E] [--since T] [--until T]
 *
 * verify checks every chain in the files (eci_chain.h): each line's hash,
 * each signed line's Ed25519 signature under the gateway's public key, and
 * names the first line that was changed, removed, inserted or reordered;
 * show prints the lines as a table, so daily work needs no jq.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_chain.h"


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


/* the requestIds that have a result line, sorted: for --outcome unknown */
typedef struct {
    char   **ids;
    size_t   n;
    size_t   cap;
} eci_au_ids_t;


/* what verify knows of one chain */
typedef struct {
    char           id[ECI_CHAIN_ID_LEN + 1];
    uint64_t       first;
    uint64_t       seq;                 /* of its last line read */
    uint64_t       signed_seq;          /* of its last signed line, 0 none */
    unsigned long  lines;
    char           prev[ECI_CHAIN_HASH_HEX + 1];
    unsigned       given:1;             /* first line taken as given */
    unsigned       stopped:1;
} eci_au_chain_t;


typedef struct {
    eci_au_chain_t  *all;
    size_t           n;
    size_t           cap;
} eci_au_chains_t;


/* requestIds of intents still waiting for their result */
typedef struct {
    char   **ids;
    char   **where;
    size_t   n;
    size_t   cap;
    unsigned long  untracked;   /* intents beyond ECI_AU_PENDING_MAX */
} eci_au_pending_t;


static int eci_au_verify(eci_au_args_t *args);
static int eci_au_show(eci_au_args_t *args);
static int eci_au_parse(int argc, char **argv, eci_au_args_t *args,
    int verify);
static char *eci_au_line_read(FILE *f, size_t max, size_t *len,
    int *complete);
static void eci_au_pending_add(eci_au_pending_t *p, const char *id,
    const char *file, unsigned long line);
static void eci_au_pending_remove(eci_au_pending_t *p, const char *id);
static void eci_au_pending_free(eci_au_pending_t *p);
static const char *eci_au_str(json_t *o, const char *key);
static void eci_au_cell(char *buf, size_t size, json_t *v);
static void eci_au_escape(char *buf, size_t size, const char *s);
static eci_au_chain_t *eci_au_chain(eci_au_chains_t *c, const char *id,
    int add);
static const char *eci_au_line_check(eci_au_chains_t *chains,
    const char *line, eci_chain_line_t *l, json_t *j,
    eci_chain_verifier_t *v, char *msg, size_t size);
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
    args.max_line = ECI_AU_LINE_MAX;

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
        "usage: eci-audit verify FILE... --pubkey FILE [--max-line BYTES]\n"
        "       eci-audit show FILE... [--principal P] [--id N] "
        "[--decision allow|deny]\n"
        "                      [--event EVENT] [--since TIME] "
        "[--until TIME]\n"
        "                      [--outcome sent|refused|failed|unknown]\n"
        "                      [--max-line BYTES]\n"
        "\n"
        "verify  checks every chain of audit lines in the files, in any\n"
        "        interleaving: the hashes that link its lines and the\n"
        "        signatures of its checkpoints under the gateway's public key\n"
        "        (eci-keytool pubkey), and names the first line that was\n"
        "        changed, removed, inserted or reordered.  Lines after a\n"
        "        chain's last signed line are reported as not yet signed.\n"
        "        Give rotated files oldest first.  It also lists execs whose\n"
        "        intent line has no result line (the gateway stopped in "
        "between).\n"
        "        Exit 0: intact; 1: not intact; 3: intact, but a gateway\n"
        "        reported a discontinuity (its file's end cut or unsigned).\n"
        "        A line longer than --max-line (1 MiB) is not parsed: it\n"
        "        fails the file.  At most 100,000 intents waiting for their\n"
        "        result are tracked; more are counted, not listed.\n"
        "show    prints the lines as a table, control characters escaped;\n"
        "        EVENT is intent or result, or start, checkpoint,\n"
        "        discontinuity or stop for the chain's own signed lines;\n"
        "        TIME is a prefix of RFC 3339,\n"
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
    int             c, i;
    char           *end;
    unsigned long   ul;

    static struct option  opts[] = {
        { "pubkey",    required_argument, NULL, 'k' },
        { "keystore",  required_argument, NULL, 'K' },
        { "master",    required_argument, NULL, 'K' },
        { "principal", required_argument, NULL, 'p' },
        { "id",        required_argument, NULL, 'i' },
        { "decision",  required_argument, NULL, 'd' },
        { "event",     required_argument, NULL, 'e' },
        { "since",     required_argument, NULL, 's' },
        { "until",     required_argument, NULL, 'u' },
        { "outcome",   required_argument, NULL, 'o' },
        { "max-line",  required_argument, NULL, 'm' },
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
            args->pubkey = optarg;
            break;
        case 'K':
            /* the HMAC chain's options: verifying needs no secret now */
            fprintf(stderr, "eci-audit: verify takes the gateway's public "
                    "key (--pubkey FILE, written by eci-keytool pubkey), "
                    "not the keystore\n");
            return -1;
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
        case 'm':
            errno = 0;
            ul = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || optarg[0] == '-' || ul < 4096
                || ul > 1024UL * 1024 * 1024)
            {
                fprintf(stderr, "eci-audit: --max-line takes bytes from "
                        "4096 to 1073741824\n");
                return -1;
            }
            args->max_line = ul;
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

    if (verify && args->pubkey == NULL) {
        fprintf(stderr, "eci-audit: verify needs --pubkey FILE, the "
                "gateway's public key (eci-keytool pubkey)\n");
        return -1;
    }

    return 0;
}


/*
 * Reads one line; *complete is ECI_AU_LINE_CUT when the file ended before
 * a newline, ECI_AU_LINE_LONG when the line is longer than max: it is
 * read to its end but only its first bytes are kept (*len is its whole
 * length), so memory stays bounded.  NULL at end of file.
 */
static char *
eci_au_line_read(FILE *f, size_t max, size_t *len, int *complete)
{
    int      c;
    char    *buf, *nbuf;
    size_t   n, cap, total;

    cap = 4096;
    buf = malloc(cap);
    if (buf == NULL) {
        return NULL;
    }

    n = 0;
    total = 0;
    *complete = ECI_AU_LINE_CUT;

    while ((c = getc(f)) != EOF) {
        total++;

        if (c == '\n' && total <= max) {
            buf[n++] = (char) c;
            *complete = ECI_AU_LINE_WHOLE;
            break;
        }

        if (c == '\n') {
            *complete = ECI_AU_LINE_LONG;
            break;
        }

        if (total > max) {
            continue;       /* too long: skipped to its newline */
        }

        if (n + 1 >= cap) {
            cap *= 2;
            nbuf = realloc(buf, cap);
            if (nbuf == NULL) {
                free(buf);
                return NULL;
            }

            buf = nbuf;
        }

        buf[n++] = (char) c;
    }

    if (total == 0) {
        free(buf);
        return NULL;
    }

    if (total > max) {
        *complete = ECI_AU_LINE_LONG;
    }

    buf[n] = '\0';
    *len = (*complete == ECI_AU_LINE_LONG) ? total : n;

    return buf;
}


static int
eci_au_verify(eci_au_args_t *args)
{
    int                    fi, complete, bad, gaps;
    char                  *line;
    size_t                 len, i;
    FILE                  *f;
    json_t                *j;
    eci_err_t              err;
    json_error_t           jerr;
    const char            *event, *rid, *why;
    unsigned long          lineno, total, legacy, unsigned_lines;
    eci_au_chain_t        *ch;
    eci_au_chains_t        chains;
    eci_au_pending_t       pending;
    eci_chain_line_t       l;
    eci_chain_verifier_t  *v;
    char                   msg[512], text[ECI_CHAIN_FOUND_MAX + 1];

    v = eci_chain_verifier_open(args->pubkey, &err);
    if (v == NULL) {
        fprintf(stderr, "eci-audit: %s\n", err.msg);
        return ECI_AU_FAIL;
    }

    memset(&pending, 0, sizeof(eci_au_pending_t));
    memset(&chains, 0, sizeof(eci_au_chains_t));

    bad = 0;
    gaps = 0;
    total = 0;
    legacy = 0;

    for (fi = 0; fi < args->nfiles && !bad; fi++) {

        f = fopen(args->files[fi], "r");
        if (f == NULL) {
            fprintf(stderr, "eci-audit: \"%s\": %s\n", args->files[fi],
                    strerror(errno));
            bad = 1;
            break;
        }

        lineno = 0;

        while (!bad && (line = eci_au_line_read(f, args->max_line, &len,
                                                &complete))
                       != NULL)
        {
            lineno++;
            why = NULL;
            j = NULL;

            if (complete == ECI_AU_LINE_LONG) {
                snprintf(msg, sizeof(msg), "line of %zu bytes, longer than "
                         "%zu (--max-line): not parsed; the gateway writes "
                         "no such line unless its header buffers allow a "
                         "principal that long", len, args->max_line);
                why = msg;

            } else if (complete == ECI_AU_LINE_CUT) {
                why = "line cut short (no newline): written when the "
                      "gateway stopped, or truncated";

            } else if ((j = json_loadb(line, len, 0, &jerr)) == NULL) {
                snprintf(msg, sizeof(msg), "not valid JSON (%s): line "
                         "changed", jerr.text);
                why = msg;

            } else {
                switch (eci_chain_line_parse(line, len, &l)) {

                case 1:
                    /* before an upgrade: verified by the old eci-audit */
                    if (chains.n > 0) {
                        why = "a line of the old HMAC chain after lines of "
                              "the signed chain: inserted";
                    }

                    legacy++;
                    break;

                case 0:
                    why = eci_au_line_check(&chains, line, &l, j, v, msg,
                                            sizeof(msg));
                    break;

                default:
                    why = "no seq, chain and hash: not a gateway audit "
                          "line, or changed";
                }
            }

            if (why != NULL) {
                printf("%s:%lu: %s\n", args->files[fi], lineno, why);
                bad = 1;

            } else {
                total++;

                event = eci_au_str(j, "event");
                rid = eci_au_str(j, "requestId");

                if (event != NULL && strcmp(event,
                                            ECI_CHAIN_DISCONTINUITY) == 0)
                {
                    eci_au_escape(text, sizeof(text),
                                  eci_au_str(j, "found"));
                    printf("%s:%lu: chain %s seq %llu: the gateway reports "
                           "a discontinuity: %s\n", args->files[fi], lineno,
                           l.chain, (unsigned long long) l.seq, text);
                    gaps++;

                } else if (event != NULL && rid != NULL) {
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

    for (i = 0; i < chains.n && !bad; i++) {
        ch = &chains.all[i];

        if (ch->signed_seq == 0) {
            printf("chain %s: none of its %lu line%s is signed: not written "
                   "by the gateway of this key, or its signed lines are in "
                   "another file\n", ch->id, ch->lines,
                   ch->lines == 1 ? "" : "s");
            bad = 1;
            break;
        }

        unsigned_lines = (unsigned long) (ch->seq - ch->signed_seq);

        printf("chain %s: seq %llu to %llu, %lu line%s, signed to seq %llu",
               ch->id, (unsigned long long) ch->first,
               (unsigned long long) ch->seq, ch->lines,
               ch->lines == 1 ? "" : "s",
               (unsigned long long) ch->signed_seq);

        if (ch->stopped) {
            printf(", stopped");
        }

        if (unsigned_lines > 0) {
            printf(": %lu line%s not yet signed", unsigned_lines,
                   unsigned_lines == 1 ? "" : "s");
        }

        printf("\n");

        if (ch->given) {
            printf("note: chain %s: its first line here (seq %llu) is taken "
                   "as given: verify it with the file before it\n", ch->id,
                   (unsigned long long) ch->first);
        }
    }

    if (legacy > 0 && !bad) {
        printf("%lu line%s of the old HMAC chain (written before the signed "
               "chain) not checked: verify them with the eci-audit of that "
               "version and the keystore's \"audit-chain\" key\n", legacy,
               legacy == 1 ? "" : "s");
    }

    if (!bad) {
        if (total == 0) {
            printf("no audit lines\n");

        } else {
            printf("%zu chain%s, %lu line%s: intact%s\n", chains.n,
                   chains.n == 1 ? "" : "s", total, total == 1 ? "" : "s",
                   gaps ? ", with a discontinuity the gateway reported" : "");
        }
    }

    if (pending.n > 0) {
        printf("%zu exec%s with an intent but no result, outcome unknown "
               "(the gateway stopped before the response, or the exec is in "
               "flight; list them with show --outcome unknown):\n",
               pending.n, pending.n == 1 ? "" : "s");

        for (i = 0; i < pending.n; i++) {
            eci_au_escape(text, sizeof(text), pending.ids[i]);
            printf("  %s  %s\n", text, pending.where[i]);
        }
    }

    if (pending.untracked > 0) {
        printf("%lu more intent%s came while %d were waiting for their "
               "result and %s not tracked: whether %s a result is not "
               "checked here (list the execs with show --outcome unknown)\n",
               pending.untracked, pending.untracked == 1 ? "" : "s",
               ECI_AU_PENDING_MAX, pending.untracked == 1 ? "was" : "were",
               pending.untracked == 1 ? "it has" : "they have");
    }

    eci_au_pending_free(&pending);
    free(chains.all);
    eci_chain_verifier_free(v);

    return bad ? ECI_AU_FAIL : (gaps ? ECI_AU_GAP : ECI_AU_OK);
}


/* one line of a chain; NULL when it fits, else what is wrong, in msg */
static const char *
eci_au_line_check(eci_au_chains_t *chains, const char *line,
    eci_chain_line_t *l, json_t *j, eci_chain_verifier_t *v, char *msg,
    size_t size)
{
    const char      *prev;
    eci_au_chain_t  *ch, *before;
    json_t          *follows;

#define ECI_AU_WRONG(...)                                                   \
    do {                                                                    \
        snprintf(msg, size, __VA_ARGS__);                                   \
        return msg;                                                         \
    } while (0)

    ch = eci_au_chain(chains, l->chain, 1);
    if (ch == NULL) {
        ECI_AU_WRONG("out of memory");
    }

    if (ch->lines == 0) {
        ch->first = l->seq;

        if (l->seq == 1) {
            if (strcmp(l->event, ECI_CHAIN_START) != 0 || !l->is_signed) {
                ECI_AU_WRONG("chain %s begins (seq 1) without its start "
                             "line: changed", l->chain);
            }

            prev = ECI_CHAIN_GENESIS;

        } else {
            /* its lines before are in a file not given */
            ch->given = !l->is_signed;
            prev = l->is_signed ? l->head : NULL;
        }

    } else {
        if (ch->stopped) {
            ECI_AU_WRONG("chain %s: seq %llu after its stop line: inserted",
                         l->chain, (unsigned long long) l->seq);
        }

        if (l->seq > ch->seq + 1) {
            ECI_AU_WRONG("chain %s: seq jumps from %llu to %llu: %llu "
                         "line(s) before this one removed or moved",
                         l->chain, (unsigned long long) ch->seq,
                         (unsigned long long) l->seq,
                         (unsigned long long) (l->seq - ch->seq - 1));
        }

        if (l->seq <= ch->seq) {
            ECI_AU_WRONG("chain %s: seq %llu after %llu: a line was "
                         "inserted or the lines reordered", l->chain,
                         (unsigned long long) l->seq,
                         (unsigned long long) ch->seq);
        }

        prev = ch->prev;
    }

    if (prev != NULL) {
        if (l->is_signed && strcmp(l->head, prev) != 0) {
            ECI_AU_WRONG("chain %s: seq %llu signs another head: lines "
                         "before it were changed", l->chain,
                         (unsigned long long) l->seq);
        }

        if (!eci_chain_line_follows(line, l, prev)) {
            ECI_AU_WRONG("chain %s: seq %llu: hash does not match: the line "
                         "was changed, or a line before it replaced",
                         l->chain, (unsigned long long) l->seq);
        }
    }

    if (l->is_signed) {
        if (!eci_chain_line_signed_by(line, l, v)) {
            ECI_AU_WRONG("chain %s: seq %llu: the signature does not verify: "
                         "the line was forged or changed, or signed with "
                         "another key", l->chain,
                         (unsigned long long) l->seq);
        }

        ch->signed_seq = l->seq;
        ch->stopped = (strcmp(l->event, ECI_CHAIN_STOP) == 0);
    }

    /* the head a start follows, when its chain is here and there */
    follows = json_object_get(j, "follows");

    if (strcmp(l->event, ECI_CHAIN_START) == 0 && json_is_object(follows)) {
        before = eci_au_chain(chains, eci_au_str(follows, "chain") != NULL
                                      ? eci_au_str(follows, "chain") : "",
                              0);

        if (before != NULL && before->lines > 0 && before != ch
            && (json_int_t) before->seq
               == json_integer_value(json_object_get(follows, "seq"))
            && eci_au_str(follows, "hash") != NULL
            && strcmp(before->prev, eci_au_str(follows, "hash")) != 0)
        {
            ECI_AU_WRONG("chain %s starts after seq %llu of chain %s, but "
                         "that line is different: changed", l->chain,
                         (unsigned long long) before->seq, before->id);
        }
    }

#undef ECI_AU_WRONG

    ch->seq = l->seq;
    ch->lines++;
    memcpy(ch->prev, l->hash, sizeof(ch->prev));

    return NULL;
}


/* the chain of this id, added when new and add; NULL: none */
static eci_au_chain_t *
eci_au_chain(eci_au_chains_t *c, const char *id, int add)
{
    size_t           i, cap;
    eci_au_chain_t  *all;

    for (i = 0; i < c->n; i++) {
        if (strcmp(c->all[i].id, id) == 0) {
            return &c->all[i];
        }
    }

    if (!add || strlen(id) != ECI_CHAIN_ID_LEN) {
        return NULL;
    }

    if (c->n == c->cap) {
        cap = c->cap ? 2 * c->cap : 8;

        all = realloc(c->all, cap * sizeof(eci_au_chain_t));
        if (all == NULL) {
            return NULL;
        }

        c->all = all;
        c->cap = cap;
    }

    memset(&c->all[c->n], 0, sizeof(eci_au_chain_t));
    memcpy(c->all[c->n].id, id, ECI_CHAIN_ID_LEN + 1);

    return &c->all[c->n++];
}


static void
eci_au_pending_add(eci_au_pending_t *p, const char *id, const char *file,
    unsigned long line)
{
    char   **ids, **where;
    size_t   cap;
    char     buf[4096];

    if (p->n == ECI_AU_PENDING_MAX) {
        p->untracked++;
        return;
    }

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


/*
 * s for a terminal: control characters (C0, DEL, and C1 such as U+009B,
 * which some terminals take for CSI) as \xNN or \u00NN, and backslash
 * doubled, so a caller's header cannot move the cursor, retitle or
 * recolour the auditor's terminal, or fake a line.  Cut to size.
 */
static void
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
