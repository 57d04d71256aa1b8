/*
 * ngx_eci: where nginx versions differ, in one place.
 *
 * The module builds against nginx 1.22 (Debian 12) and every later
 * version (make test-versions runs the suite on 1.22.1 and 1.26.3).  What
 * changed under it, and what the module does about each:
 *
 *   - ngx_table_elt_t.next (1.23.0): request headers of one name are
 *     linked (r->headers_in.x_forwarded_for, ...->next), and so are the
 *     response headers nginx makes.  Every header element the module makes
 *     ends its chain: ngx_http_eci_header_end().
 *
 *   - Duplicate request headers (1.23.0): $http_NAME of a repeated header
 *     is all its values joined with ", " ("; " for Cookie); 1.22 gives the
 *     first.  The module strips every element of the key header and of
 *     Authorization from the list itself (never through a variable), so
 *     either way none is left; Authorization stays unique (nginx answers
 *     a second one with 400) in both.  A principal from $http_x_caller
 *     sent twice is "a, b" on 1.23+ (no such principal: refused) and the
 *     first value on 1.22: t/027-versions.t shows both.
 *
 *   - proxy_pass (both): the location configuration of
 *     ngx_http_proxy_module starts with its ngx_http_upstream_conf_t, and
 *     create_request() reads r->headers_in.headers, element by element,
 *     without following next: the header list the gateway swaps in
 *     (ngx_http_eci_proxy.c) is all proxy_pass sees.
 *
 *   - HTTP/2 request headers (both): each becomes an element of
 *     r->headers_in.headers as over HTTP/1.1, cookies joined into one;
 *     since 1.25.1 "http2 on" replaces "listen ... http2" (the latter
 *     still works, with a warning).
 */

#ifndef NGX_HTTP_ECI_COMPAT_H
#define NGX_HTTP_ECI_COMPAT_H


#if (nginx_version >= 1023000)
#define ngx_http_eci_header_end(h)  (h)->next = NULL
#else
#define ngx_http_eci_header_end(h)  /* void */
#endif


#endif /* NGX_HTTP_ECI_COMPAT_H */
