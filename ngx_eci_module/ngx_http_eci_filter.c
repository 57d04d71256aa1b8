/*
 * ngx_eci: header and body filters of an eci_gateway location.
 *
 * They strip a key the upstream might echo, stamp X-Request-Id, turn an
 * upstream 401 (a gateway problem, not the caller's) and nginx's own
 * error pages into the gateway's JSON errors, and capture the upstream
 * body for the audit while it streams to the caller.
 *
 * An upstream response that carries the key's bytes anywhere else (any
 * header, the status line, the body) never hands them to the caller: in
 * the header it becomes 502 upstream_reflected_key; in the body, which
 * streams undelayed but for the few bytes at the end of what arrived that
 * could begin the key, the response is cut where the key begins and the
 * connection closed without the response's end.
 */

#include "ngx_http_eci_module.h"


/* the message of upstream_reflected_key */
#define NGX_HTTP_ECI_REFLECTED                                               \
    "the ECI API sent the gateway's credentials back; the operators have "   \
    "been told"


static ngx_int_t ngx_http_eci_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_eci_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_eci_replace(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_error_t error, const char *message);
static ngx_uint_t ngx_http_eci_strip_headers(ngx_http_request_t *r,
    ngx_uint_t all, const eci_key_t *key);
static ngx_uint_t ngx_http_eci_carries(const eci_key_t *key, ngx_str_t *s);
static void ngx_http_eci_reflected(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, const char *where);
static ngx_int_t ngx_http_eci_pass_body(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_eci_scan(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_buf_t *b, off_t *at);
static ngx_int_t ngx_http_eci_cut_close(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_chain_t *ngx_http_eci_release_held(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, size_t n);
static void ngx_http_eci_trim(ngx_buf_t *b, off_t size);
static ngx_int_t ngx_http_eci_capture(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_buf_t *b, off_t size);
static void ngx_http_eci_capture_bytes(ngx_http_eci_ctx_t *ctx, u_char *p,
    size_t n);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_eci_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_eci_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_eci_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_eci_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  rid;
    ngx_uint_t                 status, upstream, reflected;
    ngx_table_elt_t           *h;
    ngx_http_eci_ctx_t        *ctx;
    ngx_http_eci_loc_conf_t   *elcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_eci_get_ctx(r);

    if (ctx == NULL) {
        elcf = ngx_http_get_module_loc_conf(r, ngx_http_eci_module);

        if (!elcf->enable) {
            return ngx_http_next_header_filter(r);
        }

        /* answered before the gateway ran, e.g. by "return" */
        ctx = ngx_http_eci_create_ctx(r, elcf);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    /* the upstream's own response: looked at for the key too */
    upstream = !ctx->own_response && ctx->allowed && r->upstream != NULL
               && r->err_status == 0;

    reflected = ngx_http_eci_strip_headers(r, 0,
                                           upstream ? ctx->api_key : NULL);

    if (ngx_http_eci_request_id(r, &rid) == NGX_OK) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-Request-Id");
        h->value = rid;
        ngx_http_eci_header_end(h);
    }

    if (ctx->own_response) {
        return ngx_http_next_header_filter(r);
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (upstream) {
        ctx->upstream_body = 1;

        if (reflected
            || ngx_http_eci_carries(ctx->api_key,
                                    &r->headers_out.status_line)
            || ngx_http_eci_carries(ctx->api_key,
                                    &r->headers_out.content_type)
            || ngx_http_eci_carries(ctx->api_key, &r->headers_out.charset))
        {
            ngx_http_eci_reflected(r, ctx, "in its header: the caller "
                                   "gets 502");

            r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
            r->headers_out.status_line.len = 0;

            rc = ngx_http_eci_replace(r, ctx, ECI_ERROR_UPSTREAM_REFLECTED_KEY,
                                      NGX_HTTP_ECI_REFLECTED);

            /* nothing of a body that came with the key is kept */
            ctx->upstream_body = 0;

            return rc;
        }

        eci_sha256_init(&ctx->sha256);

        /* bounded: at most eci_audit_body_max per request */
        ctx->capture_cap = ctx->audit_body_max;

        if (r->headers_out.content_length_n >= 0
            && r->headers_out.content_length_n < (off_t) ctx->capture_cap)
        {
            ctx->capture_cap = (size_t) r->headers_out.content_length_n;
        }

        if (ctx->capture_cap > 0) {
            ctx->capture = ngx_pnalloc(r->pool, ctx->capture_cap);
            if (ctx->capture == NULL) {
                return NGX_ERROR;
            }
        }

        if (ctx->api_key != NULL) {
            eci_keyscan_init(&ctx->keyscan, ctx->api_key->value,
                             ctx->api_key->len);
        }

        if (status == NGX_HTTP_UNAUTHORIZED) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: the ECI API rejected API key \"%s\" "
                          "(fingerprint %s) with 401: the key is wrong, "
                          "revoked, or its user lacks " ECI_PERMISSION_EXEC,
                          ctx->api_key->name, ctx->api_key->fingerprint);

            r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
            r->headers_out.status_line.len = 0;

            return ngx_http_eci_replace(r, ctx, ECI_ERROR_UPSTREAM_REJECTED_KEY,
                                        "the ECI API rejected the gateway's "
                                        "credentials; the operators have "
                                        "been told");
        }

        return ngx_http_next_header_filter(r);
    }

    if (status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    /* an error page of nginx's own: the same JSON as the gateway's */

    switch (status) {

    case NGX_HTTP_BAD_GATEWAY:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_UPSTREAM_UNAVAILABLE,
                                    "the ECI API could not be reached or "
                                    "sent an invalid response");

    case NGX_HTTP_GATEWAY_TIME_OUT:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_UPSTREAM_TIMEOUT,
                                    "the ECI API did not answer in time");

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_INVALID_REQUEST,
                                    "request body too large");

    case NGX_HTTP_BAD_REQUEST:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_INVALID_REQUEST,
                                    "invalid request");

    case NGX_HTTP_UNAUTHORIZED:
        /* e.g. auth_basic: its WWW-Authenticate challenge stays */
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_UNAUTHENTICATED,
                                    "the caller could not be "
                                    "authenticated");

    case NGX_HTTP_FORBIDDEN:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_FORBIDDEN, "forbidden");

    case NGX_HTTP_NOT_ALLOWED:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_METHOD_NOT_ALLOWED,
                                    "method not allowed");

    case NGX_HTTP_REQUEST_TIME_OUT:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_INVALID_REQUEST,
                                    "the request was not received in "
                                    "time");

    case NGX_HTTP_TOO_MANY_REQUESTS:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_TOO_MANY_REQUESTS,
                                    "too many requests");

    case NGX_HTTP_NOT_FOUND:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_NOT_FOUND, "not found");

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_SERVICE_UNAVAILABLE,
                                    "service unavailable");

    default:
        return ngx_http_eci_replace(r, ctx, ECI_ERROR_INTERNAL_ERROR,
                                    "the gateway failed to handle the "
                                    "request");
    }
}


static ngx_int_t
ngx_http_eci_replace(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    eci_error_t error, const char *message)
{
    ngx_str_t  msg;

    if (ctx->error == ECI_ERROR_NONE) {
        ctx->error = error;
        ctx->message.data = (u_char *) message;
        ctx->message.len = ngx_strlen(message);
    }

    msg.data = (u_char *) message;
    msg.len = ngx_strlen(message);

    if (ngx_http_eci_error_body(r, ctx, error, &msg, &ctx->body) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->replace_body = 1;

    /*
     * nothing of the upstream's replaced response describes the new body;
     * a relative Location would be written again (absolute_redirect)
     */
    if (ctx->upstream_body) {
        (void) ngx_http_eci_strip_headers(r, 1, NULL);
        r->headers_out.location = NULL;
    }

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (r->headers_out.content_encoding != NULL) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    r->headers_out.content_length_n = ctx->body.len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;
    ngx_str_null(&r->headers_out.charset);

    return ngx_http_next_header_filter(r);
}


/* the key came back: the error, and a log line that names it, never shows */
static void
ngx_http_eci_reflected(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    const char *where)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "eci: the ECI API's response carried API key \"%s\" "
                  "(fingerprint %s) %s",
                  ctx->api_key->name, ctx->api_key->fingerprint, where);

    if (ctx->error == ECI_ERROR_NONE) {
        ctx->error = ECI_ERROR_UPSTREAM_REFLECTED_KEY;
        ngx_str_set(&ctx->message, NGX_HTTP_ECI_REFLECTED);
    }
}


/*
 * Removes any spelling of the key header from the response; with all,
 * every header but the ones the gateway itself set.  With key, says
 * whether a header left carries its bytes, in its name or its value
 * (Location, Refresh, Set-Cookie, ...).
 */
static ngx_uint_t
ngx_http_eci_strip_headers(ngx_http_request_t *r, ngx_uint_t all,
    const eci_key_t *key)
{
    ngx_uint_t        i, found;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    found = 0;

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0) {
            continue;
        }

        if (all) {
            if (h[i].key.len == sizeof("X-Request-Id") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "X-Request-Id",
                                   h[i].key.len)
                   == 0)
            {
                continue;
            }

            h[i].hash = 0;
            continue;
        }

        if (ngx_http_eci_header_is(&h[i], "eci-apikey", 10)) {
            h[i].hash = 0;
            continue;
        }

        if (ngx_http_eci_carries(key, &h[i].key)
            || ngx_http_eci_carries(key, &h[i].value))
        {
            found = 1;
        }
    }

    return found;
}


static ngx_uint_t
ngx_http_eci_carries(const eci_key_t *key, ngx_str_t *s)
{
    return key != NULL
           && eci_keyscan_contains(s->data, s->len, key->value, key->len);
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
