/*
 * The chain's tail check, event lines and signer at edges test_chain.c
 * does not reach (issue 18: mutants there survived): a window of a file
 * that starts inside a line, right at one or at a newline, a partial last
 * line read from an exact-size copy, a chain without a signed line, two
 * findings in one report, what a discontinuity line says beside a host,
 * a host cut, no line into too small a buffer, and the signer's memory
 * given back when it is freed.
 */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_chain.h"
#include "tap.h"


/* RFC 8032 test 1 */
#define SEED  \
    "9d61b19deffd5a60ba844af492ec2cc4" "4449c5697b326919703bac031cae7f60"

#define FILE_MAX  (8 * ECI_CHAIN_EVENT_LINE_MAX)


typedef struct {
    char    buf[FILE_MAX];
    size_t  len;
} file_t;


/* a record line: enough of one for the chain, sealed onto c */
static void
add_record(file_t *f, eci_chain_t *c)
{
    size_t  n;

    n = (size_t) snprintf(f->buf + f->len, FILE_MAX - f->len,
                          "{\"time\":null,\"event\":\"result\"}\n");
    f->len += eci_chain_seal(c, f->buf + f->len, n, FILE_MAX - f->len);
}


static size_t
add_event(file_t *f, eci_chain_t *c, eci_chain_signer_t *s,
    const char *event, const char *host, const char *found)
{
    size_t             n;
    eci_chain_event_t  ev;

    memset(&ev, 0, sizeof(ev));
    ev.event = event;
    ev.time_ms = 1795936772123LL;
    ev.host = host;
    ev.found = found;

    n = eci_chain_event_write(c, s, &ev, f->buf + f->len, FILE_MAX - f->len);
    f->len += n;

    return n;
}


static void
test_window(eci_chain_signer_t *s, eci_chain_verifier_t *v)
{
    char             *copy;
    size_t            first;
    file_t           *f;
    eci_chain_t       c;
    eci_err_t         err;
    eci_chain_tail_t  t;

    f = calloc(1, sizeof(file_t));
    eci_chain_init(&c, 1795936772123LL, &err);
    add_event(f, &c, s, ECI_CHAIN_START, NULL, NULL);
    first = f->len;
    add_record(f, &c);
    add_record(f, &c);

    /* the whole file: its start line signs, the chain goes on from it */
    eci_chain_tail_check(f->buf, f->len, 1, v, 1, &t);
    ok(t.checked && t.found[0] == '\0' && t.follows.seq == 3,
       "the whole file: the start line checked, nothing found (%s)",
       t.found);

    /* a window that starts right at the start line: read as a part */
    eci_chain_tail_check(f->buf, f->len, 0, v, 1, &t);
    ok(!t.checked && t.found[0] == '\0',
       "a window's first line is not read, even when it is whole: no "
       "signed line checked, nothing found (%s)", t.found);
    is_int(t.follows.seq, 3, "the head it follows is the last line's");

    /* a window that starts inside the start line */
    eci_chain_tail_check(f->buf + 10, f->len - 10, 0, v, 1, &t);
    ok(!t.checked && t.found[0] == '\0' && t.follows.seq == 3,
       "a window from inside the start line: the same");

    /* a window of the part of the start line only */
    eci_chain_tail_check(f->buf + 10, first - 10, 0, v, 1, &t);
    ok(!t.checked && t.found[0] == '\0' && t.follows.seq == 0,
       "a window inside one line: nothing to follow, nothing found");

    /* a partial last line after them (exact-size copy): not read past */
    memcpy(f->buf + f->len, "{\"time\":null", 12);
    copy = tap_copy(f->buf, f->len + 12);
    eci_chain_tail_check(copy, f->len + 12, 1, v, 1, &t);
    ok(t.checked && t.follows.seq == 3, "a partial last line: the chain "
       "before it checked");
    is_str(t.found, "a partial line at the end", "and the partial line found");
    free(copy);

    /* a window that starts at the '\n' before the start line reads it */
    memmove(f->buf + 1, f->buf, f->len);
    f->buf[0] = '\n';
    eci_chain_tail_check(f->buf, f->len + 1, 0, v, 1, &t);
    ok(t.checked && t.found[0] == '\0' && t.follows.seq == 3,
       "a window from the newline before the start line: it is checked");
    memmove(f->buf, f->buf + 1, f->len);

    /* a window with a line before the start line: that one is checked */
    memmove(f->buf + 4, f->buf, f->len);
    memcpy(f->buf, "xyz\n", 4);
    eci_chain_tail_check(f->buf + 1, f->len + 3, 0, v, 1, &t);
    ok(t.checked && t.found[0] == '\0' && t.follows.seq == 3,
       "a window from inside the line before: the start line checked");

    free(f);
}


static void
test_no_signed_line(void)
{
    file_t           *f;
    eci_chain_t       c;
    eci_err_t         err;
    eci_chain_tail_t  t;
    char              want[128];

    f = calloc(1, sizeof(file_t));
    eci_chain_init(&c, 1795936772123LL, &err);
    add_record(f, &c);
    add_record(f, &c);

    /* the walk back reaches the first byte of the file */
    eci_chain_tail_check(f->buf, f->len, 1, NULL, 1, &t);
    snprintf(want, sizeof(want), "chain %s has no signed line", c.id);
    is_str(t.found, want, "a whole file of unsigned lines: found");
    ok(!t.checked && t.follows.seq == 2, "and its last line followed");

    free(f);
}


static void
test_two_findings(void)
{
    static const char  text[] = "{\"a\":1}\n{\"b\"";
    char              *buf;
    eci_chain_tail_t   t;

    /* an exact-size copy: nothing past the partial line is read */
    buf = tap_copy(text, sizeof(text) - 1);
    eci_chain_tail_check(buf, sizeof(text) - 1, 1, NULL, 0, &t);
    is_str(t.found, "the last line is not an audit line; a partial line at "
           "the end", "two findings, joined by \"; \"");
    free(buf);
}


static void
test_event_found(eci_chain_signer_t *s)
{
    size_t         n, i;
    json_t        *j;
    file_t        *f;
    size_t         hosts[3] = { 100, 63, 62 };
    eci_chain_t    c;
    eci_err_t      err;
    json_error_t   jerr;
    char           found[ECI_CHAIN_FOUND_MAX + 50];

    f = calloc(1, sizeof(file_t));
    eci_chain_init(&c, 1795936772123LL, &err);

    /* with a host of 3 bytes before it, the finding is written whole */
    n = add_event(f, &c, s, ECI_CHAIN_DISCONTINUITY, "gw1",
                  "chain x ends without its stop line");
    j = json_loadb(f->buf, n, 0, &jerr);
    is_str(json_string_value(json_object_get(j, "found")),
           "chain x ends without its stop line",
           "a discontinuity after a host says all it found");
    is_str(json_string_value(json_object_get(j, "host")), "gw1",
           "and the host");
    json_decref(j);

    /* and cut at ECI_CHAIN_FOUND_MAX bytes */
    memset(found, 'f', sizeof(found) - 1);
    found[sizeof(found) - 1] = '\0';
    f->len = 0;
    n = add_event(f, &c, s, ECI_CHAIN_DISCONTINUITY, "gw1", found);
    j = json_loadb(f->buf, n, 0, &jerr);
    is_int(strlen(json_string_value(json_object_get(j, "found"))),
           ECI_CHAIN_FOUND_MAX, "a longer finding is cut at %d bytes",
           ECI_CHAIN_FOUND_MAX);
    json_decref(j);

    /* a start line that follows nothing says so: "follows":null */
    f->len = 0;
    n = add_event(f, &c, s, ECI_CHAIN_START, NULL, NULL);
    j = json_loadb(f->buf, n, 0, &jerr);
    ok(j != NULL && json_is_null(json_object_get(j, "follows")),
       "a start line without a chain before it: valid JSON, follows null");
    json_decref(j);

    /* a host is cut to 63 bytes: 100 and 63 to 63, 62 written whole */
    for (i = 0; i < 3; i++) {
        memset(found, 'h', hosts[i]);
        found[hosts[i]] = '\0';
        f->len = 0;
        n = add_event(f, &c, s, ECI_CHAIN_START, found, NULL);
        j = json_loadb(f->buf, n, 0, &jerr);
        is_int(strlen(json_string_value(json_object_get(j, "host"))),
               hosts[i] < 63 ? hosts[i] : 63, "a host of %zu bytes: %zu "
               "written", hosts[i], hosts[i] < 63 ? hosts[i] : (size_t) 63);
        json_decref(j);
    }

    /* a buffer under ECI_CHAIN_EVENT_LINE_MAX: nothing written */
    f->len = FILE_MAX - (ECI_CHAIN_EVENT_LINE_MAX - 1);
    n = c.seq;
    is_int(add_event(f, &c, s, ECI_CHAIN_STOP, NULL, NULL), 0,
           "no event line into less than ECI_CHAIN_EVENT_LINE_MAX bytes");
    is_int(c.seq, n, "and the chain stays where it was");

    free(f);
}


/* the signer's pages are unmapped when it is freed (wiped before) */
static void
test_signer_free(void)
{
    long                 page;
    void                *at;
    eci_err_t            err;
    eci_chain_signer_t  *s;

    page = sysconf(_SC_PAGESIZE);
    s = eci_chain_signer_new(SEED, 64, &err);
    ok(s != NULL, "a signer");

    is_int(eci_chain_signer_lock(NULL), 0, "no signer: nothing to lock, 0");

    at = (void *) ((uintptr_t) s & ~((uintptr_t) page - 1));
    is_int(msync(at, page, MS_ASYNC), 0, "its page is mapped");

    eci_chain_signer_free(s);
    ok(msync(at, page, MS_ASYNC) == -1 && errno == ENOMEM,
       "and no more once it is freed");
}


int
main(void)
{
    eci_err_t              err;
    eci_chain_signer_t    *s;
    eci_chain_verifier_t  *v;

    s = eci_chain_signer_new(SEED, 64, &err);
    v = (s != NULL) ? eci_chain_signer_verifier(s, &err) : NULL;
    ok(s != NULL && v != NULL, "a signer and its verifier");

    test_window(s, v);
    test_no_signed_line();
    test_two_findings();
    test_event_found(s);
    test_signer_free();

    eci_chain_verifier_free(v);
    eci_chain_signer_free(s);

    return done_testing();
}
