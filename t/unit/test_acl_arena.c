/*
 * The ACL's arena (eci_arena.c): a request that fits the current block
 * exactly is served from it, aligned, zeroed, and a big one gets a block
 * of its own without ending the block being filled.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_acl_int.h"
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


int
main(void)
{
    test_exact_fit();
    test_alignment();
    test_big_request();

    return done_testing();
}
