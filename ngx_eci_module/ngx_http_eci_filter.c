/*
 * ngx_eci: the header filter of an eci_gateway location (the body filter
 * is ngx_http_eci_body_filter.c).
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
static ngx_int_t ngx_http_eci_replace(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_error_t error, const char *message);
static ngx_uint_t ngx_http_eci_strip_headers(ngx_http_request_t *r,
    ngx_uint_t all, const eci_key_t *key);
static ngx_uint_t ngx_http_eci_carries(const eci_key_t *key, ngx_str_t *s);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


/* nginx's own error pages in a gateway location, as the gateway's errors */
typedef struct {
    ngx_uint_t                  status;
    eci_error_t                 error;
    const char                 *message;
} ngx_http_eci_error_page_t;

static ngx_http_eci_error_page_t  ngx_http_eci_error_pages[] = {
    { NGX_HTTP_BAD_GATEWAY, ECI_ERROR_UPSTREAM_UNAVAILABLE,
      "the ECI API could not be reached or sent an invalid response" },
    { NGX_HTTP_GATEWAY_TIME_OUT, ECI_ERROR_UPSTREAM_TIMEOUT,
      "the ECI API did not answer in time" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, ECI_ERROR_INVALID_REQUEST,
      "request body too large" },
    { NGX_HTTP_BAD_REQUEST, ECI_ERROR_INVALID_REQUEST, "invalid request" },
    /* e.g. auth_basic: its WWW-Authenticate challenge stays */
    { NGX_HTTP_UNAUTHORIZED, ECI_ERROR_UNAUTHENTICATED,
      "the caller could not be authenticated" },
    { NGX_HTTP_FORBIDDEN, ECI_ERROR_FORBIDDEN, "forbidden" },
    { NGX_HTTP_NOT_ALLOWED, ECI_ERROR_METHOD_NOT_ALLOWED,
      "method not allowed" },
    { NGX_HTTP_REQUEST_TIME_OUT, ECI_ERROR_INVALID_REQUEST,
      "the request was not received in time" },
    { NGX_HTTP_TOO_MANY_REQUESTS, ECI_ERROR_TOO_MANY_REQUESTS,
      "too many requests" },
    { NGX_HTTP_NOT_FOUND, ECI_ERROR_NOT_FOUND, "not found" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, ECI_ERROR_SERVICE_UNAVAILABLE,
      "service unavailable" },
    { 0, ECI_ERROR_INTERNAL_ERROR,
      "the gateway failed to handle the request" }
};


ngx_int_t
ngx_http_eci_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_eci_header_filter;

    ngx_http_eci_body_filter_init();

    return NGX_OK;
}


static ngx_int_t
ngx_http_eci_header_filter(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_str_t                   rid;
    ngx_uint_t                  status, upstream, reflected;
    ngx_http_eci_ctx_t         *ctx;
    ngx_http_eci_loc_conf_t    *elcf;
    ngx_http_eci_error_page_t  *page;

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

    if (ngx_http_eci_request_id(r, &rid) == NGX_OK
        && ngx_http_eci_header_out(r, "X-Request-Id", &rid) != NGX_OK)
    {
        return NGX_ERROR;
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

    for (page = ngx_http_eci_error_pages; page->status; page++) {
        if (page->status == status) {
            break;
        }
    }

    /* the last entry, status 0, is every other status */
    return ngx_http_eci_replace(r, ctx, page->error, page->message);
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
void
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
    i = 0;

    while ((h = ngx_http_eci_header_next(&part, &i)) != NULL) {
        if (h->hash == 0) {
            continue;
        }

        if (all) {
            if (h->key.len == sizeof("X-Request-Id") - 1
                && ngx_strncasecmp(h->key.data, (u_char *) "X-Request-Id",
                                   h->key.len)
                   == 0)
            {
                continue;
            }

            h->hash = 0;
            continue;
        }

        if (ngx_http_eci_header_is(h, "eci-apikey", 10)) {
            h->hash = 0;
            continue;
        }

        if (ngx_http_eci_carries(key, &h->key)
            || ngx_http_eci_carries(key, &h->value))
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


