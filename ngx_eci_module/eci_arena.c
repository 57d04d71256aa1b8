/*
 * ngx_eci: the ACL's arena.  An ACL of 100,000 principals is millions of
 * small pieces that live exactly as long as the ACL: they come from a list
 * of blocks, freed at once with it (eci_acl_free()), as jansson's values
 * are while an ACL is read (eci_jansson.c).
 */

#include <stdlib.h>
#include <string.h>

#include "eci_acl_int.h"


#define ECI_ACL_BLOCK_SIZE   (64 * 1024)
#define ECI_ACL_ALIGN        16


struct eci_acl_block_s {
    eci_acl_block_t  *next;
    size_t            size;
    size_t            used;
};

#define ECI_ACL_BLOCK_HDR                                                    \
    ((sizeof(eci_acl_block_t) + ECI_ACL_ALIGN - 1) & ~(ECI_ACL_ALIGN - 1))


/* zeroed memory that lives as long as the ACL */

void *
eci_acl_alloc(eci_acl_t *acl, size_t size)
{
    void  *p;

    p = eci_acl_block_alloc(&acl->blocks, size, ECI_ACL_BLOCK_SIZE);

    return (p != NULL) ? memset(p, 0, size) : NULL;
}


/*
 * Memory from a list of blocks, freed all at once with the list; big
 * requests get a block of their own.
 */

void *
eci_acl_block_alloc(eci_acl_block_t **blocks, size_t size,
    size_t block_size)
{
    size_t            bsize;
    eci_acl_block_t  *b;

    size = (size + ECI_ACL_ALIGN - 1) & ~((size_t) ECI_ACL_ALIGN - 1);

    b = *blocks;

    if (b == NULL || b->size - b->used < size) {
        bsize = (size > block_size / 4) ? size : block_size;

        b = malloc(ECI_ACL_BLOCK_HDR + bsize);
        if (b == NULL) {
            return NULL;
        }

        b->size = bsize;
        b->used = 0;

        if (bsize == size && *blocks != NULL) {
            /* keep filling the current block with small requests */
            b->next = (*blocks)->next;
            (*blocks)->next = b;

        } else {
            b->next = *blocks;
            *blocks = b;
        }
    }

    b->used += size;

    return (char *) b + ECI_ACL_BLOCK_HDR + b->used - size;
}


void
eci_acl_blocks_free(eci_acl_block_t *blocks)
{
    eci_acl_block_t  *b, *next;

    for (b = blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
}
