/*
 * ngx_eci: the audit writer.
 *
 * Each line is sealed into a chain (seq + SHA-256, see eci_chain.h) whose
 * state lives in shared memory, so all workers write one sequence and a
 * reload continues it (its start, checkpoints and stop are in
 * ngx_http_eci_audit_chain.c).  The chain is advanced, and the lines
 * written with one writev(2) to a file the master opened with O_APPEND,
 * by the one process that holds the right to the file: the order of lines
 * in the file is the order of the chain.  No lock that other workers wait
 * for is held while writing, so a hung write stalls its own worker only.
 *
 * An allowed exec gets an "intent" line before it is forwarded (if that
 * cannot be written and eci_audit_required is on, the exec does not
 * happen) and a "result" line when the response is finished; a refused
 * request gets its result line only.
 *
 * Lines to a file are gathered per worker over one pass of the event loop
 * and written together at its end, by a posted event: one writev(2) for
 * the dozens of lines a busy worker makes per pass instead of a write
 * each.  An exec waits for its intent line (its request resumes once the
 * line is in the file, or once eci_audit_timeout has passed while another
 * process held the file), so nothing is forwarded before its intent is
 * written.  A result line reaches the file at the end of the pass its
 * request ended in, or with the next try when the file was held.  Syslog
 * lines go out at once (ngx_http_eci_audit_syslog()).
 */

#include "ngx_http_eci_module.h"


static eci_outcome_t ngx_http_eci_outcome(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
static void ngx_http_eci_audit_record(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_audit_record_t *rec, ngx_str_t *rid);
static ngx_int_t ngx_http_eci_audit_queue(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_audit_record_t *rec);
static void ngx_http_eci_audit_flush_handler(ngx_event_t *ev);
static void ngx_http_eci_audit_compact(ngx_http_eci_batch_t *b);
static ssize_t ngx_http_eci_audit_writev(ngx_http_eci_audit_t *audit,
    struct iovec *iov, ngx_uint_t niov);
static void ngx_http_eci_audit_failed(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit);
static void ngx_http_eci_audit_write_lines(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_pending_t *lines, ngx_uint_t n);
static void ngx_http_eci_audit_write_file(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_pending_t *lines, ngx_uint_t n, ngx_uint_t first,
    ngx_err_t *err);
static ngx_int_t ngx_http_eci_audit_syslog(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_audit_record_t *rec);
static void ngx_http_eci_audit_reserve(ngx_log_t *log,
    ngx_http_eci_audit_t *audit);


ngx_int_t
ngx_http_eci_audit_intent(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_str_t           rid;
    eci_audit_record_t  rec;

    if (ctx->audit == NULL) {
        return NGX_OK;
    }

    ngx_http_eci_audit_record(r, ctx, &rec, &rid);

    rec.event = "intent";
    rec.intent = 1;
    rec.decision = "allow";

    return ngx_http_eci_audit_queue(r, ctx, &rec);
}


ngx_int_t
ngx_http_eci_audit_handler(ngx_http_request_t *r)
{
    ngx_str_t                     rid;
    eci_audit_record_t            rec;
    ngx_http_eci_ctx_t           *ctx;
    ngx_http_upstream_state_t    *state;

    ctx = ngx_http_eci_get_ctx(r);

    if (ctx == NULL || ctx->audited) {
        return NGX_OK;
    }

    ctx->audited = 1;

    ctx->outcome = ngx_http_eci_outcome(r, ctx);

    ngx_http_eci_count(r, ctx);

    if (ctx->audit == NULL) {
        return NGX_OK;
    }

    ngx_http_eci_audit_record(r, ctx, &rec, &rid);

    rec.event = "result";
    rec.decision = ctx->allowed ? "allow" : "deny";
    rec.error = ctx->error ? eci_errors[ctx->error].code : NULL;
    rec.status = r->err_status ? r->err_status : r->headers_out.status;

    if (r->upstream_states != NULL && r->upstream_states->nelts > 0) {
        state = r->upstream_states->elts;
        state = &state[r->upstream_states->nelts - 1];

        rec.upstream_status = state->status;

        if (state->response_time != (ngx_msec_t) -1) {
            rec.upstream_time_ms = state->response_time;
        }
    }

    if (ctx->upstream_body) {
        rec.has_response = 1;
        rec.response_bytes = ctx->response_bytes;
        rec.response_truncated = ctx->truncated;

        eci_sha256_final(&ctx->sha256, rec.response_sha256);

        rec.response = ngx_http_eci_response(r, ctx);
    }

    rec.outcome = ctx->outcome;
    rec.candidate = ctx->candidate;
    rec.candidate_reason = ctx->candidate_reason;

    if (ctx->allowed && (ctx->client_closed || r->connection->error)) {
        /* a failed write is when the gateway noticed, if nothing before */
        rec.client_closed_ms = ctx->client_closed_ms ? ctx->client_closed_ms
                                                     : rec.time_ms;
    }

    (void) ngx_http_eci_audit_queue(r, ctx, &rec);

    return NGX_OK;
}


/*
 * What is known of the exec (docs/audit.md, "Outcomes").  ECI answered
 * when the upstream sent a status line; the gateway's own 502/504 for a
 * lost or silent upstream is not an answer.
 */
static eci_outcome_t
ngx_http_eci_outcome(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_uint_t            status;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    if (!ctx->allowed || !ctx->key_sent || u == NULL) {
        return ECI_OUTCOME_REFUSED;
    }

    if (!u->request_sent) {
        /* no connection could be made: nothing reached ECI */
        return ECI_OUTCOME_FAILED;
    }

    status = u->headers_in.status_n;

    if (status >= 500 && status < 600) {
        return ECI_OUTCOME_FAILED;
    }

    if (status >= 400 && status < 500) {
        return ECI_OUTCOME_REFUSED;
    }

    if (status >= 200 && status < 300 && ctx->response_done) {
        return ECI_OUTCOME_SENT;
    }

    return ECI_OUTCOME_UNKNOWN;
}


/* the fields an intent and a result line share */
static void
ngx_http_eci_audit_record(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    eci_audit_record_t *rec, ngx_str_t *rid)
{
    ngx_time_t  *tp;

    ngx_memzero(rec, sizeof(eci_audit_record_t));

    tp = ngx_timeofday();
    rec->time_ms = (int64_t) tp->sec * 1000 + tp->msec;

    (void) ngx_http_eci_request_id(r, rid);
    rec->request_id.data = (const char *) rid->data;
    rec->request_id.len = rid->len;

    if (ctx->principal.len) {
        rec->principal.data = (const char *) ctx->principal.data;
        rec->principal.len = ctx->principal.len;
    }

    rec->client.data = (const char *) r->connection->addr_text.data;
    rec->client.len = r->connection->addr_text.len;
    rec->method.data = (const char *) r->method_name.data;
    rec->method.len = r->method_name.len;

    if (ctx->uri.data != NULL) {
        rec->uri.data = (const char *) ctx->uri.data;
        rec->uri.len = ctx->uri.len;

    } else {
        rec->uri.data = (const char *) r->unparsed_uri.data;
        rec->uri.len = r->unparsed_uri.len;
    }

    rec->report_distribution_id = ctx->id;
    rec->override_user_ids = ctx->overrides;
    rec->n_override_user_ids = ctx->n_overrides;
    rec->has_override_user_ids = ctx->has_overrides;
    rec->upstream_time_ms = -1;

    if (ctx->key_chosen && ctx->api_key != NULL) {
        rec->api_key = ctx->api_key->name;
        rec->api_key_fp = ctx->api_key->fingerprint;
    }
}


/*
 * Puts the line in the worker's batch, without its seq and chain, and has
 * the batch written at the end of this pass of the event loop.  NGX_AGAIN:
 * an intent waits for that (ctx->pending); NGX_OK: a result line is
 * queued, or a syslog line sent; NGX_ERROR: it is not (the batch is full
 * of lines for a file another process holds, or memory ran out).
 */
static ngx_int_t
ngx_http_eci_audit_queue(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    eci_audit_record_t *rec)
{
    size_t                     len, max;
    u_char                    *line;
    ngx_http_eci_batch_t      *b;
    ngx_http_eci_pending_t    *p;
    ngx_http_eci_loc_conf_t   *elcf;
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    elcf = ngx_http_get_module_loc_conf(r, ngx_http_eci_module);
    b = &emcf->worker->batch;

    if (ctx->audit->syslog != NULL) {
        if (b->n > 0) {
            /* the lines before it go first */
            ngx_http_eci_audit_flush(b);
        }

        return ngx_http_eci_audit_syslog(r, ctx, rec);
    }

    if (b->n == NGX_HTTP_ECI_BATCH_LINES) {
        ngx_http_eci_audit_flush(b);
    }

    if (b->n == NGX_HTTP_ECI_BATCH_LINES) {
        goto full;
    }

    /*
     * The line is written straight into the room left in the batch; only
     * one that does not fit even an empty batch is measured (which reads
     * every string once more) and built in memory of its own.
     */
    len = 0;
    line = b->buf + b->used;
    max = 0;

    if (NGX_HTTP_ECI_BATCH_SIZE - b->used > NGX_HTTP_ECI_LINE_ROOM) {
        len = eci_audit_line_write(rec, (char *) line,
                                   NGX_HTTP_ECI_BATCH_SIZE - b->used
                                   - NGX_HTTP_ECI_LINE_ROOM);
    }

    if (len == 0 && b->n > 0) {
        ngx_http_eci_audit_flush(b);

        if (b->n == NGX_HTTP_ECI_BATCH_LINES) {
            goto full;
        }

        line = b->buf + b->used;

        if (NGX_HTTP_ECI_BATCH_SIZE - b->used > NGX_HTTP_ECI_LINE_ROOM) {
            len = eci_audit_line_write(rec, (char *) line,
                                       NGX_HTTP_ECI_BATCH_SIZE - b->used
                                       - NGX_HTTP_ECI_LINE_ROOM);
        }
    }

    if (len == 0) {
        /* a line longer than the batch, or a batch still held */
        max = eci_audit_line_max(rec);

        line = ngx_alloc(max, r->connection->log);
        if (line == NULL) {
            return NGX_ERROR;
        }

        len = eci_audit_line_write(rec, (char *) line, max);

        if (len == 0) {
            ngx_free(line);

            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "eci: audit line did not fit its own bound");
            ngx_http_eci_audit_failed(emcf, ctx->audit);

            return NGX_ERROR;
        }
    }

    p = &b->lines[b->n];

    p->audit = ctx->audit;
    p->line = line;
    p->len = len;
    p->event = rec->event;
    p->written = 0;
    p->done = 0;
    p->held = 0;
    p->waiter = NULL;
    p->deadline = ngx_current_msec + elcf->audit_timeout;

    if (max) {
        p->cap = max;
        p->heap = 1;

    } else {
        /* the line and what seq and seal add to it */
        p->cap = len + NGX_HTTP_ECI_LINE_ROOM;
        p->heap = 0;
        b->used += p->cap;
    }

    b->n++;

    if (!b->flush.posted) {
        b->flush.handler = ngx_http_eci_audit_flush_handler;
        b->flush.data = b;
        b->flush.log = ngx_cycle->log;
        ngx_post_event(&b->flush, &ngx_posted_events);
    }

    if (!rec->intent) {
        return NGX_OK;
    }

    p->waiter = ctx;
    ctx->pending = p;

    return NGX_AGAIN;

full:

    /* its file has been held longer than the batch could wait */
    ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                  "eci: audit %s line to \"%V\" not written: the lines "
                  "before it still wait for the file", rec->event,
                  &ctx->audit->name);

    ngx_http_eci_audit_failed(emcf, ctx->audit);

    return NGX_ERROR;
}


/* the request is gone before its intent was written: forget it */
void
ngx_http_eci_audit_unqueue(ngx_http_eci_ctx_t *ctx)
{
    ctx->pending->waiter = NULL;
    ctx->pending = NULL;
}


static void
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
static void
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
 * NGX_ERROR when the file was deleted: lines written to the open
 * descriptor would go to a file no one can read (with its reserved room
 * pinned) while every counter said all is well.  Looked at once a second
 * per worker, and at once through a new descriptor (a reopen).
 */
ngx_int_t
ngx_http_eci_audit_writable(ngx_http_eci_audit_t *audit)
{
    ngx_file_info_t  fi;

    if (audit->file == NULL) {
        return NGX_OK;
    }

    if (audit->file->fd == audit->nlink_fd
        && ngx_current_msec - audit->nlink_at < 1000)
    {
        return audit->deleted ? NGX_ERROR : NGX_OK;
    }

    audit->nlink_fd = audit->file->fd;
    audit->nlink_at = ngx_current_msec;

    if (ngx_fd_info(audit->file->fd, &fi) == NGX_FILE_ERROR) {
        return audit->deleted ? NGX_ERROR : NGX_OK;
    }

    if (!S_ISREG(fi.st_mode) || fi.st_nlink > 0) {
        audit->deleted = 0;
        return NGX_OK;
    }

    if (!audit->deleted) {
        audit->deleted = 1;

        audit->ndeleted++;

        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "eci: audit file \"%V\" was deleted; no line is "
                      "written to it until nginx reopens it "
                      "(nginx -s reopen)", &audit->name);
    }

    return NGX_ERROR;
}


/*
 * syslog: one datagram a line, sent at once.  A line the datagram cannot
 * carry (thousands of override ids) goes in its bounded form: the ids'
 * count and digest instead of the list (docs/audit.md, "Syslog").
 */
static ngx_int_t
ngx_http_eci_audit_syslog(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    eci_audit_record_t *rec)
{
    u_char                     *buf, *line;
    size_t                      len, max, head;
    ssize_t                     n;
    ngx_err_t                   err;
    ngx_uint_t                  bounded;
    eci_chain_t                 chain;
    ngx_http_eci_audit_t       *audit;
    ngx_http_eci_main_conf_t   *emcf;
    ngx_http_eci_chain_node_t  *node;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    audit = ctx->audit;
    node = audit->node;

    /* room for either form */
    max = eci_audit_line_max(rec);
    rec->override_user_ids_bounded = 1;
    max = ngx_max(max, eci_audit_line_max(rec));
    rec->override_user_ids_bounded = 0;

    head = ngx_http_eci_syslog_head(audit);

    /*
     * A line is built, sent and done with before this function returns,
     * so the usual one goes to the worker's scratch buffer rather than
     * growing every request's pool by a block; only a line with thousands
     * of overrides takes pool memory.
     */
    if (head + max <= NGX_HTTP_ECI_LINE_SCRATCH) {
        buf = emcf->worker->line_scratch;

    } else {
        buf = ngx_pnalloc(r->pool, head + max);
        if (buf == NULL) {
            return NGX_ERROR;
        }
    }

    line = buf + head;

    n = -1;
    err = 0;
    bounded = 0;

    len = eci_audit_line_write(rec, (char *) line, max);

    /* sent without its newline, sealed with at most ECI_CHAIN_ROOM more */
    if (len > 0 && rec->has_override_user_ids
        && head + len - 1 + ECI_CHAIN_ROOM > NGX_HTTP_ECI_SYSLOG_MAX)
    {
        rec->override_user_ids_bounded = 1;
        len = eci_audit_line_write(rec, (char *) line, max);
        bounded = 1;
    }

    if (ngx_http_eci_audit_acquire(emcf, audit) != NGX_OK) {
        /* no longer configured (a reload): the lock is not held */
        return NGX_ERROR;
    }

    (void) ngx_http_eci_audit_begin(emcf, audit);

    chain = node->chain;

    if (len > 0) {
        len = eci_chain_seal(&chain, (char *) line, len, max);
    }

    if (len > 0 && head + len - 1 <= NGX_HTTP_ECI_SYSLOG_MAX) {
        n = ngx_http_eci_syslog_send(audit, buf, head, len, &err);
    }

    if (len > 0 && n != -1) {
        node->chain = chain;
        node->written++;
        node->syslog_bounded += bounded;

    } else {
        node->failed++;
    }

    ngx_http_eci_audit_release(emcf, audit);

    ngx_http_eci_audit_arm(emcf);

    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "eci: audit line did not fit its own bound");
        return NGX_ERROR;
    }

    if (head + len - 1 > NGX_HTTP_ECI_SYSLOG_MAX) {
        /* a principal or response fields tens of KB long, escaped */
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "eci: audit %s line to \"%V\" not written: %uz "
                      "bytes%s, more than a datagram carries", rec->event,
                      &audit->name, head + len - 1,
                      bounded ? " in its bounded form" : "");
        return NGX_ERROR;
    }

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "eci: audit %s line to \"%V\" not written",
                      rec->event, &audit->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* room for syslog's PRI and HEADER before a line */
size_t
ngx_http_eci_syslog_head(ngx_http_eci_audit_t *audit)
{
    return sizeof("<255>Jan 01 00:00:00 ") - 1 + ngx_cycle->hostname.len
           + 1 + audit->syslog->tag.len + 2;
}


/*
 * Sends the line of len bytes at buf + head (head from
 * ngx_http_eci_syslog_head()) as one datagram, without its newline.
 * Returns what was sent, or -1.  Under the lock (the node's counter).
 *
 * The socket is connected, so an ICMP "port unreachable" for one datagram
 * fails the next send(2) with ECONNREFUSED, without sending it (and nginx
 * closes the socket): that error is the fate of an earlier datagram, so
 * the line is sent once more, on a new socket.  Every failed send is
 * counted (eci_audit_syslog_send_errors_total) and logged once a second.
 */
ssize_t
ngx_http_eci_syslog_send(ngx_http_eci_audit_t *audit, u_char *buf,
    size_t head, size_t len, ngx_err_t *err)
{
    u_char      *p;
    ssize_t      n;
    ngx_uint_t   i;

    p = ngx_syslog_add_header(audit->syslog, buf);
    ngx_memmove(p, buf + head, len - 1);
    p += len - 1;

    /* nginx would log each refusal at "error": it is logged below */
    audit->syslog->conn.log_error = NGX_ERROR_INFO;

    for (i = 0; i < 2; i++) {
        n = ngx_syslog_send(audit->syslog, buf, p - buf);

        if (n == p - buf) {
            return n;
        }

        *err = (n == NGX_ERROR) ? ngx_socket_errno : 0;

        audit->node->syslog_errors++;
        audit->syslog_unlogged++;

        if (audit->syslog_logged != ngx_time()) {
            audit->syslog_logged = ngx_time();

            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, *err,
                          "eci: audit target \"%V\": %ui syslog send "
                          "error%s in this worker since the last such "
                          "message", &audit->name, audit->syslog_unlogged,
                          audit->syslog_unlogged == 1 ? "" : "s");

            audit->syslog_unlogged = 0;
        }

        if (n != NGX_ERROR) {
            /* EAGAIN: the socket's buffer is full; it stays open */
            break;
        }
    }

    return -1;
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
