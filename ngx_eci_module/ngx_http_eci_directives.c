/*
 * ngx_eci: the directives' handlers.  Each checks its arguments as nginx -t
 * reports them (file, line, what is wrong) and loads what it names (the
 * ACL, the keystore) once per configuration.
 */

#include "ngx_http_eci_module.h"


static void ngx_http_eci_acl_cleanup(void *data);
static void ngx_http_eci_keystore_cleanup(void *data);


char *
ngx_http_eci_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_eci_loc_conf_t *elcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    elcf->gateway_file = cf->conf_file->file.name.data;
    elcf->gateway_line = cf->conf_file->line;

    (void) ngx_http_eci_conf_used(cf);

    return NGX_CONF_OK;
}


/*
 * eci_gateway, eci_audit_log, eci_exec_guard and eci_status need the
 * module's handlers, filters and zone; without any of them
 * ngx_http_eci_init() installs nothing.
 */
ngx_http_eci_main_conf_t *
ngx_http_eci_conf_used(ngx_conf_t *cf)
{
    ngx_http_eci_main_conf_t  *emcf;

    emcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_eci_module);
    emcf->used = 1;

    return emcf;
}


char *
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


char *
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
    cln->data = emcf;

    emcf->keystore_path = path;

    key = eci_keystore_get(emcf->keystore, ECI_KEY_AUDIT_SIGNING);

    if (key != NULL) {
        emcf->signer = eci_chain_signer_new(key->value, key->len, &err);
        if (emcf->signer == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "eci_keystore \"%V\": \"%s\": %s", &path,
                               ECI_KEY_AUDIT_SIGNING, err.msg);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* the signer made from the keystore goes with it */
static void
ngx_http_eci_keystore_cleanup(void *data)
{
    ngx_http_eci_main_conf_t  *emcf = data;

    if (emcf->signer != NULL) {
        eci_chain_signer_free(emcf->signer);
        emcf->signer = NULL;
    }

    /* wipes the key bytes: the old cycle's pool goes on reload */
    eci_keystore_free(emcf->keystore);
    emcf->keystore = NULL;
}


char *
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

    emcf = ngx_http_eci_conf_used(cf);

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

    return NGX_CONF_OK;
}


char *
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

    emcf = ngx_http_eci_conf_used(cf);

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
ngx_int_t
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


/* eci_forward_header NAME ...: caller headers that also go upstream */
char *
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
ngx_uint_t
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
