/*
 * ngx_eci: the sealed keystore: its master key read, its file opened and
 * checked, and its JSON sealed and unsealed with AES-256-GCM (OpenSSL EVP);
 * eci_keystore.h has the file layout.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "eci_keystore_int.h"


static int eci_ks_hex(int c);


/*
 * The master key file may be readable by its group: systemd credentials
 * and files shared with nginx's group are 0440.  Readable or writable by
 * others is refused, since then every local user could unseal the store
 * (or replace the key under nginx).
 */

int
eci_master_key_read(const char *path, unsigned char key[ECI_MASTER_KEY_LEN],
    eci_err_t *err)
{
    int             fd, hi, lo, rc;
    size_t          i, len;
    struct stat     st;
    unsigned char  *buf;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        eci_err_set(err, "master key file \"%s\": cannot open: %s", path,
                    strerror(errno));
        return -1;
    }

    if (fstat(fd, &st) == -1) {
        eci_err_set(err, "master key file \"%s\": cannot stat: %s", path,
                    strerror(errno));
        (void) close(fd);
        return -1;
    }

    if (!S_ISREG(st.st_mode)) {
        eci_err_set(err, "master key file \"%s\": not a regular file", path);
        (void) close(fd);
        return -1;
    }

    if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
        eci_err_set(err, "master key file \"%s\": must not be accessible by "
                    "others (mode %04o); chmod 400 it",
                    path, (unsigned) (st.st_mode & 07777));
        (void) close(fd);
        return -1;
    }

    if (st.st_size != ECI_MASTER_KEY_LEN
        && st.st_size != 2 * ECI_MASTER_KEY_LEN
        && st.st_size != 2 * ECI_MASTER_KEY_LEN + 1)
    {
        eci_err_set(err, "master key file \"%s\": expected 32 raw bytes or "
                    "64 hex digits, found %lld bytes",
                    path, (long long) st.st_size);
        (void) close(fd);
        return -1;
    }

    rc = eci_ks_file_read(path, fd, 2 * ECI_MASTER_KEY_LEN + 1, NULL, &buf,
                          &len, err);
    (void) close(fd);

    if (rc != 0) {
        return -1;
    }

    rc = -1;

    if (len == ECI_MASTER_KEY_LEN) {
        memcpy(key, buf, ECI_MASTER_KEY_LEN);
        rc = 0;
        goto done;
    }

    if (len == 2 * ECI_MASTER_KEY_LEN + 1 && buf[len - 1] != '\n') {
        eci_err_set(err, "master key file \"%s\": expected 32 raw bytes or "
                    "64 hex digits and a newline", path);
        goto done;
    }

    if (len != 2 * ECI_MASTER_KEY_LEN && len != 2 * ECI_MASTER_KEY_LEN + 1) {
        eci_err_set(err, "master key file \"%s\": changed while being read",
                    path);
        goto done;
    }

    for (i = 0; i < ECI_MASTER_KEY_LEN; i++) {
        hi = eci_ks_hex(buf[2 * i]);
        lo = eci_ks_hex(buf[2 * i + 1]);

        if (hi == -1 || lo == -1) {
            eci_err_set(err, "master key file \"%s\": expected 64 hex digits",
                        path);
            OPENSSL_cleanse(key, ECI_MASTER_KEY_LEN);
            goto done;
        }

        key[i] = (unsigned char) (hi << 4 | lo);
    }

    rc = 0;

done:

    OPENSSL_cleanse(buf, len);
    free(buf);

    return rc;
}


eci_keystore_t *
eci_ks_open_sealed(const char *path, const char *master_path, eci_err_t *err)
{
    size_t           len;
    unsigned char    key[ECI_MASTER_KEY_LEN];
    unsigned char   *buf;
    eci_keystore_t  *ks;

    if (eci_ks_file_load(path, ECI_KS_FILE_MAX, NULL, &buf, &len, err) != 0) {
        return NULL;
    }

    ks = NULL;

    /*
     * The header is checked before the master key is read, so that a
     * wrong file is reported as such even when the key file is bad too.
     */
    if (eci_ks_header_check(path, buf, len, err) != 0) {
        goto done;
    }

    if (eci_master_key_read(master_path, key, err) != 0) {
        goto done;
    }

    ks = eci_keystore_open_buffer(buf, len, key, path, err);
    OPENSSL_cleanse(key, sizeof(key));

done:

    /* ciphertext only, nothing to wipe */
    free(buf);

    return ks;
}


/* the checks of a sealed store that need no key */

int
eci_ks_header_check(const char *path, const unsigned char *buf, size_t len,
    eci_err_t *err)
{
    if (len < ECI_KS_MAGIC_LEN
        || memcmp(buf, ECI_KS_MAGIC, ECI_KS_MAGIC_LEN) != 0)
    {
        if (len > 0 && buf[0] == '{') {
            eci_err_set(err, "\"%s\": not a sealed keystore (it looks like "
                        "a plain JSON one); seal it with eci-keytool", path);

        } else {
            eci_err_set(err, "\"%s\": not a sealed keystore (bad magic)",
                        path);
        }

        return -1;
    }

    if (len < ECI_KS_HEADER_LEN) {
        eci_err_set(err, "\"%s\": sealed keystore truncated (%zu bytes)",
                    path, len);
        return -1;
    }

    if (buf[8] != ECI_KS_VERSION) {
        eci_err_set(err, "\"%s\": unsupported keystore format version %u "
                    "(this build reads version %d)",
                    path, (unsigned) buf[8], ECI_KS_VERSION);
        return -1;
    }

    if (buf[9] != ECI_KS_CIPHER_GCM) {
        eci_err_set(err, "\"%s\": unsupported keystore cipher id %u "
                    "(this build knows %d, AES-256-GCM)",
                    path, (unsigned) buf[9], ECI_KS_CIPHER_GCM);
        return -1;
    }

    /* nonzero reserved bytes are caught by the tag: the header is the AAD */

    if (len < ECI_KS_HEADER_LEN + ECI_KS_TAG_LEN) {
        eci_err_set(err, "\"%s\": sealed keystore truncated (%zu bytes)",
                    path, len);
        return -1;
    }

    return 0;
}


int
eci_ks_unseal(const char *path, const unsigned char *in, size_t len,
    const unsigned char *key, unsigned char **out, size_t *outlen,
    eci_err_t *err)
{
    int               n, total, rc;
    size_t            clen;
    unsigned char    *plain;
    EVP_CIPHER_CTX   *ctx;

    clen = len - ECI_KS_HEADER_LEN - ECI_KS_TAG_LEN;

    /* at least one byte: OpenSSL dislikes a zero-size malloc() */
    plain = malloc(clen + 1);
    if (plain == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        return -1;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        free(plain);
        return -1;
    }

    rc = -1;
    total = 0;

    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ECI_KS_NONCE_LEN,
                               NULL) != 1
        || EVP_DecryptInit_ex(ctx, NULL, NULL, key, in + 12) != 1
        || EVP_DecryptUpdate(ctx, NULL, &n, in, ECI_KS_HEADER_LEN) != 1)
    {
        eci_err_set(err, "\"%s\": cannot unseal: AES-256-GCM unavailable",
                    path);
        goto done;
    }

    if (EVP_DecryptUpdate(ctx, plain, &n, in + ECI_KS_HEADER_LEN, (int) clen)
        != 1)
    {
        goto failed;
    }

    total = n;

    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ECI_KS_TAG_LEN,
                            (void *) (in + len - ECI_KS_TAG_LEN)) != 1)
    {
        goto failed;
    }

    if (EVP_DecryptFinal_ex(ctx, plain + total, &n) != 1) {
        goto failed;
    }

    total += n;

    *out = plain;
    *outlen = (size_t) total;
    plain = NULL;
    rc = 0;
    goto done;

failed:

    eci_err_set(err, "\"%s\": cannot unseal: wrong master key or the file "
                "was modified", path);

done:

    EVP_CIPHER_CTX_free(ctx);

    if (plain != NULL) {
        OPENSSL_cleanse(plain, clen + 1);
        free(plain);
    }

    return rc;
}


int
eci_ks_seal(const unsigned char *plain, size_t len, const unsigned char *key,
    unsigned char **out, size_t *outlen, eci_err_t *err)
{
    int              n, total, rc;
    size_t           size;
    unsigned char   *buf;
    EVP_CIPHER_CTX  *ctx;

    if (len > ECI_KS_FILE_MAX - ECI_KS_HEADER_LEN - ECI_KS_TAG_LEN) {
        eci_err_set(err, "keystore too large to seal (%zu bytes)", len);
        return -1;
    }

    size = ECI_KS_HEADER_LEN + len + ECI_KS_TAG_LEN;

    buf = malloc(size);
    if (buf == NULL) {
        eci_err_set(err, "out of memory");
        return -1;
    }

    memcpy(buf, ECI_KS_MAGIC, ECI_KS_MAGIC_LEN);
    buf[8] = ECI_KS_VERSION;
    buf[9] = ECI_KS_CIPHER_GCM;
    buf[10] = 0;
    buf[11] = 0;

    /* a nonce must never repeat under one key: fresh on every write */
    if (RAND_bytes(buf + 12, ECI_KS_NONCE_LEN) != 1) {
        eci_err_set(err, "cannot get random bytes for the nonce");
        free(buf);
        return -1;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        eci_err_set(err, "out of memory");
        free(buf);
        return -1;
    }

    rc = -1;

    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ECI_KS_NONCE_LEN,
                               NULL) != 1
        || EVP_EncryptInit_ex(ctx, NULL, NULL, key, buf + 12) != 1
        || EVP_EncryptUpdate(ctx, NULL, &n, buf, ECI_KS_HEADER_LEN) != 1
        || EVP_EncryptUpdate(ctx, buf + ECI_KS_HEADER_LEN, &n, plain,
                             (int) len) != 1)
    {
        eci_err_set(err, "cannot seal: AES-256-GCM failed");
        goto done;
    }

    total = n;

    if (EVP_EncryptFinal_ex(ctx, buf + ECI_KS_HEADER_LEN + total, &n) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ECI_KS_TAG_LEN,
                               buf + size - ECI_KS_TAG_LEN) != 1)
    {
        eci_err_set(err, "cannot seal: AES-256-GCM failed");
        goto done;
    }

    *out = buf;
    *outlen = size;
    buf = NULL;
    rc = 0;

done:

    EVP_CIPHER_CTX_free(ctx);
    free(buf);

    return rc;
}


static int
eci_ks_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}
