/*
 * ngx_eci: the duplicate-exec guard.
 *
 * An exec mails real people; a retry or a double click must not mail them
 * twice.  Within eci_exec_guard's window a second exec of the same report
 * distribution with the same recipient overrides (as a set) is refused
 * with 409, across all workers, naming the first request.  Entries live in
 * their own shared zone (eci_exec_guard ... zone=SIZE): an rbtree by
 * digest, and a queue oldest first for expiry and, when the zone is full,
 * eviction, which is logged and counted: an evicted entry is a shorter
 * window than the one configured.
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


static void ngx_http_eci_guard_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static void ngx_http_eci_guard_evicted(ngx_http_request_t *r,
    ngx_http_eci_main_conf_t *emcf, ngx_uint_t n);
static void ngx_http_eci_guard_digest(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, u_char *digest);
static ngx_http_eci_guard_node_t *ngx_http_eci_guard_find(
    ngx_http_eci_guard_sh_t *gs, u_char *digest);
static void ngx_http_eci_guard_first(ngx_http_request_t *r,
    ngx_http_eci_guard_node_t *gn, ngx_str_t *first);
static ngx_uint_t ngx_http_eci_guard_expire(ngx_http_eci_guard_sh_t *gs,
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
    uint32_t                    hash;
    ngx_str_t                   rid;
    ngx_uint_t                  evicted;
    ngx_msec_t                  now;
    ngx_slab_pool_t            *pool;
    ngx_http_eci_guard_sh_t    *gs;
    ngx_http_eci_guard_node_t  *gn;
    ngx_http_eci_main_conf_t   *emcf;
    u_char                      digest[NGX_HTTP_ECI_DIGEST_LEN];

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    gs = emcf->guard;
    pool = emcf->guard_pool;

    if (gs == NULL) {
        return NGX_ERROR;
    }

    ngx_http_eci_guard_digest(r, ctx, digest);
    ngx_memcpy(&hash, digest, sizeof(uint32_t));

    (void) ngx_http_eci_request_id(r, &rid);

    now = ngx_current_msec;
    evicted = 0;

    ngx_shmtx_lock(&pool->mutex);

    (void) ngx_http_eci_guard_expire(gs, pool, 0);

    gn = ngx_http_eci_guard_find(gs, digest);

    if (gn != NULL && (ngx_msec_int_t) (gn->expires - now) > 0 && !bypass) {

        ngx_http_eci_guard_first(r, gn, first);

        ngx_shmtx_unlock(&pool->mutex);

        if (emcf->sh != NULL) {
            (void) ngx_atomic_fetch_add(&emcf->sh->counters.guard_hits, 1);
        }

        return NGX_DECLINED;
    }

    if (gn == NULL) {
        gn = ngx_slab_alloc_locked(pool, sizeof(ngx_http_eci_guard_node_t));

        if (gn == NULL) {
            /* full: the oldest entries go first, unexpired or not */
            evicted = ngx_http_eci_guard_expire(gs, pool, 1);
            gn = ngx_slab_alloc_locked(pool,
                                       sizeof(ngx_http_eci_guard_node_t));
        }

        if (gn == NULL) {
            ngx_shmtx_unlock(&pool->mutex);
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "eci: exec guard zone is full");
            return NGX_ERROR;
        }

        gn->node.key = hash;
        ngx_memcpy(gn->digest, digest, sizeof(digest));
        ngx_rbtree_insert(&gs->tree, &gn->node);

    } else {
        ngx_queue_remove(&gn->queue);
    }

    gn->expires = now + window;
    gn->request_id_len = ngx_min(rid.len, sizeof(gn->request_id));
    ngx_memcpy(gn->request_id, rid.data, gn->request_id_len);
    ngx_queue_insert_tail(&gs->queue, &gn->queue);

    if (evicted) {
        ngx_http_eci_guard_evicted(r, emcf, evicted);
    }

    ngx_shmtx_unlock(&pool->mutex);

    ctx->guarded = 1;

    return NGX_OK;
}


/*
 * The requestId of the exec this one repeats, copied out of the zone
 * under its lock (the entry may be reused once the lock is let go); an
 * empty string if memory ran out.
 */
static void
ngx_http_eci_guard_first(ngx_http_request_t *r, ngx_http_eci_guard_node_t *gn,
    ngx_str_t *first)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, gn->request_id_len);
    if (p != NULL) {
        ngx_memcpy(p, gn->request_id, gn->request_id_len);
    }

    first->data = p;
    first->len = p ? gn->request_id_len : 0;
}


/*
 * Entries evicted before their window ended: counted, and said at most
 * once every 10 s (under the guard's lock, with how many since).
 */
static void
ngx_http_eci_guard_evicted(ngx_http_request_t *r,
    ngx_http_eci_main_conf_t *emcf, ngx_uint_t n)
{
    ngx_http_eci_guard_sh_t  *gs;

    gs = emcf->guard;
    gs->evicted += n;

    if (emcf->sh != NULL) {
        (void) ngx_atomic_fetch_add(&emcf->sh->counters.guard_evictions, n);
    }

    if (gs->evict_logged != 0
        && (ngx_msec_int_t) (ngx_current_msec - gs->evict_logged) < 10000)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "eci: the exec guard zone is full: %ui entries evicted "
                  "before their window ended, so repeats of those execs are "
                  "not refused; make eci_exec_guard's zone= larger",
                  gs->evicted);

    gs->evict_logged = ngx_current_msec ? ngx_current_msec : 1;
    gs->evicted = 0;
}


/* the exec was not forwarded after all: a retry may go */
void
ngx_http_eci_guard_release(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx)
{
    ngx_http_eci_guard_node_t  *gn;
    ngx_http_eci_main_conf_t   *emcf;
    u_char                      digest[NGX_HTTP_ECI_DIGEST_LEN];

    if (!ctx->guarded) {
        return;
    }

    ctx->guarded = 0;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);

    ngx_http_eci_guard_digest(r, ctx, digest);

    ngx_shmtx_lock(&emcf->guard_pool->mutex);

    gn = ngx_http_eci_guard_find(emcf->guard, digest);

    if (gn != NULL) {
        ngx_queue_remove(&gn->queue);
        ngx_rbtree_delete(&emcf->guard->tree, &gn->node);
        ngx_slab_free_locked(emcf->guard_pool, gn);
    }

    ngx_shmtx_unlock(&emcf->guard_pool->mutex);
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


/*
 * Keys are the digest's first 32 bits; entries with equal keys are ordered
 * by the whole digest (ngx_http_eci_guard_insert), so a lookup compares
 * the whole digest as it walks: after a rotation an equal key may sit on
 * either side.
 */
static ngx_http_eci_guard_node_t *
ngx_http_eci_guard_find(ngx_http_eci_guard_sh_t *gs, u_char *digest)
{
    int                         rc;
    uint32_t                    hash;
    ngx_rbtree_node_t          *node, *sentinel;
    ngx_http_eci_guard_node_t  *gn;

    ngx_memcpy(&hash, digest, sizeof(uint32_t));

    node = gs->tree.root;
    sentinel = gs->tree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        gn = (ngx_http_eci_guard_node_t *) node;

        rc = ngx_memcmp(digest, gn->digest, NGX_HTTP_ECI_DIGEST_LEN);

        if (rc == 0) {
            return gn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_eci_guard_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_eci_guard_node_t  *gn, *gt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            gn = (ngx_http_eci_guard_node_t *) node;
            gt = (ngx_http_eci_guard_node_t *) temp;

            p = (ngx_memcmp(gn->digest, gt->digest, NGX_HTTP_ECI_DIGEST_LEN)
                 < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Drops expired entries from the old end; force: the oldest 64 anyway.
 * Returns how many unexpired entries it dropped.
 */
static ngx_uint_t
ngx_http_eci_guard_expire(ngx_http_eci_guard_sh_t *gs,
    ngx_slab_pool_t *shpool, ngx_uint_t force)
{
    ngx_uint_t                  n, early;
    ngx_queue_t                *q;
    ngx_http_eci_guard_node_t  *gn;

    early = 0;

    for (n = 0; n < 64 && !ngx_queue_empty(&gs->queue); n++) {

        q = ngx_queue_head(&gs->queue);
        gn = ngx_queue_data(q, ngx_http_eci_guard_node_t, queue);

        if ((ngx_msec_int_t) (gn->expires - ngx_current_msec) > 0) {
            if (!force) {
                break;
            }

            early++;
        }

        ngx_queue_remove(q);
        ngx_rbtree_delete(&gs->tree, &gn->node);
        ngx_slab_free_locked(shpool, gn);
    }

    return early;
}


ngx_int_t
ngx_http_eci_guard_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_eci_main_conf_t  *oemcf = data;

    ngx_slab_pool_t           *shpool;
    ngx_http_eci_guard_sh_t   *gs;
    ngx_http_eci_main_conf_t  *emcf;

    emcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (oemcf != NULL && oemcf->guard != NULL) {
        gs = oemcf->guard;

    } else if (shm_zone->shm.exists) {
        gs = shpool->data;

    } else {
        gs = ngx_slab_calloc(shpool, sizeof(ngx_http_eci_guard_sh_t));
        if (gs == NULL) {
            return NGX_ERROR;
        }

        ngx_rbtree_init(&gs->tree, &gs->sentinel, ngx_http_eci_guard_insert);
        ngx_queue_init(&gs->queue);

        shpool->data = gs;
    }

    /* a full zone is expected, evicts, and is logged by the guard itself */
    shpool->log_nomem = 0;

    /* this module's code, as loaded now, inserts from here on */
    gs->tree.insert = ngx_http_eci_guard_insert;

    emcf->guard = gs;
    emcf->guard_pool = shpool;

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_http_eci_id_cmp(const void *a, const void *b)
{
    int32_t  x = *(const int32_t *) a, y = *(const int32_t *) b;

    return (x > y) - (x < y);
}
