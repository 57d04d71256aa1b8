/*
 * A stand-in for the OOM killer in t/109-audit-pressure.t: preloaded into
 * nginx, it lets the first writev(2) of audit lines (a regular file, the
 * first byte '{') that finds the file named by $ECI_KILLWRITE write half
 * of its last line, then kills the process with SIGKILL, as if the killer
 * had come in the middle of the write.  The file is removed first, so it
 * happens once.  Test code only: it is never built into the module.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static char  trigger[4096];


__attribute__((constructor))
static void
killwrite_init(void)
{
    const char  *t;

    t = getenv("ECI_KILLWRITE");

    if (t != NULL && strlen(t) < sizeof(trigger)) {
        strcpy(trigger, t);
    }
}


ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
    struct stat  st;

    static ssize_t  (*real)(int, const struct iovec *, int);

    if (real == NULL) {
        real = (ssize_t (*)(int, const struct iovec *, int))
               dlsym(RTLD_NEXT, "writev");
    }

    if (trigger[0] != '\0' && iovcnt > 0 && iov[0].iov_len > 1
        && ((const char *) iov[0].iov_base)[0] == '{'
        && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
        && unlink(trigger) == 0)
    {
        if (iovcnt > 1) {
            (void) real(fd, iov, iovcnt - 1);
        }

        (void) write(fd, iov[iovcnt - 1].iov_base,
                     iov[iovcnt - 1].iov_len / 2);

        kill(getpid(), SIGKILL);
    }

    return real(fd, iov, iovcnt);
}
