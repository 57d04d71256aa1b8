/*
 * ngx_eci: the body filter of an eci_gateway location: the upstream body
 * streams to the caller undelayed but for the few bytes at the end of
 * what arrived that could begin the API key; a body that carries the key
 * is cut where it begins and the connection closed.  On its way it is
 * captured (up to eci_audit_body_max) and hashed for the audit.
 */

#include "ngx_http_eci_module.h"


static ngx_int_t ngx_http_eci_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_eci_pass_body(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_eci_cut_close(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_int_t ngx_http_eci_scan(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_buf_t *b, off_t *at);
static ngx_chain_t *ngx_http_eci_release_held(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, size_t n);
static void ngx_http_eci_trim(ngx_buf_t *b, off_t size);
static ngx_int_t ngx_http_eci_capture(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_buf_t *b, off_t size);
static void ngx_http_eci_capture_bytes(ngx_http_eci_ctx_t *ctx, u_char *p,
    size_t n);


static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


/* after the header filter's, as when both were installed in one place */
void
ngx_http_eci_body_filter_init(void)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_eci_body_filter;
}


static ngx_int_t
ngx_http_eci_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t           *b;
    ngx_uint_t           last;
    ngx_chain_t         *cl, out;
    ngx_http_eci_ctx_t  *ctx;

    if (in == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_eci_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->body_cut) {
        /* the key was in the body: nothing after it reaches the caller */
        for (cl = in; cl; cl = cl->next) {
            ngx_http_eci_trim(cl->buf, 0);
        }

        return ngx_http_eci_cut_close(r, NGX_OK);
    }

    if (!ctx->replace_body) {
        return ctx->upstream_body ? ngx_http_eci_pass_body(r, ctx, in)
                                  : ngx_http_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        if (ctx->upstream_body
            && ngx_http_eci_capture(r, ctx, b, ngx_buf_size(b)) != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* consumed: the replaced body never reaches the caller */
        ngx_http_eci_trim(b, 0);
    }

    if (!last || ctx->body_sent) {
        return NGX_OK;
    }

    if (ctx->upstream_body) {
        ctx->response_done = 1;

        /* the audit parses what it captured: never the key's bytes */
        if (ctx->api_key != NULL
            && eci_keyscan_contains(ctx->capture, ctx->capture_len,
                                    ctx->api_key->value, ctx->api_key->len))
        {
            ngx_explicit_memzero(ctx->capture, ctx->capture_len);
            ctx->capture_len = 0;
            ctx->response_done = 0;

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: the ECI API's response carried API key "
                          "\"%s\" (fingerprint %s) in the body it sent "
                          "with %ui: the audit keeps none of it",
                          ctx->api_key->name, ctx->api_key->fingerprint,
                          r->upstream ? r->upstream->headers_in.status_n
                                      : 0);
        }
    }

    ctx->body_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->body.data;
    b->last = ctx->body.data + ctx->body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/*
 * The upstream's body on its way to the caller, scanned for the key.  At
 * the end of what has arrived, the bytes that could begin the key (at most
 * its length - 1, counted by ctx->keyscan.held) are held back until what
 * follows, or the end, decides; everything else goes on as it came, in
 * the same buffers.  Where the key begins the response is cut: the bytes
 * before it go on, nothing after, and the connection is closed without
 * the response's end (no last chunk; fewer bytes than its Content-Length).
 * The audit captures what went on.
 */
static ngx_int_t
ngx_http_eci_pass_body(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_chain_t *in)
{
    off_t         from, pos, cut, size, at;
    size_t        held;
    ngx_int_t     rc;
    ngx_buf_t    *b, *tail;
    ngx_uint_t    last, flush, found;
    ngx_chain_t  *cl, *tl, *out, **ll, *hcl;

    held = ctx->keyscan.held;
    from = ctx->scanned;
    pos = from;
    cut = 0;
    last = 0;
    flush = 0;
    found = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        last |= b->last_buf;
        flush |= b->flush;

        rc = ngx_http_eci_scan(r, ctx, b, &at);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DONE) {
            found = 1;
            cut = pos + at;
            break;
        }

        pos += ngx_buf_size(b);
    }

    if (!found) {
        ctx->scanned = pos;

        if (held == 0 && (last || ctx->keyscan.held == 0)) {
            /* the usual case: nothing was or is held back */

            for (cl = in; cl; cl = cl->next) {
                if (ngx_http_eci_capture(r, ctx, cl->buf,
                                         ngx_buf_size(cl->buf))
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }

            if (last) {
                ctx->response_done = 1;
            }

            return ngx_http_next_body_filter(r, in);
        }

        cut = last ? pos : pos - (off_t) ctx->keyscan.held;
    }

    /* what was held back before, as far as it goes on */

    out = NULL;
    ll = &out;
    tail = NULL;
    hcl = NULL;

    size = ngx_min((off_t) held, cut - (from - (off_t) held));

    if (size > 0) {
        hcl = ngx_http_eci_release_held(r, ctx, (size_t) size);
        if (hcl == NULL) {
            return NGX_ERROR;
        }

        tl = ngx_alloc_chain_link(r->pool);
        if (tl == NULL) {
            return NGX_ERROR;
        }

        tl->buf = hcl->buf;
        *ll = tl;
        ll = &tl->next;
        tail = tl->buf;

        ngx_http_eci_capture_bytes(ctx, tl->buf->pos, (size_t) size);
    }

    /* then the buffers that arrived, up to the cut */

    for (cl = in, pos = from; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_size(b);

        if (size == 0) {
            /* a flush or the end: once nothing is held back or cut */
            if (found || (!last && ctx->keyscan.held > 0)) {
                continue;
            }

        } else if (pos >= cut) {
            ngx_http_eci_trim(b, 0);
            continue;

        } else if (pos + size > cut) {
            if (ngx_http_eci_capture(r, ctx, b, cut - pos) != NGX_OK) {
                return NGX_ERROR;
            }

            ngx_http_eci_trim(b, cut - pos);
            b->last_buf = 0;
            b->last_in_chain = 0;

        } else if (ngx_http_eci_capture(r, ctx, b, size) != NGX_OK) {
            return NGX_ERROR;
        }

        pos += size;

        tl = ngx_alloc_chain_link(r->pool);
        if (tl == NULL) {
            return NGX_ERROR;
        }

        tl->buf = b;
        *ll = tl;
        ll = &tl->next;
        tail = b;
    }

    *ll = NULL;

    if (tail != NULL && (flush || found)) {
        tail->flush = 1;
    }

    if (found) {
        ctx->body_cut = 1;
        r->keepalive = 0;

        ngx_http_eci_reflected(r, ctx, "in its body: the response is cut "
                               "before it and the connection closed");

    } else if (last) {
        ctx->response_done = 1;
    }

    rc = (out != NULL) ? ngx_http_next_body_filter(r, out) : NGX_OK;

    while (out != NULL) {
        tl = out->next;
        ngx_free_chain(r->pool, out);
        out = tl;
    }

    ngx_chain_update_chains(r->pool, &ctx->held_free, &ctx->held_busy, &hcl,
                            (ngx_buf_tag_t) &ngx_http_eci_module);

    return found ? ngx_http_eci_cut_close(r, rc) : rc;
}


/*
 * After the cut: NGX_ERROR has nginx close the connection at once (and
 * stop reading the upstream), but drops what waits to be sent; so while
 * bytes before the key wait for a slow caller, what comes is swallowed,
 * and the connection closes when they are out (r->keepalive is off) or
 * with the next piece that finds them out.
 */
static ngx_int_t
ngx_http_eci_cut_close(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_ERROR || !(r->buffered || r->connection->buffered)) {
        return NGX_ERROR;
    }

    return rc;
}


/*
 * Feeds b's bytes to the key scan: NGX_DONE when the key is found, *at
 * then its offset from b's first byte (negative: in the bytes held back
 * before it).  A buffer in a temporary file (a large response proxy_pass
 * buffered, sent with sendfile) is read in pieces.
 */
static ngx_int_t
ngx_http_eci_scan(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_buf_t *b, off_t *at)
{
    off_t      off;
    size_t     n;
    ssize_t    got;
    ngx_int_t  rc;
    ptrdiff_t  where;
    u_char     chunk[4096];

    if (ngx_buf_special(b)) {
        return NGX_OK;
    }

    if (ngx_buf_in_memory(b)) {
        if (eci_keyscan_feed(&ctx->keyscan, b->pos, b->last - b->pos,
                             &where))
        {
            *at = where;
            return NGX_DONE;
        }

        return NGX_OK;
    }

    if (!b->in_file) {
        return NGX_OK;
    }

    rc = NGX_OK;

    for (off = b->file_pos; off < b->file_last; off += got) {
        n = (size_t) ngx_min((off_t) sizeof(chunk), b->file_last - off);

        got = ngx_read_file(b->file, chunk, n, off);
        if (got <= 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: cannot read the buffered response to "
                          "scan it");
            rc = NGX_ERROR;
            break;
        }

        if (eci_keyscan_feed(&ctx->keyscan, chunk, got, &where)) {
            *at = off - b->file_pos + where;
            rc = NGX_DONE;
            break;
        }
    }

    ngx_explicit_memzero(chunk, sizeof(chunk));

    return rc;
}


/*
 * A buffer with the first n bytes held back, to go on: they were the
 * key's first bytes (that is why they were held), so the key says what
 * they are.  A buffer is reused once the caller's connection took it.
 */
static ngx_chain_t *
ngx_http_eci_release_held(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (ctx->held_free != NULL) {
        cl = ctx->held_free;
        ctx->held_free = cl->next;
        b = cl->buf;

    } else {
        b = ngx_create_temp_buf(r->pool, ctx->api_key->len);
        if (b == NULL) {
            return NULL;
        }

        b->tag = (ngx_buf_tag_t) &ngx_http_eci_module;

        cl = ngx_alloc_chain_link(r->pool);
        if (cl == NULL) {
            return NULL;
        }

        cl->buf = b;
    }

    cl->next = NULL;

    b->pos = b->start;
    b->last = ngx_cpymem(b->start, ctx->api_key->value, n);
    b->flush = 0;

    return cl;
}


void
ngx_http_eci_wipe_held(ngx_chain_t *cl)
{
    for ( /* void */ ; cl; cl = cl->next) {
        ngx_explicit_memzero(cl->buf->start, cl->buf->end - cl->buf->start);
    }
}


/* keeps the first size bytes of b (0: consumes it) */
static void
ngx_http_eci_trim(ngx_buf_t *b, off_t size)
{
    if (ngx_buf_in_memory(b)) {
        b->last = b->pos + (size_t) size;
    }

    if (b->in_file) {
        b->file_last = b->file_pos + size;
    }
}


/* the audit's copy and digest of b's first size bytes */
static ngx_int_t
ngx_http_eci_capture(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_buf_t *b, off_t size)
{
    off_t    off, end;
    size_t   n;
    ssize_t  got;
    u_char   chunk[4096];

    if (ngx_buf_special(b) || size == 0) {
        return NGX_OK;
    }

    if (ngx_buf_in_memory(b)) {
        ngx_http_eci_capture_bytes(ctx, b->pos, (size_t) size);
        return NGX_OK;
    }

    if (!b->in_file) {
        return NGX_OK;
    }

    /* a large response proxy_pass buffered to a temporary file */

    end = b->file_pos + size;

    for (off = b->file_pos; off < end; off += got) {
        n = (size_t) ngx_min((off_t) sizeof(chunk), end - off);

        got = ngx_read_file(b->file, chunk, n, off);
        if (got <= 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: cannot read the buffered response for "
                          "the audit");
            return NGX_ERROR;
        }

        ngx_http_eci_capture_bytes(ctx, chunk, got);
    }

    return NGX_OK;
}


static void
ngx_http_eci_capture_bytes(ngx_http_eci_ctx_t *ctx, u_char *p, size_t n)
{
    size_t  room;

    if (n == 0) {
        return;
    }

    ctx->response_bytes += n;
    eci_sha256_update(&ctx->sha256, p, n);

    room = ctx->capture_cap - ctx->capture_len;

    if (n > room) {
        ctx->truncated = 1;
        n = room;
    }

    if (n > 0) {
        ngx_memcpy(ctx->capture + ctx->capture_len, p, n);
        ctx->capture_len += n;
    }
}


/*
 * The upstream body as a ReportDistributionLogResponse.  The record (2.5 KB
 * of string fields) is one per worker, not one per request: in the request
 * pool it took a pool block of its own.  It holds the last request's parse
 * that asked; another request's body is parsed again, with the same
 * result, so the pointer is good until the next call, and no caller keeps
 * it longer (the result line is written at once, a variable copies).
 */
const eci_audit_response_t *
ngx_http_eci_response(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_http_eci_main_conf_t  *emcf;

    /* a body cut short (upstream or caller gone) is never valid */
    if (!ctx->response_done || !ctx->upstream_body) {
        return NULL;
    }

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);

    if (emcf->worker->response_of != ctx->serial) {
        (void) eci_audit_response_parse((const char *) ctx->capture,
                                        ctx->truncated ? 0 : ctx->capture_len,
                                        emcf->worker->response);
        emcf->worker->response_of = ctx->serial;
    }

    return emcf->worker->response;
}
