/*
 * ngx_eci: header and body filters of an eci_gateway location.
 *
 * They strip a key the upstream might echo, stamp X-Request-Id, turn an
 * upstream 401 (a gateway problem, not the caller's) and nginx's own
 * error pages into the gateway's JSON errors, and capture the upstream
 * body for the audit while it streams to the caller undelayed.
 */

#include "ngx_http_eci_module.h"


static ngx_int_t ngx_http_eci_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_eci_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_eci_replace(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, const char *code, const char *message);
static void ngx_http_eci_strip_headers(ngx_http_request_t *r,
    ngx_uint_t all);
static ngx_int_t ngx_http_eci_capture(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_buf_t *b);
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
    ngx_str_t                  rid;
    ngx_uint_t                 status;
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

    ngx_http_eci_strip_headers(r, 0);

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

    if (ctx->allowed && r->upstream != NULL && r->err_status == 0) {

        /* the upstream's own response */

        ctx->upstream_body = 1;

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

        if (status == NGX_HTTP_UNAUTHORIZED) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: the ECI API rejected API key \"%s\" "
                          "(fingerprint %s) with 401: the key is wrong, "
                          "revoked, or its user lacks " ECI_PERMISSION_EXEC,
                          ctx->api_key->name, ctx->api_key->fingerprint);

            r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
            r->headers_out.status_line.len = 0;

            return ngx_http_eci_replace(r, ctx, "upstream_rejected_key",
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
        return ngx_http_eci_replace(r, ctx, "upstream_unavailable",
                                    "the ECI API could not be reached or "
                                    "sent an invalid response");

    case NGX_HTTP_GATEWAY_TIME_OUT:
        return ngx_http_eci_replace(r, ctx, "upstream_timeout",
                                    "the ECI API did not answer in time");

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return ngx_http_eci_replace(r, ctx, "invalid_request",
                                    "request body too large");

    case NGX_HTTP_BAD_REQUEST:
        return ngx_http_eci_replace(r, ctx, "invalid_request",
                                    "invalid request");

    case NGX_HTTP_UNAUTHORIZED:
        /* e.g. auth_basic: its WWW-Authenticate challenge stays */
        return ngx_http_eci_replace(r, ctx, "unauthenticated",
                                    "the caller could not be "
                                    "authenticated");

    case NGX_HTTP_FORBIDDEN:
        return ngx_http_eci_replace(r, ctx, "forbidden", "forbidden");

    case NGX_HTTP_NOT_ALLOWED:
        return ngx_http_eci_replace(r, ctx, "method_not_allowed",
                                    "method not allowed");

    case NGX_HTTP_REQUEST_TIME_OUT:
        return ngx_http_eci_replace(r, ctx, "invalid_request",
                                    "the request was not received in "
                                    "time");

    case NGX_HTTP_TOO_MANY_REQUESTS:
        return ngx_http_eci_replace(r, ctx, "too_many_requests",
                                    "too many requests");

    case NGX_HTTP_NOT_FOUND:
        return ngx_http_eci_replace(r, ctx, "not_found", "not found");

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return ngx_http_eci_replace(r, ctx, "service_unavailable",
                                    "service unavailable");

    default:
        return ngx_http_eci_replace(r, ctx, "internal_error",
                                    "the gateway failed to handle the "
                                    "request");
    }
}


static ngx_int_t
ngx_http_eci_replace(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    const char *code, const char *message)
{
    ngx_str_t  msg;

    if (ctx->error == NULL) {
        ctx->error = code;
        ctx->message.data = (u_char *) message;
        ctx->message.len = ngx_strlen(message);
    }

    msg.data = (u_char *) message;
    msg.len = ngx_strlen(message);

    if (ngx_http_eci_error_body(r, ctx, code, &msg, &ctx->body) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->replace_body = 1;

    /* nothing of the upstream's replaced response describes the new body */
    if (ctx->upstream_body) {
        ngx_http_eci_strip_headers(r, 1);
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


/*
 * Removes any spelling of the key header from the response; with all,
 * every header but the ones the gateway itself set.
 */
static void
ngx_http_eci_strip_headers(ngx_http_request_t *r, ngx_uint_t all)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

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
        }
    }
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

    if (ctx->upstream_body) {
        for (cl = in; cl; cl = cl->next) {
            if (ngx_http_eci_capture(r, ctx, cl->buf) != NGX_OK) {
                return NGX_ERROR;
            }

            if (cl->buf->last_buf) {
                ctx->response_done = 1;
            }
        }
    }

    if (!ctx->replace_body) {
        return ngx_http_next_body_filter(r, in);
    }

    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (b->last_buf) {
            last = 1;
        }

        /* consumed: the replaced body never reaches the caller */
        b->pos = b->last;

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    if (!last || ctx->body_sent) {
        return NGX_OK;
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


static ngx_int_t
ngx_http_eci_capture(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_buf_t *b)
{
    off_t    off;
    size_t   n;
    ssize_t  got;
    u_char   chunk[4096];

    if (ngx_buf_special(b)) {
        return NGX_OK;
    }

    if (ngx_buf_in_memory(b)) {
        ngx_http_eci_capture_bytes(ctx, b->pos, b->last - b->pos);
        return NGX_OK;
    }

    if (!b->in_file) {
        return NGX_OK;
    }

    /* a large response proxy_pass buffered to a temporary file */

    for (off = b->file_pos; off < b->file_last; off += got) {
        n = (size_t) ngx_min((off_t) sizeof(chunk), b->file_last - off);

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

    if (emcf->response_of != ctx->serial) {
        (void) eci_audit_response_parse((const char *) ctx->capture,
                                        ctx->truncated ? 0 : ctx->capture_len,
                                        emcf->response);
        emcf->response_of = ctx->serial;
    }

    return emcf->response;
}
