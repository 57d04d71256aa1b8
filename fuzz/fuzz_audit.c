/*
 * libFuzzer target: the upstream response parser and the audit line.
 *
 * The input is taken apart as an audit line (eci_chain_line_parse(), as
 * eci-audit verify does with any file) and parsed as a
 * ReportDistributionLogResponse.  Then an audit
 * record is built from it: its strings are slices of the input, its
 * numbers and flags come from a hash of the input (so every mutation
 * explores another combination and the seeds stay plain JSON bodies), and
 * the parsed response is attached.  The line written must:
 *   - fit in eci_audit_line_max() bytes, and not in one byte less than
 *     its length;
 *   - end in exactly one '\n' and hold no other byte below 0x20, nor 0x7f;
 *   - parse as one JSON object with jansson, whose requestId, client,
 *     method and (uncut) uri read back as the input bytes whenever those
 *     are valid UTF-8;
 * and, sealed into a chain, still fit eci_audit_line_max() and be one
 * JSON line that eci_chain_line_parse() takes apart into the seq, chain id
 * and hash it carries, with the hash following the chain's head.  abort()
 * otherwise.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_audit.h"
#include "eci_chain.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fuzz_hash(const uint8_t *data, size_t size, uint64_t seed);
static void fuzz_slice(const uint8_t *data, size_t size, size_t *off,
    size_t len, eci_str_t *s, char **copy);
static void fuzz_line_check(const char *line, size_t len, json_t **out);
static void fuzz_field_check(json_t *obj, const char *key,
    const eci_str_t *s);
static void fuzz_response_check(const eci_audit_response_t *r);
static void fuzz_fail(const char *what);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    valid;
    char                  *body, *copies[6], *error, *line;
    size_t                 i, off, max, n, sealed;
    int32_t                ids[8];
    json_t                *obj;
    uint64_t               h1, h2, seq;
    eci_chain_t            chain;
    eci_chain_line_t       l;
    eci_str_t              err_str;
    eci_audit_record_t     rec;
    eci_audit_response_t   resp;

    static const char  *events[] = { NULL, "intent", "result", "" };
    static const int64_t  times[] = {
        0, 1767225600123LL, -1, INT64_MIN, INT64_MAX,
        253402300799999LL, 253402300800000LL, -62167219200000LL,
        -62167219200001LL
    };

    /* an exact-size copy: ASan sees reads past the end */
    body = malloc(size + 1);
    if (body == NULL) {
        return 0;
    }

    memcpy(body, data, size);

    /* eci-audit verify takes any file apart: the input as a line */
    if (eci_chain_line_parse(body, size, &l) == 0
        && (l.seq == 0 || l.hashed >= size
            || (l.is_signed && l.signed_len >= l.hashed)))
    {
        fuzz_fail("chain_line_parse accepts a line it did not take apart");
    }

    valid = eci_audit_response_parse(body, size, &resp);

    if (valid != resp.valid || (valid != 0 && valid != 1)) {
        fuzz_fail("response_parse: return value and valid disagree");
    }

    /* an invalid body leaves an empty record, which must hold them too */
    fuzz_response_check(&resp);

    h1 = fuzz_hash(data, size, 0);
    h2 = fuzz_hash(data, size, h1);

    memset(&rec, 0, sizeof(rec));
    memset(copies, 0, sizeof(copies));

    off = 0;
    fuzz_slice(data, size, &off, (h1 >> 0) & 0x3f, &rec.request_id,
               &copies[0]);
    fuzz_slice(data, size, &off, (h1 >> 6) & 0x3f, &rec.principal,
               &copies[1]);
    fuzz_slice(data, size, &off, (h1 >> 12) & 0x3f, &rec.client,
               &copies[2]);
    fuzz_slice(data, size, &off, (h1 >> 18) & 0x0f, &rec.method,
               &copies[3]);

    /* sometimes all of the input: long uris are cut at 2 KiB */
    if (h1 & (1ULL << 22)) {
        fuzz_slice(data, size, &off, size, &rec.uri, &copies[4]);

    } else {
        off = 0;
        fuzz_slice(data, size, &off, size, &rec.uri, &copies[4]);
    }

    error = NULL;

    if (h1 & (1ULL << 23)) {
        off = 0;
        fuzz_slice(data, size, &off, (h2 >> 40) & 0xff, &err_str,
                   &copies[5]);
        /* error is a C string: a NUL in it just ends it early */
        error = copies[5];
    }

    /* principal null: data NULL and len 0 */
    if ((h1 & (1ULL << 24)) && rec.principal.len == 0) {
        rec.principal.data = NULL;
    }

    rec.time_ms = times[(h1 >> 25) % (sizeof(times) / sizeof(times[0]))];
    if (h1 & (1ULL << 29)) {
        rec.time_ms = (int64_t) h2;
    }

    rec.event = events[(h1 >> 30) & 3];
    rec.error = error;
    rec.decision = (h1 & (1ULL << 32)) ? "allow" : "deny";
    rec.report_distribution_id = (int32_t) (h2 & 0xffffffff);

    n = (h1 >> 33) % 9;
    for (i = 0; i < 8; i++) {
        ids[i] = (int32_t) (h2 >> (i * 4)) ^ (int32_t) (h1 >> i);
    }

    rec.override_user_ids = (n == 0) ? NULL : ids;
    rec.n_override_user_ids = (n == 0) ? 0 : n - 1;
    rec.has_override_user_ids = (h1 >> 37) & 1;
    /* a syslog line's bounded form: the ids' count and digest */
    rec.override_user_ids_bounded = (h1 >> 56) & 1;
    rec.status = (int) ((h1 >> 38) & 0x3ff) - 24;
    rec.upstream_status = (h1 & (1ULL << 48)) ? (int) (h2 >> 32) : 0;
    rec.upstream_time_ms = (h1 & (1ULL << 49)) ? (int64_t) h2 : -1;
    rec.has_response = (h1 >> 50) & 1;
    /*
     * Counters above INT64_MAX are valid JSON but beyond jansson's
     * json_int_t (and every reader's int64): unreachable in practice.
     */
    rec.response_bytes = h2 & INT64_MAX;
    memcpy(rec.response_sha256, &h1, 8);
    memcpy(rec.response_sha256 + 8, &h2, 8);
    rec.response_truncated = (h1 >> 51) & 1;
    rec.response = ((h1 >> 52) & 1) ? NULL : &resp;
    rec.intent = (h1 >> 53) & 1;
    /* the seq before the line's: 0, the largest jansson reads, or any */
    seq = ((h1 >> 54) & 1) ? 0 : ((h1 >> 55) & 1) ? INT64_MAX - 1 : h2 >> 2;

    max = eci_audit_line_max(&rec);

    line = malloc(max);
    if (line == NULL) {
        goto done;
    }

    n = eci_audit_line_write(&rec, line, max);

    if (n == 0 || n > max) {
        fuzz_fail("line_write does not fit in line_max");
    }

    if (eci_audit_line_write(&rec, line, n - 1) != 0) {
        fuzz_fail("line_write wrote into a buffer one byte short");
    }

    n = eci_audit_line_write(&rec, line, max);

    fuzz_line_check(line, n, &obj);

    fuzz_field_check(obj, "requestId", &rec.request_id);
    fuzz_field_check(obj, "client", &rec.client);
    fuzz_field_check(obj, "method", &rec.method);

    if (rec.uri.len <= ECI_AUDIT_URI_MAX) {
        fuzz_field_check(obj, "uri", &rec.uri);
    }

    if (rec.principal.data == NULL
        && !json_is_null(json_object_get(obj, "principal")))
    {
        fuzz_fail("a NULL principal is not written as null");
    }

    json_decref(obj);

    memset(&chain, 0, sizeof(chain));
    memcpy(chain.id, "20261129T070503Z-0123456789abcdef", ECI_CHAIN_ID_LEN);
    memcpy(chain.head, ECI_CHAIN_GENESIS, sizeof(chain.head));
    chain.seq = seq;

    sealed = eci_chain_seal(&chain, line, n, max);

    if (sealed == 0 || sealed > max) {
        fuzz_fail("chain_seal does not fit in line_max");
    }

    fuzz_line_check(line, sealed, &obj);
    json_decref(obj);

    if (eci_chain_line_parse(line, sealed, &l) != 0) {
        fuzz_fail("chain_line_parse refuses a sealed line");
    }

    if (l.seq != seq + 1 || l.is_signed || strcmp(l.chain, chain.id) != 0
        || strcmp(l.hash, chain.head) != 0 || l.hashed >= sealed)
    {
        fuzz_fail("chain_line_parse gives another seq, chain or hash");
    }

    if (!eci_chain_line_follows(line, &l, ECI_CHAIN_GENESIS)) {
        fuzz_fail("the chain hash does not follow its head");
    }

    free(line);

done:

    for (i = 0; i < 6; i++) {
        free(copies[i]);
    }

    free(body);

    return 0;
}


/* FNV-1a */

static uint64_t
fuzz_hash(const uint8_t *data, size_t size, uint64_t seed)
{
    size_t    i;
    uint64_t  h;

    h = 0xcbf29ce484222325ULL ^ seed;

    for (i = 0; i < size; i++) {
        h ^= data[i];
        h *= 0x100000001b3ULL;
    }

    /* a final mix, so that the low bits depend on every byte */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;

    return h;
}


/* an exact-size, NUL-terminated copy of the next len bytes at *off */

static void
fuzz_slice(const uint8_t *data, size_t size, size_t *off, size_t len,
    eci_str_t *s, char **copy)
{
    if (len > size - *off) {
        len = size - *off;
    }

    *copy = malloc(len + 1);
    if (*copy == NULL) {
        s->data = "";
        s->len = 0;
        return;
    }

    memcpy(*copy, data + *off, len);
    (*copy)[len] = '\0';

    s->data = *copy;
    s->len = len;
    *off += len;
}


static void
fuzz_line_check(const char *line, size_t len, json_t **out)
{
    size_t          i;
    json_t         *obj;
    unsigned char   c;
    json_error_t    jerr;

    if (len == 0 || line[len - 1] != '\n') {
        fuzz_fail("the line does not end in '\\n'");
    }

    for (i = 0; i < len - 1; i++) {
        c = (unsigned char) line[i];

        if (c < 0x20 || c == 0x7f) {
            fprintf(stderr, "byte 0x%02x at %zu\n", c, i);
            fuzz_fail("a raw control byte in the line");
        }
    }

    obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                     &jerr);

    if (obj == NULL || !json_is_object(obj)) {
        fprintf(stderr, "%s: %.*s", jerr.text, (int) len, line);
        fuzz_fail("the line is not one JSON object");
    }

    *out = obj;
}


/* valid UTF-8 (as jansson sees it) is written as is */

static void
fuzz_field_check(json_t *obj, const char *key, const eci_str_t *s)
{
    json_t  *v, *want;

    want = json_stringn(s->data != NULL ? s->data : "", s->len);
    if (want == NULL) {
        return;
    }

    v = json_object_get(obj, key);

    if (!json_equal(v, want)) {
        fprintf(stderr, "%s: got \"%s\"\n", key,
                json_is_string(v) ? json_string_value(v) : "(not a string)");
        fuzz_fail("a valid UTF-8 field does not read back as written");
    }

    json_decref(want);
}


static void
fuzz_response_check(const eci_audit_response_t *r)
{
    if (memchr(r->status, '\0', ECI_AUDIT_FIELD_MAX) == NULL
        || memchr(r->begin_date, '\0', ECI_AUDIT_FIELD_MAX) == NULL
        || memchr(r->end_date, '\0', ECI_AUDIT_FIELD_MAX) == NULL
        || memchr(r->report_code, '\0', ECI_AUDIT_FIELD_MAX) == NULL
        || memchr(r->report_distribution_name, '\0', ECI_AUDIT_FIELD_MAX)
           == NULL)
    {
        fuzz_fail("a response string is not NUL-terminated in its field");
    }

    if ((!r->has_begin_date && r->begin_date[0] != '\0')
        || (!r->has_end_date && r->end_date[0] != '\0')
        || (!r->has_report_code && r->report_code[0] != '\0')
        || (!r->has_report_distribution_name
            && r->report_distribution_name[0] != '\0'))
    {
        fuzz_fail("an absent response string is not empty");
    }

    /* the line writer takes these lengths as they are */
    if (r->status_len != strlen(r->status)
        || r->begin_date_len != strlen(r->begin_date)
        || r->end_date_len != strlen(r->end_date)
        || r->report_code_len != strlen(r->report_code)
        || r->report_distribution_name_len
           != strlen(r->report_distribution_name))
    {
        fuzz_fail("a response string's length is not its strlen()");
    }
}


static void
fuzz_fail(const char *what)
{
    fprintf(stderr, "fuzz_audit: invariant broken: %s\n", what);
    abort();
}
