/*
 * The ACL's arena (eci_arena.c): a request that fits the current block
 * exactly is served from it, aligned, and a big one gets a block of its
 * own without ending the block being filled.  jansson allocates from
 * such blocks only while an ACL is read (eci_jansson.c): its allocator is
 * the one installed before, the keystore's wiping free, after every load.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_acl.h"
#include "eci_acl_int.h"
#include "eci_jansson.h"
#include "tap.h"


#define BLOCK  256


static void
test_exact_fit(void)
{
    int               i, together;
    char             *p[4], *c;
    eci_acl_block_t  *blocks;

    blocks = NULL;
    together = 1;

    /* four quarter blocks: the last fits the room left exactly */
    for (i = 0; i < 4; i++) {
        p[i] = eci_acl_block_alloc(&blocks, BLOCK / 4, BLOCK);

        if (p[i] == NULL || (i > 0 && p[i] != p[i - 1] + BLOCK / 4)) {
            together = 0;
        }
    }

    ok(together, "four quarter-block requests fill one block, the last "
       "fitting its room exactly");

    c = eci_acl_block_alloc(&blocks, 1, BLOCK);
    ok(c != NULL && (c < p[0] || c >= p[0] + BLOCK),
       "the next request, with no room left, comes from a new block");

    eci_acl_blocks_free(blocks);
}


static void
test_alignment(void)
{
    int               i, aligned, apart;
    char             *p, *prev;
    eci_acl_block_t  *blocks;

    blocks = NULL;
    prev = NULL;
    aligned = 1;
    apart = 1;

    for (i = 1; i <= 15; i++) {
        p = eci_acl_block_alloc(&blocks, (size_t) i, BLOCK);

        if (p == NULL || ((uintptr_t) p & 15) != 0) {
            aligned = 0;
        }

        if (prev != NULL && p != prev + 16) {
            apart = 0;
        }

        prev = p;
    }

    ok(aligned, "requests of 1 to 15 bytes are 16-byte aligned");
    ok(apart, "and take 16 bytes each from one block");

    eci_acl_blocks_free(blocks);
}


static void
test_big_request(void)
{
    char             *a, *big, *b;
    eci_acl_block_t  *blocks;

    blocks = NULL;

    a = eci_acl_block_alloc(&blocks, 16, BLOCK);
    big = eci_acl_block_alloc(&blocks, BLOCK, BLOCK);
    b = eci_acl_block_alloc(&blocks, 16, BLOCK);

    ok(a != NULL && big != NULL && b != NULL, "small, big, small");
    ok(b == a + 16,
       "a request bigger than a quarter block does not end the block "
       "being filled");

    memset(a, 0, 16);
    memset(b, 0, 16);
    memset(big, 0x5a, BLOCK);
    ok(a[16 - 1] == 0 && b[0] == 0,
       "the big request has room of its own");

    eci_acl_blocks_free(blocks);
}


static void
test_jansson_restored(void)
{
    int             i;
    json_t         *j;
    eci_err_t       err;
    eci_acl_t      *acl;
    json_free_t     f0, f1;
    json_malloc_t   m0, m1;
    const char     *docs[] = {
        "{\"principals\": {\"p\": {\"permissions\": "
        "[\"DistributedReportsSettings (Manage)\"]}}}",
        "{\"principals\": {\"p\": {\"colour\": 1}}}",
        "{\"principals\": ",
    };

    eci_jansson_wipe_install();
    json_get_alloc_funcs(&m0, &f0);

    for (i = 0; i < 3; i++) {
        acl = eci_acl_load_buffer(docs[i], strlen(docs[i]), "acl.json",
                                  &err);
        json_get_alloc_funcs(&m1, &f1);
        ok(m1 == m0 && f1 == f0, "after %s ACL load jansson allocates as "
           "before it (the wiping free)",
           i == 0 ? "a good" : i == 1 ? "a refused" : "a truncated");
        eci_acl_free(acl);
    }

    /* and a value made afterwards lives on after another load */
    j = json_string("after");
    acl = eci_acl_load_buffer(docs[0], strlen(docs[0]), "acl.json", &err);
    ok(j != NULL && strcmp(json_string_value(j), "after") == 0,
       "a value made between loads is intact after the next load");
    json_decref(j);
    eci_acl_free(acl);
}


int
main(void)
{
    test_exact_fit();
    test_alignment();
    test_big_request();
    test_jansson_restored();

    return done_testing();
}
