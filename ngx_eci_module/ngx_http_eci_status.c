/*
 * ngx_eci: counters across all workers, and "eci_status;" serving them in
 * Prometheus text format.
 */

#include "ngx_http_eci_module.h"


static ngx_int_t ngx_http_eci_status_handler(ngx_http_request_t *r);
/* a metric with a value per audit target: the uint64_t at offset in its node */
typedef struct {
    const char                 *name;
    const char                 *help;
    const char                 *type;
    size_t                      offset;
    ngx_uint_t                  syslog_only;
} ngx_http_eci_file_metric_t;

/* a metric with a value per ACL file or per keystore key: which value */
#define NGX_HTTP_ECI_ACL_PRINCIPALS  0
#define NGX_HTTP_ECI_ACL_LOAD        1
#define NGX_HTTP_ECI_KEY_EXECS       2
#define NGX_HTTP_ECI_KEY_REJECTED    3

typedef struct {
    const char                 *name;
    const char                 *help;
    const char                 *type;
    ngx_uint_t                  value;
} ngx_http_eci_conf_metric_t;


static u_char *ngx_http_eci_per_file(u_char *p, u_char *last,
    ngx_http_eci_main_conf_t *emcf, ngx_http_eci_file_metric_t *m);
static u_char *ngx_http_eci_per_conf(u_char *p, u_char *last,
    ngx_http_eci_main_conf_t *emcf, ngx_http_eci_conf_metric_t *m);
static u_char *ngx_http_eci_help(u_char *p, u_char *last, const char *name,
    const char *help, const char *type);
static u_char *ngx_http_eci_seconds(u_char *p, u_char *last, uint64_t us);
static size_t ngx_http_eci_status_size(ngx_http_eci_main_conf_t *emcf);
static u_char *ngx_http_eci_label(u_char *p, u_char *last, u_char *s,
    size_t len);


#define ngx_http_eci_node_offset(field)                                       \
    offsetof(ngx_http_eci_chain_node_t, field)

static ngx_http_eci_file_metric_t  ngx_http_eci_file_metrics[] = {
    { "eci_audit_lines_total", "Audit lines written.", "counter",
      ngx_http_eci_node_offset(written), 0 },
    { "eci_audit_failures_total", "Audit lines that could not be written.",
      "counter", ngx_http_eci_node_offset(failed), 0 },
    { "eci_audit_chain_seq",
      "The seq of the last audit line in this gateway's chain.", "gauge",
      ngx_http_eci_node_offset(chain.seq), 0 },
    { "eci_audit_chain_signed_seq",
      "The seq of the last signed audit line (checkpoint).", "gauge",
      ngx_http_eci_node_offset(signed_seq), 0 },
    { "eci_audit_syslog_send_errors_total",
      "Failed sends to a syslog audit target (each is tried once more; a "
      "line lost for good is an audit failure).", "counter",
      ngx_http_eci_node_offset(syslog_errors), 1 },
    { "eci_audit_syslog_bounded_total",
      "Lines sent to a syslog audit target in their bounded form (override "
      "ids as a count and a digest).", "counter",
      ngx_http_eci_node_offset(syslog_bounded), 1 },
    { "eci_audit_file_deleted_total",
      "Times a worker found the audit file deleted (lines are not written "
      "until a reopen).", "counter", ngx_http_eci_node_offset(deleted), 0 },
    { "eci_audit_recoveries_total",
      "Chains recovered from a writer that died while writing.", "counter",
      ngx_http_eci_node_offset(recovered), 0 },
    { "eci_audit_file_busy_total",
      "Times a worker found the audit file held by another process and "
      "tried again later.", "counter", ngx_http_eci_node_offset(busy), 0 },
    { NULL, NULL, NULL, 0, 0 }
};


static ngx_http_eci_conf_metric_t  ngx_http_eci_acl_metrics[] = {
    { "eci_acl_principals", "Principals in each ACL loaded.", "gauge",
      NGX_HTTP_ECI_ACL_PRINCIPALS },
    { "eci_acl_load_seconds", "How long loading each ACL took.", "gauge",
      NGX_HTTP_ECI_ACL_LOAD },
    { NULL, NULL, NULL, 0 }
};

static ngx_http_eci_conf_metric_t  ngx_http_eci_key_metrics[] = {
    { "eci_key_execs_total", "Execs sent upstream with each key, by name.",
      "counter", NGX_HTTP_ECI_KEY_EXECS },
    { "eci_key_upstream_rejected_total",
      "Upstream 401s to execs sent with each key (a revoked key shows as "
      "its name).", "counter", NGX_HTTP_ECI_KEY_REJECTED },
    { NULL, NULL, NULL, 0 }
};


#if (ECI_NERRORS > NGX_HTTP_ECI_NERRORS)
#error "eci_error.h has more codes than the shared counters have room for"
#endif


/* counts the request once, from the log phase */
void
ngx_http_eci_count(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_uint_t                  e, status;
    ngx_http_eci_counters_t    *c;
    ngx_http_eci_main_conf_t   *emcf;
    ngx_http_upstream_state_t  *state;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);

    if (emcf->sh == NULL) {
        return;
    }

    c = &emcf->sh->counters;

    e = ctx->error;

    (void) ngx_atomic_fetch_add(&c->requests[e][ctx->allowed ? 1 : 0], 1);
    (void) ngx_atomic_fetch_add(&c->outcomes[ctx->outcome], 1);

    status = 0;

    if (r->upstream_states != NULL && r->upstream_states->nelts > 0) {
        state = r->upstream_states->elts;
        status = state[r->upstream_states->nelts - 1].status;
    }

    (void) ngx_atomic_fetch_add(&c->upstream[(status >= 100 && status < 600)
                                             ? status / 100 : 0], 1);

    if (ctx->key_sent && ctx->key_counters != NULL) {
        (void) ngx_atomic_fetch_add(&ctx->key_counters->execs, 1);

        if (r->upstream != NULL
            && r->upstream->headers_in.status_n == NGX_HTTP_UNAUTHORIZED)
        {
            (void) ngx_atomic_fetch_add(&ctx->key_counters->rejected, 1);
        }
    }
}


char *
ngx_http_eci_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_eci_status_handler;

    (void) ngx_http_eci_conf_used(cf);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_eci_status_handler(ngx_http_request_t *r)
{
    u_char                      *p, *last;
    size_t                       size;
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_uint_t                   i, e, d;
    ngx_chain_t                  out;
    const eci_key_t             *key;
    ngx_http_eci_shctx_t        *sh;
    ngx_http_eci_main_conf_t    *emcf;
    ngx_http_eci_conf_metric_t  *c;
    ngx_http_eci_file_metric_t  *m;

    static const char  *decisions[2] = { "deny", "allow" };

    if (r->method != NGX_HTTP_GET && r->method != NGX_HTTP_HEAD) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    sh = emcf->sh;

    if (sh == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    size = ngx_http_eci_status_size(emcf);

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;
    last = b->end;

    p = ngx_slprintf(p, last,
            "# HELP eci_requests_total Requests handled in eci_gateway "
            "locations, by decision and error code.\n"
            "# TYPE eci_requests_total counter\n");

    for (e = 0; e < ECI_NERRORS; e++) {
        for (d = 0; d < 2; d++) {
            if (sh->counters.requests[e][d] == 0 && !(e == 0 && d == 1)) {
                continue;
            }

            p = ngx_slprintf(p, last,
                    "eci_requests_total{decision=\"%s\",error=\"%s\"} %uA\n",
                    decisions[d], eci_errors[e].code,
                    sh->counters.requests[e][d]);
        }
    }

    p = ngx_slprintf(p, last,
            "# HELP eci_upstream_responses_total Upstream answers by "
            "status class (none: nothing forwarded or no answer).\n"
            "# TYPE eci_upstream_responses_total counter\n"
            "eci_upstream_responses_total{class=\"none\"} %uA\n"
            "eci_upstream_responses_total{class=\"1xx\"} %uA\n"
            "eci_upstream_responses_total{class=\"2xx\"} %uA\n"
            "eci_upstream_responses_total{class=\"3xx\"} %uA\n"
            "eci_upstream_responses_total{class=\"4xx\"} %uA\n"
            "eci_upstream_responses_total{class=\"5xx\"} %uA\n",
            sh->counters.upstream[0], sh->counters.upstream[1],
            sh->counters.upstream[2], sh->counters.upstream[3],
            sh->counters.upstream[4], sh->counters.upstream[5]);

    p = ngx_slprintf(p, last,
            "# HELP eci_exec_outcomes_total Result lines by outcome (sent, "
            "refused, failed, unknown: see docs/audit.md).\n"
            "# TYPE eci_exec_outcomes_total counter\n");

    for (i = 0; i < ECI_AUDIT_NOUTCOMES; i++) {
        p = ngx_slprintf(p, last,
                "eci_exec_outcomes_total{outcome=\"%s\"} %uA\n",
                eci_audit_outcomes[i], sh->counters.outcomes[i]);
    }

    p = ngx_slprintf(p, last,
            "# HELP eci_acl_candidate_disagreements_total Requests the "
            "candidate ACL (eci_acl_candidate) decided otherwise than the "
            "enforced one, by direction.\n"
            "# TYPE eci_acl_candidate_disagreements_total counter\n"
            "eci_acl_candidate_disagreements_total{enforced=\"allow\","
            "candidate=\"deny\"} %uA\n"
            "eci_acl_candidate_disagreements_total{enforced=\"deny\","
            "candidate=\"allow\"} %uA\n",
            sh->counters.candidate[0], sh->counters.candidate[1]);

    p = ngx_slprintf(p, last,
            "# HELP eci_exec_guard_hits_total Execs refused as duplicates "
            "by eci_exec_guard.\n"
            "# TYPE eci_exec_guard_hits_total counter\n"
            "eci_exec_guard_hits_total %uA\n"
            "# HELP eci_exec_guard_evictions_total Guard entries evicted "
            "before their window ended (the zone was full).\n"
            "# TYPE eci_exec_guard_evictions_total counter\n"
            "eci_exec_guard_evictions_total %uA\n",
            sh->counters.guard_hits, sh->counters.guard_evictions);

    for (m = ngx_http_eci_file_metrics; m->name != NULL; m++) {
        p = ngx_http_eci_per_file(p, last, emcf, m);
    }

    for (c = ngx_http_eci_acl_metrics; c->name != NULL; c++) {
        p = ngx_http_eci_per_conf(p, last, emcf, c);
    }

    if (emcf->keystore != NULL) {
        p = ngx_slprintf(p, last,
                "# HELP eci_keystore_key_info The keys loaded, by name and "
                "SHA-256 fingerprint (never the key).\n"
                "# TYPE eci_keystore_key_info gauge\n");

        for (i = 0; i < eci_keystore_count(emcf->keystore); i++) {
            key = eci_keystore_at(emcf->keystore, i);

            p = ngx_slprintf(p, last, "eci_keystore_key_info{keystore=\"");
            p = ngx_http_eci_label(p, last, emcf->keystore_path.data,
                                   emcf->keystore_path.len);
            p = ngx_slprintf(p, last, "\",name=\"%s\",fingerprint=\"%s\"} 1\n",
                             key->name, key->fingerprint);
        }

        for (c = ngx_http_eci_key_metrics; c->name != NULL; c++) {
            p = ngx_http_eci_per_conf(p, last, emcf, c);
        }

        p = ngx_slprintf(p, last,
                "# HELP eci_keystore_load_seconds How long loading the "
                "keystore took.\n"
                "# TYPE eci_keystore_load_seconds gauge\n"
                "eci_keystore_load_seconds{keystore=\"");
        p = ngx_http_eci_label(p, last, emcf->keystore_path.data,
                               emcf->keystore_path.len);
        p = ngx_http_eci_seconds(p, last, emcf->keystore_load_us);
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * What the scrape can take at most, from what is loaded: the fixed lines,
 * and per labelled line its text (128 bytes) and its label escaped (each
 * byte at most two).  A keystore of 2,000 keys costs about 600 KB, not the
 * 33 KB per key a path-sized guess would take.
 */
static size_t
ngx_http_eci_status_size(ngx_http_eci_main_conf_t *emcf)
{
    size_t                   size;
    ngx_uint_t               i;
    const eci_key_t         *key;
    ngx_http_eci_audit_t   **audits;
    ngx_http_eci_acl_ref_t  *acl;

    size = 8192 + NGX_HTTP_ECI_NERRORS * 2 * 128;

    acl = emcf->acls.elts;

    for (i = 0; i < emcf->acls.nelts; i++) {
        size += 2 * (128 + 2 * acl[i].path.len);
    }

    audits = emcf->audits.elts;

    /* every per-file metric, its name and help, and the label escaped */
    for (i = 0; i < emcf->audits.nelts; i++) {
        size += (sizeof(ngx_http_eci_file_metrics)
                 / sizeof(ngx_http_eci_file_metric_t))
                * (256 + 2 * audits[i]->name.len);
    }

    if (emcf->keystore != NULL) {
        size += 256 + 2 * emcf->keystore_path.len;

        for (i = 0; i < eci_keystore_count(emcf->keystore); i++) {
            key = eci_keystore_at(emcf->keystore, i);

            size += 3 * 128 + 2 * emcf->keystore_path.len
                    + 3 * ngx_strlen(key->name)
                    + ngx_strlen(key->fingerprint);
        }
    }

    return size;
}


/* one metric with a value per audit file (or per syslog target only) */
static u_char *
ngx_http_eci_per_file(u_char *p, u_char *last, ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_file_metric_t *m)
{
    ngx_uint_t                  i;
    ngx_http_eci_audit_t      **audits;
    ngx_http_eci_chain_node_t  *node;

    p = ngx_http_eci_help(p, last, m->name, m->help, m->type);

    audits = emcf->audits.elts;

    for (i = 0; i < emcf->audits.nelts; i++) {
        if (m->syslog_only && audits[i]->syslog == NULL) {
            continue;
        }

        node = audits[i]->node;

        if (node->serial != audits[i]->serial) {
            /* an old worker's target, no longer configured */
            continue;
        }

        p = ngx_slprintf(p, last, "%s{file=\"", m->name);
        p = ngx_http_eci_label(p, last, audits[i]->name.data,
                               audits[i]->name.len);
        p = ngx_slprintf(p, last, "\"} %uL\n",
                         *(uint64_t *) ((u_char *) node + m->offset));
    }

    return p;
}


static u_char *
ngx_http_eci_label(u_char *p, u_char *last, u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len && p + 2 < last; i++) {
        switch (s[i]) {

        case '\\':
        case '"':
            *p++ = '\\';
            *p++ = s[i];
            break;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            break;

        default:
            *p++ = s[i];
        }
    }

    return p;
}


/* one metric with a value per ACL file or per keystore key */
static u_char *
ngx_http_eci_per_conf(u_char *p, u_char *last, ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_conf_metric_t *m)
{
    ngx_uint_t                    i, n;
    ngx_http_eci_acl_ref_t       *acl;
    ngx_http_eci_key_counters_t  *c;

    p = ngx_http_eci_help(p, last, m->name, m->help, m->type);

    acl = emcf->acls.elts;
    n = (m->value <= NGX_HTTP_ECI_ACL_LOAD)
        ? emcf->acls.nelts : eci_keystore_count(emcf->keystore);

    for (i = 0; i < n; i++) {

        switch (m->value) {

        case NGX_HTTP_ECI_ACL_PRINCIPALS:
        case NGX_HTTP_ECI_ACL_LOAD:
            p = ngx_slprintf(p, last, "%s{file=\"", m->name);
            p = ngx_http_eci_label(p, last, acl[i].path.data,
                                   acl[i].path.len);

            p = (m->value == NGX_HTTP_ECI_ACL_LOAD)
                ? ngx_http_eci_seconds(p, last, acl[i].load_us)
                : ngx_slprintf(p, last, "\"} %uz\n",
                               eci_acl_principal_count(acl[i].acl));
            break;

        default: /* NGX_HTTP_ECI_KEY_EXECS, NGX_HTTP_ECI_KEY_REJECTED */
            if (emcf->key_counters == NULL || emcf->key_counters[i] == NULL) {
                continue;
            }

            c = emcf->key_counters[i];

            p = ngx_slprintf(p, last, "%s{name=\"%s\"} %uA\n", m->name,
                             c->name,
                             (m->value == NGX_HTTP_ECI_KEY_REJECTED)
                             ? c->rejected : c->execs);
        }
    }

    return p;
}


static u_char *
ngx_http_eci_help(u_char *p, u_char *last, const char *name,
    const char *help, const char *type)
{
    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


/* the end of a labelled line: its value, microseconds as seconds */
static u_char *
ngx_http_eci_seconds(u_char *p, u_char *last, uint64_t us)
{
    return ngx_slprintf(p, last, "\"} %uL.%06uL\n", us / 1000000,
                        us % 1000000);
}
