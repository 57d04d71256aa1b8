/*
 * eci-audit verify: every chain in the files checked line by line (each
 * line's hash, each signed line's signature), intents matched with their
 * results; see eci-audit.c.
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


static const char *eci_au_line_check(eci_au_chains_t *chains,
    const char *line, eci_chain_line_t *l, json_t *j,
    eci_chain_verifier_t *v, char *msg, size_t size);
static eci_au_chain_t *eci_au_chain(eci_au_chains_t *c, const char *id,
    int add);
static void eci_au_pending_add(eci_au_pending_t *p, const char *id,
    const char *file, unsigned long line);
static void eci_au_pending_remove(eci_au_pending_t *p, const char *id);
static void eci_au_pending_free(eci_au_pending_t *p);


int
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
               "version and the keystore's \"" ECI_KEY_AUDIT_CHAIN "\" key\n",
               legacy, legacy == 1 ? "" : "s");
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
