/*
 * ngx_eci: the audit record of a request, and where its line goes.
 *
 * Each line is sealed into a chain (seq + SHA-256, see eci_chain.h) whose
 * state lives in shared memory, so all workers write one sequence and a
 * reload continues it (ngx_http_eci_audit_chain.c).  An allowed exec gets
 * an "intent" line before it is forwarded (if that cannot be written and
 * eci_audit_required is on, the exec does not happen) and a "result" line
 * when the response is finished; a refused request gets its result line
 * only.
 *
 * A line for a file goes into the worker's batch, written at the end of
 * the event loop's pass (ngx_http_eci_audit_batch.c); an exec waits for
 * its intent line there, so nothing is forwarded before its intent is
 * written.  A line for syslog is sent at once
 * (ngx_http_eci_audit_syslog.c).
 */

#include "ngx_http_eci_module.h"


static eci_outcome_t ngx_http_eci_outcome(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
static void ngx_http_eci_audit_record(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_audit_record_t *rec, ngx_str_t *rid);
static size_t ngx_http_eci_batch_write(ngx_http_eci_batch_t *b,
    eci_audit_record_t *rec);
static ngx_http_eci_pending_t *ngx_http_eci_batch_add(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_http_eci_batch_t *b, eci_audit_record_t *rec,
    u_char *line, size_t len, size_t max);
static ngx_int_t ngx_http_eci_audit_queue(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_audit_record_t *rec);


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
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
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
    max = 0;
    len = ngx_http_eci_batch_write(b, rec);

    if (len == 0 && b->n > 0) {
        ngx_http_eci_audit_flush(b);

        if (b->n == NGX_HTTP_ECI_BATCH_LINES) {
            goto full;
        }

        len = ngx_http_eci_batch_write(b, rec);
    }

    if (len != 0) {
        line = b->buf + b->used;

    } else {
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

    p = ngx_http_eci_batch_add(r, ctx, b, rec, line, len, max);

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


/* the line written into the room left in the batch: its length, or 0 */
static size_t
ngx_http_eci_batch_write(ngx_http_eci_batch_t *b, eci_audit_record_t *rec)
{
    if (NGX_HTTP_ECI_BATCH_SIZE - b->used <= NGX_HTTP_ECI_LINE_ROOM) {
        return 0;
    }

    return eci_audit_line_write(rec, (char *) b->buf + b->used,
                                NGX_HTTP_ECI_BATCH_SIZE - b->used
                                - NGX_HTTP_ECI_LINE_ROOM);
}


/*
 * The line (in the batch's room, or of max bytes on the heap) becomes the
 * batch's next; the batch is written at the end of this pass of the event
 * loop.
 */
static ngx_http_eci_pending_t *
ngx_http_eci_batch_add(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_http_eci_batch_t *b, eci_audit_record_t *rec, u_char *line,
    size_t len, size_t max)
{
    ngx_http_eci_pending_t   *p;
    ngx_http_eci_loc_conf_t  *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_eci_module);

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

    return p;
}


/* the request is gone before its intent was written: forget it */
void
ngx_http_eci_audit_unqueue(ngx_http_eci_ctx_t *ctx)
{
    ctx->pending->waiter = NULL;
    ctx->pending = NULL;
}


