/*
 * The keystore's parts, shared by its files (eci_keystore.c: the store;
 * eci_seal.c: the master key and the sealed file; eci_file.c: reading a
 * file and replacing one atomically).  Not for the adapter or the tools:
 * they use eci_keystore.h.
 */

#ifndef ECI_KEYSTORE_INT_H
#define ECI_KEYSTORE_INT_H

#include <sys/stat.h>

#include "eci_keystore.h"


#define ECI_KS_MAGIC        "ECIKSTR\0"
#define ECI_KS_MAGIC_LEN    8
#define ECI_KS_VERSION      1
#define ECI_KS_CIPHER_GCM   1
#define ECI_KS_NONCE_LEN    12
#define ECI_KS_HEADER_LEN   24
#define ECI_KS_TAG_LEN      16

/*
 * A store is a handful of keys; the cap only keeps a wrong path (a log
 * file, a device) from being read whole into memory.
 */
#define ECI_KS_FILE_MAX     (4 * 1024 * 1024)


/* eci_seal.c */
eci_keystore_t *eci_ks_open_sealed(const char *path,
    const char *master_path, eci_err_t *err);
int eci_ks_header_check(const char *path, const unsigned char *buf,
    size_t len, eci_err_t *err);
int eci_ks_unseal(const char *path, const unsigned char *in, size_t len,
    const unsigned char *key, unsigned char **out, size_t *outlen,
    eci_err_t *err);
int eci_ks_seal(const unsigned char *plain, size_t len,
    const unsigned char *key, unsigned char **out, size_t *outlen,
    eci_err_t *err);

/* eci_file.c */

/* what a file must be, beyond its size, before it is read: 0 or -1 */
typedef int (*eci_ks_file_check_pt)(const char *path, const struct stat *st,
    eci_err_t *err);

int eci_ks_file_load(const char *path, size_t max, eci_ks_file_check_pt check,
    unsigned char **out, size_t *outlen, eci_err_t *err);
int eci_ks_file_read(const char *path, int fd, size_t max,
    eci_ks_file_check_pt check, unsigned char **out, size_t *outlen,
    eci_err_t *err);
int eci_ks_file_replace(const char *path, const unsigned char *data,
    size_t len, eci_err_t *err);

#endif /* ECI_KEYSTORE_INT_H */
