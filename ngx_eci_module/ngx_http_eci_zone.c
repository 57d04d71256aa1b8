/*
 * ngx_eci: the shared zone: counters across workers and reloads, the
 * per-key counters, and the audit chains' nodes (audit_chain.c).
 */

#include "ngx_http_eci_module.h"


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
