/*
 * ngx_eci: the pre-content phase handler of an eci_gateway location.
 *
 * identify -> validate -> authorise -> inject -> canonical URI, then
 * proxy_pass forwards.  Whatever it refuses is answered here with the
 * JSON error body and never reaches the upstream.
 */

#include "ngx_http_eci_module.h"

#include <openssl/crypto.h>


static ngx_int_t ngx_http_eci_forward(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_http_eci_loc_conf_t *elcf);
static ngx_int_t ngx_http_eci_deny(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_uint_t status, const char *code,
    const char *fmt, ...);
static ngx_int_t ngx_http_eci_check_content_type(ngx_http_request_t *r,
    ngx_uint_t *count);
static ngx_int_t ngx_http_eci_set_target(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
static ngx_int_t ngx_http_eci_set_headers(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_uint_t add_content_type);
static ngx_uint_t ngx_http_eci_allow_duplicate(ngx_http_request_t *r);
static ngx_table_elt_t *ngx_http_eci_header_find(ngx_http_request_t *r,
    const char *name, size_t len, ngx_uint_t *count);
static void ngx_http_eci_wipe_upstream_request(void *data);


static ngx_str_t  ngx_http_eci_allow_post = ngx_string("POST");


ngx_int_t
ngx_http_eci_access_handler(ngx_http_request_t *r)
{
    u_char                   *q;
    size_t                    cap, path_len;
    int32_t                   denied;
    eci_err_t                 err;
    ngx_str_t                 principal, query, first;
    ngx_uint_t                bypass;
    ngx_uint_t                ct_count;
    eci_acl_rc_t              arc;
    eci_target_rc_t           trc;
    ngx_http_eci_ctx_t       *ctx;
    ngx_http_eci_loc_conf_t  *elcf;
    int                       present;

    elcf = ngx_http_get_module_loc_conf(r, ngx_http_eci_module);

    if (!elcf->enable) {
        return NGX_DECLINED;
    }

    if (r != r->main) {
        /* nothing but the caller's own request is ever authorised */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "eci: subrequest to an eci_gateway location refused");
        return NGX_HTTP_FORBIDDEN;
    }

    ctx = ngx_http_eci_get_ctx(r);

    if (ctx != NULL && ctx->intent_queued && !ctx->decided) {
        /* resumed, or woken, while its intent line waits to be written */
        if (ctx->pending != NULL) {
            return NGX_AGAIN;
        }

        return ngx_http_eci_forward(r, ctx, elcf);
    }

    if (ctx != NULL && ctx->decided) {
        /* an internal redirect back into a gateway location: refuse */
        if (!ctx->allowed) {
            return NGX_HTTP_FORBIDDEN;
        }

        return NGX_OK;
    }

    ctx = ngx_http_eci_create_ctx(r, elcf);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->uri = r->unparsed_uri;

    /* who is asking is known (and audited) even when the request is bad */
    if (ngx_http_complex_value(r, elcf->principal, &principal) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->principal = principal;

    /* the raw target: what nginx decoded and merged is not what we check */

    q = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');

    path_len = (q ? (size_t) (q - r->unparsed_uri.data)
                  : r->unparsed_uri.len);

    if (q != NULL) {
        query.data = q + 1;
        query.len = r->unparsed_uri.data + r->unparsed_uri.len - query.data;

    } else {
        ngx_str_null(&query);
    }

    trc = eci_target_path_parse((const char *) r->unparsed_uri.data, path_len,
                                &ctx->id, &err);

    if (trc == ECI_TARGET_NOT_FOUND) {
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_NOT_FOUND, "not_found",
                                 "no such operation: the gateway serves "
                                 "only POST /api/v202106/reportdistribution/"
                                 "{reportDistributionId}/exec");
    }

    if (trc != ECI_TARGET_OK) {
        ctx->id = 0;
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_BAD_REQUEST,
                                 "invalid_request", "%s", err.msg);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                 "method_not_allowed",
                                 "the exec operation takes POST only");
    }

    cap = eci_target_query_max_ids((const char *) query.data, query.len);

    ctx->overrides = ngx_palloc(r->pool, cap * sizeof(int32_t));
    if (ctx->overrides == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    present = 0;

    if (eci_target_query_parse((const char *) query.data, query.len,
                               ctx->overrides, cap, &ctx->n_overrides,
                               &present, &err)
        != ECI_TARGET_OK)
    {
        ctx->n_overrides = 0;
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_BAD_REQUEST,
                                 "invalid_request", "%s", err.msg);
    }

    ctx->has_overrides = present ? 1 : 0;

    if (ngx_http_eci_check_content_type(r, &ct_count) != NGX_OK) {
        if (ct_count > 1) {
            return ngx_http_eci_deny(r, ctx, NGX_HTTP_BAD_REQUEST,
                                     "invalid_request",
                                     "more than one Content-Type header");
        }

        return ngx_http_eci_deny(r, ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                 "unsupported_media_type",
                                 "Content-Type must be application/json");
    }

    if (principal.len == 0) {
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                 "unauthenticated",
                                 "the caller could not be identified");
    }

    arc = eci_acl_check(elcf->acl->acl, (const char *) principal.data,
                        principal.len, ECI_PERMISSION_EXEC, ctx->id,
                        ctx->overrides, ctx->n_overrides, &denied);

    switch (arc) {

    case ECI_ACL_ALLOW:
        break;

    case ECI_ACL_UNKNOWN_PRINCIPAL:
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_FORBIDDEN, "forbidden",
                                 "the caller has no grant in the gateway "
                                 "ACL");

    case ECI_ACL_NO_PERMISSION:
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_FORBIDDEN, "forbidden",
                                 "the caller lacks the permission "
                                 ECI_PERMISSION_EXEC);

    case ECI_ACL_ID_DENIED:
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_FORBIDDEN, "forbidden",
                                 "the caller may not execute report "
                                 "distribution %d", (int) ctx->id);

    default: /* ECI_ACL_OVERRIDE_DENIED */
        return ngx_http_eci_deny(r, ctx, NGX_HTTP_FORBIDDEN, "forbidden",
                                 "the caller may not send report "
                                 "distribution %d to user %d",
                                 (int) ctx->id, (int) denied);
    }

    if (elcf->exec_guard) {
        bypass = ngx_http_eci_allow_duplicate(r)
                 && eci_acl_allow_duplicate(elcf->acl->acl,
                                            (const char *) principal.data,
                                            principal.len);

        switch (ngx_http_eci_guard_check(r, ctx, elcf->exec_guard, bypass,
                                         &first))
        {
        case NGX_OK:
            break;

        case NGX_DECLINED:
            return ngx_http_eci_deny(r, ctx, NGX_HTTP_CONFLICT,
                                     "duplicate_exec",
                                     "report distribution %d was executed "
                                     "with the same recipients less than "
                                     "%M ms ago by request %V; not sent "
                                     "again", (int) ctx->id,
                                     elcf->exec_guard, &first);

        default:
            return ngx_http_eci_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "service_unavailable",
                                     "the duplicate-exec guard cannot "
                                     "record the exec");
        }
    }

    ctx->add_content_type = (ct_count == 0);
    ctx->intent_queued = 1;

    /* write-ahead: the exec goes on once its intent line is written */
    switch (ngx_http_eci_audit_intent(r, ctx)) {

    case NGX_AGAIN:
        r->write_event_handler = ngx_http_core_run_phases;
        return NGX_AGAIN;

    case NGX_OK:
        break;

    default:
        ctx->intent_failed = 1;
    }

    return ngx_http_eci_forward(r, ctx, elcf);
}


static ngx_int_t
ngx_http_eci_forward(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_http_eci_loc_conf_t *elcf)
{
    /* an exec that cannot be audited must not happen */
    if (ctx->intent_failed && elcf->audit_required) {
        ngx_http_eci_guard_release(r, ctx);

        return ngx_http_eci_deny(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "audit_unavailable",
                                 "the gateway cannot write its audit log; "
                                 "no exec is forwarded until it can");
    }

    if (ngx_http_eci_set_target(r, ctx) != NGX_OK
        || ngx_http_eci_set_headers(r, ctx, ctx->add_content_type) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->decided = 1;
    ctx->allowed = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "eci: allowed \"%V\" exec %D", &ctx->principal,
                   (int) ctx->id);

    /* NGX_OK skips the rest of this phase: no mirror or try_files */
    return NGX_OK;
}


static ngx_int_t
ngx_http_eci_deny(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *fmt, ...)
{
    u_char           *p;
    va_list           args;
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_str_t         body;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;
    u_char            msg[ECI_ERR_LEN];

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    ctx->decided = 1;
    ctx->allowed = 0;
    ctx->error = code;
    ctx->message.len = p - msg;
    ctx->message.data = ngx_pnalloc(r->pool, ctx->message.len);
    if (ctx->message.data == NULL) {
        ctx->message.len = 0;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->message.data, msg, ctx->message.len);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "eci: %s: %V", code, &ctx->message);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_eci_error_body(r, ctx, code, &ctx->message, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_NOT_ALLOWED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value = ngx_http_eci_allow_post;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
    }

    ctx->own_response = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = body.len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = sizeof("application/json") - 1;
    r->headers_out.content_type_lowcase = NULL;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body.data;
    b->last = body.data + body.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    /* answered as a content handler would, then the phases stop here */
    r->write_event_handler = ngx_http_request_empty_handler;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


/*
 * An absent Content-Type is allowed (the gateway sends application/json);
 * one that is present must be application/json, parameters allowed.
 */
static ngx_int_t
ngx_http_eci_check_content_type(ngx_http_request_t *r, ngx_uint_t *count)
{
    u_char           *p, *end;
    ngx_table_elt_t  *ct;

    ct = ngx_http_eci_header_find(r, "content-type", 12, count);

    if (*count == 0) {
        return NGX_OK;
    }

    if (*count > 1) {
        return NGX_DECLINED;
    }

    p = ct->value.data;
    end = p + ct->value.len;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if ((size_t) (end - p) < sizeof("application/json") - 1
        || ngx_strncasecmp(p, (u_char *) "application/json",
                           sizeof("application/json") - 1)
           != 0)
    {
        return NGX_DECLINED;
    }

    p += sizeof("application/json") - 1;

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p != end && *p != ';') {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * What goes upstream is exactly what was authorised: the canonical target,
 * whichever of r->uri/r->args or r->unparsed_uri proxy_pass sends (and
 * $request_uri, should a configuration use it in proxy_pass).
 */
static ngx_int_t
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
 * The caller's request headers, less every spelling of the key header,
 * Authorization (the caller's own secret) and Accept-Encoding (the audit
 * reads an identity body), plus exactly one key header.  The list is
 * rebuilt: proxy_pass forwards every element it finds in it.
 */
static ngx_int_t
ngx_http_eci_set_headers(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_uint_t add_content_type)
{
    ngx_uint_t           i, n;
    ngx_list_t           headers;
    ngx_list_part_t     *part;
    ngx_table_elt_t     *h, *nh;
    ngx_pool_cleanup_t  *cln;

    n = 0;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&headers, r->pool, n + 3, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
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

        if (ngx_http_eci_header_is(&h[i], "eci-apikey", 10)
            || ngx_http_eci_header_is(&h[i], "authorization", 13)
            || ngx_http_eci_header_is(&h[i], "accept-encoding", 15))
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_ERROR;
    }

    /*
     * hash 0: proxy_pass still forwards it, but $http_eci_apikey (and so
     * any log_format or add_header naming it) does not see it.
     */
    ngx_str_set(&nh->key, NGX_HTTP_ECI_KEY_HEADER);
    nh->value.data = (u_char *) ctx->api_key->value;
    nh->value.len = ctx->api_key->len;
    nh->lowcase_key = (u_char *) "eci-apikey";
    nh->hash = 0;
#if (nginx_version >= 1023000)
    nh->next = NULL;
#endif

    nh = ngx_list_push(&headers);
    if (nh == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&nh->key, "Accept-Encoding");
    ngx_str_set(&nh->value, "identity");
    nh->lowcase_key = (u_char *) "accept-encoding";
    nh->hash = ngx_hash_key(nh->lowcase_key, nh->key.len);
#if (nginx_version >= 1023000)
    nh->next = NULL;
#endif

    if (add_content_type) {
        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(&nh->key, "Content-Type");
        ngx_str_set(&nh->value, "application/json");
        nh->lowcase_key = (u_char *) "content-type";
        nh->hash = ngx_hash_key(nh->lowcase_key, nh->key.len);
#if (nginx_version >= 1023000)
        nh->next = NULL;
#endif
        r->headers_in.content_type = nh;
    }

    /* the upstream request proxy_pass builds holds the key: wipe it */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_eci_wipe_upstream_request;
    cln->data = r;

    r->headers_in.headers = headers;
    r->headers_in.authorization = NULL;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    r->headers_in.accept_encoding = NULL;
#endif

    return NGX_OK;
}


/*
 * Header names compare case-insensitively, and '_' as '-': an upstream
 * behind a CGI-style gateway would read ECI_ApiKey as ECI-ApiKey.
 */
ngx_uint_t
ngx_http_eci_header_is(ngx_table_elt_t *h, const char *name, size_t len)
{
    u_char      c;
    ngx_uint_t  i;

    if (h->key.len != len) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = ngx_tolower(h->key.data[i]);

        if (c == '_') {
            c = '-';
        }

        if (c != (u_char) name[i]) {
            return 0;
        }
    }

    return 1;
}


/* "X-ECI-Allow-Duplicate: 1": honoured only where the ACL grants it */
static ngx_uint_t
ngx_http_eci_allow_duplicate(ngx_http_request_t *r)
{
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    h = ngx_http_eci_header_find(r, "x-eci-allow-duplicate", 21, &n);

    return n == 1 && h->value.len == 1 && h->value.data[0] == '1';
}


/* the last of the caller's headers called name, and how many there are */
static ngx_table_elt_t *
ngx_http_eci_header_find(ngx_http_request_t *r, const char *name,
    size_t len, ngx_uint_t *count)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    *count = 0;
    found = NULL;

    part = &r->headers_in.headers.part;
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

        if (ngx_http_eci_header_is(&h[i], name, len)) {
            (*count)++;
            found = &h[i];
        }
    }

    return found;
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
