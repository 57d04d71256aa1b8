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
     * The upstream may not steer an exec anywhere: X-Accel-Redirect is
     * ignored in a gateway location.  Set at configuration time for
     * proxy_pass; a handler of another kind gets a copy of its settings.
     */
    if (!(u->conf->ignore_headers & NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT)) {
        ucf = ngx_palloc(r->pool, sizeof(ngx_http_upstream_conf_t));
        if (ucf == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ucf = *u->conf;
        ucf->ignore_headers |= NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT;
        u->conf = ucf;
    }

    return rc;
}


/*
 * Merge-time part of an eci_gateway location: its content handler is
 * wrapped, and what could send the request (and so an exec) somewhere
 * else is refused or switched off.
 */
char *
ngx_http_eci_proxy_merge(ngx_conf_t *cf, ngx_http_eci_loc_conf_t *elcf)
{
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

    if (clcf->satisfy == NGX_HTTP_SATISFY_ANY) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"satisfy any\" is not allowed in an eci_gateway "
                      "location: a caller that passes one check would be "
                      "identified by a principal nothing verified, in "
                      "%s:%ui", elcf->gateway_file, elcf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (clcf->post_action.data != NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"post_action\" is not allowed in an eci_gateway "
                      "location: it would repeat the exec's request, in "
                      "%s:%ui", elcf->gateway_file, elcf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (clcf->limit_except) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"limit_except\" is not allowed in an eci_gateway "
                      "location: the gateway answers other methods itself, "
                      "in %s:%ui", elcf->gateway_file, elcf->gateway_line);
        return NGX_CONF_ERROR;
    }

    /*
     * proxy_pass's location configuration starts with its
     * ngx_http_upstream_conf_t (so in every nginx version); its own merge
     * has run, as the proxy module comes before any dynamic module.
     */
    ucf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_proxy_module);
    ucf->ignore_headers |= NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT;

    elcf->content = clcf->handler;
    clcf->handler = ngx_http_eci_content_handler;

    return NGX_CONF_OK;
}
