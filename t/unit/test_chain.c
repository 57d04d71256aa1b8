/*
 * The audit chain: sealing lines, signed lines, taking lines apart again,
 * that any change to a line or to the order of lines breaks the chain,
 * that a signature verifies only under its key, and the tail check a new
 * chain makes of the file it goes on in.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_chain.h"
#include "tap.h"


#define SEED1  \
    "9d61b19deffd5a60ba844af492ec2cc4" "4449c5697b326919703bac031cae7f60"
#define SEED2  \
    "4ccd089b28ff96da9db6c346ec114e0f" "5b8a319f35aba624da8cf6ed4fb8a6fb"
/* RFC 8032 test 1: the public key of SEED1 */
#define PUB1   \
    "d75a980182b10ab7d54bfed3c964073a" "0ee172f3daa62325af021a68f707511a"

#define NLINES  8


typedef struct {
    char    text[ECI_CHAIN_EVENT_LINE_MAX];
    size_t  len;
} line_t;


static size_t
record_make(eci_chain_t *c, const char *principal, int intent, char *buf,
    size_t cap)
{
    size_t              len;
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

    if (eci_audit_line_max(&rec) > cap) {
        return 0;
    }

    len = eci_audit_line_write(&rec, buf, eci_audit_line_max(&rec));
    if (len == 0) {
        return 0;
    }

    return eci_chain_seal(c, buf, len, eci_audit_line_max(&rec));
}


static size_t
event_make(eci_chain_t *c, eci_chain_signer_t *s, const char *event,
    const eci_chain_t *follows, const char *found, char *buf, size_t cap)
{
    eci_chain_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.event = event;
    ev.time_ms = 1795936772123LL;
    ev.host = "gw1\x1b[31m";
    ev.pid = 4242;
    ev.follows = follows;
    ev.found = found;

    return eci_chain_event_write(c, s, &ev, buf, cap);
}


static void
lines_swap(line_t *a, line_t *b)
{
    line_t  tmp;

    tmp = *a;
    *a = *b;
    *b = tmp;
}


/* what eci-audit verify does, reduced: 0, or the first bad line (1-) */
static int
lines_verify(line_t *lines, size_t n, eci_chain_verifier_t *v)
{
    size_t            i;
    uint64_t          seq;
    eci_chain_line_t  l;
    char              prev[ECI_CHAIN_HASH_HEX + 1];

    memcpy(prev, ECI_CHAIN_GENESIS, sizeof(prev));
    seq = 0;

    for (i = 0; i < n; i++) {
        if (eci_chain_line_parse(lines[i].text, lines[i].len, &l) != 0
            || l.seq != seq + 1
            || !eci_chain_line_follows(lines[i].text, &l, prev)
            || (l.is_signed
                && (strcmp(l.head, prev) != 0
                    || !eci_chain_line_signed_by(lines[i].text, &l, v))))
        {
            return (int) i + 1;
        }

        seq = l.seq;
        memcpy(prev, l.hash, sizeof(prev));
    }

    return 0;
}


static void
tail_checks(line_t *lines, size_t n, eci_chain_verifier_t *v,
    eci_chain_verifier_t *other)
{
    size_t            i, len;
    char             *buf;
    eci_chain_tail_t  t;

    buf = malloc(NLINES * ECI_CHAIN_EVENT_LINE_MAX);
    len = 0;

    for (i = 0; i < n; i++) {
        memcpy(buf + len, lines[i].text, lines[i].len);
        len += lines[i].len;
    }

    eci_chain_tail_check(buf, len, 1, v, 0, &t);
    is_str(t.found, "", "a file that ends in its stop line is sound");
    ok(t.checked, "and its last signature was checked");
    is_int(t.follows.seq, n, "the new chain follows its last line");

    eci_chain_tail_check(buf, len, 1, other, 0, &t);
    like(t.found, "does not verify", "under another key it is not");

    /* the end cut: the stop line (and the line before it) gone */
    len -= lines[n - 1].len + lines[n - 2].len;
    eci_chain_tail_check(buf, len, 1, v, 0, &t);
    like(t.found, "without its stop line", "a cut end is found");
    is_int(t.follows.seq, n - 2, "and followed where it now ends");

    eci_chain_tail_check(buf, len, 1, v, 1, &t);
    is_str(t.found, "", "but not while that gateway runs (an upgrade)");

    /* a line after the last signature changed */
    buf[len - lines[n - 3].len + 20] ^= 1;
    eci_chain_tail_check(buf, len, 1, v, 1, &t);
    like(t.found, "does not go on from its signed seq",
         "a changed unsigned line is found");
    buf[len - lines[n - 3].len + 20] ^= 1;

    /* a foreign line after the last signature, before the last line */
    memmove(buf + len - lines[n - 3].len + 8, buf + len - lines[n - 3].len,
            lines[n - 3].len);
    memcpy(buf + len - lines[n - 3].len, "{\"x\":1}\n", 8);
    eci_chain_tail_check(buf, len + 8, 1, v, 1, &t);
    memmove(buf + len - lines[n - 3].len, buf + len - lines[n - 3].len + 8,
            lines[n - 3].len);
    like(t.found, "not an audit line after seq",
         "a foreign line after the last signature is found");

    /* a partial line */
    memcpy(buf + len, "{\"time\":", 8);
    eci_chain_tail_check(buf, len + 8, 1, v, 1, &t);
    like(t.found, "a partial line at the end", "a partial line is found");

    eci_chain_tail_check("", 0, 1, v, 0, &t);
    ok(t.found[0] == '\0' && t.follows.seq == 0,
       "an empty file: nothing to follow, nothing wrong");

    eci_chain_tail_check("{\"a\":1}\n", 8, 1, v, 0, &t);
    like(t.found, "not an audit line", "a foreign last line is found");

    eci_chain_tail_check("{\"a\":1,\"seq\":7,\"chain\":\"" ECI_CHAIN_GENESIS
                         "\"}\n",
                         sizeof("{\"a\":1,\"seq\":7,\"chain\":\"\"}\n") - 1
                         + 64, 1, v, 0, &t);
    ok(t.legacy_seq == 7 && t.found[0] == '\0',
       "the old HMAC chain is recognised, not a discontinuity");

    free(buf);
}


int
main(void)
{
    int                    rc;
    char                  *p, pem[512];
    size_t                 i, n;
    FILE                  *f;
    json_t                *j;
    eci_err_t              err;
    eci_chain_t            c, before, after;
    json_error_t           jerr;
    line_t                *lines;
    eci_chain_line_t       l;
    eci_chain_signer_t    *s, *s2;
    eci_chain_verifier_t  *v, *v2, *vf;
    char                   path[] = "/tmp/eci-test-chain-XXXXXX";

    lines = calloc(NLINES, sizeof(line_t));

    ok(eci_chain_signer_new("abc", 3, &err) == NULL,
       "a signing key that is not 64 hex digits is refused");
    like(err.msg, "64 hex digits", "saying why");

    s = eci_chain_signer_new(SEED1, 64, &err);
    s2 = eci_chain_signer_new(SEED2, 64, &err);
    ok(s != NULL && s2 != NULL, "signers from 64 hex digits");

    v = eci_chain_signer_verifier(s, &err);
    v2 = eci_chain_signer_verifier(s2, &err);
    ok(v != NULL && v2 != NULL, "and verifiers of their keys");

    ok(eci_chain_signer_pem(s, pem, sizeof(pem)) > 0
       && strstr(pem, "-----BEGIN PUBLIC KEY-----") != NULL,
       "the public key as PEM");

    /* its room: the PEM and its NUL, in exact-size buffers ASan checks */
    {
        char    *small;
        size_t   plen, caps[3], i;

        plen = strlen(pem);
        caps[0] = 10;
        caps[1] = plen;
        caps[2] = plen + 1;

        for (i = 0; i < 3; i++) {
            small = malloc(caps[i]);
            is_int(small != NULL ? eci_chain_signer_pem(s, small, caps[i])
                                 : (size_t) -1,
                   (i == 2) ? plen : 0,
                   "the PEM in %zu bytes: %s", caps[i],
                   (i == 2) ? "fits with its NUL" : "does not fit, 0");
            free(small);
        }
    }

    rc = mkstemp(path);
    f = (rc >= 0) ? fdopen(rc, "w") : NULL;
    ok(f != NULL && fputs(pem, f) >= 0 && fclose(f) == 0,
       "written to a file");
    vf = eci_chain_verifier_open(path, &err);
    ok(vf != NULL, "which opens as a verifier");
    ok(eci_chain_verifier_open("/nonexistent/x.pub", &err) == NULL,
       "a missing public key file is an error");
    unlink(path);

    ok(eci_chain_init(&c, 1795936772123LL, &err) == 0, "a new chain");
    is_int(strlen(c.id), ECI_CHAIN_ID_LEN, "its id has its length");
    ok(strncmp(c.id, "20261129T0719", 13) == 0 && c.id[16] == '-',
       "and begins with its start time: %s", c.id);
    ok(c.seq == 0 && strcmp(c.head, ECI_CHAIN_GENESIS) == 0,
       "at genesis");

    memset(&before, 0, sizeof(before));
    memcpy(before.id, "20261129T070503Z-0123456789abcdef", 34);
    before.seq = 41;
    memcpy(before.head, PUB1, 65);

    n = 0;
    lines[n].len = event_make(&c, s, ECI_CHAIN_START, &before, NULL,
                              lines[n].text, sizeof(lines[n].text));
    n++;
    lines[n].len = event_make(&c, s, ECI_CHAIN_DISCONTINUITY, NULL,
                              "chain x ends \"cut\"\n", lines[n].text,
                              sizeof(lines[n].text));
    n++;

    for (i = 0; i < 3; i++, n++) {
        lines[n].len = record_make(&c, i == 1 ? "bob" : "alice", i == 0,
                                   lines[n].text, sizeof(lines[n].text));
    }

    lines[n].len = event_make(&c, s, ECI_CHAIN_CHECKPOINT, NULL, NULL,
                              lines[n].text, sizeof(lines[n].text));
    n++;
    after = c;
    lines[n].len = record_make(&c, "carol", 1, lines[n].text,
                               sizeof(lines[n].text));
    n++;
    lines[n].len = event_make(&c, s, ECI_CHAIN_STOP, NULL, NULL,
                              lines[n].text, sizeof(lines[n].text));
    n++;

    for (i = 0; i < n; i++) {
        ok(lines[i].len > 0 && lines[i].text[lines[i].len - 1] == '\n'
           && memchr(lines[i].text, '\n', lines[i].len - 1) == NULL,
           "line %zu is one line ending in a newline", i + 1);

        j = json_loadb(lines[i].text, lines[i].len, 0, &jerr);
        ok(j != NULL && json_integer_value(json_object_get(j, "seq"))
                        == (json_int_t) i + 1
           && strcmp(json_string_value(json_object_get(j, "chain")), c.id)
              == 0,
           "and valid JSON with its seq and chain id");
        json_decref(j);
    }

    is_int(c.seq, n, "the chain stands at its last line");

    j = json_loadb(lines[0].text, lines[0].len, 0, &jerr);
    is_str(json_string_value(json_object_get(json_object_get(j, "follows"),
                                             "chain")),
           before.id, "the start names the chain it follows");
    is_int(json_integer_value(json_object_get(json_object_get(j, "follows"),
                                              "seq")), 41, "and its seq");
    is_str(json_string_value(json_object_get(j, "host")), "gw1\x1b[31m",
           "the host is escaped into valid JSON");
    json_decref(j);

    ok(eci_chain_line_parse(lines[1].text, lines[1].len, &l) == 0
       && l.is_signed && strcmp(l.event, "discontinuity") == 0,
       "a discontinuity line is a signed line");
    ok(eci_chain_line_parse(lines[2].text, lines[2].len, &l) == 0
       && !l.is_signed && strcmp(l.event, "intent") == 0 && l.seq == 3,
       "a record line is not signed, and says its event and seq");

    is_int(lines_verify(lines, n, v), 0, "the chain verifies");
    is_int(lines_verify(lines, n, vf), 0,
           "also with the public key read from PEM");
    is_int(lines_verify(lines, n, v2), 1, "not under another key");

    /* a changed byte in a record line */
    p = strstr(lines[3].text, "bob");
    *p = 'B';
    is_int(lines_verify(lines, n, v), 4, "a changed line is found");
    *p = 'b';

    /* a line after the checkpoint replaced, its hash made anew */
    memcpy(&before, &after, sizeof(before));
    lines[6].len = record_make(&before, "mallory", 1, lines[6].text,
                               sizeof(lines[6].text));
    is_int(lines_verify(lines, 7, v), 0,
           "a forged line after the last signature chains: not yet signed");
    is_int(lines_verify(lines, 8, v), 8,
           "but the stop line's signature finds it");

    /* swap two record lines */
    lines_swap(&lines[2], &lines[3]);
    is_int(lines_verify(lines, 4, v), 3, "reordered lines are found");

    is_int(lines_verify(lines + 1, 3, v), 1, "a removed line is found");

    lines_swap(&lines[2], &lines[3]);

    ok(eci_chain_line_parse("{\"a\":1}\n", 8, &l) == -1,
       "an unsealed line does not parse");
    n = lines[2].len;
    ok(eci_chain_seal(&c, lines[2].text, n, n + 10) == 0,
       "sealing refuses a buffer without room");

    /* the rebuilt chain (forged line 7 replaced) for the tail checks */
    ok(eci_chain_init(&c, 1795936772123LL, &err) == 0, "another chain");
    n = 0;
    lines[n].len = event_make(&c, s, ECI_CHAIN_START, NULL, NULL,
                              lines[n].text, sizeof(lines[n].text));
    n++;

    for (i = 0; i < 4; i++, n++) {
        lines[n].len = record_make(&c, "alice", i % 2 == 0, lines[n].text,
                                   sizeof(lines[n].text));
    }

    lines[n].len = event_make(&c, s, ECI_CHAIN_STOP, NULL, NULL,
                              lines[n].text, sizeof(lines[n].text));
    n++;

    tail_checks(lines, n, v, v2);

    eci_chain_verifier_free(v);
    eci_chain_verifier_free(v2);
    eci_chain_verifier_free(vf);
    eci_chain_signer_free(s);
    eci_chain_signer_free(s2);
    free(lines);

    return done_testing();
}
