/*
 * ngx_eci: the right to write to an audit file.
 *
 * A file's lines are written by one process at a time, the one holding
 * the right to the file: taken and given back under the zone's lock, but
 * held without it, so a write that hangs (a pipe no one reads, a dead NFS
 * server) stops only the process that makes it, as access_log does.  If
 * that process dies holding it, the next one recovers the chain from the
 * file's end.  Syslog lines are sent without blocking, under the lock.
 */

#include "ngx_http_eci_module.h"


/* the most a dead writer can have left unaccounted: a batch, or a line */
#define NGX_HTTP_ECI_RECOVER_MAX  (4 * 1024 * 1024)


static void ngx_http_eci_audit_linked(ngx_http_eci_audit_t *audit,
    ngx_uint_t linked);
static ssize_t ngx_http_eci_audit_read_back(ngx_http_eci_audit_t *audit,
    ngx_file_info_t *wfi, u_char *buf, off_t len, off_t from);
static void ngx_http_eci_audit_recover(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit, ngx_pid_t pid, off_t from);


/*
 * The right to write to an audit file.  NGX_OK: held (for syslog: the
 * zone's lock is); NGX_BUSY: another live process holds it; NGX_DECLINED:
 * the target is no longer configured (its node went to another).
 */
ngx_int_t
ngx_http_eci_audit_acquire(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit)
{
    off_t                       from;
    ngx_pid_t                   pid;
    ngx_file_info_t             fi;
    ngx_http_eci_chain_node_t  *node;

    node = audit->node;

    ngx_shmtx_lock(&emcf->shpool->mutex);

    if (node->serial != audit->serial) {
        ngx_shmtx_unlock(&emcf->shpool->mutex);
        return NGX_DECLINED;
    }

    if (audit->syslog != NULL) {
        return NGX_OK;
    }

    pid = node->writer;

    /* EPERM: alive, as another user */
    if (pid != 0 && pid != ngx_pid
        && (kill(pid, 0) == 0 || ngx_errno != NGX_ESRCH))
    {
        node->busy++;
        ngx_shmtx_unlock(&emcf->shpool->mutex);
        return NGX_BUSY;
    }

    node->writer = ngx_pid;

    if (pid == 0) {
        node->inflight_chain = node->chain;
        node->inflight_signed = node->signed_seq;
        node->inflight_started = node->started;
    }

    /* nothing of this holder's is in the file before it knows the size */
    from = node->inflight_at;
    node->inflight_at = -1;

    ngx_shmtx_unlock(&emcf->shpool->mutex);

    if (pid != 0) {
        ngx_http_eci_audit_recover(emcf, audit, pid, from);
    }

    /* the size marks where this holder's lines begin; nlink 0: deleted */
    if (ngx_fd_info(audit->file->fd, &fi) != NGX_FILE_ERROR
        && S_ISREG(fi.st_mode))
    {
        node->inflight_at = ngx_file_size(&fi);
        ngx_http_eci_audit_linked(audit, fi.st_nlink > 0);
    }

    return NGX_OK;
}


/* a deleted file is said once, counted, and written to no more */
static void
ngx_http_eci_audit_linked(ngx_http_eci_audit_t *audit, ngx_uint_t linked)
{
    if (linked) {
        audit->deleted = 0;
        return;
    }

    if (audit->deleted) {
        return;
    }

    audit->deleted = 1;
    audit->ndeleted++;

    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                  "eci: audit file \"%V\" was deleted; no line is "
                  "written to it until nginx reopens it "
                  "(nginx -s reopen)", &audit->name);
}


/* gives the right back, with what this process counted while it held it */
void
ngx_http_eci_audit_release(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit)
{
    ngx_http_eci_chain_node_t  *node;

    node = audit->node;

    if (audit->syslog == NULL) {
        ngx_shmtx_lock(&emcf->shpool->mutex);
    }

    node->written += audit->nwritten;
    node->failed += audit->nfailed;
    node->deleted += audit->ndeleted;
    audit->nwritten = 0;
    audit->nfailed = 0;
    audit->ndeleted = 0;

    if (audit->syslog == NULL) {
        node->inflight_chain = node->chain;
        node->inflight_signed = node->signed_seq;
        node->inflight_started = node->started;
        node->writer = 0;
    }

    ngx_shmtx_unlock(&emcf->shpool->mutex);
}


/*
 * Reads what the descriptor (opened to append only) wrote: through the
 * file's name, if it is still the same file, or through /proc.
 */
static ssize_t
ngx_http_eci_audit_read_back(ngx_http_eci_audit_t *audit,
    ngx_file_info_t *wfi, u_char *buf, off_t len, off_t from)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_uint_t       i;
    ngx_file_info_t  fi;
    u_char           proc[64];

    for (i = 0; i < 2; i++) {
        if (i == 0) {
            fd = ngx_open_file(audit->name.data, NGX_FILE_RDONLY,
                               NGX_FILE_OPEN, 0);

        } else {
            ngx_sprintf(proc, "/proc/self/fd/%d%Z", audit->file->fd);
            fd = ngx_open_file(proc, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        }

        if (fd == NGX_INVALID_FILE) {
            continue;
        }

        n = -1;

        if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR
            && fi.st_ino == wfi->st_ino && fi.st_dev == wfi->st_dev)
        {
            n = pread(fd, buf, (size_t) len, from);
        }

        (void) ngx_close_file(fd);

        if (n >= 0) {
            return n;
        }
    }

    return -1;
}


/*
 * The process that held the file died while it held it (the OOM killer):
 * the lines it wrote whole after the size it saw are the chain's, a
 * partial last line is cut, and a signed discontinuity line says so.
 * The chain goes on from there, so verification stays truthful.
 */
static void
ngx_http_eci_audit_recover(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit, ngx_pid_t pid, off_t from)
{
    u_char                     *buf, *p, *end, *nl;
    off_t                       size;
    ssize_t                     n;
    ngx_uint_t                  lines;
    eci_chain_t                 chain;
    ngx_file_info_t             fi;
    eci_chain_line_t            l;
    eci_chain_event_t           ev;
    ngx_http_eci_chain_node_t  *node;
    char                        found[ECI_CHAIN_FOUND_MAX + 1];

    ngx_memzero(found, sizeof(found));

    node = audit->node;

    node->chain = node->inflight_chain;
    node->signed_seq = node->inflight_signed;
    node->started = node->inflight_started;
    node->recovered++;

    chain = node->chain;
    lines = 0;
    size = 0;
    buf = NULL;
    n = 0;

    if (from >= 0
        && ngx_fd_info(audit->file->fd, &fi) != NGX_FILE_ERROR
        && S_ISREG(fi.st_mode))
    {
        size = ngx_file_size(&fi);

        /* a batch, or one line longer than it: no more can be in flight */
        if (size > from && size - from <= NGX_HTTP_ECI_RECOVER_MAX) {
            buf = ngx_alloc((size_t) (size - from), ngx_cycle->log);
        }
    }

    if (buf != NULL) {
        n = ngx_http_eci_audit_read_back(audit, &fi, buf, size - from, from);
    }

    p = buf;
    end = buf + (n > 0 ? n : 0);

    while (p < end) {
        nl = ngx_strlchr(p, end, '\n');

        if (nl == NULL
            || eci_chain_line_parse((char *) p, nl - p, &l) != 0
            || ngx_strcmp(l.chain, chain.id) != 0
            || l.seq != chain.seq + 1
            || !eci_chain_line_follows((char *) p, &l, chain.head))
        {
            break;
        }

        chain.seq = l.seq;
        ngx_memcpy(chain.head, l.hash, ECI_CHAIN_HASH_HEX + 1);

        if (l.is_signed) {
            node->signed_seq = l.seq;

            if (ngx_strcmp(l.event, ECI_CHAIN_START) == 0) {
                node->started = 1;
            }
        }

        lines++;
        p = nl + 1;
    }

    node->chain = chain;

    if (buf != NULL && n < 0) {
        /* the chain cannot go on after lines it cannot see: they go */
        ngx_http_eci_audit_cut(ngx_cycle->log, audit, size - from);

        ngx_snprintf((u_char *) found, ECI_CHAIN_FOUND_MAX,
                     "process %P died while writing to this file; the %O "
                     "bytes of its write could not be read back and were "
                     "cut%Z", pid, size - from);

    } else if (p < end && ngx_strlchr(p, end, '\n') == NULL) {
        /* what the writer left of its last line: the file's end */
        ngx_http_eci_audit_cut(ngx_cycle->log, audit, end - p);

        ngx_snprintf((u_char *) found, ECI_CHAIN_FOUND_MAX,
                     "process %P died while writing to this file; %ui "
                     "whole lines of its write are in the chain, a partial "
                     "line of %z bytes was cut%Z", pid, lines, end - p);

    } else if (p < end) {
        ngx_snprintf((u_char *) found, ECI_CHAIN_FOUND_MAX,
                     "process %P died while writing to this file; %ui "
                     "whole lines of its write are in the chain, %z bytes "
                     "after them are not%Z", pid, lines, end - p);

    } else {
        ngx_snprintf((u_char *) found, ECI_CHAIN_FOUND_MAX,
                     "process %P died while writing to this file; %ui "
                     "lines of its write are in the chain%Z", pid, lines);
    }

    if (buf != NULL) {
        ngx_free(buf);
    }

    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                  "eci: audit file \"%V\": discontinuity: %s",
                  &audit->name, found);

    if (!node->started) {
        /* the start line comes first; the discontinuity follows it */
        ngx_memcpy(node->tail.found, found, sizeof(found));
        return;
    }

    ngx_memzero(&ev, sizeof(eci_chain_event_t));
    ev.event = ECI_CHAIN_DISCONTINUITY;
    ev.found = found;

    (void) ngx_http_eci_audit_event(emcf, audit, &ev);
}
