/*
 * ngx_eci: directives, configuration, and the per-request context.
 */

/* nginx's headers first: ngx_config.h defines _GNU_SOURCE */
#include "ngx_http_eci_module.h"

#include <openssl/rand.h>


static ngx_int_t ngx_http_eci_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_eci_init_process(ngx_cycle_t *cycle);
static void ngx_http_eci_exit_process(ngx_cycle_t *cycle);
static void ngx_http_eci_exit_master(ngx_cycle_t *cycle);
static void *ngx_http_eci_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_eci_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_eci_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_eci_gateway(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_eci_acl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_eci_keystore(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_eci_audit_log(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_eci_exec_guard(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_eci_forward_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_eci_acl_keys_check(ngx_conf_t *cf,
    ngx_http_eci_loc_conf_t *conf, ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_acl_ref_t *ref);
static ngx_uint_t ngx_http_eci_principal_from_cert(
    ngx_http_complex_value_t *cv);
static void ngx_http_eci_acl_cleanup(void *data);
static void ngx_http_eci_keystore_cleanup(void *data);
static void ngx_http_eci_signer_cleanup(void *data);
static void ngx_http_eci_ctx_cleanup(void *data);


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
                             "default");
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


static char *
ngx_http_eci_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_eci_loc_conf_t *elcf = conf;

    char                      *rv;
    ngx_http_eci_main_conf_t  *emcf;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    elcf->gateway_file = cf->conf_file->file.name.data;
    elcf->gateway_line = cf->conf_file->line;

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_eci_module);
    emcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_eci_acl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_eci_loc_conf_t *elcf = conf;

    eci_err_t                  err;
    uint64_t                   start;
    ngx_str_t                 *value, path;
    ngx_uint_t                 i;
    ngx_pool_cleanup_t        *cln;
    ngx_http_eci_acl_ref_t    *ref, **field;
    ngx_http_eci_main_conf_t  *emcf;

    /* eci_acl, or eci_acl_candidate: loaded and shared the same way */
    field = (ngx_http_eci_acl_ref_t **) ((char *) elcf + cmd->offset);

    if (*field != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (cmd->offset == offsetof(ngx_http_eci_loc_conf_t, candidate)
        && ngx_strcmp(path.data, "off") == 0)
    {
        *field = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_eci_module);

    ref = emcf->acls.elts;
    for (i = 0; i < emcf->acls.nelts; i++) {
        if (ref[i].path.len == path.len
            && ngx_strncmp(ref[i].path.data, path.data, path.len) == 0)
        {
            *field = &ref[i];
            return NGX_CONF_OK;
        }
    }

    /* ngx_conf_full_name() returns a NUL-terminated string */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    ref = ngx_array_push(&emcf->acls);
    if (ref == NULL) {
        return NGX_CONF_ERROR;
    }

    ref->path = path;

    start = ngx_http_eci_now_us();
    ref->acl = eci_acl_load((const char *) path.data, &err);
    ref->load_us = ngx_http_eci_now_us() - start;

    if (ref->acl == NULL) {
        emcf->acls.nelts--;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V %s", &cmd->name,
                           err.msg);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_eci_acl_cleanup;
    cln->data = ref->acl;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, cf->log, 0,
                   "eci_acl \"%V\": %uz principals loaded", &path,
                   eci_acl_principal_count(ref->acl));

    /* ref stays valid: the array is only appended to while parsing */
    *field = ref;

    return NGX_CONF_OK;
}


static void
ngx_http_eci_acl_cleanup(void *data)
{
    eci_acl_free(data);
}


static char *
ngx_http_eci_keystore(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_eci_main_conf_t *emcf = conf;

    eci_err_t            err;
    uint64_t             start;
    ngx_str_t           *value, path, master;
    const eci_key_t     *key;
    ngx_pool_cleanup_t  *cln;

    if (emcf->keystore != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];
    ngx_str_null(&master);

    if (cf->args->nelts == 3) {
        if (value[2].len <= 7
            || ngx_strncmp(value[2].data, "master=", 7) != 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        master.data = value[2].data + 7;
        master.len = value[2].len - 7;

        if (ngx_conf_full_name(cf->cycle, &master, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    /* read by the master before the workers fork, as root if need be */
    start = ngx_http_eci_now_us();
    emcf->keystore = eci_keystore_open((const char *) path.data,
                                       master.len
                                       ? (const char *) master.data : NULL,
                                       &err);
    emcf->keystore_load_us = ngx_http_eci_now_us() - start;
    if (emcf->keystore == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "eci_keystore %s", err.msg);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_eci_keystore_cleanup;
    cln->data = emcf->keystore;

    emcf->keystore_path = path;

    key = eci_keystore_get(emcf->keystore, ECI_KEY_AUDIT_SIGNING);

    if (key != NULL) {
        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            return NGX_CONF_ERROR;
        }

        emcf->signer = eci_chain_signer_new(key->value, key->len, &err);
        if (emcf->signer == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "eci_keystore \"%V\": \"%s\": %s", &path,
                               ECI_KEY_AUDIT_SIGNING, err.msg);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_eci_signer_cleanup;
        cln->data = emcf->signer;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_eci_signer_cleanup(void *data)
{
    eci_chain_signer_free(data);
}


static void
ngx_http_eci_keystore_cleanup(void *data)
{
    /* wipes the key bytes: the old cycle's pool goes on reload */
    eci_keystore_free(data);
}


static char *
ngx_http_eci_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_eci_loc_conf_t *elcf = conf;

    ngx_str_t                  *value, name;
    ngx_uint_t                  i;
    ngx_http_eci_audit_t       *audit, **audits;
    ngx_http_eci_main_conf_t   *emcf;

    if (elcf->audit != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        elcf->audit = NULL;
        return NGX_CONF_OK;
    }

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_eci_module);

    name = value[1];

    audits = emcf->audits.elts;
    for (i = 0; i < emcf->audits.nelts; i++) {
        if (audits[i]->name.len == name.len
            && ngx_strncmp(audits[i]->name.data, name.data, name.len) == 0)
        {
            elcf->audit = audits[i];
            return NGX_CONF_OK;
        }
    }

    audit = ngx_pcalloc(cf->pool, sizeof(ngx_http_eci_audit_t));
    if (audit == NULL) {
        return NGX_CONF_ERROR;
    }

    /* a worker reserves room with its first write */
    audit->unreserved = NGX_HTTP_ECI_RESERVE_STEP;
    audit->reserve_fd = NGX_INVALID_FILE;
    audit->chain_fd = NGX_INVALID_FILE;
    audit->nlink_fd = NGX_INVALID_FILE;

    if (ngx_strncmp(name.data, "syslog:", 7) == 0) {

        /* a fleet ships its audit trails to one collector */
        audit->syslog = ngx_pcalloc(cf->pool, sizeof(ngx_syslog_peer_t));
        if (audit->syslog == NULL) {
            return NGX_CONF_ERROR;
        }

        /* ngx_syslog_process_conf() cuts the argument with NULs */
        audit->name.len = name.len;
        audit->name.data = ngx_pstrdup(cf->pool, &name);
        if (audit->name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_syslog_process_conf(cf, audit->syslog) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }

    } else {
        /*
         * The master opens it, like access_log, so that workers inherit
         * the descriptor whatever user they run as and "nginx -s reopen"
         * works.
         */
        audit->file = ngx_conf_open_file(cf->cycle, &name);
        if (audit->file == NULL) {
            return NGX_CONF_ERROR;
        }

        audit->name = audit->file->name;

        /* the same file under another spelling is the same chain */
        for (i = 0; i < emcf->audits.nelts; i++) {
            if (audits[i]->file == audit->file) {
                elcf->audit = audits[i];
                return NGX_CONF_OK;
            }
        }
    }

    audits = ngx_array_push(&emcf->audits);
    if (audits == NULL) {
        return NGX_CONF_ERROR;
    }

    *audits = audit;
    elcf->audit = audit;

    emcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_eci_exec_guard(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_eci_loc_conf_t *elcf = conf;

    size_t                     size;
    ngx_str_t                 *value, s;
    ngx_msec_t                 window;
    ngx_http_eci_main_conf_t  *emcf;

    if (elcf->exec_guard != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts > 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"eci_exec_guard off\" takes no zone");
            return NGX_CONF_ERROR;
        }

        elcf->exec_guard = 0;
        return NGX_CONF_OK;
    }

    size = NGX_HTTP_ECI_GUARD_ZONE;

    if (cf->args->nelts > 2) {
        if (ngx_strncmp(value[2].data, "zone=", 5) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": the guard's "
                               "size is zone=SIZE", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 5;
        s.len = value[2].len - 5;

        size = ngx_parse_size(&s);

        if (size == (size_t) NGX_ERROR || size < 8 * ngx_pagesize) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid eci_exec_guard zone size \"%V\": "
                               "at least %uzk", &s,
                               8 * ngx_pagesize / 1024);
            return NGX_CONF_ERROR;
        }
    }

    window = ngx_parse_time(&value[1], 0);

    if (window == (ngx_msec_t) NGX_ERROR || window == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid eci_exec_guard window \"%V\": a time "
                           "such as 60s, or off", &value[1]);
        return NGX_CONF_ERROR;
    }

    elcf->exec_guard = window;

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_eci_module);
    emcf->used = 1;

    /* one zone for all locations: the largest size asked for */
    if (size > emcf->guard_size) {
        emcf->guard_size = size;
    }

    return NGX_CONF_OK;
}


/*
 * A grant's "apiKey" picks that key from the keystore for the execs it
 * allows: every name an ACL uses must be there, and none may be an audit
 * key.
 */
static ngx_int_t
ngx_http_eci_acl_keys_check(ngx_conf_t *cf, ngx_http_eci_loc_conf_t *conf,
    ngx_http_eci_main_conf_t *emcf, ngx_http_eci_acl_ref_t *ref)
{
    size_t       i, n;
    const char  *names[64];

    n = eci_acl_api_keys(ref->acl, names, 64);

    for (i = 0; i < n; i++) {
        if (eci_key_reserved(names[i])
            || eci_keystore_get(emcf->keystore, names[i]) == NULL)
        {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "eci_acl \"%V\": a grant's \"apiKey\": \"%s\" is "
                          "not an API key in keystore \"%V\" (add it with "
                          "\"eci-keytool set --name %s\"), needed by "
                          "eci_gateway in %s:%ui", &ref->path, names[i],
                          &emcf->keystore_path, names[i],
                          conf->gateway_file, conf->gateway_line);
            return NGX_ERROR;
        }
    }

    if (n == 64) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "eci_acl \"%V\" names more than 63 distinct "
                      "\"apiKey\"s, in %s:%ui", &ref->path,
                      conf->gateway_file, conf->gateway_line);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The counters of each keystore key in the shared zone, found by name
 * (a reload with another keystore keeps the counts of the keys it keeps).
 */
ngx_int_t
ngx_http_eci_key_counters_init(ngx_http_eci_main_conf_t *emcf)
{
    size_t                        i, len;
    ngx_uint_t                    k;
    const eci_key_t              *key;
    ngx_http_eci_shctx_t         *sh;
    ngx_http_eci_key_counters_t  *kc;

    /* allocated with the configuration (ngx_http_eci_init()) */
    if (emcf->keystore == NULL || emcf->key_counters == NULL) {
        return NGX_OK;
    }

    sh = emcf->sh;

    ngx_shmtx_lock(&emcf->shpool->mutex);

    for (i = 0; i < eci_keystore_count(emcf->keystore); i++) {
        key = eci_keystore_at(emcf->keystore, i);
        len = ngx_strlen(key->name);

        for (k = 0; k < sh->nkeys; k++) {
            if (ngx_strcmp(sh->keys[k]->name, key->name) == 0) {
                break;
            }
        }

        if (k == sh->nkeys) {
            if (sh->nkeys == NGX_HTTP_ECI_MAX_KEYS || len > ECI_KEY_NAME_MAX) {
                continue;       /* not counted: eci_status leaves it out */
            }

            kc = ngx_slab_calloc_locked(emcf->shpool,
                                        sizeof(ngx_http_eci_key_counters_t));
            if (kc == NULL) {
                continue;
            }

            ngx_memcpy(kc->name, key->name, len + 1);
            sh->keys[sh->nkeys++] = kc;
        }

        emcf->key_counters[i] = sh->keys[k];
    }

    ngx_shmtx_unlock(&emcf->shpool->mutex);

    return NGX_OK;
}


/* the key an allowed exec goes with: counted, and named in its audit */
void
ngx_http_eci_key_chosen(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    const eci_key_t *key)
{
    size_t                     i;
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);

    ctx->api_key = key;
    ctx->key_chosen = 1;
    ctx->key_counters = NULL;

    if (emcf->key_counters == NULL) {
        return;
    }

    for (i = 0; i < eci_keystore_count(emcf->keystore); i++) {
        if (eci_keystore_at(emcf->keystore, i) == key) {
            ctx->key_counters = emcf->key_counters[i];
            break;
        }
    }
}


/* eci_forward_header NAME ...: caller headers that also go upstream */
static char *
ngx_http_eci_forward_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_eci_loc_conf_t *elcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i, j;

    if (elcf->forward_headers == NGX_CONF_UNSET_PTR) {
        elcf->forward_headers = ngx_array_create(cf->pool, 4,
                                                 sizeof(ngx_str_t));
        if (elcf->forward_headers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < value[i].len; j++) {
            if (!(value[i].data[j] == '-' || value[i].data[j] == '_'
                  || (value[i].data[j] >= '0' && value[i].data[j] <= '9')
                  || ((value[i].data[j] | 0x20) >= 'a'
                      && (value[i].data[j] | 0x20) <= 'z')))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid header name \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        /* what the gateway itself sets, or must never pass */
        if ((value[i].len == 10
             && ngx_strncasecmp(value[i].data, (u_char *) "eci-apikey", 10)
                == 0)
            || (value[i].len == 10
                && ngx_strncasecmp(value[i].data, (u_char *) "eci_apikey",
                                   10)
                   == 0)
            || (value[i].len == 13
                && ngx_strncasecmp(value[i].data, (u_char *) "authorization",
                                   13)
                   == 0)
            || (value[i].len == 15
                && ngx_strncasecmp(value[i].data,
                                   (u_char *) "accept-encoding", 15)
                   == 0)
            || (value[i].len == 12
                && ngx_strncasecmp(value[i].data, (u_char *) "content-type",
                                   12)
                   == 0)
            || value[i].len == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "header \"%V\" cannot be forwarded: the "
                               "gateway sets it itself or never passes it",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(elcf->forward_headers);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * A principal taken from the client certificate ($ssl_client_s_dn and
 * the like) is used only when $ssl_client_verify is SUCCESS: with
 * "ssl_verify_client optional_no_ca" the variables are set from a
 * certificate nothing verified.
 */
static ngx_uint_t
ngx_http_eci_principal_from_cert(ngx_http_complex_value_t *cv)
{
    u_char  *p, *end;

    p = cv->value.data;
    end = p + cv->value.len;

    for ( /* void */ ; p < end; p++) {
        if (*p != '$') {
            continue;
        }

        if (p + 1 < end && p[1] == '{') {
            p++;
        }

        if ((size_t) (end - p - 1) >= sizeof("ssl_client_") - 1
            && ngx_strncmp(p + 1, "ssl_client_", sizeof("ssl_client_") - 1)
               == 0)
        {
            return 1;
        }
    }

    return 0;
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


ngx_int_t
ngx_http_eci_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_eci_main_conf_t  *oemcf = data;

    ngx_slab_pool_t           *shpool;
    ngx_http_eci_shctx_t      *sh;
    ngx_http_eci_main_conf_t  *emcf;

    emcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (oemcf != NULL && oemcf->sh != NULL) {
        sh = oemcf->sh;

    } else if (shm_zone->shm.exists) {
        sh = shpool->data;

    } else {
        sh = ngx_slab_calloc(shpool, sizeof(ngx_http_eci_shctx_t));
        if (sh == NULL) {
            return NGX_ERROR;
        }

        shpool->data = sh;
    }

    emcf->sh = sh;
    emcf->shpool = shpool;

    if (ngx_http_eci_key_counters_init(emcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_eci_audit_init_nodes(shm_zone, emcf);
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
