/*
 * ngx_eci: the nginx adapter's shared types.
 *
 * Data flows one way: request -> parse -> authorise -> inject (access.c)
 * -> proxy_pass -> capture (filter.c) -> audit (audit.c).
 */

#ifndef NGX_HTTP_ECI_MODULE_H
#define NGX_HTTP_ECI_MODULE_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_eci_compat.h"

#include "eci_common.h"
#include "eci_error.h"
#include "eci_sha256.h"
#include "eci_keyscan.h"
#include "eci_target.h"
#include "eci_acl.h"
#include "eci_keystore.h"
#include "eci_audit.h"
#include "eci_chain.h"


#define NGX_HTTP_ECI_KEY_HEADER  "ECI-ApiKey"

/* a checkpoint signs a file's new lines this often (ms), no more often */
#define NGX_HTTP_ECI_CHECKPOINT  1000


/* one ACL file, loaded once per configuration however often it is named */
typedef struct {
    ngx_str_t                   path;
    eci_acl_t                  *acl;
    uint64_t                    load_us;
} ngx_http_eci_acl_ref_t;


/* the chain state of one audit file, in shared memory across workers */
typedef struct {
    eci_chain_t                 chain;       /* its id, seq and head */
    uint64_t                    signed_seq;  /* of its last signed line */
    uint64_t                    signed_ms;   /* and when, for the pace */
    uint64_t                    written;
    uint64_t                    failed;
    uint64_t                    syslog_errors;   /* send(2) failures */
    uint64_t                    syslog_bounded;  /* lines sent bounded */
    /* what the master found at the file's end, for the start line */
    eci_chain_tail_t            tail;
    /* the file its last line went to: a new one is a rotation */
    ino_t                       ino;
    dev_t                       dev;
    unsigned                    started:1;

    /*
     * The right to write to the file (see ngx_http_eci_audit_acquire()):
     * the process that holds it, 0 for none, and what recovers the chain
     * if that process dies while it holds it (its state when taken and
     * the file's size before the first byte was written; -1: unknown).
     */
    ngx_pid_t                   writer;
    off_t                       inflight_at;
    eci_chain_t                 inflight_chain;
    uint64_t                    inflight_signed;
    unsigned                    inflight_started:1;

    uint64_t                    busy;        /* found held by another */
    uint64_t                    deleted;     /* found deleted (nlink 0) */
    uint64_t                    recovered;   /* from a writer that died */

    /* a node of a target two configurations gone is given to a new one */
    ngx_uint_t                  gen;         /* the last load naming it */
    ngx_uint_t                  serial;      /* changes when given anew */
    size_t                      name_len;
    u_char                     *name;
} ngx_http_eci_chain_node_t;


#define NGX_HTTP_ECI_MAX_AUDIT_FILES  64
#define NGX_HTTP_ECI_ZONE_SIZE        (1024 * 1024)
/* random bytes a worker draws at once for $request_id: 256 ids */
#define NGX_HTTP_ECI_RANDOM_SIZE      4096
/* the audit line buffer a worker reuses; longer lines use the pool */
#define NGX_HTTP_ECI_LINE_SCRATCH     8192
/* audit lines a worker gathers in one pass of its event loop */
#define NGX_HTTP_ECI_BATCH_SIZE       (64 * 1024)
#define NGX_HTTP_ECI_BATCH_LINES      128
/* what a queued line keeps free after it for its place in the chain */
#define NGX_HTTP_ECI_LINE_ROOM        ECI_CHAIN_ROOM
/*
 * The largest syslog datagram (header and line): UDP's largest payload
 * over IPv4 (65,535 - 20 - 8); a longer line is sent in its bounded form
 */
#define NGX_HTTP_ECI_SYSLOG_MAX       65507


/* a request body larger than this is not "{}": refused unread */
#define NGX_HTTP_ECI_BODY_MAX         64


/*
 * Room for the counters of eci_error.h's codes in the shared zone, whose
 * layout a reload keeps: more than ECI_NERRORS
 */
#define NGX_HTTP_ECI_NERRORS          24


/* counted across workers for eci_status, kept over reloads */
typedef struct {
    ngx_atomic_t                requests[NGX_HTTP_ECI_NERRORS][2];
    ngx_atomic_t                upstream[6];   /* none, 1xx .. 5xx */
    ngx_atomic_t                guard_hits;
    ngx_atomic_t                guard_evictions;
    ngx_atomic_t                outcomes[ECI_AUDIT_NOUTCOMES];
    /* [0]: enforced allow, candidate deny; [1]: the other way */
    ngx_atomic_t                candidate[2];
} ngx_http_eci_counters_t;


/* execs and upstream 401s of one keystore key, by its name (eci_status) */
typedef struct {
    ngx_atomic_t                execs;
    ngx_atomic_t                rejected;
    u_char                      name[ECI_KEY_NAME_MAX + 1];
} ngx_http_eci_key_counters_t;

#define NGX_HTTP_ECI_MAX_KEYS         256

typedef struct {
    ngx_uint_t                  gen;         /* configurations loaded */
    ngx_uint_t                  nnodes;
    ngx_http_eci_chain_node_t  *nodes[NGX_HTTP_ECI_MAX_AUDIT_FILES];
    ngx_http_eci_counters_t     counters;
    ngx_uint_t                  nkeys;
    ngx_http_eci_key_counters_t  *keys[NGX_HTTP_ECI_MAX_KEYS];
} ngx_http_eci_shctx_t;


/* the duplicate guard's zone (eci_exec_guard ... zone=SIZE), see guard.c */
typedef struct {
    ngx_rbtree_t                tree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;       /* oldest first */
    ngx_msec_t                  evict_logged;
    ngx_uint_t                  evicted;     /* since it was logged */
} ngx_http_eci_guard_sh_t;

#define NGX_HTTP_ECI_GUARD_ZONE       (1024 * 1024)


/* one audit target, however many locations write to it */
typedef struct {
    ngx_str_t                   name;        /* the file, or "syslog:..." */
    ngx_open_file_t            *file;        /* NULL for syslog */
    ngx_syslog_peer_t          *syslog;
    ngx_http_eci_chain_node_t  *node;
    ngx_uint_t                  serial;      /* the node's, when given */
    ngx_fd_t                    chain_fd;    /* the fd it last wrote to */

    /* this worker found the file deleted (nlink 0) */
    unsigned                    deleted:1;

    /* counted with the right to the file, added to the node's at release */
    uint64_t                    nwritten;
    uint64_t                    nfailed;
    uint64_t                    ndeleted;

    /* this worker's view of the room reserved ahead (see audit.c) */
    size_t                      unreserved;  /* written since it looked */
    ngx_fd_t                    reserve_fd;  /* the fd it looked through */
    off_t                       reserve_end;
    unsigned                    reserve_due:1;
    unsigned                    no_reserve:1;

    /* this worker's syslog send errors not yet logged (one log a second) */
    time_t                      syslog_logged;
    ngx_uint_t                  syslog_unlogged;
} ngx_http_eci_audit_t;


/*
 * An audit file keeps up to RESERVE bytes allocated beyond its end
 * (fallocate(2) with FALLOC_FL_KEEP_SIZE): every STEP bytes it writes, a
 * worker looks, and reserves RESERVE more once less than half is left.
 */
#define NGX_HTTP_ECI_RESERVE          (8 * 1024 * 1024)
#define NGX_HTTP_ECI_RESERVE_STEP     (1024 * 1024)


typedef struct ngx_http_eci_ctx_s  ngx_http_eci_ctx_t;


/* one line waiting in the batch for its place in the chain */
typedef struct {
    ngx_http_eci_audit_t       *audit;
    u_char                     *line;
    size_t                      len;
    size_t                      cap;
    const char                 *event;       /* "intent", "result" */
    ngx_http_eci_ctx_t         *waiter;      /* an intent's, until written */
    ngx_msec_t                  deadline;    /* an intent fails after it */
    unsigned                    written:1;
    unsigned                    done:1;
    unsigned                    held:1;      /* its file is held: later */
    unsigned                    heap:1;      /* line is ngx_alloc()ed */
} ngx_http_eci_pending_t;


/*
 * A worker's audit lines of one pass of its event loop, written together
 * at the end of the pass (see ngx_http_eci_audit.c).
 */
typedef struct {
    void                       *emcf;        /* its configuration's */
    u_char                     *buf;         /* NGX_HTTP_ECI_BATCH_SIZE */
    size_t                      used;
    ngx_uint_t                  n;
    ngx_http_eci_pending_t      lines[NGX_HTTP_ECI_BATCH_LINES];
    ngx_event_t                 flush;
    ngx_event_t                 retry;       /* a file was held: again */
} ngx_http_eci_batch_t;

/* how soon a batch tries again a file another process holds (ms) */
#define NGX_HTTP_ECI_RETRY            10


/*
 * What a worker process changes as it runs, kept out of the configuration
 * (which is read-only once loaded): allocated with it, one copy per worker
 * after fork().
 */
typedef struct {
    u_char                     *random;      /* see ngx_http_eci_request_id */
    size_t                      random_left;
    u_char                     *line_scratch;
    ngx_http_eci_batch_t        batch;
    ngx_event_t                 checkpoint;  /* see audit_chain.c */
    eci_audit_response_t       *response;    /* see filter.c */
    uint64_t                    response_of; /* the ctx->serial it holds */
} ngx_http_eci_worker_t;


typedef struct {
    eci_keystore_t             *keystore;
    ngx_str_t                   keystore_path;
    uint64_t                    keystore_load_us;
    eci_chain_signer_t         *signer;      /* NULL: no audit-signing */
    ngx_array_t                 acls;        /* ngx_http_eci_acl_ref_t */
    ngx_array_t                 audits;      /* ngx_http_eci_audit_t * */
    ngx_shm_zone_t             *shm_zone;
    ngx_http_eci_shctx_t       *sh;
    ngx_slab_pool_t            *shpool;
    ngx_shm_zone_t             *guard_zone;
    size_t                      guard_size;  /* 0: no eci_exec_guard */
    ngx_http_eci_guard_sh_t    *guard;
    ngx_slab_pool_t            *guard_pool;
    ngx_int_t                   request_id_index;
    ngx_int_t                   ssl_verify_index;
    /* the keystore's keys' counters, in eci_keystore_at() order */
    ngx_http_eci_key_counters_t  **key_counters;
    ngx_http_eci_worker_t      *worker;      /* the state, not the conf */
    ngx_flag_t                  used;
} ngx_http_eci_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_http_complex_value_t   *principal;
    ngx_http_eci_acl_ref_t     *acl;
    ngx_http_eci_acl_ref_t     *candidate;   /* NULL: off */
    ngx_str_t                   api_key_name;
    const eci_key_t            *api_key;
    ngx_http_eci_audit_t       *audit;       /* NULL: eci_audit_log off */
    ngx_flag_t                  audit_required;
    ngx_msec_t                  audit_timeout;
    size_t                      audit_body_max;
    ngx_msec_t                  exec_guard;  /* 0: off */
    ngx_array_t                *forward_headers;   /* of ngx_str_t */
    ngx_flag_t                  principal_cert;    /* from $ssl_client_* */
    ngx_http_handler_pt         content;     /* proxy_pass's, wrapped */

    /* where eci_gateway was said, for the checks done at merge time */
    u_char                     *gateway_file;
    ngx_uint_t                  gateway_line;
} ngx_http_eci_loc_conf_t;


struct ngx_http_eci_ctx_s {
    /* what the caller asked for */
    ngx_str_t                   uri;         /* unparsed, as received */
    ngx_str_t                   principal;
    int32_t                     id;
    int32_t                    *overrides;
    size_t                      n_overrides;

    /* what the gateway decided */
    eci_error_t                 error;       /* ECI_ERROR_NONE: allowed */
    ngx_str_t                   message;

    ngx_http_eci_audit_t       *audit;
    size_t                      audit_body_max;
    const eci_key_t            *api_key;
    ngx_http_eci_key_counters_t  *key_counters;
    ngx_http_request_t         *request;
    ngx_http_eci_pending_t     *pending;     /* its intent, while it waits */
    ngx_list_t                  upstream_headers;  /* see access.c */
    int64_t                     client_closed_ms;  /* 0: not noticed */
    eci_outcome_t               outcome;     /* set at the log phase */
    const char                 *candidate;   /* its decision, when it
                                                differs; NULL otherwise */
    const char                 *candidate_reason;

    /* the response */
    u_char                     *capture;
    size_t                      capture_len;
    size_t                      capture_cap;
    off_t                       response_bytes;
    eci_sha256_t                sha256;      /* of the whole body */
    uint64_t                    serial;      /* per worker, never 0 */
    ngx_str_t                   body;        /* our JSON, when replacing */

    /* the upstream body scanned for the key on its way (see filter.c) */
    eci_keyscan_t               keyscan;
    off_t                       scanned;     /* its bytes scanned so far */
    ngx_chain_t                *held_free;   /* for bytes held back */
    ngx_chain_t                *held_busy;

    unsigned                    has_overrides:1;
    unsigned                    decided:1;
    unsigned                    allowed:1;
    unsigned                    own_response:1;
    unsigned                    replace_body:1;
    unsigned                    body_sent:1;
    unsigned                    upstream_body:1;
    unsigned                    truncated:1;
    unsigned                    response_done:1;
    unsigned                    body_cut:1;  /* it held the key */
    unsigned                    audited:1;
    unsigned                    guarded:1;
    unsigned                    intent_queued:1;
    unsigned                    intent_failed:1;
    unsigned                    checked:1;
    unsigned                    body_read:1;
    unsigned                    proxied:1;
    unsigned                    key_sent:1;
    unsigned                    client_closed:1;
    unsigned                    key_chosen:1;
};


extern ngx_module_t  ngx_http_eci_module;


ngx_http_eci_ctx_t *ngx_http_eci_get_ctx(ngx_http_request_t *r);
ngx_http_eci_ctx_t *ngx_http_eci_create_ctx(ngx_http_request_t *r,
    ngx_http_eci_loc_conf_t *elcf);
ngx_int_t ngx_http_eci_request_id(ngx_http_request_t *r, ngx_str_t *id);
const eci_audit_response_t *ngx_http_eci_response(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
ngx_int_t ngx_http_eci_error_body(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_error_t error, ngx_str_t *message,
    ngx_str_t *body);

ngx_int_t ngx_http_eci_access_handler(ngx_http_request_t *r);
void ngx_http_eci_audit_flush_handler(ngx_event_t *ev);
void ngx_http_eci_audit_failed(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit);
ngx_int_t ngx_http_eci_audit_syslog(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, eci_audit_record_t *rec);
ngx_int_t ngx_http_eci_set_target(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
ngx_int_t ngx_http_eci_set_headers(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_http_eci_loc_conf_t *elcf);
ngx_int_t ngx_http_eci_content_handler(ngx_http_request_t *r);
char *ngx_http_eci_proxy_merge(ngx_conf_t *cf,
    ngx_http_eci_loc_conf_t *elcf);
ngx_uint_t ngx_http_eci_header_is(ngx_table_elt_t *h, const char *name,
    size_t len);
ngx_table_elt_t *ngx_http_eci_header_next(ngx_list_part_t **part,
    ngx_uint_t *i);
ngx_int_t ngx_http_eci_header_out(ngx_http_request_t *r, const char *key,
    ngx_str_t *value);
ngx_int_t ngx_http_eci_filter_init(ngx_conf_t *cf);
void ngx_http_eci_body_filter_init(void);
void ngx_http_eci_reflected(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    const char *where);
void ngx_http_eci_wipe_held(ngx_chain_t *cl);
ngx_int_t ngx_http_eci_audit_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_eci_audit_intent(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
void ngx_http_eci_audit_unqueue(ngx_http_eci_ctx_t *ctx);
void ngx_http_eci_audit_flush(ngx_http_eci_batch_t *b);
void ngx_http_eci_audit_drain(ngx_http_eci_batch_t *b);
ngx_int_t ngx_http_eci_init_zone(ngx_shm_zone_t *shm_zone, void *data);
ngx_int_t ngx_http_eci_key_counters_init(ngx_http_eci_main_conf_t *emcf);
void ngx_http_eci_key_chosen(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    const eci_key_t *key);
ngx_int_t ngx_http_eci_audit_init_nodes(ngx_shm_zone_t *shm_zone,
    ngx_http_eci_main_conf_t *emcf);
void ngx_http_eci_audit_cut(ngx_log_t *log, ngx_http_eci_audit_t *audit,
    ssize_t n);
ngx_int_t ngx_http_eci_audit_acquire(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit);
void ngx_http_eci_audit_release(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit);
ngx_int_t ngx_http_eci_audit_writable(ngx_http_eci_audit_t *audit);
size_t ngx_http_eci_syslog_head(ngx_http_eci_audit_t *audit);
ssize_t ngx_http_eci_syslog_send(ngx_http_eci_audit_t *audit, u_char *buf,
    size_t head, size_t len, ngx_err_t *err);
void ngx_http_eci_audit_start(ngx_cycle_t *cycle,
    ngx_http_eci_main_conf_t *emcf);
ngx_int_t ngx_http_eci_audit_begin(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit);
ngx_int_t ngx_http_eci_audit_event(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit, eci_chain_event_t *ev);
void ngx_http_eci_audit_rotated(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit);
void ngx_http_eci_audit_arm(ngx_http_eci_main_conf_t *emcf);
ngx_msec_t ngx_http_eci_audit_sign(ngx_http_eci_main_conf_t *emcf,
    const char *event, ngx_uint_t paced);
char *ngx_http_eci_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_eci_gateway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_http_eci_main_conf_t *ngx_http_eci_conf_used(ngx_conf_t *cf);
char *ngx_http_eci_acl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_eci_keystore(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_eci_audit_log(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_eci_exec_guard(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_eci_forward_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_eci_acl_keys_check(ngx_conf_t *cf,
    ngx_http_eci_loc_conf_t *conf, ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_acl_ref_t *ref);
ngx_uint_t ngx_http_eci_principal_from_cert(ngx_http_complex_value_t *cv);
ngx_int_t ngx_http_eci_guard_check(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx, ngx_msec_t window, ngx_uint_t bypass,
    ngx_str_t *first);
ngx_int_t ngx_http_eci_guard_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
void ngx_http_eci_guard_release(ngx_http_request_t *r,
    ngx_http_eci_ctx_t *ctx);
void ngx_http_eci_count(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx);
uint64_t ngx_http_eci_now_us(void);
ngx_int_t ngx_http_eci_add_variables(ngx_conf_t *cf);


#endif /* NGX_HTTP_ECI_MODULE_H */
