/*
 * A signed line when OpenSSL runs out of memory while it signs (issue 18:
 * mutants of eci_chain_sign() that take a failed signature for a good one
 * survived).  OpenSSL allocates through CRYPTO_malloc(), not through the
 * calls faults.h wraps, so this test gives OpenSSL allocators of its own,
 * before anything else allocates, and fails each allocation in turn.
 * Each event line is then either not written (0, the chain unchanged) or
 * written with a signature that verifies.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "eci_chain.h"
#include "tap.h"


#define SEED  \
    "9d61b19deffd5a60ba844af492ec2cc4" "4449c5697b326919703bac031cae7f60"


static long  oom_at = -1;       /* the allocation to fail; -1: none */
static long  oom_calls;


static void *
oom_malloc(size_t n, const char *file, int line)
{
    if (oom_at >= 0 && oom_calls++ == oom_at) {
        return NULL;
    }

    return malloc(n);
}


static void *
oom_realloc(void *p, size_t n, const char *file, int line)
{
    if (oom_at >= 0 && oom_calls++ == oom_at) {
        return NULL;
    }

    return realloc(p, n);
}


static void
oom_free(void *p, const char *file, int line)
{
    free(p);
}


int
main(void)
{
    long                   at;
    size_t                 n;
    unsigned               failed, bad;
    eci_err_t              err;
    eci_chain_t            c, before;
    eci_chain_line_t       l;
    eci_chain_signer_t    *s;
    eci_chain_event_t      ev;
    eci_chain_verifier_t  *v;
    static char            buf[ECI_CHAIN_EVENT_LINE_MAX];

    ok(CRYPTO_set_mem_functions(oom_malloc, oom_realloc, oom_free) == 1,
       "OpenSSL allocates through the test's functions");

    s = eci_chain_signer_new(SEED, 64, &err);
    v = (s != NULL) ? eci_chain_signer_verifier(s, &err) : NULL;
    ok(s != NULL && v != NULL, "a signer and its verifier");
    ok(eci_chain_init(&c, 1795936772123LL, &err) == 0, "a chain");

    memset(&ev, 0, sizeof(ev));
    ev.event = ECI_CHAIN_CHECKPOINT;
    ev.time_ms = 1795936772123LL;

    failed = 0;
    bad = 0;

    for (at = 0; at < 1000; at++) {
        before = c;
        oom_calls = 0;
        oom_at = at;
        n = eci_chain_event_write(&c, s, &ev, buf, sizeof(buf));
        oom_at = -1;

        if (n == 0) {
            failed++;
            if (memcmp(&c, &before, sizeof(c)) != 0) {
                bad++;
            }

            continue;
        }

        if (eci_chain_line_parse(buf, n, &l) != 0 || !l.is_signed
            || l.seq != before.seq + 1
            || !eci_chain_line_signed_by(buf, &l, v))
        {
            bad++;
        }

        if (oom_calls <= at) {
            break;      /* no allocation failed: all were tried */
        }
    }

    ok(failed > 0, "signing failed for %u of the %ld allocations", failed,
       at);
    ok(at < 1000, "and succeeded once none failed");
    is_int(bad, 0, "each line is either not written, the chain unchanged, "
           "or its signature verifies");

    eci_chain_verifier_free(v);
    eci_chain_signer_free(s);

    return done_testing();
}
