/*
 * bench/simd.c: what SIMD paths in the core save per exec (make bench-simd).
 *
 * Times, per exec of make bench's workload, the three pieces of the core
 * that had SSE2 paths (issue 13 dropped them: each saved under 1% of the
 * worker's CPU per exec, docs/performance.md): the response scanner on the
 * upstream's 314-byte body (eci_json_run), the intent and result lines
 * (eci_json_run, the short strings of eci_audit_str, the body digest in
 * hex) and eci_hex (the request id and two chain values).  Built twice,
 * with and without ECI_PORTABLE; make bench-simd runs both in turn and
 * prints the difference against the worker CPU per exec that make bench
 * measures: the test a new SIMD path has to pass.
 *
 *     simd [ROUNDS]    prints: parse_ns lines_ns hex_ns (medians per exec)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eci_audit.h"


#define ECI_SIMD_CALLS  200000

static const char  body[] =
    "{\"beginDate\":\"2026-03-30T10:00:00Z\",\"endDate\":"
    "\"2026-03-30T10:00:05Z\",\"numberOfRecipients\":1,"
    "\"reportDistribution\":{\"createdByUser\":{\"fullName\":\"Test User\","
    "\"userCode\":\"TEST\",\"userId\":1},\"reportCode\":\"RPT\","
    "\"reportDistributionId\":42,\"reportDistributionName\":\"Daily\"},"
    "\"reportDistributionLogId\":1042,\"status\":\"Complete\"}";


static double now_ns(void);
static int cmp_double(const void *a, const void *b);
static void str(eci_str_t *s, const char *v);


int
main(int argc, char **argv)
{
    int                    rounds, r;
    char                   line[4096], hex[129];
    size_t                 i, n, sink;
    double                 t0, *parse, *lines, *hexes;
    unsigned char          bytes[64];
    eci_audit_record_t     rec;
    eci_audit_response_t   resp;

    rounds = (argc > 1) ? atoi(argv[1]) : 5;
    if (rounds < 1) {
        rounds = 1;
    }

    parse = calloc(rounds, sizeof(double));
    lines = calloc(rounds, sizeof(double));
    hexes = calloc(rounds, sizeof(double));
    if (parse == NULL || lines == NULL || hexes == NULL) {
        return 1;
    }

    if (eci_audit_response_parse(body, sizeof(body) - 1, &resp) != 1
        || !resp.valid)
    {
        fprintf(stderr, "simd: the body does not parse\n");
        return 1;
    }

    /* the record make bench's gateway writes for an allowed exec */
    memset(&rec, 0, sizeof(rec));
    rec.time_ms = 1764756000123LL;
    str(&rec.request_id, "4f1c2a9e8b7d6c5f4e3d2c1b0a998877");
    str(&rec.principal, "svc-bench");
    str(&rec.client, "127.0.0.1");
    str(&rec.method, "POST");
    str(&rec.uri, "/api/v202106/reportdistribution/42/exec");
    rec.report_distribution_id = 42;
    rec.decision = "allow";
    rec.status = 200;
    rec.upstream_status = 200;
    rec.upstream_time_ms = 1;
    rec.has_response = 1;
    rec.response_bytes = sizeof(body) - 1;
    memset(rec.response_sha256, 0xa5, sizeof(rec.response_sha256));
    rec.response = &resp;
    rec.seq = 1;

    for (i = 0; i < sizeof(bytes); i++) {
        bytes[i] = (unsigned char) (i * 37 + 11);
    }

    sink = 0;

    for (r = 0; r < rounds; r++) {

        t0 = now_ns();
        for (n = 0; n < ECI_SIMD_CALLS; n++) {
            sink += eci_audit_response_parse(body, sizeof(body) - 1, &resp);
        }
        parse[r] = (now_ns() - t0) / ECI_SIMD_CALLS;

        t0 = now_ns();
        for (n = 0; n < ECI_SIMD_CALLS; n++) {
            rec.event = "intent";
            rec.intent = 1;
            sink += eci_audit_line_write(&rec, line, sizeof(line));
            rec.event = "result";
            rec.intent = 0;
            sink += eci_audit_line_write(&rec, line, sizeof(line));
        }
        lines[r] = (now_ns() - t0) / ECI_SIMD_CALLS;

        /* the request id and two chain values (the lines write the digest) */
        t0 = now_ns();
        for (n = 0; n < ECI_SIMD_CALLS; n++) {
            eci_hex(hex, bytes + n % 8, 16);
            sink += (unsigned char) hex[3];
            eci_hex(hex, bytes + 16, 32);
            sink += (unsigned char) hex[7];
            eci_hex(hex, bytes + 32, 32);
            sink += (unsigned char) hex[9];
        }
        hexes[r] = (now_ns() - t0) / ECI_SIMD_CALLS;
    }

    qsort(parse, rounds, sizeof(double), cmp_double);
    qsort(lines, rounds, sizeof(double), cmp_double);
    qsort(hexes, rounds, sizeof(double), cmp_double);

    printf("%.1f %.1f %.1f\n", parse[rounds / 2], lines[rounds / 2],
           hexes[rounds / 2]);

    return sink == 0;
}


static double
now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1e9 + ts.tv_nsec;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static void
str(eci_str_t *s, const char *v)
{
    s->data = v;
    s->len = strlen(v);
}
