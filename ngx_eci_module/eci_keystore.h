/*
 * The keystore: named ECI API keys, either sealed with AES-256-GCM under a
 * 32-byte master key, or (not recommended) a plain JSON file of mode 0600.
 *
 * Sealed file layout (all integers big-endian):
 *   offset 0   8 bytes  magic "ECIKSTR\0"
 *   offset 8   1 byte   format version (1)
 *   offset 9   1 byte   cipher id (1 = AES-256-GCM)
 *   offset 10  2 bytes  reserved, zero
 *   offset 12  12 bytes nonce (fresh random on every write)
 *   offset 24  ...      ciphertext of the JSON object {"name": "key", ...}
 *   last 16 bytes       GCM tag
 * The 24-byte header is the AAD, so changing any byte fails.
 *
 * Key material lives in memory that is mlock()ed and MADV_DONTDUMP where
 * the platform allows, and is wiped with OPENSSL_cleanse when freed.
 */

#ifndef ECI_KEYSTORE_H
#define ECI_KEYSTORE_H

#include "eci_common.h"

#define ECI_MASTER_KEY_LEN   32
#define ECI_KEY_NAME_MAX     64      /* [A-Za-z0-9._-]{1,64} */
#define ECI_KEY_VALUE_MAX    1024    /* printable ASCII, no spaces */
#define ECI_KEY_FPR_LEN      16      /* hex chars of SHA-256 shown */

/*
 * The names the module and the tools share, here only.  ECI_KEY_DEFAULT
 * is the key a location uses without eci_api_key, and the one eci-keytool
 * adds without a NAME.
 */
#define ECI_KEY_DEFAULT        "default"

/*
 * The keystore's own keys: never an ECI API key, never set by name.
 * audit-signing signs the audit chain (eci_chain.h); audit-chain keyed
 * the HMAC chain before it and is kept to verify old files.
 */
#define ECI_KEY_AUDIT_SIGNING  "audit-signing"
#define ECI_KEY_AUDIT_CHAIN    "audit-chain"
#define ECI_KEY_RESERVED       { ECI_KEY_AUDIT_SIGNING, ECI_KEY_AUDIT_CHAIN }

/* 1 when name is one of ECI_KEY_RESERVED */
int eci_key_reserved(const char *name);

typedef struct eci_keystore_s  eci_keystore_t;

typedef struct {
    const char     *name;
    const char     *value;       /* NUL-terminated, in protected memory */
    size_t          len;
    char            fingerprint[ECI_KEY_FPR_LEN + 1];  /* sha256 prefix */
} eci_key_t;

/*
 * master_path NULL: path is a plain JSON store, refused unless its mode is
 * 0600 or stricter.  Otherwise path is sealed and master_path holds the
 * master key: 32 raw bytes, or 64 hex digits with an optional newline.
 * Messages never contain key material.
 */
eci_keystore_t *eci_keystore_open(const char *path, const char *master_path,
    eci_err_t *err);

/*
 * The same from len bytes at data: sealed under the 32 bytes at master,
 * or, when master is NULL, a plain JSON store (no mode to check here).
 * name is used in messages in place of the path.
 */
eci_keystore_t *eci_keystore_open_buffer(const unsigned char *data,
    size_t len, const unsigned char master[ECI_MASTER_KEY_LEN],
    const char *name, eci_err_t *err);

/* a new, empty store (for eci-keytool) */
eci_keystore_t *eci_keystore_new(eci_err_t *err);

void eci_keystore_free(eci_keystore_t *ks);

/*
 * Locks the key memory again and keeps it out of core dumps: memory locks
 * are not inherited across fork(), so each nginx worker calls this.
 * 0, or -1 with errno (e.g. RLIMIT_MEMLOCK).
 */
int eci_keystore_lock(const eci_keystore_t *ks);

const eci_key_t *eci_keystore_get(const eci_keystore_t *ks,
    const char *name);

size_t eci_keystore_count(const eci_keystore_t *ks);
const eci_key_t *eci_keystore_at(const eci_keystore_t *ks, size_t i);

/* add or replace; -1 and err on a bad name or value */
int eci_keystore_set(eci_keystore_t *ks, const char *name,
    const char *value, size_t len, eci_err_t *err);
int eci_keystore_remove(eci_keystore_t *ks, const char *name);

/*
 * Seals ks under the master key in master_path and replaces path
 * atomically (temp file in the same directory, fsync, rename, fsync of
 * the directory), mode 0600.
 */
int eci_keystore_save(const eci_keystore_t *ks, const char *path,
    const char *master_path, eci_err_t *err);

/* reads a master key file; 0 or -1 and err */
int eci_master_key_read(const char *path,
    unsigned char key[ECI_MASTER_KEY_LEN], eci_err_t *err);

/* short hex SHA-256 fingerprint of arbitrary bytes */
void eci_fingerprint(const void *data, size_t len,
    char out[ECI_KEY_FPR_LEN + 1]);

#endif /* ECI_KEYSTORE_H */
