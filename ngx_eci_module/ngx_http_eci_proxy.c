/*
 * ngx_eci: where the gateway meets proxy_pass.
 *
 * An eci_gateway location's content handler is this wrapper around the
 * one proxy_pass installed.  The key exists in the request only while the
 * wrapped handler builds the upstream request, which it does at once: the
 * request body is already read, so proxy_pass's create_request() runs
 * before the handler returns.  During that call
 *
 *   - r->headers_in.headers is the list the access handler built for
 *     upstream (the allowlisted caller headers, the key), and the caller's
 *     own list is back in place afterwards: an internal redirect, an
 *     error_page, a post_action or a log_format never sees the key;
 *   - nginx's debug log is off for this connection: proxy_pass logs every
 *     header it sends ("http proxy header: ...") at debug level.
 *
 * An upstream request built later (it cannot be here, but a module that
 * defers it) gets no key: the gateway fails closed.
 */

#include "ngx_http_eci_module.h"


static void ngx_http_eci_client_check(ngx_http_request_t *r);


/* a static module of nginx's, in every nginx that can run the gateway */
extern ngx_module_t  ngx_http_proxy_module;


ngx_int_t
ngx_http_eci_content_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_log_t                 *log;
    ngx_uint_t                 level;
    ngx_list_t                 caller;
    ngx_http_eci_ctx_t        *ctx;
    ngx_http_upstream_t       *u;
    ngx_http_upstream_conf_t  *ucf;
    ngx_http_eci_loc_conf_t   *elcf;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_eci_module);

    ctx = ngx_http_eci_get_ctx(r);

    if (r != r->main || ctx == NULL || !ctx->allowed || ctx->proxied
        || elcf->content == NULL)
    {
        /* only an exec the access handler allowed, and only once */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "eci: no upstream request without the gateway's "
                      "decision");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->proxied = 1;

    caller = r->headers_in.headers;
    r->headers_in.headers = ctx->upstream_headers;

    /*
     * Debug logging off for the call, other levels as they were; with
     * debug_connection every level is logged, as before.
     */
    log = r->connection->log;
    level = log->log_level;

    if (level & NGX_LOG_DEBUG_CONNECTION) {
        log->log_level = NGX_LOG_DEBUG;

    } else {
        log->log_level = level & ~NGX_LOG_DEBUG_ALL;
    }

    rc = elcf->content(r);

    log->log_level = level;
    r->headers_in.headers = caller;

    u = r->upstream;

    if (u == NULL || u->request_bufs == NULL) {
        if (rc == NGX_DONE || rc == NGX_OK || rc == NGX_AGAIN) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: the upstream request was not built at "
                          "once; it is sent without the key");
        }

        return rc;
    }

    ctx->key_sent = 1;

    /*
     * The upstream may not steer an exec anywhere (X-Accel-Redirect is
     * ignored), and an exec once sent is finished whatever the caller does
     * (proxy_ignore_client_abort on).  Set at configuration time for
     * proxy_pass; a handler of another kind gets a copy of its settings.
     */
    if (!(u->conf->ignore_headers & NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT)
        || !u->conf->ignore_client_abort)
    {
        ucf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
        if (ucf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ucf = *u->conf;
        ucf->ignore_headers |= NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT;
        ucf->ignore_client_abort = 1;
        u->conf = ucf;
    }

    /* when the caller leaves is noticed (and audited), nothing more */
    if (r->stream == NULL && !r->connection->error) {
        r->read_event_handler = ngx_http_eci_client_check;
    }

    return rc;
}


/*
 * The caller's connection became readable while the exec is under way:
 * either its next pipelined request, or it closed.  A close is only noted
 * (time and fact, for the result line): the upstream exchange goes on.
 */
static void
ngx_http_eci_client_check(ngx_http_request_t *r)
{
    int                  n;
    char                 buf[1];
    ngx_err_t            err;
    ngx_time_t          *tp;
    ngx_event_t         *rev;
    ngx_connection_t    *c;
    ngx_http_eci_ctx_t  *ctx;

    c = r->connection;
    rev = c->read;

    ctx = ngx_http_eci_get_ctx(r);

    if (ctx == NULL || ctx->client_closed) {
        goto stop;
    }

    n = recv(c->fd, buf, 1, MSG_PEEK);
    err = ngx_socket_errno;

    if (n > 0 || (n == -1 && err == NGX_EAGAIN)) {
        /* a pipelined request, or nothing: read it after this one */
        goto stop;
    }

    ctx->client_closed = 1;

    tp = ngx_timeofday();
    ctx->client_closed_ms = (int64_t) tp->sec * 1000 + tp->msec;

    ngx_log_error(NGX_LOG_INFO, c->log, err,
                  "eci: the caller closed the connection while exec %D was "
                  "under way; the exec is finished and audited",
                  (int) ctx->id);

stop:

    if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && rev->active) {
        if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    r->read_event_handler = ngx_http_block_reading;
}


/*
 * Merge-time part of an eci_gateway location: its content handler is
 * wrapped, and what could send the request (and so an exec) somewhere
 * else is refused or switched off.
 */
char *
ngx_http_eci_proxy_merge(ngx_conf_t *cf, ngx_http_eci_loc_conf_t *elcf)
{
    const char                *refused;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_upstream_conf_t  *ucf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_eci_content_handler) {
        return NGX_CONF_OK;
    }

    if (clcf->handler == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"eci_gateway\" needs \"proxy_pass\" in the same "
                      "location in %s:%ui",
                      elcf->gateway_file, elcf->gateway_line);
        return NGX_CONF_ERROR;
    }

    /*
     * proxy_pass's location configuration starts with its
     * ngx_http_upstream_conf_t (so in every nginx version); its own merge
     * has run, as the proxy module comes before any dynamic module.
     */
    ucf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_proxy_module);

    /* what the location must not have, and what it would break */
    refused = NULL;

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        refused = "\"satisfy any\" is not allowed in an eci_gateway "
                  "location: a caller that passes one check would be "
                  "identified by a principal nothing verified";

    } else if (clcf->post_action.data != NULL) {
        refused = "\"post_action\" is not allowed in an eci_gateway "
                  "location: it would repeat the exec's request";

    } else if (clcf->limit_except) {
        refused = "\"limit_except\" is not allowed in an eci_gateway "
                  "location: the gateway answers other methods itself";

    } else if (ucf->next_upstream & NGX_HTTP_UPSTREAM_FT_NON_IDEMPOTENT) {
        refused = "\"proxy_next_upstream non_idempotent\" is not allowed in "
                  "an eci_gateway location: an exec retried on another "
                  "server is a second distribution";
    }

    if (refused != NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%s, in %s:%ui", refused,
                      elcf->gateway_file, elcf->gateway_line);
        return NGX_CONF_ERROR;
    }

    ucf->ignore_headers |= NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT;
    ucf->ignore_client_abort = 1;

    elcf->content = clcf->handler;
    clcf->handler = ngx_http_eci_content_handler;

    return NGX_CONF_OK;
}
