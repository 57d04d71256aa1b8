/*
 * eci-load: a bounded HTTP/1.1 load client for the ngx_eci gateway.
 *
 * N keep-alive connections to one loopback address, driven by epoll with
 * non-blocking sockets.  It sends a fixed number of exec requests of three
 * kinds, in a deterministic weighted mix:
 *
 *   allowed  POST .../<id>/exec as --principal, sometimes with
 *            overrideUserIds=<--override-ok>                     expects 200
 *   denied   as --denied-principal (not in the ACL), or as --principal
 *            with overrideUserIds=<--override-bad>               expects 403
 *   invalid  an unknown parameter, id 0, id 2147483648           expects 400
 *
 * and records, for every request, its kind, the expected and the received
 * status, the X-Request-Id it got back and its latency.  The summary goes
 * to stdout; --ids FILE writes one line per request:
 *
 *   <X-Request-Id or -> <status or 0> <kind> <expected status> <latency us>
 *
 * An exec is never retried: a request whose connection fails is counted
 * as an error (status 0).  Bounded: --requests in all, and after
 * --max-seconds whatever is still in flight is abandoned (counted as
 * errors) and the client exits 2.  Exit 0 when every request got its
 * expected status and an X-Request-Id, 1 otherwise.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { KIND_ALLOWED, KIND_DENIED, KIND_INVALID, NKINDS };
static const char *kind_name[NKINDS] = { "allowed", "denied", "invalid" };

#define EXEC_PATH "/api/v202106/reportdistribution/"
#define RID_MAX   64
#define MAX_STATUS 600

typedef struct {
    uint8_t  kind;
    uint16_t expect;
    uint16_t status;          /* 0: no response */
    uint32_t latency_us;
    char     rid[RID_MAX + 1];
} record_t;

typedef struct {
    int       fd;
    int       connected;
    int       busy;           /* a request is in flight */
    long      req;            /* its index */
    double    start;
    char      out[8192];
    size_t    out_len, out_off;
    char     *in;
    size_t    in_len, in_cap;
    int       served;         /* responses on this connection */
} conn_t;

static struct {
    const char *host;
    int         port;
    int         conns;
    long        requests;
    double      max_seconds;
    unsigned    weight[NKINDS];
    const char *principal_header;
    const char *principal;
    const char *denied_principal;
    long        override_ok;
    long        override_bad;
    long        ids_max;
    const char *ids_file;
    int         quiet;
} opt = {
    "127.0.0.1", 0, 64, 20000, 120.0, { 6, 3, 1 }, "X-Caller",
    "svc-load", "svc-unknown", 7, 9, 1000, NULL, 0
};

static record_t *rec;
static long      next_req, done_req;
static int       ep;
static struct sockaddr_in addr;
static long      connects, conn_errors, reconnects;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("eci-load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(3);
}

static void usage(FILE *f)
{
    fprintf(f,
"usage: eci-load --port N [--host 127.0.0.1] [--connections 64]\n"
"                [--requests 20000] [--max-seconds 120] [--mix 6:3:1]\n"
"                [--principal-header X-Caller] [--principal svc-load]\n"
"                [--denied-principal svc-unknown] [--override-ok 7]\n"
"                [--override-bad 9] [--ids-max 1000] [--ids FILE] [--quiet]\n"
"\n"
"Sends --requests exec requests over --connections keep-alive HTTP/1.1\n"
"connections to a loopback address, in the weighted mix\n"
"allowed:denied:invalid (expected statuses 200, 403, 400), and prints\n"
"counts by kind and status, req/s and p50/p99 latency.  The ACL must let\n"
"--principal exec ids 1..--ids-max with override --override-ok but not\n"
"--override-bad, and must not know --denied-principal.  --ids FILE: one\n"
"line per request: request-id status kind expected latency-us.\n"
"Exit 0: every request got its expected status and an X-Request-Id;\n"
"1: some did not; 2: --max-seconds passed first; 3: usage or set-up.\n");
}

static long num_arg(const char *name, const char *v, long lo, long hi)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *v == '\0' || *end != '\0' || n < lo || n > hi)
        die("%s: expected a number from %ld to %ld, got \"%s\"", name, lo,
            hi, v);
    return n;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--quiet")) { opt.quiet = 1; continue; }
        if (i + 1 >= argc)
            die("%s: missing value (see --help)", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--port"))
            opt.port = num_arg(a, v, 1, 65535);
        else if (!strcmp(a, "--connections"))
            opt.conns = num_arg(a, v, 1, 10000);
        else if (!strcmp(a, "--requests"))
            opt.requests = num_arg(a, v, 1, 100000000);
        else if (!strcmp(a, "--max-seconds"))
            opt.max_seconds = num_arg(a, v, 1, 86400);
        else if (!strcmp(a, "--mix")) {
            unsigned w[NKINDS];
            char extra;
            if (sscanf(v, "%u:%u:%u%c", &w[0], &w[1], &w[2], &extra) != 3
                || w[0] + w[1] + w[2] == 0 || w[0] > 1000 || w[1] > 1000
                || w[2] > 1000)
                die("--mix: expected allowed:denied:invalid weights, e.g."
                    " 6:3:1, got \"%s\"", v);
            memcpy(opt.weight, w, sizeof w);
        }
        else if (!strcmp(a, "--principal-header")) opt.principal_header = v;
        else if (!strcmp(a, "--principal")) opt.principal = v;
        else if (!strcmp(a, "--denied-principal")) opt.denied_principal = v;
        else if (!strcmp(a, "--override-ok"))
            opt.override_ok = num_arg(a, v, 1, 2147483647);
        else if (!strcmp(a, "--override-bad"))
            opt.override_bad = num_arg(a, v, 1, 2147483647);
        else if (!strcmp(a, "--ids-max"))
            opt.ids_max = num_arg(a, v, 1, 2147483647);
        else if (!strcmp(a, "--ids")) opt.ids_file = v;
        else die("unknown option %s (see --help)", a);
    }
    if (!opt.port)
        die("--port is required (see --help)");
    /* header values go into the request as they are */
    const char *hv[] = { opt.principal_header, opt.principal,
                         opt.denied_principal };
    for (size_t i = 0; i < sizeof hv / sizeof hv[0]; i++)
        for (const char *p = hv[i]; *p; p++)
            if ((unsigned char) *p < 0x21 && !(i && *p == ' '))
                die("\"%s\": no control bytes or spaces, please", hv[i]);

    if (inet_pton(AF_INET, !strcmp(opt.host, "localhost") ? "127.0.0.1"
                                                          : opt.host,
                  &addr.sin_addr) != 1)
        die("--host: an IPv4 address, got \"%s\"", opt.host);
    /* loopback only: this tool is a test, not a weapon */
    if ((ntohl(addr.sin_addr.s_addr) >> 24) != 127)
        die("--host: loopback (127.0.0.0/8) only, got \"%s\"", opt.host);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(opt.port);
}

/* A deterministic mix: an LCG keyed by the request index picks the kind by
 * weight, and a variant within the kind. */
static void build_request(long i, conn_t *c)
{
    uint64_t x = (uint64_t) i * 6364136223846793005ULL
                 + 1442695040888963407ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 32;
    unsigned total = opt.weight[0] + opt.weight[1] + opt.weight[2];
    unsigned r = (unsigned) (x % total);
    unsigned variant = (unsigned) ((x >> 20) % 3);
    int kind = r < opt.weight[0] ? KIND_ALLOWED
             : r < opt.weight[0] + opt.weight[1] ? KIND_DENIED : KIND_INVALID;
    long id = 1 + i % opt.ids_max;
    const char *who = opt.principal;
    char target[256];
    uint16_t expect;

    switch (kind) {
    case KIND_ALLOWED:
        expect = 200;
        if (variant == 0)
            snprintf(target, sizeof target, EXEC_PATH "%ld/exec", id);
        else if (variant == 1)
            snprintf(target, sizeof target,
                     EXEC_PATH "%ld/exec?overrideUserIds=%ld", id,
                     opt.override_ok);
        else
            snprintf(target, sizeof target,
                     EXEC_PATH "%ld/exec?overrideUserIds=%ld,%ld", id,
                     opt.override_ok, opt.override_ok);
        break;
    case KIND_DENIED:
        expect = 403;
        if (variant == 1) {
            snprintf(target, sizeof target,
                     EXEC_PATH "%ld/exec?overrideUserIds=%ld", id,
                     opt.override_bad);
        } else {
            who = opt.denied_principal;
            snprintf(target, sizeof target, EXEC_PATH "%ld/exec", id);
        }
        break;
    default:
        expect = 400;
        if (variant == 0)
            snprintf(target, sizeof target, EXEC_PATH "%ld/exec?colour=red",
                     id);
        else if (variant == 1)
            snprintf(target, sizeof target, EXEC_PATH "0/exec");
        else
            snprintf(target, sizeof target, EXEC_PATH "2147483648/exec");
        break;
    }

    rec[i].kind = kind;
    rec[i].expect = expect;
    int n = snprintf(c->out, sizeof c->out,
                     "POST %s HTTP/1.1\r\n"
                     "Host: localhost\r\n"
                     "%s: %s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: 2\r\n"
                     "\r\n{}",
                     target, opt.principal_header, who);
    if (n < 0 || (size_t) n >= sizeof c->out)
        die("request too long (principal or header name)");
    c->out_len = n;
    c->out_off = 0;
}

static void conn_close(conn_t *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->connected = 0;
    c->in_len = 0;
    c->served = 0;
}

static int conn_open(conn_t *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connects++;
    if (connect(fd, (struct sockaddr *) &addr, sizeof addr) < 0
        && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->connected = 0;
    c->in_len = 0;
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP,
                              .data.ptr = c };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
    return 0;
}

static void want(conn_t *c, uint32_t events)
{
    struct epoll_event ev = { .events = events | EPOLLRDHUP, .data.ptr = c };
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void finish(conn_t *c, int status, const char *rid, size_t rid_len)
{
    record_t *r = &rec[c->req];
    double lat = now() - c->start;
    r->status = status;
    r->latency_us = lat * 1e6 > 4e9 ? 4000000000u : (uint32_t) (lat * 1e6);
    if (rid && rid_len) {
        if (rid_len > RID_MAX)
            rid_len = RID_MAX;
        memcpy(r->rid, rid, rid_len);
        r->rid[rid_len] = '\0';
    }
    c->busy = 0;
    done_req++;
}

/* Starts the next request on c, (re)connecting when needed. */
static void start_next(conn_t *c)
{
    while (next_req < opt.requests && c->fd < 0 && conn_open(c) < 0) {
        /* not even sent: count the request as failed, keep going */
        conn_errors++;
        c->req = next_req++;
        build_request(c->req, c);
        c->start = now();
        finish(c, 0, NULL, 0);
    }
    if (next_req >= opt.requests) {
        if (c->fd >= 0)
            conn_close(c);
        return;
    }
    c->req = next_req++;
    build_request(c->req, c);
    c->busy = 1;
    c->start = now();
    want(c, EPOLLOUT | EPOLLIN);
}

static const char *find_header(const char *head, size_t len,
                               const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = head, *end = head + len;
    /* skip the status line */
    p = memchr(p, '\n', end - p);
    while (p && ++p < end) {
        const char *eol = memchr(p, '\n', end - p);
        if (!eol)
            break;
        if ((size_t) (eol - p) > nl && p[nl] == ':'
            && !strncasecmp(p, name, nl)) {
            const char *v = p + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
            *vlen = ve - v;
            return v;
        }
        p = eol;
    }
    return NULL;
}

/* The length of a complete chunked body at b, or -1 when incomplete. */
static long chunked_len(const char *b, size_t len)
{
    size_t off = 0;
    for (;;) {
        const char *eol = memmem(b + off, len - off, "\r\n", 2);
        if (!eol)
            return -1;
        unsigned long size = strtoul(b + off, NULL, 16);
        off = eol - b + 2;
        if (size == 0) {
            /* trailers end with an empty line */
            for (;;) {
                const char *e = memmem(b + off, len - off, "\r\n", 2);
                if (!e)
                    return -1;
                size_t l = e - (b + off);
                off += l + 2;
                if (l == 0)
                    return off;
            }
        }
        if (len - off < size + 2)
            return -1;
        off += size + 2;
    }
}

/* Parses c->in; returns 1 when a whole response was consumed. */
static int try_response(conn_t *c, int *close_after)
{
    char *hend = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!hend)
        return 0;
    size_t hlen = hend - c->in + 4;
    int status = 0;
    if (c->in_len < 12 || strncmp(c->in, "HTTP/1.", 7)
        || sscanf(c->in + 9, "%3d", &status) != 1)
        return -1;
    if (status >= 100 && status < 200) {          /* interim: drop it */
        memmove(c->in, c->in + hlen, c->in_len - hlen);
        c->in_len -= hlen;
        return try_response(c, close_after);
    }

    size_t vlen;
    long body;
    const char *v;
    if ((v = find_header(c->in, hlen, "Transfer-Encoding", &vlen))
        && memmem(v, vlen, "chunked", 7)) {
        body = chunked_len(c->in + hlen, c->in_len - hlen);
        if (body < 0)
            return 0;
    } else if ((v = find_header(c->in, hlen, "Content-Length", &vlen))) {
        body = strtol(v, NULL, 10);
        if (c->in_len - hlen < (size_t) body)
            return 0;
    } else if (status == 204 || status == 304) {
        body = 0;
    } else {
        return -1;      /* read-until-close bodies: not from this gateway */
    }
    *close_after = (v = find_header(c->in, hlen, "Connection", &vlen))
                   && memmem(v, vlen, "close", 5);
    const char *rid = find_header(c->in, hlen, "X-Request-Id", &vlen);
    finish(c, status, rid, rid ? vlen : 0);
    c->served++;
    size_t used = hlen + body;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return 1;
}

static void fail(conn_t *c)
{
    if (c->busy)
        finish(c, 0, NULL, 0);
    conn_close(c);
    start_next(c);
}

static void on_event(conn_t *c, uint32_t ev)
{
    if (!c->connected && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            conn_errors++;
            fail(c);
            return;
        }
        c->connected = 1;
    }
    if (c->busy && c->out_off < c->out_len && (ev & EPOLLOUT)) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) {
            conn_errors++;
            fail(c);
            return;
        }
        if (n > 0)
            c->out_off += n;
        if (c->out_off == c->out_len)
            want(c, EPOLLIN);
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            if (c->in_cap - c->in_len < 16384) {
                c->in_cap = c->in_cap ? c->in_cap * 2 : 65536;
                c->in = realloc(c->in, c->in_cap);
                if (!c->in)
                    die("out of memory");
            }
            ssize_t n = recv(c->fd, c->in + c->in_len,
                             c->in_cap - c->in_len, 0);
            if (n > 0) {
                c->in_len += n;
                continue;
            }
            if (n < 0 && errno == EAGAIN)
                break;
            /* EOF or error: a request in flight is lost, not retried */
            int busy = c->busy;
            if (busy && c->in_len) {
                int close_after = 0;
                if (try_response(c, &close_after) == 1 && !c->busy) {
                    conn_close(c);
                    reconnects++;
                    start_next(c);
                    return;
                }
            }
            if (busy)
                conn_errors++;
            else
                reconnects++;
            fail(c);
            return;
        }
        if (c->busy) {
            int close_after = 0;
            int r = try_response(c, &close_after);
            if (r < 0) {
                conn_errors++;
                fail(c);
                return;
            }
            if (r == 1) {
                if (close_after || c->in_len) {
                    /* nginx's keepalive_requests, or bytes nobody asked
                     * for: a fresh connection */
                    conn_close(c);
                    reconnects++;
                }
                start_next(c);
            }
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    rec = calloc(opt.requests, sizeof *rec);
    conn_t *conns = calloc(opt.conns, sizeof *conns);
    if (!rec || !conns)
        die("out of memory");
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1: %s", strerror(errno));

    double t0 = now(), deadline = t0 + opt.max_seconds;
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        start_next(&conns[i]);
    }

    int timed_out = 0;
    struct epoll_event evs[256];
    while (done_req < opt.requests) {
        double left = deadline - now();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int n = epoll_wait(ep, evs, 256, left > 1 ? 1000 : (int) (left * 1000) + 1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++)
            on_event(evs[i].data.ptr, evs[i].events);
    }
    double elapsed = now() - t0;
    for (int i = 0; i < opt.conns; i++)
        conn_close(&conns[i]);

    /* the figures */
    long by_kind[NKINDS] = { 0 }, wrong = 0, no_rid = 0, failed = 0;
    long status_count[MAX_STATUS] = { 0 };
    long kind_status[NKINDS][MAX_STATUS];
    memset(kind_status, 0, sizeof kind_status);
    uint32_t *lat = malloc(sizeof *lat * (opt.requests ? opt.requests : 1));
    long nlat = 0, sent = next_req;
    if (!lat)
        die("out of memory");
    for (long i = 0; i < sent; i++) {
        record_t *r = &rec[i];
        int s = r->status < MAX_STATUS ? r->status : 0;
        by_kind[r->kind]++;
        status_count[s]++;
        kind_status[r->kind][s]++;
        if (!r->status) failed++;
        else lat[nlat++] = r->latency_us;
        if (r->status != r->expect) wrong++;
        else if (!r->rid[0]) no_rid++;
    }
    long unsent = opt.requests - sent;
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    double p50 = nlat ? lat[(nlat - 1) * 50 / 100] / 1000.0 : 0;
    double p99 = nlat ? lat[(nlat - 1) * 99 / 100] / 1000.0 : 0;
    double pmax = nlat ? lat[nlat - 1] / 1000.0 : 0;

    printf("requests     %ld (sent %ld, answered %ld, failed %ld, not sent %ld)\n",
           opt.requests, sent, sent - failed, failed, unsent);
    printf("connections  %d (%ld opened, %ld re-opened after a close, %ld errors)\n",
           opt.conns, connects, reconnects, conn_errors);
    printf("elapsed      %.2f s\n", elapsed);
    printf("rate         %.0f req/s\n", elapsed > 0 ? (sent - failed) / elapsed : 0);
    printf("latency      p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", p50, p99, pmax);
    for (int k = 0; k < NKINDS; k++) {
        printf("%-12s %ld:", kind_name[k], by_kind[k]);
        for (int s = 0; s < MAX_STATUS; s++)
            if (kind_status[k][s])
                printf(" %d=%ld", s, kind_status[k][s]);
        printf("\n");
    }
    printf("status      ");
    for (int s = 0; s < MAX_STATUS; s++)
        if (status_count[s])
            printf(" %d=%ld", s, status_count[s]);
    printf("\n");
    printf("unexpected   %ld (status other than expected), %ld without X-Request-Id\n",
           wrong, no_rid);
    if (timed_out)
        printf("TIMEOUT      --max-seconds %.0f passed with %ld requests unanswered\n",
               opt.max_seconds, opt.requests - done_req);

    if (opt.ids_file) {
        FILE *f = fopen(opt.ids_file, "w");
        if (!f)
            die("%s: %s", opt.ids_file, strerror(errno));
        for (long i = 0; i < sent; i++)
            fprintf(f, "%s %u %s %u %u\n", rec[i].rid[0] ? rec[i].rid : "-",
                    rec[i].status, kind_name[rec[i].kind], rec[i].expect,
                    rec[i].latency_us);
        if (fclose(f) != 0)
            die("%s: %s", opt.ids_file, strerror(errno));
    }

    if (timed_out)
        return 2;
    return (wrong || no_rid || failed || unsent) ? 1 : 0;
}
