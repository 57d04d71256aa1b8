/*
 * ngx_eci: the per-request context, $request_id and the JSON error body.
 */

/* nginx's headers first: ngx_config.h defines _GNU_SOURCE */
#include "ngx_http_eci_module.h"

#include <openssl/rand.h>


static void ngx_http_eci_ctx_cleanup(void *data);


ngx_http_eci_ctx_t *
ngx_http_eci_create_ctx(ngx_http_request_t *r, ngx_http_eci_loc_conf_t *elcf)
{
    ngx_pool_cleanup_t  *cln;
    ngx_http_eci_ctx_t  *ctx;

    /* a context's address can come back; its serial cannot (2^64) */
    static uint64_t      serial;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_eci_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    /*
     * The cleanup both frees the digest and lets ngx_http_eci_get_ctx()
     * find the context again after an internal redirect (error_page),
     * which clears module contexts: the audit must not be lost.
     */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_eci_ctx_cleanup;
    cln->data = ctx;

    ctx->audit = elcf->audit;
    ctx->audit_body_max = elcf->audit_body_max;
    ctx->api_key = elcf->api_key;
    ctx->request = r;
    ctx->serial = ++serial;

    ngx_http_set_ctx(r, ctx, ngx_http_eci_module);

    return ctx;
}


static void
ngx_http_eci_ctx_cleanup(void *data)
{
    ngx_http_eci_ctx_t  *ctx = data;

    /*
     * Besides freeing: this handler in r->pool's cleanups is how
     * ngx_http_eci_get_ctx() finds the ctx again after an internal
     * redirect, which clears the module ctxs.  A request freed while its
     * intent waits in the batch (an HTTP/2 stream reset) is forgotten
     * there; its line is still written.
     */
    if (ctx->pending != NULL) {
        ngx_http_eci_audit_unqueue(ctx);
    }

    /* bytes held back from the caller were the key's first ones */
    ngx_http_eci_wipe_held(ctx->held_free);
    ngx_http_eci_wipe_held(ctx->held_busy);
}


ngx_http_eci_ctx_t *
ngx_http_eci_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t  *cln;
    ngx_http_eci_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_eci_module);
    if (ctx != NULL || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_eci_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_eci_module);
            return ctx;
        }
    }

    return NULL;
}


/*
 * The request's $request_id.  nginx's own handler calls RAND_bytes() for
 * 16 bytes on every request, and in OpenSSL 3 each call costs about as much
 * as all of the gateway's own checks.  So for a gateway request the 16
 * bytes come from a per-worker buffer that RAND_bytes() fills 4 KB at a
 * time, and the value is stored as the variable's cached value: $request_id
 * in any log_format or header, X-Request-Id, the error body and the audit
 * lines all carry this one id, in nginx's format (32 hex digits).  A value
 * some other module already evaluated is kept.  Request ids are not
 * secrets; they need to be unique and unguessable, which the same CSPRNG
 * gives either way.
 */
ngx_int_t
ngx_http_eci_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    u_char                     *p;
    ngx_http_eci_worker_t      *w;
    ngx_http_variable_value_t  *v;
    ngx_http_eci_main_conf_t   *emcf;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    w = emcf->worker;

    v = &r->variables[emcf->request_id_index];

    if (!v->valid && !v->not_found) {

        if (w->random_left < 16
            && RAND_bytes(w->random, NGX_HTTP_ECI_RANDOM_SIZE) == 1)
        {
            w->random_left = NGX_HTTP_ECI_RANDOM_SIZE;
        }

        p = ngx_pnalloc(r->pool, 32);

        /* else nginx's own handler below, which calls RAND_bytes() itself */
        if (p != NULL && w->random_left >= 16) {
            w->random_left -= 16;

            eci_hex((char *) p, w->random + w->random_left, 16);
            ngx_memzero(w->random + w->random_left, 16);

            v->data = p;
            v->len = 32;
            v->valid = 1;
            v->no_cacheable = 0;
            v->not_found = 0;
        }
    }

    v = ngx_http_get_indexed_variable(r, emcf->request_id_index);
    if (v == NULL || v->not_found) {
        ngx_str_null(id);
        return NGX_ERROR;
    }

    id->data = v->data;
    id->len = v->len;

    return NGX_OK;
}


/*
 * The JSON error body of every error the gateway answers:
 * {"error": "<code>", "message": "<text>", "requestId": "<$request_id>"}
 */
ngx_int_t
ngx_http_eci_error_body(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    eci_error_t error, ngx_str_t *message, ngx_str_t *body)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    rid;
    const char  *code;

    code = eci_errors[error].code;

    (void) ngx_http_eci_request_id(r, &rid);

    len = sizeof("{\"error\":\"\",\"message\":\"\",\"requestId\":\"\"}\n") - 1
          + ngx_strlen(code) + 6 * message->len + 6 * rid.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    p = ngx_cpymem(p, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = ngx_cpymem(p, code, ngx_strlen(code));
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p += eci_json_escape((char *) p, (const char *) message->data,
                         message->len);
    p = ngx_cpymem(p, "\",\"requestId\":\"",
                   sizeof("\",\"requestId\":\"") - 1);
    p += eci_json_escape((char *) p, (const char *) rid.data, rid.len);
    p = ngx_cpymem(p, "\"}\n", sizeof("\"}\n") - 1);

    body->len = p - body->data;

    return NGX_OK;
}


/* wall-clock microseconds, for the load times eci_status reports */
uint64_t
ngx_http_eci_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
