/*
 * ngx_eci: the keystore's files: one read whole (within a cap), and one
 * replaced atomically.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "eci_keystore_int.h"


static int eci_ks_write_all(int fd, const unsigned char *p, size_t len);


/* the file at path, read whole as eci_ks_file_read() reads it */

int
eci_ks_file_load(const char *path, size_t max, eci_ks_file_check_pt check,
    unsigned char **out, size_t *outlen, eci_err_t *err)
{
    int  fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        eci_err_set(err, "\"%s\": cannot open: %s", path, strerror(errno));
        return -1;
    }

    rc = eci_ks_file_read(path, fd, max, check, out, outlen, err);
    (void) close(fd);

    return rc;
}


/*
 * Reads the rest of fd, at most max bytes, into a malloc()ed buffer;
 * check (if any) sees the file's fstat() first: that of the open file, so
 * nothing can swap the file between the check and the read.
 */

int
eci_ks_file_read(const char *path, int fd, size_t max,
    eci_ks_file_check_pt check, unsigned char **out, size_t *outlen,
    eci_err_t *err)
{
    size_t          len, size;
    ssize_t         n;
    struct stat     st;
    unsigned char  *buf;

    if (fstat(fd, &st) == -1) {
        eci_err_set(err, "\"%s\": cannot stat: %s", path, strerror(errno));
        return -1;
    }

    if (check != NULL && check(path, &st, err) != 0) {
        return -1;
    }

    if (st.st_size < 0 || (unsigned long long) st.st_size > max) {
        eci_err_set(err, "\"%s\": too large (%lld bytes, at most %zu)",
                    path, (long long) st.st_size, max);
        return -1;
    }

    /* one spare byte to notice a file that grows while being read */
    size = (size_t) st.st_size + 1;

    buf = malloc(size);
    if (buf == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        return -1;
    }

    len = 0;

    while (len < size) {
        n = read(fd, buf + len, size - len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            eci_err_set(err, "\"%s\": read failed: %s", path, strerror(errno));
            OPENSSL_cleanse(buf, len);
            free(buf);
            return -1;
        }

        if (n == 0) {
            break;
        }

        len += (size_t) n;
    }

    if (len == size) {
        eci_err_set(err, "\"%s\": changed while being read", path);
        OPENSSL_cleanse(buf, len);
        free(buf);
        return -1;
    }

    *out = buf;
    *outlen = len;

    return 0;
}


/*
 * Readers see either the old store or the new one, and a crash leaves
 * one of them on disk, never a torn file.
 */

int
eci_ks_file_replace(const char *path, const unsigned char *data, size_t len,
    eci_err_t *err)
{
    int           fd, dfd, rc;
    char         *tmp, *dir, *slash;
    size_t        plen;
    struct stat   st;

    static const char  suffix[] = ".tmp.XXXXXX";

    plen = strlen(path);

    tmp = malloc(plen + sizeof(suffix));
    dir = malloc(plen + 2);

    if (tmp == NULL || dir == NULL) {
        eci_err_set(err, "\"%s\": out of memory", path);
        free(tmp);
        free(dir);
        return -1;
    }

    memcpy(tmp, path, plen);
    memcpy(tmp + plen, suffix, sizeof(suffix));

    slash = strrchr(path, '/');

    if (slash == NULL) {
        memcpy(dir, ".", 2);

    } else if (slash == path) {
        memcpy(dir, "/", 2);

    } else {
        memcpy(dir, path, (size_t) (slash - path));
        dir[slash - path] = '\0';
    }

    rc = -1;

    /* mkstemp() opens with O_EXCL and mode 0600 */
    fd = mkstemp(tmp);
    if (fd == -1) {
        eci_err_set(err, "\"%s\": cannot create a temporary file in \"%s\": "
                    "%s", path, dir, strerror(errno));
        goto done;
    }

    (void) fcntl(fd, F_SETFD, FD_CLOEXEC);

    if (fchmod(fd, S_IRUSR | S_IWUSR) == -1) {
        eci_err_set(err, "\"%s\": cannot chmod: %s", tmp, strerror(errno));
        goto failed;
    }

    /*
     * root updating a store that belongs to someone else (say, the user
     * who runs eci-keytool on a schedule) keeps it theirs
     */
    if (geteuid() == 0 && stat(path, &st) == 0
        && fchown(fd, st.st_uid, st.st_gid) == -1)
    {
        /* not silently root's: its owner would lose the store */
        eci_err_set(err, "\"%s\": cannot give it the store's owner: %s",
                    tmp, strerror(errno));
        goto failed;
    }

    if (eci_ks_write_all(fd, data, len) != 0) {
        eci_err_set(err, "\"%s\": write failed: %s", tmp, strerror(errno));
        goto failed;
    }

    if (fsync(fd) == -1) {
        eci_err_set(err, "\"%s\": fsync failed: %s", tmp, strerror(errno));
        goto failed;
    }

    if (close(fd) == -1) {
        fd = -1;
        eci_err_set(err, "\"%s\": close failed: %s", tmp, strerror(errno));
        goto failed;
    }

    fd = -1;

    if (rename(tmp, path) == -1) {
        eci_err_set(err, "\"%s\": cannot rename \"%s\" over it: %s",
                    path, tmp, strerror(errno));
        goto failed;
    }

    /* the rename itself is durable only once the directory is synced */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd == -1) {
        eci_err_set(err, "\"%s\": written, but cannot open directory \"%s\" "
                    "to sync it: %s", path, dir, strerror(errno));
        goto done;
    }

    if (fsync(dfd) == -1) {
        eci_err_set(err, "\"%s\": written, but fsync of directory \"%s\" "
                    "failed: %s", path, dir, strerror(errno));
        (void) close(dfd);
        goto done;
    }

    (void) close(dfd);

    rc = 0;
    goto done;

failed:

    if (fd != -1) {
        (void) close(fd);
    }

    (void) unlink(tmp);

done:

    free(tmp);
    free(dir);

    return rc;
}


static int
eci_ks_write_all(int fd, const unsigned char *p, size_t len)
{
    ssize_t  n;

    while (len > 0) {
        n = write(fd, p, len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return -1;
        }

        p += n;
        len -= (size_t) n;
    }

    return 0;
}
