/*
 * ngx_eci: the module: its directives' table, configuration create/merge,
 * the phase handlers and filters it installs, and its process hooks.  The
 * directives' handlers are in ngx_http_eci_directives.c, the request
 * context and $request_id in ngx_http_eci_request.c, the shared zone in
 * ngx_http_eci_zone.c.
 */

#include "ngx_http_eci_module.h"


static ngx_int_t ngx_http_eci_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_eci_init_process(ngx_cycle_t *cycle);
static void ngx_http_eci_exit_process(ngx_cycle_t *cycle);
static void ngx_http_eci_exit_master(ngx_cycle_t *cycle);
static void *ngx_http_eci_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_eci_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_eci_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


static ngx_command_t  ngx_http_eci_commands[] = {

    { ngx_string("eci_gateway"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_eci_gateway,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, enable),
      NULL },

    { ngx_string("eci_principal"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, principal),
      NULL },

    { ngx_string("eci_acl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_eci_acl,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, acl),
      NULL },

    { ngx_string("eci_acl_candidate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_eci_acl,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, candidate),
      NULL },

    { ngx_string("eci_keystore"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_eci_keystore,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("eci_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, api_key_name),
      NULL },

    { ngx_string("eci_audit_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_eci_audit_log,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("eci_audit_required"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, audit_required),
      NULL },

    { ngx_string("eci_audit_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, audit_timeout),
      NULL },

    { ngx_string("eci_audit_body_max"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_eci_loc_conf_t, audit_body_max),
      NULL },

    { ngx_string("eci_exec_guard"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_eci_exec_guard,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("eci_forward_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_eci_forward_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("eci_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_eci_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_eci_module_ctx = {
    ngx_http_eci_add_variables,            /* preconfiguration */
    ngx_http_eci_init,                     /* postconfiguration */

    ngx_http_eci_create_main_conf,         /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_eci_create_loc_conf,          /* create location configuration */
    ngx_http_eci_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_eci_module = {
    NGX_MODULE_V1,
    &ngx_http_eci_module_ctx,              /* module context */
    ngx_http_eci_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_eci_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_eci_exit_process,             /* exit process */
    ngx_http_eci_exit_master,              /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_eci_request_id_name = ngx_string("request_id");
static ngx_str_t  ngx_http_eci_ssl_verify_name =
    ngx_string("ssl_client_verify");
static ngx_str_t  ngx_http_eci_zone_name = ngx_string("ngx_eci");
static ngx_str_t  ngx_http_eci_guard_name = ngx_string("ngx_eci_guard");


static void *
ngx_http_eci_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_eci_main_conf_t));
    if (emcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     emcf->keystore = NULL;
     *     emcf->keystore_path = { 0, NULL };
     */

    if (ngx_array_init(&emcf->acls, cf->pool, 2,
                       sizeof(ngx_http_eci_acl_ref_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&emcf->audits, cf->pool, 2,
                       sizeof(ngx_http_eci_audit_t *))
        != NGX_OK)
    {
        return NULL;
    }

    emcf->request_id_index = NGX_ERROR;
    emcf->ssl_verify_index = NGX_ERROR;

    return emcf;
}


static void *
ngx_http_eci_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_eci_loc_conf_t  *elcf;

    elcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_eci_loc_conf_t));
    if (elcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     elcf->api_key_name = { 0, NULL };
     *     elcf->api_key = NULL;
     *     elcf->gateway_file = NULL;
     *     elcf->gateway_line = 0;
     */

    elcf->enable = NGX_CONF_UNSET;
    elcf->principal = NGX_CONF_UNSET_PTR;
    elcf->acl = NGX_CONF_UNSET_PTR;
    elcf->candidate = NGX_CONF_UNSET_PTR;
    elcf->audit = NGX_CONF_UNSET_PTR;
    elcf->audit_required = NGX_CONF_UNSET;
    elcf->audit_timeout = NGX_CONF_UNSET_MSEC;
    elcf->audit_body_max = NGX_CONF_UNSET_SIZE;
    elcf->exec_guard = NGX_CONF_UNSET_MSEC;
    elcf->forward_headers = NGX_CONF_UNSET_PTR;

    return elcf;
}


static char *
ngx_http_eci_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_eci_loc_conf_t *prev = parent;
    ngx_http_eci_loc_conf_t *conf = child;

    ngx_http_eci_main_conf_t  *emcf;

    /* eci_gateway is a location-only switch: it is never inherited */
    ngx_conf_init_value(conf->enable, 0);

    ngx_conf_merge_ptr_value(conf->principal, prev->principal, NULL);
    ngx_conf_merge_ptr_value(conf->acl, prev->acl, NULL);
    ngx_conf_merge_ptr_value(conf->candidate, prev->candidate, NULL);
    ngx_conf_merge_str_value(conf->api_key_name, prev->api_key_name,
                             ECI_KEY_DEFAULT);
    ngx_conf_merge_size_value(conf->audit_body_max, prev->audit_body_max,
                              64 * 1024);

    ngx_conf_merge_value(conf->audit_required, prev->audit_required, 1);
    ngx_conf_merge_msec_value(conf->audit_timeout, prev->audit_timeout,
                              5000);
    ngx_conf_merge_msec_value(conf->exec_guard, prev->exec_guard, 0);
    ngx_conf_merge_ptr_value(conf->forward_headers, prev->forward_headers,
                             NULL);

    /* NGX_CONF_UNSET_PTR survives here: "none set" differs from "off" */
    if (conf->audit == NGX_CONF_UNSET_PTR) {
        conf->audit = prev->audit;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_eci_module);

    if (conf->principal == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"eci_gateway\" is on but no \"eci_principal\" "
                      "is set in %s:%ui",
                      conf->gateway_file, conf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (conf->acl == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"eci_gateway\" is on but no \"eci_acl\" "
                      "is set in %s:%ui",
                      conf->gateway_file, conf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (emcf->keystore == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"eci_gateway\" is on but no \"eci_keystore\" "
                      "is set in the http block in %s:%ui",
                      conf->gateway_file, conf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (conf->audit == NGX_CONF_UNSET_PTR) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"eci_gateway\" is on but no \"eci_audit_log\" "
                      "is set (say \"eci_audit_log off;\" to run without "
                      "an audit) in %s:%ui",
                      conf->gateway_file, conf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (conf->audit != NULL && emcf->signer == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "keystore \"%V\" has no \"" ECI_KEY_AUDIT_SIGNING
                      "\" key to sign the audit chain with; create one "
                      "with \"eci-keytool audit-key %V --master FILE\" "
                      "and give auditors its public key (\"eci-keytool "
                      "pubkey\") (needed by eci_gateway in %s:%ui)",
                      &emcf->keystore_path, &emcf->keystore_path,
                      conf->gateway_file, conf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (eci_key_reserved((const char *) conf->api_key_name.data)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "eci_api_key \"%V\" is a key of the audit, not an "
                      "ECI API key, in %s:%ui", &conf->api_key_name,
                      conf->gateway_file, conf->gateway_line);
        return NGX_CONF_ERROR;
    }

    conf->api_key = eci_keystore_get(emcf->keystore,
                                     (const char *) conf->api_key_name.data);
    if (conf->api_key == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "eci_api_key \"%V\" is not in keystore \"%V\" "
                      "in %s:%ui", &conf->api_key_name,
                      &emcf->keystore_path,
                      conf->gateway_file, conf->gateway_line);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_eci_acl_keys_check(cf, conf, emcf, conf->acl) != NGX_OK
        || (conf->candidate != NULL
            && ngx_http_eci_acl_keys_check(cf, conf, emcf, conf->candidate)
               != NGX_OK))
    {
        return NGX_CONF_ERROR;
    }

    conf->principal_cert = ngx_http_eci_principal_from_cert(conf->principal);

    if (conf->principal_cert && emcf->ssl_verify_index == NGX_ERROR) {
        emcf->ssl_verify_index = ngx_http_get_variable_index(cf,
                                              &ngx_http_eci_ssl_verify_name);
        if (emcf->ssl_verify_index == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }
    }

    return ngx_http_eci_proxy_merge(cf, conf);
}


static ngx_int_t
ngx_http_eci_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_eci_worker_t      *w;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_eci_main_conf_t   *emcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_eci_module);

    /*
     * No eci_gateway, eci_audit_log or eci_exec_guard anywhere (the module
     * loaded, perhaps eci_keystore at http level): no phase handler, no
     * filter, no zone, and $request_id not made indexed, which would make
     * every request's variable array one longer.
     */
    if (!emcf->used) {
        return NGX_OK;
    }

    emcf->request_id_index = ngx_http_get_variable_index(cf,
                                              &ngx_http_eci_request_id_name);
    if (emcf->request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    w = ngx_pcalloc(cf->pool, sizeof(ngx_http_eci_worker_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->random = ngx_palloc(cf->pool, NGX_HTTP_ECI_RANDOM_SIZE);
    w->line_scratch = ngx_pnalloc(cf->pool, NGX_HTTP_ECI_LINE_SCRATCH);
    w->batch.buf = ngx_pnalloc(cf->pool, NGX_HTTP_ECI_BATCH_SIZE);
    /* not zeroed: response_of 0 says it holds no request's response */
    w->response = ngx_palloc(cf->pool, sizeof(eci_audit_response_t));

    if (w->random == NULL || w->line_scratch == NULL
        || w->batch.buf == NULL || w->response == NULL)
    {
        return NGX_ERROR;
    }

    w->batch.emcf = emcf;
    w->batch.retry.cancelable = 1;
    emcf->worker = w;

    if (emcf->keystore != NULL) {
        emcf->key_counters = ngx_pcalloc(cf->pool,
                                     (eci_keystore_count(emcf->keystore) + 1)
                                     * sizeof(ngx_http_eci_key_counters_t *));
        if (emcf->key_counters == NULL) {
            return NGX_ERROR;
        }
    }

    /*
     * One zone keeps the audit chains and the counters across workers and
     * reloads; its size never changes, so a reload always reuses it.
     */
    if (emcf->used) {
        emcf->shm_zone = ngx_shared_memory_add(cf, &ngx_http_eci_zone_name,
                                               NGX_HTTP_ECI_ZONE_SIZE,
                                               &ngx_http_eci_module);
        if (emcf->shm_zone == NULL) {
            return NGX_ERROR;
        }

        emcf->shm_zone->init = ngx_http_eci_init_zone;
        emcf->shm_zone->data = emcf;
    }

    if (emcf->guard_size) {
        emcf->guard_zone = ngx_shared_memory_add(cf,
                                                 &ngx_http_eci_guard_name,
                                                 emcf->guard_size,
                                                 &ngx_http_eci_module);
        if (emcf->guard_zone == NULL) {
            return NGX_ERROR;
        }

        emcf->guard_zone->init = ngx_http_eci_guard_init_zone;
        emcf->guard_zone->data = emcf;
    }

    /*
     * Pre-content, not access: by then every access module (auth_basic,
     * auth_request, allow/deny, satisfy) has run, so a principal such as
     * $remote_user is verified, and no "satisfy any" can skip the checks.
     */
    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_eci_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_eci_audit_handler;

    return ngx_http_eci_filter_init(cf);
}


/* memory locks do not survive fork(): each worker locks the keys again */
static ngx_int_t
ngx_http_eci_init_process(ngx_cycle_t *cycle)
{
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_eci_module);

    if (emcf == NULL) {
        return NGX_OK;
    }

    /* no two workers may hand out the same request ids */
    if (emcf->worker != NULL) {
        emcf->worker->random_left = 0;
    }

    if (emcf->keystore == NULL) {
        return NGX_OK;
    }

    if (eci_keystore_lock(emcf->keystore) != 0
        || eci_chain_signer_lock(emcf->signer) != 0)
    {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "eci: cannot lock the keystore in memory; the keys "
                      "may be swapped out (raise LimitMEMLOCK)");
    }

    ngx_http_eci_audit_start(cycle, emcf);

    return NGX_OK;
}


/*
 * A pass of the event loop always ends with the batch written; in case.
 * Then what this worker wrote is signed: a reload or a stop leaves no
 * line unsigned.
 */
static void
ngx_http_eci_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_eci_module);

    if (emcf == NULL) {
        return;
    }

    if (emcf->worker != NULL) {
        ngx_http_eci_audit_drain(&emcf->worker->batch);
    }

    (void) ngx_http_eci_audit_sign(emcf, ECI_CHAIN_CHECKPOINT, 0);
}


/* every worker is gone: the chains end with their stop lines */
static void
ngx_http_eci_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_eci_module);

    if (emcf != NULL) {
        (void) ngx_http_eci_audit_sign(emcf, ECI_CHAIN_STOP, 0);
    }
}
