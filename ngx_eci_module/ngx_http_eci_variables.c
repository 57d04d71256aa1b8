/*
 * ngx_eci: the $eci_* variables, for access_log and headers.
 */

#include "ngx_http_eci_module.h"


static ngx_int_t ngx_http_eci_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


enum {
    NGX_HTTP_ECI_VAR_PRINCIPAL = 0,
    NGX_HTTP_ECI_VAR_DECISION,
    NGX_HTTP_ECI_VAR_ERROR,
    NGX_HTTP_ECI_VAR_ID,
    NGX_HTTP_ECI_VAR_LOG_ID
};


static ngx_http_variable_t  ngx_http_eci_vars[] = {

    { ngx_string("eci_principal"), NULL, ngx_http_eci_variable,
      NGX_HTTP_ECI_VAR_PRINCIPAL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("eci_decision"), NULL, ngx_http_eci_variable,
      NGX_HTTP_ECI_VAR_DECISION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("eci_error"), NULL, ngx_http_eci_variable,
      NGX_HTTP_ECI_VAR_ERROR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("eci_report_distribution_id"), NULL, ngx_http_eci_variable,
      NGX_HTTP_ECI_VAR_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("eci_report_distribution_log_id"), NULL,
      ngx_http_eci_variable, NGX_HTTP_ECI_VAR_LOG_ID,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_eci_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_eci_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_eci_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                      *p;
    ngx_http_eci_ctx_t          *ctx;
    const eci_audit_response_t  *resp;

    ctx = ngx_http_eci_get_ctx(r->main);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    switch (data) {

    case NGX_HTTP_ECI_VAR_PRINCIPAL:
        if (ctx->principal.len == 0) {
            v->not_found = 1;
            break;
        }

        v->data = ctx->principal.data;
        v->len = ctx->principal.len;
        break;

    case NGX_HTTP_ECI_VAR_DECISION:
        if (!ctx->decided) {
            v->not_found = 1;
            break;
        }

        v->data = (u_char *) (ctx->allowed ? "allow" : "deny");
        v->len = ngx_strlen(v->data);
        break;

    case NGX_HTTP_ECI_VAR_ERROR:
        if (ctx->error == ECI_ERROR_NONE) {
            v->not_found = 1;
            break;
        }

        v->data = (u_char *) eci_errors[ctx->error].code;
        v->len = ngx_strlen(v->data);
        break;

    case NGX_HTTP_ECI_VAR_ID:
        if (ctx->id <= 0) {
            v->not_found = 1;
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT32_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%D", (int32_t) ctx->id) - p;
        break;

    default: /* NGX_HTTP_ECI_VAR_LOG_ID */
        resp = ngx_http_eci_response(r->main, ctx);

        if (resp == NULL || !resp->valid) {
            v->not_found = 1;
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%L",
                             (int64_t) resp->report_distribution_log_id) - p;
        break;
    }

    return NGX_OK;
}
