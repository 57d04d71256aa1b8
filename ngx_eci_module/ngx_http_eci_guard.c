/*
 * ngx_eci: the duplicate-exec guard.
 *
 * An exec mails real people; a retry or a double click must not mail them
 * twice.  Within eci_exec_guard's window a second exec of the same report
 * distribution with the same recipient overrides (as a set) is refused
 * with 409, across all workers, naming the first request.  Entries live in
 * the module's shared zone: an rbtree by digest, and a queue oldest first
 * for expiry and, when the zone is full, eviction.
 */

#include "ngx_http_eci_module.h"


#define NGX_HTTP_ECI_DIGEST_LEN  32

typedef struct {
    ngx_rbtree_node_t           node;       /* key: first bytes of digest */
    ngx_queue_t                 queue;
    ngx_msec_t                  expires;
    u_char                      digest[NGX_HTTP_ECI_DIGEST_LEN];
    u_char                      request_id[32];
    size_t                      request_id_len;
} ngx_http_eci_guard_node_t;


static void ngx_http_eci_guard_digest(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, u_char *digest);
static ngx_http_eci_guard_node_t *ngx_http_eci_guard_find(
    ngx_http_eci_shctx_t *sh, u_char *digest);
static void ngx_http_eci_guard_expire(ngx_http_eci_shctx_t *sh,
    ngx_slab_pool_t *shpool, ngx_uint_t force);
static int ngx_libc_cdecl ngx_http_eci_id_cmp(const void *a, const void *b);


/*
 * NGX_OK: go on (the exec is now guarded); NGX_DECLINED: a duplicate,
 * first holds the requestId of the exec it repeats; NGX_ERROR.
 */
ngx_int_t
ngx_http_eci_guard_check(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    ngx_msec_t window, ngx_uint_t bypass, ngx_str_t *first)
{
    u_char                     *p;
    uint32_t                    hash;
    ngx_str_t                   rid;
    ngx_msec_t                  now;
    ngx_http_eci_shctx_t       *sh;
    ngx_http_eci_guard_node_t  *gn;
    ngx_http_eci_main_conf_t   *emcf;
    u_char                      digest[NGX_HTTP_ECI_DIGEST_LEN];

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    sh = emcf->sh;

    ngx_http_eci_guard_digest(r, ctx, digest);
    ngx_memcpy(&hash, digest, sizeof(uint32_t));

    (void) ngx_http_eci_request_id(r, &rid);

    now = ngx_current_msec;

    ngx_shmtx_lock(&emcf->shpool->mutex);

    ngx_http_eci_guard_expire(sh, emcf->shpool, 0);

    gn = ngx_http_eci_guard_find(sh, digest);

    if (gn != NULL && (ngx_msec_int_t) (gn->expires - now) > 0 && !bypass) {

        p = ngx_pnalloc(r->pool, gn->request_id_len);
        if (p != NULL) {
            ngx_memcpy(p, gn->request_id, gn->request_id_len);
        }

        first->data = p;
        first->len = p ? gn->request_id_len : 0;

        ngx_shmtx_unlock(&emcf->shpool->mutex);

        (void) ngx_atomic_fetch_add(&sh->counters.guard_hits, 1);

        return NGX_DECLINED;
    }

    if (gn == NULL) {
        gn = ngx_slab_alloc_locked(emcf->shpool,
                                   sizeof(ngx_http_eci_guard_node_t));

        if (gn == NULL) {
            /* full: the oldest entries go first */
            ngx_http_eci_guard_expire(sh, emcf->shpool, 1);
            gn = ngx_slab_alloc_locked(emcf->shpool,
                                       sizeof(ngx_http_eci_guard_node_t));
        }

        if (gn == NULL) {
            ngx_shmtx_unlock(&emcf->shpool->mutex);
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: exec guard zone is full");
            return NGX_ERROR;
        }

        gn->node.key = hash;
        ngx_memcpy(gn->digest, digest, sizeof(digest));
        ngx_rbtree_insert(&sh->guard, &gn->node);

    } else {
        ngx_queue_remove(&gn->queue);
    }

    gn->expires = now + window;
    gn->request_id_len = ngx_min(rid.len, sizeof(gn->request_id));
    ngx_memcpy(gn->request_id, rid.data, gn->request_id_len);
    ngx_queue_insert_tail(&sh->guard_queue, &gn->queue);

    ngx_shmtx_unlock(&emcf->shpool->mutex);

    ctx->guarded = 1;

    return NGX_OK;
}


/* the exec was not forwarded after all: a retry may go */
void
ngx_http_eci_guard_release(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_http_eci_shctx_t       *sh;
    ngx_http_eci_guard_node_t  *gn;
    ngx_http_eci_main_conf_t   *emcf;
    u_char                      digest[NGX_HTTP_ECI_DIGEST_LEN];

    if (!ctx->guarded) {
        return;
    }

    ctx->guarded = 0;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    sh = emcf->sh;

    ngx_http_eci_guard_digest(r, ctx, digest);

    ngx_shmtx_lock(&emcf->shpool->mutex);

    gn = ngx_http_eci_guard_find(sh, digest);

    if (gn != NULL) {
        ngx_queue_remove(&gn->queue);
        ngx_rbtree_delete(&sh->guard, &gn->node);
        ngx_slab_free_locked(emcf->shpool, gn);
    }

    ngx_shmtx_unlock(&emcf->shpool->mutex);
}


/* SHA-256 of the id and the sorted override ids: the same set, the same */
static void
ngx_http_eci_guard_digest(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    u_char *digest)
{
    int32_t        v[2], *ids;
    eci_sha256_t   md;

    eci_sha256_init(&md);

    /* a sorted copy: what is forwarded keeps the caller's order */
    ids = ctx->overrides;

    if (ctx->n_overrides > 1) {
        ids = ngx_palloc(r->pool, ctx->n_overrides * sizeof(int32_t));

        if (ids == NULL) {
            ids = ctx->overrides;

        } else {
            ngx_memcpy(ids, ctx->overrides,
                       ctx->n_overrides * sizeof(int32_t));
            ngx_qsort(ids, ctx->n_overrides, sizeof(int32_t),
                      ngx_http_eci_id_cmp);
        }
    }

    v[0] = ctx->id;
    v[1] = (int32_t) ctx->has_overrides;
    eci_sha256_update(&md, v, sizeof(v));

    if (ctx->n_overrides > 0) {
        eci_sha256_update(&md, ids, ctx->n_overrides * sizeof(int32_t));
    }

    eci_sha256_final(&md, digest);
}


static ngx_http_eci_guard_node_t *
ngx_http_eci_guard_find(ngx_http_eci_shctx_t *sh, u_char *digest)
{
    uint32_t                    hash;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_eci_guard_node_t  *gn;

    ngx_memcpy(&hash, digest, sizeof(uint32_t));

    node = sh->guard.root;
    sentinel = sh->guard.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* equal keys: ngx_rbtree_insert_value puts them to the right */
        gn = (ngx_http_eci_guard_node_t *) node;

        if (ngx_memcmp(gn->digest, digest, NGX_HTTP_ECI_DIGEST_LEN) == 0) {
            return gn;
        }

        node = node->right;
    }

    return NULL;
}


/* drops expired entries from the old end; force: the oldest few anyway */
static void
ngx_http_eci_guard_expire(ngx_http_eci_shctx_t *sh, ngx_slab_pool_t *shpool,
    ngx_uint_t force)
{
    ngx_uint_t                  n;
    ngx_queue_t                *q;
    ngx_http_eci_guard_node_t  *gn;

    for (n = 0; n < 64 && !ngx_queue_empty(&sh->guard_queue); n++) {

        q = ngx_queue_head(&sh->guard_queue);
        gn = ngx_queue_data(q, ngx_http_eci_guard_node_t, queue);

        if (!force && (ngx_msec_int_t) (gn->expires - ngx_current_msec) > 0) {
            return;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&sh->guard, &gn->node);
        ngx_slab_free_locked(shpool, gn);
    }
}


static int ngx_libc_cdecl
ngx_http_eci_id_cmp(const void *a, const void *b)
{
    int32_t  x = *(const int32_t *) a, y = *(const int32_t *) b;

    return (x > y) - (x < y);
}
