/*
 * ngx_eci: the pre-content phase handler of an eci_gateway location.
 *
 * identify -> validate -> authorise -> inject -> canonical URI, then
 * proxy_pass forwards.  Whatever it refuses is answered here with the
 * JSON error body and never reaches the upstream.
 */

#include "ngx_http_eci_module.h"


static ngx_int_t ngx_http_eci_forward(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_http_eci_loc_conf_t *elcf);
static ngx_int_t ngx_http_eci_deny(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_error_t error, const char *fmt, ...);
static ngx_int_t ngx_http_eci_check_request(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_http_eci_loc_conf_t *elcf);
static ngx_int_t ngx_http_eci_read_body(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
static void ngx_http_eci_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_eci_check_body(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
static ngx_int_t ngx_http_eci_authorise(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_http_eci_loc_conf_t *elcf);
static ngx_int_t ngx_http_eci_reentry(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
static void ngx_http_eci_candidate(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_http_eci_loc_conf_t *elcf,
    eci_acl_rc_t enforced);
static ngx_int_t ngx_http_eci_check_content_type(ngx_http_request_t *r,
    ngx_uint_t *count);
static ngx_uint_t ngx_http_eci_allow_duplicate(ngx_http_request_t *r);
static ngx_table_elt_t *ngx_http_eci_header_find(ngx_http_request_t *r,
    const char *name, size_t len, ngx_uint_t *count);


static ngx_str_t  ngx_http_eci_allow_post = ngx_string("POST");


ngx_int_t
ngx_http_eci_access_handler(ngx_http_request_t *r)
{
    ngx_int_t                 rc;
    ngx_http_eci_ctx_t       *ctx;
    ngx_http_eci_loc_conf_t  *elcf;

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

    if (ctx != NULL && ctx->decided) {
        return ngx_http_eci_reentry(r, ctx);
    }

    if (ctx != NULL && ctx->intent_queued) {
        /* resumed, or woken, while its intent line waits to be written */
        if (ctx->pending != NULL) {
            return NGX_AGAIN;
        }

        return ngx_http_eci_forward(r, ctx, elcf);
    }

    if (ctx == NULL || !ctx->checked) {
        if (ctx == NULL) {
            ctx = ngx_http_eci_create_ctx(r, elcf);
            if (ctx == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        rc = ngx_http_eci_check_request(r, ctx, elcf);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->checked = 1;
    }

    if (!ctx->body_read) {
        /* the phases go on from the body handler, also when read at once */
        return ngx_http_eci_read_body(r, ctx);
    }

    rc = ngx_http_eci_check_body(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_eci_authorise(r, ctx, elcf);
}


/* the target, the method, the query and Content-Type, strictly */
static ngx_int_t
ngx_http_eci_check_request(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_http_eci_loc_conf_t *elcf)
{
    u_char           *q;
    size_t            cap, path_len;
    eci_err_t         err;
    ngx_str_t         principal, query;
    ngx_uint_t        ct_count;
    eci_target_rc_t   trc;
    int               present;

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
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_NOT_FOUND,
                                 "no such operation: the gateway serves "
                                 "only POST /api/v202106/reportdistribution/"
                                 "{reportDistributionId}/exec");
    }

    if (trc != ECI_TARGET_OK) {
        ctx->id = 0;
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_INVALID_REQUEST, "%s",
                                 err.msg);
    }

    if (r->method != NGX_HTTP_POST) {
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_METHOD_NOT_ALLOWED,
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
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_INVALID_REQUEST, "%s",
                                 err.msg);
    }

    ctx->has_overrides = present ? 1 : 0;

    if (ngx_http_eci_check_content_type(r, &ct_count) != NGX_OK) {
        if (ct_count > 1) {
            return ngx_http_eci_deny(r, ctx, ECI_ERROR_INVALID_REQUEST,
                                     "more than one Content-Type header");
        }

        return ngx_http_eci_deny(r, ctx, ECI_ERROR_UNSUPPORTED_MEDIA_TYPE,
                                 "Content-Type must be application/json");
    }

    return NGX_OK;
}


/*
 * The exec takes no body.  What the caller sent is read (it is small, or
 * refused unread) so that it can be refused or dropped: authorising
 * exactly what is sent covers the body too, and ECI's model binding might
 * read recipients from one.
 */
static ngx_int_t
ngx_http_eci_read_body(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (r->headers_in.content_length_n > NGX_HTTP_ECI_BODY_MAX) {
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_INVALID_REQUEST,
                                 "the exec operation takes no request "
                                 "body; recipients go in overrideUserIds");
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_eci_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);
    return NGX_DONE;
}


static void
ngx_http_eci_body_handler(ngx_http_request_t *r)
{
    ngx_http_eci_ctx_t  *ctx;

    ctx = ngx_http_eci_get_ctx(r);
    if (ctx == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->body_read = 1;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


/*
 * Empty, or "{}" with JSON white space: accepted, and nothing goes
 * upstream (Content-Length: 0).  Anything else is refused.
 */
static ngx_int_t
ngx_http_eci_check_body(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    u_char       *p;
    ngx_uint_t    state;
    ngx_chain_t  *cl;

    state = 0;    /* 0: before "{", 1: inside, 2: after "}", 3: bad */

    if (r->request_body != NULL) {
        for (cl = r->request_body->bufs; cl && state != 3; cl = cl->next) {

            if (ngx_buf_special(cl->buf)) {
                continue;
            }

            if (!ngx_buf_in_memory(cl->buf) || cl->buf->in_file) {
                /* only a body larger than client_body_buffer_size */
                state = 3;
                break;
            }

            for (p = cl->buf->pos; p < cl->buf->last; p++) {
                if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
                    continue;
                }

                if (*p == '{' && state == 0) {
                    state = 1;

                } else if (*p == '}' && state == 1) {
                    state = 2;

                } else {
                    state = 3;
                    break;
                }
            }
        }

        r->request_body->bufs = NULL;
    }

    if (state == 1 || state == 3) {
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_INVALID_REQUEST,
                                 "the exec operation takes no request "
                                 "body; recipients go in overrideUserIds");
    }

    /* proxy_pass sends "Content-Length: 0" and no body */
    r->headers_in.content_length_n = 0;
    r->headers_in.chunked = 0;

    return NGX_OK;
}


/* who is asking, and may they: the ACL, the duplicate guard, the intent */
static ngx_int_t
ngx_http_eci_authorise(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_http_eci_loc_conf_t *elcf)
{
    int32_t                     denied;
    ngx_str_t                   first, principal;
    ngx_uint_t                  bypass;
    const char                 *key_name;
    eci_acl_rc_t                arc;
    const eci_key_t            *key;
    ngx_http_variable_value_t  *vv;
    ngx_http_eci_main_conf_t   *emcf;

    principal = ctx->principal;

    if (principal.len > 0 && elcf->principal_cert) {
        /* a certificate names its subject only once it is verified */
        emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);

        vv = ngx_http_get_indexed_variable(r, emcf->ssl_verify_index);

        if (vv == NULL || vv->not_found || vv->len != 7
            || ngx_strncmp(vv->data, "SUCCESS", 7) != 0)
        {
            return ngx_http_eci_deny(r, ctx, ECI_ERROR_UNAUTHENTICATED,
                                     "the caller's client certificate was "
                                     "not verified");
        }
    }

    if (principal.len == 0) {
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_UNAUTHENTICATED,
                                 "the caller could not be identified");
    }

    key_name = NULL;

    arc = eci_acl_check_key(elcf->acl->acl, (const char *) principal.data,
                            principal.len, ECI_PERMISSION_EXEC, ctx->id,
                            ctx->overrides, ctx->n_overrides, &denied,
                            &key_name);

    if (elcf->candidate != NULL) {
        ngx_http_eci_candidate(r, ctx, elcf, arc);
    }

    switch (arc) {

    case ECI_ACL_ALLOW:
        /* one key per team: the grant's "apiKey", else the location's */
        key = elcf->api_key;

        if (key_name != NULL) {
            emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
            key = eci_keystore_get(emcf->keystore, key_name);

            if (key == NULL) {
                /* nginx -t checked every name: fail closed anyway */
                return ngx_http_eci_deny(r, ctx, ECI_ERROR_INTERNAL_ERROR,
                                         "the grant's API key is not in "
                                         "the keystore");
            }
        }

        ngx_http_eci_key_chosen(r, ctx, key);
        break;

    case ECI_ACL_UNKNOWN_PRINCIPAL:
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_FORBIDDEN,
                                 "the caller has no grant in the gateway "
                                 "ACL");

    case ECI_ACL_NO_PERMISSION:
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_FORBIDDEN,
                                 "the caller lacks the permission "
                                 ECI_PERMISSION_EXEC);

    case ECI_ACL_ID_DENIED:
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_FORBIDDEN,
                                 "the caller may not execute report "
                                 "distribution %d", (int) ctx->id);

    default: /* ECI_ACL_OVERRIDE_DENIED */
        return ngx_http_eci_deny(r, ctx, ECI_ERROR_FORBIDDEN,
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
            return ngx_http_eci_deny(r, ctx, ECI_ERROR_DUPLICATE_EXEC,
                                     "report distribution %d was executed "
                                     "with the same recipients less than "
                                     "%M ms ago by request %V; not sent "
                                     "again", (int) ctx->id,
                                     elcf->exec_guard, &first);

        default:
            return ngx_http_eci_deny(r, ctx, ECI_ERROR_SERVICE_UNAVAILABLE,
                                     "the duplicate-exec guard cannot "
                                     "record the exec");
        }
    }

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


/*
 * eci_acl_candidate: the same request decided by the candidate ACL too.
 * Only the enforced ACL decides; a disagreement is written into the
 * result line and counted by direction, so a new ACL can run beside the
 * old one before it is swapped in.
 */
static void
ngx_http_eci_candidate(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_http_eci_loc_conf_t *elcf, eci_acl_rc_t enforced)
{
    int32_t                    denied;
    eci_acl_rc_t               crc;
    ngx_http_eci_main_conf_t  *emcf;

    crc = eci_acl_check(elcf->candidate->acl,
                        (const char *) ctx->principal.data,
                        ctx->principal.len, ECI_PERMISSION_EXEC, ctx->id,
                        ctx->overrides, ctx->n_overrides, &denied);

    if ((crc == ECI_ACL_ALLOW) == (enforced == ECI_ACL_ALLOW)) {
        return;
    }

    ctx->candidate = (crc == ECI_ACL_ALLOW) ? "allow" : "deny";
    ctx->candidate_reason = eci_acl_rc_text(crc);

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);

    if (emcf->sh != NULL) {
        (void) ngx_atomic_fetch_add(
                   &emcf->sh->counters.candidate[crc == ECI_ACL_ALLOW], 1);
    }
}


/*
 * A gateway location reached again after its decision (an internal
 * redirect of any kind): the earlier decision is not inherited.  The
 * upstream cannot cause one (X-Accel-Redirect is ignored, error_page is
 * off once an exec is allowed) and nginx -t refuses post_action, so this
 * is a module or configuration the gateway does not know: refused, and
 * the refusal is what the exec's result line says.
 */
static ngx_int_t
ngx_http_eci_reentry(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "eci: an internal redirect to \"%V\" re-entered an "
                  "eci_gateway location after its decision; refused",
                  &r->uri);

    if (r->header_sent) {
        return NGX_ERROR;
    }

    return ngx_http_eci_deny(r, ctx, ECI_ERROR_INTERNAL_ERROR,
                             "an internal redirect re-entered the gateway "
                             "after its decision");
}


static ngx_int_t
ngx_http_eci_forward(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_http_eci_loc_conf_t *elcf)
{
    /* an exec that cannot be audited must not happen */
    if (ctx->intent_failed && elcf->audit_required) {
        ngx_http_eci_guard_release(r, ctx);

        return ngx_http_eci_deny(r, ctx, ECI_ERROR_AUDIT_UNAVAILABLE,
                                 "the gateway cannot write its audit log; "
                                 "no exec is forwarded until it can");
    }

    if (ngx_http_eci_set_target(r, ctx) != NGX_OK
        || ngx_http_eci_set_headers(r, ctx, elcf) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->decided = 1;
    ctx->allowed = 1;

    /*
     * No error_page for an allowed exec: nginx's errors and the
     * upstream's reach the caller as the gateway's JSON (filter.c), and
     * the request is never sent on to another location.
     */
    r->error_page = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "eci: allowed \"%V\" exec %D", &ctx->principal,
                   (int) ctx->id);

    /* NGX_OK skips the rest of this phase: no mirror or try_files */
    return NGX_OK;
}


static ngx_int_t
ngx_http_eci_deny(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    eci_error_t error, const char *fmt, ...)
{
    u_char       *p;
    va_list       args;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_str_t     body;
    ngx_chain_t   out;
    u_char        msg[ECI_ERR_LEN];

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    ctx->decided = 1;
    ctx->allowed = 0;
    ctx->error = error;
    ctx->message.len = p - msg;
    ctx->message.data = ngx_pnalloc(r->pool, ctx->message.len);
    if (ctx->message.data == NULL) {
        ctx->message.len = 0;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->message.data, msg, ctx->message.len);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "eci: %s: %V", eci_errors[error].code, &ctx->message);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_eci_error_body(r, ctx, error, &ctx->message, &body)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (error == ECI_ERROR_METHOD_NOT_ALLOWED
        && ngx_http_eci_header_out(r, "Allow", &ngx_http_eci_allow_post)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->own_response = 1;

    r->headers_out.status = eci_errors[error].status;
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


/* adds a response header (key: a literal, value: kept as it is) */
ngx_int_t
ngx_http_eci_header_out(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.len = ngx_strlen(key);
    h->key.data = (u_char *) key;
    h->value = *value;
    ngx_http_eci_header_end(h);

    return NGX_OK;
}


/*
 * The header after the i-th of part in a list of headers, moving on to
 * the next part; NULL at the end.  Start with the list's first part and
 * i = 0.
 */
ngx_table_elt_t *
ngx_http_eci_header_next(ngx_list_part_t **part, ngx_uint_t *i)
{
    ngx_table_elt_t  *h;

    while (*i >= (*part)->nelts) {
        if ((*part)->next == NULL) {
            return NULL;
        }

        *part = (*part)->next;
        *i = 0;
    }

    h = (*part)->elts;

    return &h[(*i)++];
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
    i = 0;

    while ((h = ngx_http_eci_header_next(&part, &i)) != NULL) {
        if (ngx_http_eci_header_is(h, name, len)) {
            (*count)++;
            found = h;
        }
    }

    return found;
}

