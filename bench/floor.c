/*
 * bench/floor.c: what the audit contract costs on this machine by itself,
 * without nginx or the gateway: the floor under C - B.
 *
 *   floor DIR INTENT RESULT BODY [EXECS_PER_WRITE [MB]]
 *
 * INTENT, RESULT and BODY are the byte sizes of an exec's intent line,
 * result line and upstream body (make bench passes the ones of its C
 * round).  Per exec it times, with getrusage (user + system CPU):
 *
 *   crypto     the body's SHA-256 and the two lines' chain hashes
 *              (SHA-256 of the previous hash and the line), with the
 *              core's own eci_sha256 (OpenSSL's block
 *              functions, SHA-NI where the CPU has it);
 *   append     the two lines appended to a new file in DIR, EXECS_PER_WRITE
 *              execs per write(2) as a gateway's batch does, MB in all
 *              (new page-cache pages, as an audit file that grows takes);
 *   reserved   the same appends to a new file that keeps room allocated
 *              ahead as the gateway's audit writer does (fallocate(2)
 *              KEEP_SIZE, 8 MB once less than 4 MB is left; counted in);
 *   overwrite  the same writes again over the same file's cached pages
 *              (what the copy and the system call cost without new pages).
 *
 * Each is run 5 times; the medians are printed, and the floor: crypto
 * plus the appends into reserved room, as the gateway writes.  The file
 * is removed.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "eci_sha256.h"


#define RUNS  5


static double cpu_us(void);
static int cmp_double(const void *a, const void *b);
static double median(double *v, size_t n);
static void die(const char *what);


int
main(int argc, char **argv)
{
    int                 fd;
    char                path[4096];
    char               *buf;
    size_t              intent, result, body, per, bytes, total, i, r, n;
    size_t              writes;
    int                 noresv;
    off_t               end, reserved;
    double              t0, crypto[RUNS], append[RUNS], over[RUNS];
    double              resv[RUNS];
    unsigned char       md[ECI_SHA256_LEN];
    eci_sha256_t        c;

    if (argc < 5) {
        fprintf(stderr, "usage: floor DIR INTENT RESULT BODY "
                "[EXECS_PER_WRITE [MB]]\n");
        return 2;
    }

    intent = strtoul(argv[2], NULL, 10);
    result = strtoul(argv[3], NULL, 10);
    body = strtoul(argv[4], NULL, 10);
    per = (argc > 5) ? strtoul(argv[5], NULL, 10) : 8;
    total = ((argc > 6) ? strtoul(argv[6], NULL, 10) : 256) << 20;

    if (intent == 0 || result == 0 || per == 0 || total == 0) {
        fprintf(stderr, "floor: sizes must be positive\n");
        return 2;
    }

    bytes = per * (intent + result);
    writes = total / bytes;
    n = writes * per;          /* execs per run */

    buf = malloc(bytes + body + 64);
    if (buf == NULL) {
        die("malloc");
    }

    memset(buf, 'x', bytes + body + 64);

    noresv = 0;

    snprintf(path, sizeof(path), "%s/floor-%ld.tmp", argv[1],
             (long) getpid());

    for (r = 0; r < RUNS; r++) {

        /* crypto: what one exec hashes */
        t0 = cpu_us();
        for (i = 0; i < n; i++) {
            eci_sha256_init(&c);
            eci_sha256_update(&c, buf, body);
            eci_sha256_final(&c, md);
            eci_sha256(buf, 64 + intent, md);
            eci_sha256(buf, 64 + result, md);
            buf[i % 64] = (char) md[0];
        }
        crypto[r] = (cpu_us() - t0) / n;

        /* append: a new file grows by the batch's writes */
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
        if (fd == -1) {
            die(path);
        }

        t0 = cpu_us();
        for (i = 0; i < writes; i++) {
            if (write(fd, buf, bytes) != (ssize_t) bytes) {
                die("write");
            }
        }
        append[r] = (cpu_us() - t0) / n;

        /* overwrite: the same writes over the pages just written (not
         * through the O_APPEND descriptor: Linux appends every pwrite()
         * made through one) */
        close(fd);

        fd = open(path, O_WRONLY);
        if (fd == -1) {
            die(path);
        }

        t0 = cpu_us();
        for (i = 0; i < writes; i++) {
            if (pwrite(fd, buf, bytes, (off_t) (i * bytes))
                != (ssize_t) bytes)
            {
                die("pwrite");
            }
        }
        over[r] = (cpu_us() - t0) / n;

        close(fd);
        unlink(path);

        /* reserved: appends into room allocated ahead */
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
        if (fd == -1) {
            die(path);
        }

        end = 0;
        reserved = 0;
        t0 = cpu_us();
        for (i = 0; i < writes; i++) {
            if (!noresv && end + (4 << 20) > reserved) {
                if (fallocate(fd, FALLOC_FL_KEEP_SIZE, end, 8 << 20) != 0) {
                    noresv = 1;     /* this file system: as the gateway */
                }
                reserved = end + (8 << 20);
            }

            if (write(fd, buf, bytes) != (ssize_t) bytes) {
                die("write");
            }

            end += bytes;
        }
        resv[r] = (cpu_us() - t0) / n;

        close(fd);
        unlink(path);
    }


    printf("per exec (intent %zu + result %zu bytes, body %zu bytes; %zu "
           "execs a write, %zu MB a run; medians of %d runs, CPU time):\n",
           intent, result, body, per, total >> 20, RUNS);
    printf("  SHA-256 of the body + chain of both lines  %7.3f us\n",
           median(crypto, RUNS));
    printf("  append both lines to a growing file        %7.3f us\n",
           median(append, RUNS));
    printf("  the same, into room reserved ahead         %7.3f us%s\n",
           median(resv, RUNS),
           noresv ? " (no fallocate here: plain appends)" : "");
    printf("  the same writes over cached pages          %7.3f us\n",
           median(over, RUNS));
    /* the gateway appends into reserved room: that is its floor */
    printf("  floor of the contract (crypto + reserved)  %7.3f us\n",
           median(crypto, RUNS) + median(resv, RUNS));

    free(buf);

    return 0;
}


static double
cpu_us(void)
{
    struct rusage  ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        die("getrusage");
    }

    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6
           + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
median(double *v, size_t n)
{
    qsort(v, n, sizeof(double), cmp_double);

    return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static void
die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}
