/*
 * The audit chain: sealing lines, splitting them again, and that any
 * change to a line or to the order of lines breaks the chain.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_audit.h"
#include "tap.h"


static void
rec_fill(eci_audit_record_t *r, uint64_t seq, const char *principal,
    int intent)
{
    eci_audit_record_t  rec;

    memset(&rec, 0, sizeof(rec));
    rec.time_ms = 1795936772123LL;
    rec.event = intent ? "intent" : "result";
    rec.intent = intent;
    rec.request_id.data = "0123456789abcdef0123456789abcdef";
    rec.request_id.len = 32;
    rec.principal.data = principal;
    rec.principal.len = strlen(principal);
    rec.client.data = "127.0.0.1";
    rec.client.len = 9;
    rec.method.data = "POST";
    rec.method.len = 4;
    rec.uri.data = "/api/v202106/reportdistribution/42/exec";
    rec.uri.len = strlen(rec.uri.data);
    rec.report_distribution_id = 42;
    rec.decision = "allow";
    rec.status = 200;
    rec.upstream_time_ms = -1;
    rec.seq = seq;

    *r = rec;
}


static void line_seq_checks(void);


static size_t
line_make(eci_audit_chain_t *c, uint64_t seq, const char *principal,
    int intent, char chain[ECI_AUDIT_CHAIN_HEX + 1], char *buf, size_t cap)
{
    size_t              len;
    eci_audit_record_t  rec;

    rec_fill(&rec, seq, principal, intent);

    if (eci_audit_line_max(&rec) > cap) {
        return 0;
    }

    len = eci_audit_line_write(&rec, buf, cap);
    if (len == 0) {
        return 0;
    }

    return eci_audit_chain_seal(c, buf, len, cap, chain);
}


/* what eci-audit verify does, reduced: 0 when the lines chain up */
static int
lines_verify(eci_audit_chain_t *c, char lines[][4096], size_t *lens,
    size_t n)
{
    size_t    i, body;
    uint64_t  seq;
    char      prev[ECI_AUDIT_CHAIN_HEX + 1], got[ECI_AUDIT_CHAIN_HEX + 1];
    char      want[ECI_AUDIT_CHAIN_HEX + 1];

    memcpy(prev, ECI_AUDIT_CHAIN_GENESIS, sizeof(prev));

    for (i = 0; i < n; i++) {
        if (eci_audit_chain_split(lines[i], lens[i], &body, &seq, got) != 0
            || seq != i + 1
            || eci_audit_chain_mac(c, prev, lines[i], body, want) != 0
            || strcmp(want, got) != 0)
        {
            return (int) i + 1;
        }

        memcpy(prev, got, sizeof(prev));
    }

    return 0;
}


/*
 * A line built before its place in the chain is known (seq 0) and given
 * its seq afterwards (what the gateway does for lines it writes together)
 * is byte for byte the line written with that seq.
 */
static void
line_seq_checks(void)
{
    size_t              i, k, len, want_len, max;
    eci_audit_record_t  rec;
    char                line[4096], want[4096];
    static const uint64_t  seqs[] = { 1, 9, 10, 99, 100, 12345,
                                      4294967296ULL, UINT64_MAX };

    for (k = 0; k < 2; k++) {
        for (i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
            rec_fill(&rec, seqs[i], k ? "bob" : "alice", k == 0);
            max = eci_audit_line_max(&rec);
            want_len = eci_audit_line_write(&rec, want, max);

            rec.seq = 0;
            len = eci_audit_line_write(&rec, line, max);
            line[len] = '\0';
            ok(len > 0 && strstr(line, "\"seq\"") == NULL,
               "%s line without a seq", k ? "result" : "intent");

            len = eci_audit_line_seq(line, len, max, seqs[i]);
            ok(len == want_len && memcmp(line, want, len) == 0,
               "given seq %llu it is the line written with it",
               (unsigned long long) seqs[i]);
        }
    }

    /* the room the gateway keeps after a line is enough for any seq */
    rec_fill(&rec, 0, "alice", 1);
    len = eci_audit_line_write(&rec, line, sizeof(line));
    max = len + ECI_AUDIT_SEQ_ROOM + ECI_AUDIT_CHAIN_ROOM;
    len = eci_audit_line_seq(line, len, max, UINT64_MAX);
    ok(len > 0 && len + ECI_AUDIT_CHAIN_ROOM <= max,
       "ECI_AUDIT_SEQ_ROOM holds the longest seq");

    rec_fill(&rec, 0, "alice", 1);
    len = eci_audit_line_write(&rec, line, sizeof(line));
    memcpy(want, line, len);

    is_int(eci_audit_line_seq(line, len, len + 8, 123456789), 0,
           "no room for the seq: refused");
    ok(memcmp(line, want, len) == 0, "and the line is as it was");
    is_int(eci_audit_line_seq(line, len, sizeof(line), 0), 0,
           "seq 0 is refused");
    is_int(eci_audit_line_seq(line, len - 1, sizeof(line), 5), 0,
           "a line without its newline is refused");
    is_int(eci_audit_line_seq(line, 1, sizeof(line), 5), 0,
           "so is a fragment");
}


int
main(void)
{
    size_t              i, body, lens[3], l2;
    uint64_t            seq;
    eci_err_t           err;
    json_t             *j;
    json_error_t        jerr;
    eci_audit_chain_t  *c, *other;
    char                chain[ECI_AUDIT_CHAIN_HEX + 1];
    char                got[ECI_AUDIT_CHAIN_HEX + 1];
    char                lines[3][4096], tmp[4096];

    c = eci_audit_chain_new("k1-audit-chain-key", 18, &err);
    ok(c != NULL, "chain context is created");

    other = eci_audit_chain_new("another-key", 11, &err);
    ok(other != NULL, "a second chain context with another key");

    memcpy(chain, ECI_AUDIT_CHAIN_GENESIS, sizeof(chain));

    for (i = 0; i < 3; i++) {
        lens[i] = line_make(c, i + 1, i == 1 ? "bob" : "alice", i == 0,
                            chain, lines[i], sizeof(lines[i]));
        ok(lens[i] > 0, "line %zu is written and sealed", i + 1);
    }

    ok(lines[0][lens[0] - 1] == '\n' && memchr(lines[0], '\n', lens[0] - 1)
       == NULL, "a sealed line is one line ending in a newline");

    j = json_loadb(lines[0], lens[0], 0, &jerr);
    if (j == NULL) {
        printf("# %s: %.*s\n", jerr.text, (int) lens[0], lines[0]);
    }

    ok(j != NULL, "a sealed line is valid JSON");
    is_int(json_integer_value(json_object_get(j, "seq")), 1,
           "it carries seq");
    is_int(strlen(json_string_value(json_object_get(j, "chain"))), 64,
           "and a 64-hex chain");
    is_str(json_string_value(json_object_get(j, "event")), "intent",
           "the first is the intent");
    ok(json_object_get(j, "status") == NULL,
       "an intent line has no outcome fields");
    json_decref(j);

    j = json_loadb(lines[1], lens[1], 0, &jerr);
    ok(j != NULL && json_integer_value(json_object_get(j, "status")) == 200,
       "a result line has its status");
    json_decref(j);


    ok(eci_audit_chain_split(lines[2], lens[2], &body, &seq, got) == 0,
       "a sealed line splits");
    is_int(seq, 3, "split reads seq");
    is_str(got, chain, "split reads the chain the seal returned");
    ok(memcmp(lines[2] + body, ",\"chain\":\"", 10) == 0,
       "the body ends where the chain starts");

    is_int(lines_verify(c, lines, lens, 3), 0, "an intact chain verifies");
    is_int(lines_verify(other, lines, lens, 3), 1,
           "another key does not verify it");

    /* change one byte of line 2's principal */
    memcpy(tmp, lines[1], lens[1]);
    lines[1][strstr(lines[1], "bob") - lines[1]] = 'B';
    is_int(lines_verify(c, lines, lens, 3), 2, "a changed line is found");
    memcpy(lines[1], tmp, lens[1]);

    /* swap lines 2 and 3 */
    memcpy(tmp, lines[1], sizeof(tmp));
    memcpy(lines[1], lines[2], sizeof(tmp));
    memcpy(lines[2], tmp, sizeof(tmp));
    l2 = lens[1];
    lens[1] = lens[2];
    lens[2] = l2;
    is_int(lines_verify(c, lines, lens, 3), 2, "reordered lines are found");

    /* remove line 2 (was line 3 now at index 1): only line 1 and 3 left */
    is_int(lines_verify(c, lines, lens, 2), 2, "a removed line is found");

    ok(eci_audit_chain_split("{\"a\":1}\n", 8, &body, &seq, got) == -1,
       "an unsealed line does not split");
    ok(eci_audit_chain_seal(c, lines[0], lens[0], lens[0] + 10, chain) == 0,
       "sealing refuses a buffer without room");

    line_seq_checks();

    eci_audit_chain_free(c);
    eci_audit_chain_free(other);

    return done_testing();
}
