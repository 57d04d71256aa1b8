/*
 * ngx_eci: jansson's allocator, set here and nowhere else (eci_jansson.h
 * says why, and which policies).
 */

#include <malloc.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "eci_jansson.h"
#include "eci_acl_int.h"


static void eci_jansson_wipe_free(void *p);
static void *eci_jansson_arena_alloc(size_t n);
static void eci_jansson_arena_free(void *p);


/*
 * jansson copies every string it parses (and the lexer's buffers) into its
 * own heap, so without this a copy of each key would survive in freed
 * malloc() chunks.  The free function wipes a chunk before releasing it.
 *
 * This is process-global jansson state, which is why it is installed here
 * rather than by the caller; it is harmless for other parsing (the ACL,
 * the audit), only slower by a memset.  The size of a chunk comes from
 * malloc_usable_size() rather than from a header of our own: a header
 * would make it unsafe to free objects that jansson allocated with plain
 * malloc() before the functions were installed, and with the usable size
 * the two allocators are one and the same.  An allocator that some other
 * code installed is left alone.
 */

void
eci_jansson_wipe_install(void)
{
    json_malloc_t  m;
    json_free_t    f;

    json_get_alloc_funcs(&m, &f);

    if (m == malloc && f == free) {
        json_set_alloc_funcs(malloc, eci_jansson_wipe_free);
    }
}


static void
eci_jansson_wipe_free(void *p)
{
    if (p == NULL) {
        return;
    }

    OPENSSL_cleanse(p, malloc_usable_size(p));
    free(p);
}


/*
 * jansson allocates every value of a document separately and frees them one
 * by one: for an ACL of 100,000 principals that is millions of malloc() and
 * free() calls, a third of the load.  While an ACL is read, jansson
 * allocates from blocks like the ACL's own instead, all freed when the ACL
 * has been built (nothing of the document is kept).  jansson's allocator
 * is process-wide: it is swapped only for the duration of one load, which
 * runs in one thread (nginx's configuration, a tool, a fuzzer).
 */

/* jansson's values, in blocks of their own, freed once the ACL is built */
#define ECI_JANSSON_BLOCK   (1024 * 1024)

static eci_acl_block_t  *eci_jansson_blocks;
static json_malloc_t     eci_jansson_saved_malloc;
static json_free_t       eci_jansson_saved_free;


void
eci_jansson_arena_begin(void)
{
    json_get_alloc_funcs(&eci_jansson_saved_malloc, &eci_jansson_saved_free);
    json_set_alloc_funcs(eci_jansson_arena_alloc, eci_jansson_arena_free);
}


void
eci_jansson_arena_end(void)
{
    json_set_alloc_funcs(eci_jansson_saved_malloc, eci_jansson_saved_free);
    eci_acl_blocks_free(eci_jansson_blocks);
    eci_jansson_blocks = NULL;
}


static void *
eci_jansson_arena_alloc(size_t n)
{
    return eci_acl_block_alloc(&eci_jansson_blocks, n, ECI_JANSSON_BLOCK);
}


static void
eci_jansson_arena_free(void *p)
{
    /* all of it goes at once when the load ends */
}
