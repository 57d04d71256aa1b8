/*
 * jansson's allocator.  It is process-wide state, so one file of the core
 * (eci_jansson.c) is the only one that sets it, with two policies that
 * must not undo each other:
 *
 *   wipe   the keystore's keys pass through jansson, which copies them
 *          into its own heap: its free function wipes each chunk first.
 *          Installed for good by the first keystore read or written
 *          (eci_keystore.c), over jansson's default allocator only.
 *   arena  an ACL of 100,000 principals is millions of jansson values:
 *          while one is read (eci_acl_load.c), jansson allocates from
 *          blocks freed all at once, and the allocator found before (the
 *          wiping one, or the default) is put back after.
 *
 * Neither is thread-safe; the core reads keystores and ACLs in one thread
 * (nginx's configuration, a tool, a fuzzer).
 */

#ifndef ECI_JANSSON_H
#define ECI_JANSSON_H

#include "eci_common.h"

void eci_jansson_wipe_install(void);

void eci_jansson_arena_begin(void);
void eci_jansson_arena_end(void);

#endif /* ECI_JANSSON_H */
