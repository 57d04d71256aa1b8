/*
 * ngx_eci: inject: what an allowed exec sends upstream.  The canonical
 * target replaces the caller's URI; the upstream header list holds the
 * caller's allowlisted headers, eci_forward_header's, and exactly one
 * ECI-ApiKey, and is handed to proxy_pass only while it builds the
 * request (ngx_http_eci_proxy.c).
 */

#include "ngx_http_eci_module.h"

#include <openssl/crypto.h>


static ngx_uint_t ngx_http_eci_forwarded(ngx_table_elt_t *h,
    ngx_http_eci_loc_conf_t *elcf);
static ngx_table_elt_t *ngx_http_eci_header_add(ngx_list_t *headers,
    const char *key, const char *lowcase, u_char *value, size_t len);
static void ngx_http_eci_wipe_upstream_request(void *data);


/*
 * What goes upstream is exactly what was authorised: the canonical target,
 * whichever of r->uri/r->args or r->unparsed_uri proxy_pass sends (and
 * $request_uri, should a configuration use it in proxy_pass).
 */
ngx_int_t
ngx_http_eci_set_target(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    u_char  *p;
    size_t   len, n, path_len;

    len = eci_target_canonical_len(ctx->id, ctx->overrides,
                                   ctx->n_overrides);

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    n = eci_target_canonical_write((char *) p, len, ctx->id, ctx->overrides,
                                   ctx->n_overrides, &path_len);
    if (n == 0) {
        return NGX_ERROR;
    }

    r->unparsed_uri.data = p;
    r->unparsed_uri.len = n;
    r->valid_unparsed_uri = 1;

    r->uri.data = p;
    r->uri.len = path_len;

    if (path_len < n) {
        r->args.data = p + path_len + 1;
        r->args.len = n - path_len - 1;

    } else {
        ngx_str_null(&r->args);
    }

    r->quoted_uri = 0;
    r->complex_uri = 0;
    r->plus_in_uri = 0;
    r->empty_path_in_uri = 0;
    ngx_str_null(&r->exten);

    return NGX_OK;
}


/*
 * Two lists of request headers.  The caller's, as nginx keeps it for
 * variables and logs, loses every spelling of the key header and
 * Authorization (the caller's own secret).  The upstream's, which
 * proxy_pass reads only while ngx_http_eci_content_handler() runs, holds
 * the allowlisted caller headers (Accept, Accept-Language, User-Agent and
 * eci_forward_header's), Accept-Encoding: identity (the audit reads an
 * identity body), Content-Type: application/json and exactly one key
 * header.  Headers the location sets with proxy_set_header are added by
 * proxy_pass itself.
 */
ngx_int_t
ngx_http_eci_set_headers(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_http_eci_loc_conf_t *elcf)
{
    ngx_uint_t           i, n;
    ngx_list_t           caller;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h, *nh;
    ngx_pool_cleanup_t  *cln;

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&caller, r->pool, n + 1, sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&ctx->upstream_headers, r->pool, 8,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    i = 0;

    while ((h = ngx_http_eci_header_next(&part, &i)) != NULL) {
        if (ngx_http_eci_header_is(h, "eci-apikey", 10)
            || ngx_http_eci_header_is(h, "authorization", 13))
        {
            continue;
        }

        nh = ngx_list_push(&caller);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = *h;

        if (!ngx_http_eci_forwarded(h, elcf)) {
            continue;
        }

        nh = ngx_list_push(&ctx->upstream_headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = *h;
        ngx_http_eci_header_end(nh);
    }

    /*
     * hash 0: $http_eci_apikey would not see it, were the list ever
     * read by a variable while it is in place.
     */
    nh = ngx_http_eci_header_add(&ctx->upstream_headers,
                                 NGX_HTTP_ECI_KEY_HEADER, "eci-apikey",
                                 (u_char *) ctx->api_key->value,
                                 ctx->api_key->len);
    if (nh == NULL) {
        return NGX_ERROR;
    }

    nh->hash = 0;

    if (ngx_http_eci_header_add(&ctx->upstream_headers, "Accept-Encoding",
                                "accept-encoding", (u_char *) "identity", 8)
        == NULL
        || ngx_http_eci_header_add(&ctx->upstream_headers, "Content-Type",
                                   "content-type",
                                   (u_char *) "application/json", 16)
           == NULL)
    {
        return NGX_ERROR;
    }

    /* the upstream request proxy_pass builds holds the key: wipe it */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_eci_wipe_upstream_request;
    cln->data = r;

    r->headers_in.headers = caller;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


/* a caller header that goes upstream: the default allowlist and more */
static ngx_uint_t
ngx_http_eci_forwarded(ngx_table_elt_t *h, ngx_http_eci_loc_conf_t *elcf)
{
    ngx_str_t   *name;
    ngx_uint_t   i;

    if (ngx_http_eci_header_is(h, "accept", 6)
        || ngx_http_eci_header_is(h, "accept-language", 15)
        || ngx_http_eci_header_is(h, "user-agent", 10))
    {
        return 1;
    }

    if (elcf->forward_headers == NULL) {
        return 0;
    }

    name = elcf->forward_headers->elts;

    for (i = 0; i < elcf->forward_headers->nelts; i++) {
        /* exactly as named: "_" is not "-" here */
        if (h->key.len == name[i].len
            && ngx_strncasecmp(h->key.data, name[i].data, name[i].len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_table_elt_t *
ngx_http_eci_header_add(ngx_list_t *headers, const char *key,
    const char *lowcase, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NULL;
    }

    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->lowcase_key = (u_char *) lowcase;
    h->hash = ngx_hash_key(h->lowcase_key, h->key.len);
    h->value.data = value;
    h->value.len = len;
    ngx_http_eci_header_end(h);

    return h;
}


/*
 * The header block proxy_pass sent upstream is the first buffer of
 * u->request_bufs, in this request's pool: wiped before the pool is
 * freed, so no copy of the key lingers in freed heap (or a core dump).
 */
static void
ngx_http_eci_wipe_upstream_request(void *data)
{
    ngx_http_request_t *r = data;

    ngx_buf_t  *b;

    if (r->upstream == NULL || r->upstream->request_bufs == NULL) {
        return;
    }

    b = r->upstream->request_bufs->buf;

    if (b != NULL && b->temporary && b->start != NULL) {
        OPENSSL_cleanse(b->start, b->end - b->start);
    }
}
