/*
 * ngx_eci: the audit chains in shared memory and their signed lines.
 *
 * Each start of nginx begins a new chain per audit target, whose start
 * line names the head of the file's last chain and, in a discontinuity
 * line, what the master found wrong with that chain's end.  Checkpoints
 * sign a file's new lines within a second (a timer in each worker, paced
 * per chain), begin a reopened file and follow a worker's exit; the
 * master's exit writes the stop line.  Each is written by the process
 * that holds the right to the file (ngx_http_eci_audit_file.c).
 */

#include "ngx_http_eci_module.h"


/* the longest tail of a file read to check how its last chain ended */
#define NGX_HTTP_ECI_TAIL_MAX    (4 * 1024 * 1024)


static void ngx_http_eci_audit_checkpoint_handler(ngx_event_t *ev);
static ngx_http_eci_chain_node_t *ngx_http_eci_chain_node(
    ngx_shm_zone_t *shm_zone, ngx_slab_pool_t *shpool,
    ngx_http_eci_shctx_t *sh, ngx_http_eci_audit_t *audit);
static void ngx_http_eci_chain_tail(ngx_log_t *log,
    ngx_http_eci_main_conf_t *emcf, ngx_http_eci_chain_node_t *node,
    ngx_str_t *name);


/*
 * Starts the chain of an audit target with its signed start line (and a
 * discontinuity line when the master found the file's end amiss): at a
 * worker's start, or at the first write after a start that failed.  Under
 * the lock.
 */
ngx_int_t
ngx_http_eci_audit_begin(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit)
{
    size_t                      n;
    eci_err_t                   err;
    ngx_time_t                 *tp;
    eci_chain_event_t           ev;
    ngx_http_eci_chain_node_t  *node;
    char                        host[65];

    node = audit->node;

    if (node->started || emcf->signer == NULL) {
        return NGX_OK;
    }

    tp = ngx_timeofday();

    if (node->chain.id[0] == '\0'
        && eci_chain_init(&node->chain, (int64_t) tp->sec * 1000 + tp->msec,
                          &err)
           != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0, "eci: audit \"%V\": "
                      "%s", &audit->name, err.msg);
        return NGX_ERROR;
    }

    n = ngx_min(ngx_cycle->hostname.len, sizeof(host) - 1);
    ngx_memcpy(host, ngx_cycle->hostname.data, n);
    host[n] = '\0';

    ngx_memzero(&ev, sizeof(eci_chain_event_t));
    ev.event = ECI_CHAIN_START;
    ev.host = host;
    ev.pid = (ngx_process == NGX_PROCESS_WORKER) ? ngx_parent : ngx_pid;
    ev.follows = node->tail.follows.seq ? &node->tail.follows : NULL;

    if (ngx_http_eci_audit_event(emcf, audit, &ev) != NGX_OK) {
        return NGX_ERROR;
    }

    node->started = 1;

    if (node->tail.found[0] == '\0') {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                  "eci: audit file \"%V\": discontinuity: %s",
                  &audit->name, node->tail.found);

    ngx_memzero(&ev, sizeof(eci_chain_event_t));
    ev.event = ECI_CHAIN_DISCONTINUITY;
    ev.found = node->tail.found;

    if (ngx_http_eci_audit_event(emcf, audit, &ev) != NGX_OK) {
        return NGX_ERROR;
    }

    node->tail.found[0] = '\0';

    return NGX_OK;
}


/*
 * The first write through a new descriptor: a file reopened (USR1) into a
 * new file begins with a checkpoint, which signs the lines left in the
 * file before and anchors this one.  Under the lock.
 */
void
ngx_http_eci_audit_rotated(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit)
{
    ngx_uint_t                  known;
    ngx_file_info_t             fi;
    eci_chain_event_t           ev;
    ngx_http_eci_chain_node_t  *node;

    node = audit->node;

    if (audit->file == NULL || audit->file->fd == audit->chain_fd) {
        return;
    }

    audit->chain_fd = audit->file->fd;

    if (ngx_fd_info(audit->file->fd, &fi) == NGX_FILE_ERROR
        || (node->ino == fi.st_ino && node->dev == fi.st_dev))
    {
        return;
    }

    known = (node->ino != 0 || node->dev != 0);
    node->ino = fi.st_ino;
    node->dev = fi.st_dev;

    if (known && node->started) {
        ngx_memzero(&ev, sizeof(eci_chain_event_t));
        ev.event = ECI_CHAIN_CHECKPOINT;

        (void) ngx_http_eci_audit_event(emcf, audit, &ev);
    }
}


/* writes a signed line of the audit's chain at once; under the lock */
ngx_int_t
ngx_http_eci_audit_event(ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_audit_t *audit, eci_chain_event_t *ev)
{
    size_t                      len, head;
    ssize_t                     n;
    ngx_err_t                   err;
    ngx_time_t                 *tp;
    eci_chain_t                 chain;
    ngx_http_eci_chain_node_t  *node;
    u_char                      buf[ECI_CHAIN_EVENT_LINE_MAX + 512];

    node = audit->node;

    ngx_http_eci_audit_rotated(emcf, audit);

    tp = ngx_timeofday();
    ev->time_ms = (int64_t) tp->sec * 1000 + tp->msec;

    head = (audit->syslog != NULL) ? ngx_http_eci_syslog_head(audit) : 0;
    chain = node->chain;
    n = -1;
    err = 0;

    len = (head + ECI_CHAIN_EVENT_LINE_MAX <= sizeof(buf))
          ? eci_chain_event_write(&chain, emcf->signer, ev,
                                  (char *) buf + head,
                                  ECI_CHAIN_EVENT_LINE_MAX)
          : 0;

    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "eci: audit %s line to \"%V\" could not be signed",
                      ev->event, &audit->name);
        audit->nfailed++;
        return NGX_ERROR;
    }

    if (audit->syslog != NULL) {
        n = ngx_http_eci_syslog_send(audit, buf, head, len, &err);

    } else {
        n = ngx_write_fd(audit->file->fd, buf, len);

        if (n == -1) {
            err = ngx_errno;

        } else if ((size_t) n != len) {
            ngx_http_eci_audit_cut(ngx_cycle->log, audit, n);
            n = -1;
        }
    }

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, ngx_cycle->log, err,
                      "eci: audit %s line to \"%V\" not written",
                      ev->event, &audit->name);
        audit->nfailed++;
        return NGX_ERROR;
    }

    node->chain = chain;
    node->signed_seq = chain.seq;
    node->signed_ms = (uint64_t) ev->time_ms;
    audit->nwritten++;

    return NGX_OK;
}


/* at a worker's start: every chain begins, if no worker began it yet */
void
ngx_http_eci_audit_start(ngx_cycle_t *cycle, ngx_http_eci_main_conf_t *emcf)
{
    ngx_uint_t              i;
    ngx_http_eci_audit_t  **audits;

    if (emcf->shpool == NULL) {
        return;
    }

    audits = emcf->audits.elts;

    for (i = 0; i < emcf->audits.nelts; i++) {
        if (audits[i]->node == NULL) {
            continue;
        }

        if (ngx_http_eci_audit_acquire(emcf, audits[i]) != NGX_OK) {
            /* held or gone: the first line this worker writes begins it */
            continue;
        }

        if (ngx_http_eci_audit_writable(audits[i]) == NGX_OK) {
            (void) ngx_http_eci_audit_begin(emcf, audits[i]);
        }

        ngx_http_eci_audit_release(emcf, audits[i]);
    }
}


/*
 * Signs every chain that has lines no signed line follows yet (a
 * checkpoint), or ends it (stop, once every worker is gone).  Paced (the
 * timer's): not within NGX_HTTP_ECI_CHECKPOINT of the chain's last signed
 * line, whichever worker wrote it; then the ms until it is due is
 * returned (0: nothing waits).
 */
ngx_msec_t
ngx_http_eci_audit_sign(ngx_http_eci_main_conf_t *emcf, const char *event,
    ngx_uint_t paced)
{
    uint64_t                    now, since;
    ngx_msec_t                  wait;
    ngx_uint_t                  i, stop;
    ngx_time_t                 *tp;
    eci_chain_event_t           ev;
    ngx_http_eci_audit_t      **audits;
    ngx_http_eci_chain_node_t  *node;

    if (emcf->shpool == NULL || emcf->signer == NULL) {
        return 0;
    }

    stop = (ngx_strcmp(event, ECI_CHAIN_STOP) == 0);
    audits = emcf->audits.elts;
    wait = 0;

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    for (i = 0; i < emcf->audits.nelts; i++) {
        node = audits[i]->node;

        if (node == NULL) {
            continue;
        }

        switch (ngx_http_eci_audit_acquire(emcf, audits[i])) {

        case NGX_OK:
            break;

        case NGX_BUSY:
            /* its holder signs what it writes in time; look again soon */
            if (wait == 0 || NGX_HTTP_ECI_RETRY < wait) {
                wait = NGX_HTTP_ECI_RETRY;
            }

            continue;

        default:
            continue;
        }

        if (ngx_http_eci_audit_writable(audits[i]) != NGX_OK) {
            ngx_http_eci_audit_release(emcf, audits[i]);
            continue;
        }

        /* a reopened file begins with its checkpoint: it may sign all */
        if (node->started) {
            ngx_http_eci_audit_rotated(emcf, audits[i]);
        }

        since = now - ngx_min(now, node->signed_ms);

        if (paced && node->started && node->chain.seq > node->signed_seq
            && since < NGX_HTTP_ECI_CHECKPOINT)
        {
            since = NGX_HTTP_ECI_CHECKPOINT - since;

            if (wait == 0 || since < wait) {
                wait = (ngx_msec_t) since;
            }

        } else if (node->started
                   && (stop || node->chain.seq > node->signed_seq))
        {
            ngx_memzero(&ev, sizeof(eci_chain_event_t));
            ev.event = event;

            if (ngx_http_eci_audit_event(emcf, audits[i], &ev) == NGX_OK
                && stop)
            {
                node->started = 0;
            }
        }

        ngx_http_eci_audit_release(emcf, audits[i]);
    }

    return wait;
}


/* a checkpoint within a second of new lines; it never delays an exit */
void
ngx_http_eci_audit_arm(ngx_http_eci_main_conf_t *emcf)
{
    ngx_event_t  *ev;

    ev = &emcf->worker->checkpoint;

    if (ev == NULL || ev->timer_set || ngx_exiting) {
        return;
    }

    ev->handler = ngx_http_eci_audit_checkpoint_handler;
    ev->data = emcf;
    ev->log = ngx_cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, NGX_HTTP_ECI_CHECKPOINT);
}


/* another worker signed a moment ago: this one's lines wait their turn */
static void
ngx_http_eci_audit_checkpoint_handler(ngx_event_t *ev)
{
    ngx_msec_t  wait;

    wait = ngx_http_eci_audit_sign(ev->data, ECI_CHAIN_CHECKPOINT, 1);

    if (wait > 0 && !ngx_exiting) {
        ngx_add_timer(ev, wait);
    }
}


/*
 * Runs in the master when a configuration is loaded, once the zone is
 * there: a reload keeps every file's chain; a file new to the zone
 * resumes from its own last line.  A target named by neither this
 * configuration nor the one before gives its node to a new target (the
 * workers of older ones see its serial change and write to it no more),
 * so reloads do not use nodes up.
 */
ngx_int_t
ngx_http_eci_audit_init_nodes(ngx_shm_zone_t *shm_zone,
    ngx_http_eci_main_conf_t *emcf)
{
    ngx_uint_t              i;
    ngx_http_eci_audit_t  **audits;

    audits = emcf->audits.elts;

    emcf->sh->gen++;

    for (i = 0; i < emcf->audits.nelts; i++) {
        audits[i]->node = ngx_http_eci_chain_node(shm_zone, emcf->shpool,
                                                  emcf->sh, audits[i]);
        if (audits[i]->node == NULL) {
            return NGX_ERROR;
        }

        audits[i]->node->gen = emcf->sh->gen;
        audits[i]->serial = audits[i]->node->serial;
    }

    return NGX_OK;
}


static ngx_http_eci_chain_node_t *
ngx_http_eci_chain_node(ngx_shm_zone_t *shm_zone, ngx_slab_pool_t *shpool,
    ngx_http_eci_shctx_t *sh, ngx_http_eci_audit_t *audit)
{
    u_char                     *name;
    ngx_uint_t                  i, serial;
    ngx_http_eci_chain_node_t  *node;

    for (i = 0; i < sh->nnodes; i++) {
        node = sh->nodes[i];

        if (node->name_len == audit->name.len
            && ngx_memcmp(node->name, audit->name.data, audit->name.len) == 0)
        {
            return node;
        }
    }

    /* this generation's and the last one's workers may still write */
    node = NULL;

    for (i = 0; i < sh->nnodes; i++) {
        if (sh->nodes[i]->gen + 1 < sh->gen) {
            node = sh->nodes[i];
            break;
        }
    }

    if (node == NULL && sh->nnodes == NGX_HTTP_ECI_MAX_AUDIT_FILES) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "eci: more than %d audit logs in this configuration "
                      "and the one before it",
                      NGX_HTTP_ECI_MAX_AUDIT_FILES);
        return NULL;
    }

    name = ngx_slab_alloc(shpool, audit->name.len);
    if (name == NULL) {
        goto nomem;
    }

    ngx_memcpy(name, audit->name.data, audit->name.len);

    if (node != NULL) {
        ngx_shmtx_lock(&shpool->mutex);

        serial = node->serial + 1;
        ngx_slab_free_locked(shpool, node->name);
        ngx_memzero(node, sizeof(ngx_http_eci_chain_node_t));
        node->serial = serial;
        node->name = name;
        node->name_len = audit->name.len;

        ngx_shmtx_unlock(&shpool->mutex);

    } else {
        node = ngx_slab_calloc(shpool, sizeof(ngx_http_eci_chain_node_t));
        if (node == NULL) {
            ngx_slab_free(shpool, name);
            goto nomem;
        }

        node->name = name;
        node->name_len = audit->name.len;
        sh->nodes[sh->nnodes++] = node;
    }

    /* a syslog chain starts anew with nginx: the collector has the past */
    if (audit->file != NULL) {
        ngx_http_eci_chain_tail(shm_zone->shm.log, shm_zone->data, node,
                                &audit->name);
    }

    return node;

nomem:

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "eci: no room for the audit chain of \"%V\"",
                  &audit->name);
    return NULL;
}


/*
 * What the new chain follows, and whether the file ends as a gateway
 * leaves it: read once, by the master, when the file is new to the zone.
 */
static void
ngx_http_eci_chain_tail(ngx_log_t *log, ngx_http_eci_main_conf_t *emcf,
    ngx_http_eci_chain_node_t *node, ngx_str_t *name)
{
    u_char                *buf;
    off_t                  size, from;
    ssize_t                n;
    ngx_fd_t               fd;
    eci_err_t              err;
    ngx_file_info_t        fi;
    eci_chain_verifier_t  *v;

    /* nginx -t starts no chain */
    if (emcf->signer == NULL || ngx_test_config) {
        return;
    }

    fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return;
    }

    buf = NULL;
    v = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR || !S_ISREG(fi.st_mode)) {
        goto done;
    }

    size = ngx_file_size(&fi);
    if (size == 0) {
        goto done;
    }

    from = size > NGX_HTTP_ECI_TAIL_MAX ? size - NGX_HTTP_ECI_TAIL_MAX : 0;

    buf = ngx_alloc((size_t) (size - from), log);
    if (buf == NULL) {
        goto done;
    }

    n = pread(fd, buf, (size_t) (size - from), from);

    v = eci_chain_signer_verifier(emcf->signer, &err);

    if (n <= 0 || v == NULL) {
        ngx_log_error(NGX_LOG_WARN, log, ngx_errno,
                      "eci: audit file \"%V\": cannot check its end", name);
        goto done;
    }

    /* in a binary upgrade the chain before goes on: it has no stop line */
    eci_chain_tail_check((char *) buf, n, from == 0, v, ngx_inherited,
                         &node->tail);

    if (node->tail.legacy_seq) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "eci: audit file \"%V\" ends in the old HMAC chain "
                      "at seq %uL; the signed chain begins after it",
                      name, node->tail.legacy_seq);

    } else if (node->tail.follows.seq) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "eci: audit file \"%V\": the new chain follows "
                      "chain %s at seq %uL", name, node->tail.follows.id,
                      node->tail.follows.seq);
    }

done:

    eci_chain_verifier_free(v);

    if (buf != NULL) {
        ngx_free(buf);
    }

    (void) ngx_close_file(fd);
}
