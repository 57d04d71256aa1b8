/*
 * The local ACL, loaded once at configuration time and read-only after.
 *
 * Each principal has grants: its own entry, and the entry of every group
 * it lists.  A grant is a set of permissions, a set of report
 * distribution ids (absent: all, "*": all) and a set of override user ids
 * (absent: none, so overriding recipients is opt-in; "*": all).
 *
 * A request is allowed when one single grant has the permission AND
 * covers the report distribution id AND covers every override id; grants
 * are not combined, so a group that may override recipients does not
 * widen the ids another grant may run.  Without override ids, permission
 * and id are enough.
 *
 * A refusal reports the first thing that failed, in this order:
 *   ECI_ACL_UNKNOWN_PRINCIPAL  the principal is not in the ACL;
 *   ECI_ACL_NO_PERMISSION      no grant has the permission;
 *   ECI_ACL_ID_DENIED          no grant with the permission covers the id;
 *   ECI_ACL_OVERRIDE_DENIED    no grant with the permission and the id
 *                              covers all the override ids.  *denied is
 *                              the first override id that no such grant
 *                              covers; when each id is covered by some
 *                              grant but none covers all of them, it is
 *                              the first id refused by the grant that
 *                              covers the longest prefix of the list.
 *
 * Principals are matched byte for byte (case-sensitive) through an open
 * addressing hash table; id lists are sorted for binary search.  All
 * memory comes from one arena, freed at once by eci_acl_free().
 *
 * A table of 100,000 principals does not stay in the CPU's caches, and a
 * lookup then waits for each dependent read in turn.  So the slots keep
 * the hash (a probe reads no entry but the one that matches), an entry
 * keeps its name inline and is followed in the arena by its id lists and
 * groups (neighbouring cache lines, mostly the same page), and a grant's
 * permissions are bits over the ACL's own list of distinct permissions.
 */

#include <stdlib.h>
#include <string.h>

#include "eci_acl.h"
#include "eci_acl_int.h"


static int32_t eci_acl_override_denied(const eci_acl_entry_t *e,
    const char *permission, size_t index, int32_t id, const int32_t *ids,
    size_t n);


void
eci_acl_free(eci_acl_t *acl)
{
    if (acl == NULL) {
        return;
    }

    eci_acl_blocks_free(acl->blocks);
    free(acl);
}


size_t
eci_acl_principal_count(const eci_acl_t *acl)
{
    return acl->principals.n;
}


eci_acl_rc_t
eci_acl_check(const eci_acl_t *acl, const char *principal, size_t plen,
    const char *permission, int32_t id, const int32_t *ids, size_t n,
    int32_t *denied)
{
    return eci_acl_check_key(acl, principal, plen, permission, id, ids, n,
                             denied, NULL);
}


eci_acl_rc_t
eci_acl_check_key(const eci_acl_t *acl, const char *principal, size_t plen,
    const char *permission, int32_t id, const int32_t *ids, size_t n,
    int32_t *denied, const char **api_key)
{
    eci_acl_rc_t            rc;
    const eci_acl_grant_t  *allowed;
    int                     have_permission, have_id;
    size_t                  i, k, index;
    const eci_acl_grant_t  *g;
    const eci_acl_entry_t  *e;

    e = eci_acl_table_find(&acl->principals, principal, plen);
    if (e == NULL) {
        return ECI_ACL_UNKNOWN_PRINCIPAL;
    }

    index = eci_acl_permission_index(acl, permission);
    if (index == acl->npermissions) {
        /* no grant of the ACL has it */
        return ECI_ACL_NO_PERMISSION;
    }

    permission = acl->permissions[index].name;

    if (e->index != NULL) {
        /* many groups: one row of them, not one group after another */
        allowed = NULL;
        rc = eci_acl_check_indexed(e, permission, index, id, ids, n, denied,
                                   &allowed);

        if (rc == ECI_ACL_ALLOW && api_key != NULL) {
            *api_key = allowed->api_key;
        }

        return rc;
    }

    have_permission = 0;
    have_id = 0;

    for (k = 0; k <= e->ngroups; k++) {
        g = eci_acl_entry_grant(e, k);

        if (!eci_acl_grant_has(g, permission, index)) {
            continue;
        }

        have_permission = 1;

        if (!eci_acl_ids_cover(&g->report_ids, id)) {
            continue;
        }

        have_id = 1;

        for (i = 0; i < n; i++) {
            if (!eci_acl_ids_cover(&g->override_ids, ids[i])) {
                break;
            }
        }

        if (i == n) {
            if (api_key != NULL) {
                *api_key = g->api_key;
            }

            return ECI_ACL_ALLOW;
        }
    }

    if (!have_permission) {
        return ECI_ACL_NO_PERMISSION;
    }

    if (!have_id) {
        return ECI_ACL_ID_DENIED;
    }

    if (denied != NULL) {
        *denied = eci_acl_override_denied(e, permission, index, id, ids,
                                          n);
    }

    return ECI_ACL_OVERRIDE_DENIED;
}


/* see the comment at the top of the file; n > 0, and no grant allows all */

static int32_t
eci_acl_override_denied(const eci_acl_entry_t *e, const char *permission,
    size_t index, int32_t id, const int32_t *ids, size_t n)
{
    size_t                  i, k, best;
    const eci_acl_grant_t  *g;

    for (i = 0; i < n; i++) {
        for (k = 0; k <= e->ngroups; k++) {
            g = eci_acl_entry_grant(e, k);

            if (eci_acl_grant_has(g, permission, index)
                && eci_acl_ids_cover(&g->report_ids, id)
                && eci_acl_ids_cover(&g->override_ids, ids[i]))
            {
                break;
            }
        }

        if (k > e->ngroups) {
            return ids[i];
        }
    }

    best = 0;

    for (k = 0; k <= e->ngroups; k++) {
        g = eci_acl_entry_grant(e, k);

        if (!eci_acl_grant_has(g, permission, index)
            || !eci_acl_ids_cover(&g->report_ids, id))
        {
            continue;
        }

        for (i = 0; i < n; i++) {
            if (!eci_acl_ids_cover(&g->override_ids, ids[i])) {
                break;
            }
        }

        if (i > best && i < n) {
            best = i;
        }
    }

    return ids[best];
}


int
eci_acl_allow_duplicate(const eci_acl_t *acl, const char *p, size_t plen)
{
    size_t                  k;
    const eci_acl_entry_t  *e;

    e = eci_acl_table_find(&acl->principals, p, plen);
    if (e == NULL) {
        return 0;
    }

    for (k = 0; k <= e->ngroups; k++) {
        if (eci_acl_entry_grant(e, k)->allow_duplicate) {
            return 1;
        }
    }

    return 0;
}


const char *
eci_acl_rc_text(eci_acl_rc_t rc)
{
    switch (rc) {

    case ECI_ACL_ALLOW:
        return "allowed";

    case ECI_ACL_UNKNOWN_PRINCIPAL:
        return "principal is not in the ACL";

    case ECI_ACL_NO_PERMISSION:
        return "principal lacks the permission";

    case ECI_ACL_ID_DENIED:
        return "report distribution id is not allowed for the principal";

    case ECI_ACL_OVERRIDE_DENIED:
        return "override user id is not allowed for the principal";
    }

    return "unknown ACL result";
}


/* k == 0: the principal's own entry; k >= 1: its group k - 1 */

const eci_acl_grant_t *
eci_acl_entry_grant(const eci_acl_entry_t *e, size_t k)
{
    return (k == 0) ? &e->grant : &e->groups[k - 1]->grant;
}


/* permission is the ACL's copy, index its place in the ACL's list */

int
eci_acl_grant_has(const eci_acl_grant_t *g, const char *permission,
    size_t index)
{
    size_t  i;

    if (index < ECI_ACL_PERMISSION_BITS) {
        return (g->permission_bits >> index) & 1;
    }

    for (i = 0; i < g->npermissions; i++) {
        if (g->permissions[i] == permission) {
            return 1;
        }
    }

    return 0;
}


int
eci_acl_ids_cover(const eci_acl_ids_t *ids, int32_t id)
{
    size_t  lo, hi, mid;

    if (ids->all) {
        return 1;
    }

    lo = 0;
    hi = ids->n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (ids->ids[mid] == id) {
            return 1;
        }

        if (ids->ids[mid] < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}



size_t
eci_acl_group_count(const eci_acl_t *acl)
{
    return acl->groups.n;
}


int
eci_acl_principal_next(const eci_acl_t *acl, size_t *cursor,
    const char **name, size_t *len)
{
    const eci_acl_table_t  *t;

    t = &acl->principals;

    if (t->slots == NULL) {
        return 0;
    }

    while (*cursor <= t->mask) {
        if (t->slots[*cursor].entry != NULL) {
            *name = t->slots[*cursor].entry->name;
            *len = t->slots[*cursor].entry->len;
            (*cursor)++;
            return 1;
        }

        (*cursor)++;
    }

    return 0;
}


size_t
eci_acl_grants(const eci_acl_t *acl, const char *p, size_t plen,
    eci_acl_grant_info_t *out, size_t cap)
{
    size_t                  k;
    const eci_acl_grant_t  *g;
    const eci_acl_entry_t  *e;
    eci_acl_grant_info_t   *o;

    e = eci_acl_table_find(&acl->principals, p, plen);
    if (e == NULL) {
        return 0;
    }

    for (k = 0; k <= e->ngroups && k < cap; k++) {
        g = eci_acl_entry_grant(e, k);
        o = &out[k];

        o->group = (k == 0) ? NULL : e->groups[k - 1]->name;
        o->group_len = (k == 0) ? 0 : e->groups[k - 1]->len;
        o->permissions = (const char *const *) g->permissions;
        o->npermissions = g->npermissions;
        o->all_ids = g->report_ids.all;
        o->ids = g->report_ids.ids;
        o->nids = g->report_ids.n;
        o->all_overrides = g->override_ids.all;
        o->overrides = g->override_ids.ids;
        o->noverrides = g->override_ids.n;
        o->allow_duplicate = g->allow_duplicate;
    }

    return e->ngroups + 1;
}


size_t
eci_acl_api_keys(const eci_acl_t *acl, const char **names, size_t cap)
{
    size_t                  i, j, n, t;
    const char             *name;
    const eci_acl_table_t  *tables[2];

    tables[0] = &acl->principals;
    tables[1] = &acl->groups;

    n = 0;

    for (t = 0; t < 2; t++) {
        if (tables[t]->slots == NULL) {
            continue;
        }

        for (i = 0; i <= tables[t]->mask; i++) {
            if (tables[t]->slots[i].entry == NULL) {
                continue;
            }

            name = tables[t]->slots[i].entry->grant.api_key;

            if (name == NULL) {
                continue;
            }

            for (j = 0; j < n && strcmp(names[j], name) != 0; j++) {
                /* void */
            }

            if (j == n && n < cap) {
                names[n++] = name;
            }
        }
    }

    return n;
}
