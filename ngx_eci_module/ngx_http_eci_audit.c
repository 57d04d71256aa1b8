/*
 * ngx_eci: the audit writer, a log-phase handler.
 *
 * One line per request handled in an eci_gateway location, allowed or
 * denied, written with a single write(2) to a file the master opened with
 * O_APPEND, so lines of several workers never interleave.
 */

#include "ngx_http_eci_module.h"


ngx_int_t
ngx_http_eci_audit_handler(ngx_http_request_t *r)
{
    u_char                       *line;
    size_t                        len, max;
    ssize_t                       n;
    ngx_str_t                     rid;
    ngx_time_t                   *tp;
    unsigned int                  mdlen;
    eci_audit_record_t            rec;
    ngx_http_eci_ctx_t           *ctx;
    ngx_http_upstream_state_t    *state;
    const eci_audit_response_t   *resp;

    ctx = ngx_http_eci_get_ctx(r);

    if (ctx == NULL || ctx->audited || ctx->audit_file == NULL) {
        return NGX_OK;
    }

    ctx->audited = 1;

    ngx_memzero(&rec, sizeof(eci_audit_record_t));

    tp = ngx_timeofday();
    rec.time_ms = (int64_t) tp->sec * 1000 + tp->msec;

    (void) ngx_http_eci_request_id(r, &rid);
    rec.request_id.data = (const char *) rid.data;
    rec.request_id.len = rid.len;

    if (ctx->principal.len) {
        rec.principal.data = (const char *) ctx->principal.data;
        rec.principal.len = ctx->principal.len;
    }

    rec.client.data = (const char *) r->connection->addr_text.data;
    rec.client.len = r->connection->addr_text.len;
    rec.method.data = (const char *) r->method_name.data;
    rec.method.len = r->method_name.len;

    if (ctx->uri.data != NULL) {
        rec.uri.data = (const char *) ctx->uri.data;
        rec.uri.len = ctx->uri.len;

    } else {
        rec.uri.data = (const char *) r->unparsed_uri.data;
        rec.uri.len = r->unparsed_uri.len;
    }

    rec.report_distribution_id = ctx->id;
    rec.override_user_ids = ctx->overrides;
    rec.n_override_user_ids = ctx->n_overrides;
    rec.has_override_user_ids = ctx->has_overrides;

    rec.decision = ctx->allowed ? "allow" : "deny";
    rec.error = ctx->error;
    rec.status = r->err_status ? r->err_status : r->headers_out.status;

    rec.upstream_time_ms = -1;

    if (r->upstream_states != NULL && r->upstream_states->nelts > 0) {
        state = r->upstream_states->elts;
        state = &state[r->upstream_states->nelts - 1];

        rec.upstream_status = state->status;

        if (state->response_time != (ngx_msec_t) -1) {
            rec.upstream_time_ms = state->response_time;
        }
    }

    if (ctx->upstream_body && ctx->sha256 != NULL) {
        rec.has_response = 1;
        rec.response_bytes = ctx->response_bytes;
        rec.response_truncated = ctx->truncated;

        mdlen = 0;
        if (EVP_DigestFinal_ex(ctx->sha256, rec.response_sha256, &mdlen)
            != 1)
        {
            rec.has_response = 0;
        }

        resp = ngx_http_eci_response(r, ctx);
        rec.response = resp;
    }

    max = eci_audit_line_max(&rec);

    line = ngx_pnalloc(r->pool, max);
    if (line == NULL) {
        return NGX_ERROR;
    }

    len = eci_audit_line_write(&rec, (char *) line, max);
    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "eci: audit line did not fit its own bound");
        return NGX_ERROR;
    }

    n = ngx_write_fd(ctx->audit_file->fd, line, len);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log,
                      n == -1 ? ngx_errno : 0,
                      "eci: audit write to \"%V\" failed (%z of %uz bytes)",
                      &ctx->audit_file->name, n, len);
        return NGX_ERROR;
    }

    return NGX_OK;
}
