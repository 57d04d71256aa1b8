/*
 * ngx_eci: the ACL's hash tables: principals and groups by name, and the
 * ACL's distinct permissions, interned so that a grant holds them as bits
 * and a check finds a permission's bit once.
 */

#include <stdlib.h>
#include <string.h>

#include "eci_acl_int.h"


static uint32_t eci_acl_hash(const char *s, size_t len);


/*
 * Distinct permissions are interned in a hash table, so an ACL with
 * thousands of them loads and checks in constant time per name (a list
 * walk cost 25 us a check with 20,000).  Grown by doubling; the old slots
 * stay in the arena.
 */

int
eci_acl_permission_intern(eci_acl_t *acl, size_t index)
{
    size_t     i, j, size;
    uint32_t  *slots, h;

    if (2 * acl->npermissions > acl->permission_mask) {
        size = (acl->permission_mask + 1) * 2;
        if (size < 16) {
            size = 16;
        }

        slots = eci_acl_alloc(acl, size * sizeof(uint32_t));
        if (slots == NULL) {
            return -1;
        }

        acl->permission_slots = slots;
        acl->permission_mask = size - 1;

        /* every name but the new one, again */
        for (j = 0; j < index; j++) {
            h = eci_acl_hash(acl->permissions[j].name,
                             acl->permissions[j].len);

            for (i = h & acl->permission_mask; slots[i] != 0;
                 i = (i + 1) & acl->permission_mask)
            {
                /* void */
            }

            slots[i] = (uint32_t) j + 1;
        }
    }

    h = eci_acl_hash(acl->permissions[index].name,
                     acl->permissions[index].len);

    for (i = h & acl->permission_mask; acl->permission_slots[i] != 0;
         i = (i + 1) & acl->permission_mask)
    {
        /* void */
    }

    acl->permission_slots[i] = (uint32_t) index + 1;

    return 0;
}


/*
 * The permission's index in the ACL's list; npermissions: not in it.
 */

size_t
eci_acl_permission_index(const eci_acl_t *acl, const char *permission)
{
    size_t                       i, len;
    uint32_t                     slot;
    const eci_acl_permission_t  *p;

    if (acl->permission_slots == NULL) {
        return acl->npermissions;
    }

    len = strlen(permission);

    for (i = eci_acl_hash(permission, len) & acl->permission_mask;
         (slot = acl->permission_slots[i]) != 0;
         i = (i + 1) & acl->permission_mask)
    {
        p = &acl->permissions[slot - 1];

        if (p->len == len && memcmp(p->name, permission, len) == 0) {
            return slot - 1;
        }
    }

    return acl->npermissions;
}


/* open addressing, linear probing, at most half full */

int
eci_acl_table_init(eci_acl_t *acl, eci_acl_table_t *t, size_t n)
{
    size_t  size;

    if (n >= UINT32_MAX / 4) {
        return -1;
    }

    size = 4;
    while (size < 2 * n) {
        size *= 2;
    }

    t->n = 0;
    t->mask = size - 1;

    t->slots = eci_acl_alloc(acl, size * sizeof(eci_acl_slot_t));
    if (t->slots == NULL) {
        return -1;
    }

    return 0;
}


int
eci_acl_table_insert(eci_acl_table_t *t, eci_acl_entry_t *e)
{
    size_t           i;
    uint32_t         hash;
    eci_acl_slot_t  *s;

    hash = eci_acl_hash(e->name, e->len);

    for (i = hash & t->mask; t->slots[i].entry != NULL;
         i = (i + 1) & t->mask)
    {
        s = &t->slots[i];

        if (s->hash == hash && s->entry->len == e->len
            && memcmp(s->entry->name, e->name, e->len) == 0)
        {
            return -1;
        }
    }

    t->slots[i].hash = hash;
    t->slots[i].entry = e;
    t->n++;

    return 0;
}


eci_acl_entry_t *
eci_acl_table_find(const eci_acl_table_t *t, const char *name, size_t len)
{
    size_t                 i;
    uint32_t               hash;
    eci_acl_entry_t       *e;
    const eci_acl_slot_t  *s;

    hash = eci_acl_hash(name, len);

    for (i = hash & t->mask; t->slots[i].entry != NULL;
         i = (i + 1) & t->mask)
    {
        s = &t->slots[i];

        if (s->hash != hash) {
            continue;
        }

        e = s->entry;

        if (e->len == len && memcmp(e->name, name, len) == 0) {
            return e;
        }
    }

    return NULL;
}


/*
 * FNV-1a with a final avalanche so that the low bits, which pick the
 * slot, depend on every byte.  The table is built from the trusted
 * configuration only; callers can probe it but not add to it.
 */

static uint32_t
eci_acl_hash(const char *s, size_t len)
{
    size_t    i;
    uint32_t  h;

    h = 2166136261u;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char) s[i];
        h *= 16777619u;
    }

    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;

    return h;
}
