/*
 * ngx_eci: a worker's batch of audit lines and their write to a file.
 *
 * Lines to a file are gathered per worker over one pass of the event loop
 * and written together at its end, by a posted event: one writev(2) for
 * the dozens of lines a busy worker makes per pass instead of a write
 * each, by the process that holds the right to the file (audit_file.c),
 * which seals them into the chain in the order they go to the file.  The
 * lines of a file another process holds stay for the next try, every
 * NGX_HTTP_ECI_RETRY ms, an intent until its eci_audit_timeout.
 */

#include "ngx_http_eci_module.h"


static void ngx_http_eci_audit_compact(ngx_http_eci_batch_t *b);
static void ngx_http_eci_audit_write_lines(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_pending_t *lines, ngx_uint_t n);
static void ngx_http_eci_audit_write_file(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_pending_t *lines, ngx_uint_t n, ngx_uint_t first,
    ngx_err_t *err);
static ssize_t ngx_http_eci_audit_writev(ngx_http_eci_audit_t *audit,
    struct iovec *iov, ngx_uint_t niov);
static void ngx_http_eci_audit_reserve(ngx_log_t *log,
    ngx_http_eci_audit_t *audit);


void
ngx_http_eci_audit_flush_handler(ngx_event_t *ev)
{
    ngx_http_eci_audit_flush(ev->data);
}


/*
 * Writes the batch: each file's lines get their seq and chain and go out
 * in one writev(2); then each waiting exec is told how its intent fared
 * and resumed through its connection's write event.  The lines of a file
 * another process is writing to stay for the next try, an intent among
 * them until its eci_audit_timeout.
 */
void
ngx_http_eci_audit_flush(ngx_http_eci_batch_t *b)
{
    if (b->flush.posted) {
        ngx_delete_posted_event(&b->flush);
    }

    if (b->n == 0) {
        return;
    }

    ngx_http_eci_audit_write_lines(b->emcf, b->lines, b->n);

    ngx_http_eci_audit_compact(b);

    /* cancelable: it keeps no exiting worker alive by itself */
    if (b->n > 0 && !b->retry.timer_set) {
        b->retry.handler = ngx_http_eci_audit_flush_handler;
        b->retry.data = b;
        b->retry.log = ngx_cycle->log;
        ngx_add_timer(&b->retry, NGX_HTTP_ECI_RETRY);
    }
}


/*
 * At a worker's exit: its lines wait a second at most for a file another
 * process holds; what is still not written then is lost, and said so.
 */
void
ngx_http_eci_audit_drain(ngx_http_eci_batch_t *b)
{
    ngx_uint_t  i, tries;

    for (tries = 0; b->n > 0 && tries < 1000 / NGX_HTTP_ECI_RETRY; tries++) {
        if (tries > 0) {
            ngx_msleep(NGX_HTTP_ECI_RETRY);
            ngx_time_update();
        }

        ngx_http_eci_audit_flush(b);
    }

    for (i = 0; i < b->n; i++) {
        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, 0,
                      "eci: audit %s line to \"%V\" not written: another "
                      "process held the file while this one exited",
                      b->lines[i].event, &b->lines[i].audit->name);

        ngx_http_eci_audit_failed(b->emcf, b->lines[i].audit);

        b->lines[i].done = 1;
    }

    ngx_http_eci_audit_compact(b);
}


/* the lines written or given up leave the batch; the others move up */
static void
ngx_http_eci_audit_compact(ngx_http_eci_batch_t *b)
{
    size_t                   used;
    ngx_uint_t               i, k;
    ngx_http_eci_pending_t  *p;

    used = 0;
    k = 0;

    for (i = 0; i < b->n; i++) {
        p = &b->lines[i];

        if (p->done) {
            if (p->heap) {
                ngx_free(p->line);
            }

            continue;
        }

        if (!p->heap) {
            if (p->line != b->buf + used) {
                ngx_memmove(b->buf + used, p->line, p->len);
                p->line = b->buf + used;
            }

            used += p->cap;
        }

        if (k != i) {
            b->lines[k] = *p;

            if (b->lines[k].waiter != NULL) {
                b->lines[k].waiter->pending = &b->lines[k];
            }
        }

        k++;
    }

    b->n = k;
    b->used = used;
}


static void
ngx_http_eci_audit_write_lines(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_pending_t *lines, ngx_uint_t n)
{
    ngx_err_t                err;
    ngx_uint_t               i;
    ngx_log_t               *log;
    ngx_http_eci_ctx_t      *ctx;
    ngx_http_eci_pending_t  *p;

    err = 0;

    for (i = 0; i < n; i++) {
        lines[i].held = 0;
    }

    for (i = 0; i < n; i++) {
        if (!lines[i].done && !lines[i].held) {
            ngx_http_eci_audit_write_file(emcf, lines, n, i, &err);
        }
    }

    ngx_http_eci_audit_arm(emcf);

    /* it needs no right to the file, and it may wait for the disk */
    for (i = 0; i < n; i++) {
        if (lines[i].done && lines[i].audit->reserve_due) {
            ngx_http_eci_audit_reserve(ngx_cycle->log, lines[i].audit);
        }
    }

    for (i = 0; i < n; i++) {
        p = &lines[i];
        ctx = p->waiter;

        if (!p->done) {
            /* its file is held; an intent waits no longer than its time */
            if (ctx == NULL
                || (ngx_msec_int_t) (p->deadline - ngx_current_msec) > 0)
            {
                continue;
            }

            p->done = 1;

            ngx_log_error(NGX_LOG_CRIT, ctx->request->connection->log, 0,
                          "eci: audit intent line to \"%V\" not written: "
                          "another process has been writing to the file "
                          "for longer than eci_audit_timeout",
                          &p->audit->name);

            ngx_http_eci_audit_failed(emcf, p->audit);

        } else if (!p->written) {
            log = ctx ? ctx->request->connection->log : ngx_cycle->log;

            ngx_log_error(NGX_LOG_CRIT, log, err,
                          "eci: audit %s line to \"%V\" not written",
                          p->event, &p->audit->name);
        }

        if (ctx == NULL) {
            continue;
        }

        ctx->pending = NULL;
        ctx->intent_failed = p->written ? 0 : 1;
        p->waiter = NULL;

        ngx_post_event(ctx->request->connection->write, &ngx_posted_events);
    }
}


/*
 * The lines for one file, from lines[first] on: seal, one writev, with
 * the right to the file but not the zone's lock.  When another process
 * holds the file, the lines are left as they are (held).
 */
static void
ngx_http_eci_audit_write_file(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_pending_t *lines, ngx_uint_t n, ngx_uint_t first,
    ngx_err_t *err)
{
    size_t                      len, at;
    ssize_t                     w;
    ngx_int_t                   rc;
    ngx_uint_t                  i, niov, writable;
    eci_chain_t                 chain;
    ngx_http_eci_audit_t       *audit;
    ngx_http_eci_pending_t     *p;
    ngx_http_eci_chain_node_t  *node;
    struct iovec                iov[NGX_HTTP_ECI_BATCH_LINES];

    audit = lines[first].audit;
    node = audit->node;

    rc = ngx_http_eci_audit_acquire(emcf, audit);

    if (rc == NGX_BUSY || rc == NGX_DECLINED) {
        for (i = first; i < n; i++) {
            if (lines[i].audit != audit) {
                continue;
            }

            if (rc == NGX_BUSY) {
                lines[i].held = 1;

            } else {
                /* the target is no longer configured: nothing to write */
                lines[i].done = 1;
            }
        }

        return;
    }

    writable = (rc == NGX_OK && ngx_http_eci_audit_writable(audit) == NGX_OK);

    if (writable) {
        /* a chain's first line is its start; a new file begins signed */
        (void) ngx_http_eci_audit_begin(emcf, audit);
        ngx_http_eci_audit_rotated(emcf, audit);
    }

    chain = node->chain;
    niov = 0;

    for (i = first; i < n; i++) {
        p = &lines[i];

        if (p->audit != audit || p->done) {
            continue;
        }

        p->done = 1;

        len = (writable && p->len > 0)
              ? eci_chain_seal(&chain, (char *) p->line, p->len, p->cap)
              : 0;

        p->len = len;

        if (len == 0) {
            if (writable) {
                ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                              "eci: audit line did not fit its own bound");
            }

            continue;
        }

        iov[niov].iov_base = p->line;
        iov[niov].iov_len = len;
        niov++;
    }

    w = (niov > 0) ? ngx_http_eci_audit_writev(audit, iov, niov) : 0;

    if (w == -1) {
        *err = ngx_errno;

    } else if (!audit->no_reserve) {
        audit->unreserved += w;

        /* a new descriptor is a reopened log: look at once */
        if (audit->unreserved >= NGX_HTTP_ECI_RESERVE_STEP
            || audit->file->fd != audit->reserve_fd)
        {
            audit->reserve_due = 1;
        }
    }

    /* the lines written whole advance the chain; a fragment is cut off */
    at = 0;

    for (i = first; i < n; i++) {
        p = &lines[i];

        if (p->audit != audit || p->written || p->held) {
            continue;
        }

        if (w > 0 && p->len > 0 && at + p->len <= (size_t) w) {
            at += p->len;
            p->written = 1;
            node->chain.seq++;
            audit->nwritten++;
            ngx_memcpy(node->chain.head,
                       p->line + p->len - 3 - ECI_CHAIN_HASH_HEX,
                       ECI_CHAIN_HASH_HEX);
            continue;
        }

        audit->nfailed++;
    }

    if (w > 0 && (size_t) w > at) {
        /*
         * A full disk took part of a line: cut it off again, or the next
         * line would be glued to a fragment.  With the right to the file
         * and O_APPEND the fragment is the end of the file.
         */
        ngx_http_eci_audit_cut(ngx_cycle->log, audit, w - at);
    }

    ngx_http_eci_audit_release(emcf, audit);
}


/*
 * writev(2), and for a pipe or a device the rest of a write that a signal
 * cut short: a fragment there cannot be cut off again, as it can from the
 * end of a file.
 */
static ssize_t
ngx_http_eci_audit_writev(ngx_http_eci_audit_t *audit, struct iovec *iov,
    ngx_uint_t niov)
{
    size_t           total, left;
    ssize_t          w, n;
    ngx_uint_t       i;
    ngx_file_info_t  fi;

    w = writev(audit->file->fd, iov, niov);

    total = 0;

    for (i = 0; i < niov; i++) {
        total += iov[i].iov_len;
    }

    if (w <= 0 || (size_t) w == total
        || ngx_fd_info(audit->file->fd, &fi) == NGX_FILE_ERROR
        || S_ISREG(fi.st_mode))
    {
        return w;
    }

    left = w;

    for (i = 0; i < niov; i++) {
        if (left >= iov[i].iov_len) {
            left -= iov[i].iov_len;
            continue;
        }

        while (left < iov[i].iov_len) {
            n = write(audit->file->fd, (u_char *) iov[i].iov_base + left,
                      iov[i].iov_len - left);

            if (n == -1 && ngx_errno == NGX_EINTR) {
                continue;
            }

            if (n <= 0) {
                return w;
            }

            left += n;
            w += n;
        }

        left = 0;
    }

    return w;
}


/* a line that is not written, counted in eci_status */
void
ngx_http_eci_audit_failed(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit)
{
    ngx_shmtx_lock(&emcf->shpool->mutex);

    if (audit->node->serial == audit->serial) {
        audit->node->failed++;
    }

    ngx_shmtx_unlock(&emcf->shpool->mutex);
}


/*
 * NGX_ERROR when the file was deleted (ngx_http_eci_audit_acquire() looks
 * at its link count with every write): lines written to the open
 * descriptor would go to a file no one can read while every counter said
 * all is well.
 */
ngx_int_t
ngx_http_eci_audit_writable(ngx_http_eci_audit_t *audit)
{
    return audit->deleted ? NGX_ERROR : NGX_OK;
}


/*
 * ext4 allocates the blocks of appended data when the flusher writes them
 * back, holding a lock of the file's that every append takes too: an
 * audit write waited for writeback up to tens of ms, and a worker stalled
 * with it.  Room reserved ahead is allocated already, so an append into
 * it takes no allocation and no such lock (and a full disk leaves the
 * audit that much room more).  FALLOC_FL_KEEP_SIZE leaves the file's size
 * and data alone, so this is safe beside any other writer, another
 * nginx's workers during a binary upgrade included.  What stays reserved
 * beyond the end is freed when the file is truncated or removed.
 */
static void
ngx_http_eci_audit_reserve(ngx_log_t *log, ngx_http_eci_audit_t *audit)
{
#if (NGX_LINUX) && defined(FALLOC_FL_KEEP_SIZE)
    off_t            size;
    ngx_err_t        err;
    ngx_uint_t       reopened;
    ngx_file_info_t  fi;

    /* nginx reopens a log into a new descriptor, so a new fd: a new file */
    reopened = (audit->file->fd != audit->reserve_fd);

    audit->reserve_due = 0;
    audit->unreserved = 0;
    audit->reserve_fd = audit->file->fd;

    if (ngx_fd_info(audit->file->fd, &fi) == NGX_FILE_ERROR) {
        return;
    }

    if (!S_ISREG(fi.st_mode)) {
        audit->no_reserve = 1;     /* /dev/full, a pipe: nothing to do */
        return;
    }

    size = ngx_file_size(&fi);

    /* reopened (a rotated log), or cut short: what it knew is void */
    if (reopened || size < audit->reserve_end - NGX_HTTP_ECI_RESERVE) {
        audit->reserve_end = 0;
    }

    /* another worker may have reserved it already: that costs no more */
    if (size + NGX_HTTP_ECI_RESERVE / 2 <= audit->reserve_end) {
        return;
    }

    if (fallocate(audit->file->fd, FALLOC_FL_KEEP_SIZE, size,
                  NGX_HTTP_ECI_RESERVE)
        == 0)
    {
        audit->reserve_end = size + NGX_HTTP_ECI_RESERVE;
        return;
    }

    err = ngx_errno;

    if (err == NGX_EOPNOTSUPP || err == NGX_ENOSYS) {
        /* a file system without it: appends work as they always did */
        audit->no_reserve = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, log, err,
                   "eci: no room reserved ahead in audit file \"%V\"",
                   &audit->name);
#else
    audit->reserve_due = 0;
    audit->no_reserve = 1;
#endif
}


void
ngx_http_eci_audit_cut(ngx_log_t *log, ngx_http_eci_audit_t *audit,
    ssize_t n)
{
    ngx_file_info_t  fi;

    if (ngx_fd_info(audit->file->fd, &fi) == NGX_FILE_ERROR
        || ftruncate(audit->file->fd, ngx_file_size(&fi) - n) == -1)
    {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "eci: cannot cut a partly written audit line from "
                      "\"%V\"; the file needs repair", &audit->name);
    }
}
