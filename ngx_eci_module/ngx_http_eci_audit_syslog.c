/*
 * ngx_eci: the audit to syslog: one datagram a line, sent at once,
 * without blocking, under the zone's lock; a line too long for a
 * datagram goes in a bounded form (docs/audit.md, "Syslog").
 */

#include "ngx_http_eci_module.h"


/*
 * syslog: one datagram a line, sent at once.  A line the datagram cannot
 * carry (thousands of override ids) goes in its bounded form: the ids'
 * count and digest instead of the list (docs/audit.md, "Syslog").
 */
ngx_int_t
ngx_http_eci_audit_syslog(ngx_http_request_t *r, ngx_http_eci_ctx_t *ctx,
    eci_audit_record_t *rec)
{
    u_char                     *buf, *line;
    size_t                      len, max, head;
    ssize_t                     n;
    ngx_err_t                   err;
    ngx_uint_t                  bounded;
    eci_chain_t                 chain;
    ngx_http_eci_audit_t       *audit;
    ngx_http_eci_main_conf_t   *emcf;
    ngx_http_eci_chain_node_t  *node;

    emcf = ngx_http_get_module_main_conf(r, ngx_http_eci_module);
    audit = ctx->audit;
    node = audit->node;

    /* room for either form */
    max = eci_audit_line_max(rec);
    rec->override_user_ids_bounded = 1;
    max = ngx_max(max, eci_audit_line_max(rec));
    rec->override_user_ids_bounded = 0;

    head = ngx_http_eci_syslog_head(audit);

    /*
     * A line is built, sent and done with before this function returns,
     * so the usual one goes to the worker's scratch buffer rather than
     * growing every request's pool by a block; only a line with thousands
     * of overrides takes pool memory.
     */
    if (head + max <= NGX_HTTP_ECI_LINE_SCRATCH) {
        buf = emcf->worker->line_scratch;

    } else {
        buf = ngx_pnalloc(r->pool, head + max);
        if (buf == NULL) {
            return NGX_ERROR;
        }
    }

    line = buf + head;

    n = -1;
    err = 0;
    bounded = 0;

    len = eci_audit_line_write(rec, (char *) line, max);

    /* sent without its newline, sealed with at most ECI_CHAIN_ROOM more */
    if (len > 0 && rec->has_override_user_ids
        && head + len - 1 + ECI_CHAIN_ROOM > NGX_HTTP_ECI_SYSLOG_MAX)
    {
        rec->override_user_ids_bounded = 1;
        len = eci_audit_line_write(rec, (char *) line, max);
        bounded = 1;
    }

    if (ngx_http_eci_audit_acquire(emcf, audit) != NGX_OK) {
        /* no longer configured (a reload): the lock is not held */
        return NGX_ERROR;
    }

    (void) ngx_http_eci_audit_begin(emcf, audit);

    chain = node->chain;

    if (len > 0) {
        len = eci_chain_seal(&chain, (char *) line, len, max);
    }

    if (len > 0 && head + len - 1 <= NGX_HTTP_ECI_SYSLOG_MAX) {
        n = ngx_http_eci_syslog_send(audit, buf, head, len, &err);
    }

    if (len > 0 && n != -1) {
        node->chain = chain;
        node->written++;
        node->syslog_bounded += bounded;

    } else {
        node->failed++;
    }

    ngx_http_eci_audit_release(emcf, audit);

    ngx_http_eci_audit_arm(emcf);

    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "eci: audit line did not fit its own bound");
        return NGX_ERROR;
    }

    if (head + len - 1 > NGX_HTTP_ECI_SYSLOG_MAX) {
        /* a principal or response fields tens of KB long, escaped */
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, 0,
                      "eci: audit %s line to \"%V\" not written: %uz "
                      "bytes%s, more than a datagram carries", rec->event,
                      &audit->name, head + len - 1,
                      bounded ? " in its bounded form" : "");
        return NGX_ERROR;
    }

    if (n == -1) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, err,
                      "eci: audit %s line to \"%V\" not written",
                      rec->event, &audit->name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* room for syslog's PRI and HEADER before a line */
size_t
ngx_http_eci_syslog_head(ngx_http_eci_audit_t *audit)
{
    return sizeof("<255>Jan 01 00:00:00 ") - 1 + ngx_cycle->hostname.len
           + 1 + audit->syslog->tag.len + 2;
}


/*
 * Sends the line of len bytes at buf + head (head from
 * ngx_http_eci_syslog_head()) as one datagram, without its newline.
 * Returns what was sent, or -1.  Under the lock (the node's counter).
 *
 * The socket is connected, so an ICMP "port unreachable" for one datagram
 * fails the next send(2) with ECONNREFUSED, without sending it (and nginx
 * closes the socket): that error is the fate of an earlier datagram, so
 * the line is sent once more, on a new socket.  Every failed send is
 * counted (eci_audit_syslog_send_errors_total) and logged once a second.
 */
ssize_t
ngx_http_eci_syslog_send(ngx_http_eci_audit_t *audit, u_char *buf,
    size_t head, size_t len, ngx_err_t *err)
{
    u_char      *p;
    ssize_t      n;
    ngx_uint_t   i;

    p = ngx_syslog_add_header(audit->syslog, buf);
    ngx_memmove(p, buf + head, len - 1);
    p += len - 1;

    /* nginx would log each refusal at "error": it is logged below */
    audit->syslog->conn.log_error = NGX_ERROR_INFO;

    for (i = 0; i < 2; i++) {
        n = ngx_syslog_send(audit->syslog, buf, p - buf);

        if (n == p - buf) {
            return n;
        }

        *err = (n == NGX_ERROR) ? ngx_socket_errno : 0;

        audit->node->syslog_errors++;
        audit->syslog_unlogged++;

        if (audit->syslog_logged != ngx_time()) {
            audit->syslog_logged = ngx_time();

            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, *err,
                          "eci: audit target \"%V\": %ui syslog send "
                          "error%s in this worker since the last such "
                          "message", &audit->name, audit->syslog_unlogged,
                          audit->syslog_unlogged == 1 ? "" : "s");

            audit->syslog_unlogged = 0;
        }

        if (n != NGX_ERROR) {
            /* EAGAIN: the socket's buffer is full; it stays open */
            break;
        }
    }

    return -1;
}
