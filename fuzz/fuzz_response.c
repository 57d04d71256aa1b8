/*
 * Differential fuzzing of eci_audit_response_parse(), the allocation-free
 * scanner, against a reference built on jansson (json_loadb with
 * JSON_REJECT_DUPLICATES, as the gateway used before): both must agree on
 * validity and on every field, or the target aborts.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eci_audit.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ref_parse(const char *body, size_t len, eci_audit_response_t *out);
static int ref_int(json_t *obj, const char *key, int required, int64_t *dst);
static int ref_str(json_t *obj, const char *key, int required, char *dst,
    int *has);
static int ref_shape(json_t *v, int depth);
static int same(const eci_audit_response_t *a, const eci_audit_response_t *b);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    a, b;
    char                  *body;
    eci_audit_response_t   got, want;

    body = malloc(size ? size : 1);
    if (body == NULL) {
        return 0;
    }

    memcpy(body, data, size);

    a = eci_audit_response_parse(body, size, &got);
    b = ref_parse(body, size, &want);

    if (a != b || got.valid != want.valid) {
        fprintf(stderr, "scanner says %d, jansson says %d\n", a, b);
        abort();
    }

    if (a && !same(&got, &want)) {
        fprintf(stderr, "the fields differ\n");
        abort();
    }

    free(body);

    return 0;
}


/* every field; strings up to their NUL (what follows it is not part of it) */
static int
same(const eci_audit_response_t *a, const eci_audit_response_t *b)
{
    return a->valid == b->valid
           && a->report_distribution_log_id == b->report_distribution_log_id
           && strcmp(a->status, b->status) == 0
           && a->number_of_recipients == b->number_of_recipients
           && strcmp(a->begin_date, b->begin_date) == 0
           && a->has_begin_date == b->has_begin_date
           && strcmp(a->end_date, b->end_date) == 0
           && a->has_end_date == b->has_end_date
           && a->report_distribution_id == b->report_distribution_id
           && strcmp(a->report_code, b->report_code) == 0
           && a->has_report_code == b->has_report_code
           && strcmp(a->report_distribution_name,
                     b->report_distribution_name) == 0
           && a->has_report_distribution_name
              == b->has_report_distribution_name
           && a->created_by_user_id == b->created_by_user_id;
}


/* jansson's reading of the same contract */
static int
ref_parse(const char *body, size_t len, eci_audit_response_t *out)
{
    int           has, ok;
    json_t       *root, *rd, *user;
    json_error_t  jerr;

    memset(out, 0, sizeof(eci_audit_response_t));
    out->number_of_recipients = -1;
    out->report_distribution_id = -1;
    out->created_by_user_id = -1;

    if (body == NULL || len == 0) {
        return 0;
    }

    /*
     * jansson lets a raw NUL byte through right after a number ("1\0}");
     * RFC 8259 does not, and neither does the scanner.
     */
    if (memchr(body, '\0', len) != NULL) {
        return 0;
    }

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return 0;
    }

    ok = json_is_object(root)
         && ref_shape(root, 1)
         && ref_int(root, "reportDistributionLogId", 1,
                    &out->report_distribution_log_id) == 1
         && ref_str(root, "status", 1, out->status, &has) == 1
         && ref_int(root, "numberOfRecipients", 0,
                    &out->number_of_recipients) != -1
         && ref_str(root, "beginDate", 0, out->begin_date,
                    &out->has_begin_date) != -1
         && ref_str(root, "endDate", 0, out->end_date,
                    &out->has_end_date) != -1;

    rd = json_object_get(root, "reportDistribution");

    ok = ok && json_is_object(rd)
         && ref_int(rd, "reportDistributionId", 1,
                    &out->report_distribution_id) == 1
         && ref_str(rd, "reportCode", 0, out->report_code,
                    &out->has_report_code) != -1
         && ref_str(rd, "reportDistributionName", 0,
                    out->report_distribution_name,
                    &out->has_report_distribution_name) != -1;

    if (ok) {
        user = json_object_get(rd, "createdByUser");

        if (user != NULL && !json_is_null(user)) {
            ok = json_is_object(user)
                 && ref_int(user, "userId", 0, &out->created_by_user_id)
                    != -1;
        }
    }

    json_decref(root);

    if (!ok) {
        memset(out, 0, sizeof(eci_audit_response_t));
        out->number_of_recipients = -1;
        out->report_distribution_id = -1;
        out->created_by_user_id = -1;
        return 0;
    }

    out->valid = 1;

    return 1;
}


/* the scanner's documented limits: 64 levels, 64 keys an object */
static int
ref_shape(json_t *v, int depth)
{
    size_t       i;
    json_t      *m;
    const char  *k;

    if (json_is_object(v) || json_is_array(v)) {
        if (depth > 64) {
            return 0;
        }
    }

    if (json_is_object(v)) {
        if (json_object_size(v) > 64) {
            return 0;
        }

        json_object_foreach(v, k, m) {
            if (!ref_shape(m, depth + 1)) {
                return 0;
            }
        }
    }

    if (json_is_array(v)) {
        json_array_foreach(v, i, m) {
            if (!ref_shape(m, depth + 1)) {
                return 0;
            }
        }
    }

    return 1;
}


static int
ref_int(json_t *obj, const char *key, int required, int64_t *dst)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return required ? -1 : 0;
    }

    if (!json_is_integer(v)) {
        return -1;
    }

    *dst = (int64_t) json_integer_value(v);

    return 1;
}


static int
ref_str(json_t *obj, const char *key, int required, char *dst, int *has)
{
    size_t       n;
    json_t      *v;
    const char  *s;

    *has = 0;
    v = json_object_get(obj, key);

    if (v == NULL || json_is_null(v)) {
        return required ? -1 : 0;
    }

    if (!json_is_string(v)) {
        return -1;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n > ECI_AUDIT_FIELD_MAX - 1) {
        n = ECI_AUDIT_FIELD_MAX - 1;

        while (n > 0 && ((unsigned char) s[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    memcpy(dst, s, n);
    dst[n] = '\0';
    *has = 1;

    return 1;
}
