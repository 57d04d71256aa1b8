/*
 * The ACL's load when memory runs out (issue 18: no test reached these
 * paths, so a mutant that returned success from one survived).  Every
 * allocation of a load is made to fail in turn (t/unit/faults.h): each
 * time the load must fail with an "out of memory" message naming where:
 * the ACL needs every one of its allocations, and one that failed unseen
 * (a permission not interned, say) would leave an ACL that answers
 * otherwise.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eci_acl.h"
#include "faults.h"
#include "tap.h"


#define EXEC       ECI_PERMISSION_EXEC

/*
 * The ACL's memory comes in 64 KiB blocks; a request that does not fit in
 * the current one is an allocation that can fail.  With 8300 distinct
 * permissions in one grant its array of them (8 bytes each) is bigger
 * than a block, and so are the permission list (16 bytes each) and hash
 * as they grow in eci_acl_permission_add(), and the table of 4096
 * principals.
 */
#define NPERM      8300
#define NPRINC     4000
#define NGROUPS    70

#define MSGS       32


static char  *acl_json;
static size_t acl_len;


static void
acl_build(void)
{
    char    *p;
    size_t   i;

    acl_json = malloc(1024 + NPERM * 32 + NPRINC * 96 + NGROUPS * 96);
    if (acl_json == NULL) {
        printf("Bail out! malloc\n");
        exit(1);
    }

    p = acl_json;
    p += sprintf(p, "{\"groups\": {");

    for (i = 0; i < NGROUPS; i++) {
        p += sprintf(p, "%s\"g%zu\": {\"permissions\": [\"" EXEC "\"],"
                     " \"reportDistributionIds\": [%zu]}",
                     i ? ", " : "", i, i + 1);
    }

    p += sprintf(p, "}, \"principals\": {\"all\": {\"permissions\": [");

    for (i = 0; i + 1 < NPERM; i++) {
        p += sprintf(p, "\"Area%zu (View)\", ", i);
    }

    p += sprintf(p, "\"" EXEC "\"], \"overrideUserIds\": [5]},"
                 " \"member\": {\"groups\": [");

    for (i = 0; i < NGROUPS; i++) {
        p += sprintf(p, "%s\"g%zu\"", i ? ", " : "", i);
    }

    p += sprintf(p, "]}");

    for (i = 0; i < NPRINC; i++) {
        p += sprintf(p, ", \"svc-%zu\": {\"permissions\": [\"Area%zu (View)\""
                     "], \"reportDistributionIds\": [%zu]}",
                     i, i % (NPERM - 1), i + 1);
    }

    p += sprintf(p, "}}");

    acl_len = p - acl_json;
}


/* the answers of the ACL as loaded with all its memory */
static int
acl_answers_right(const eci_acl_t *acl)
{
    int32_t  five = 5, six = 6;

    return eci_acl_principal_count(acl) == NPRINC + 2
        && eci_acl_check(acl, "all", 3, EXEC, 9, &five, 1, NULL)
           == ECI_ACL_ALLOW
        && eci_acl_check(acl, "all", 3, EXEC, 9, &six, 1, NULL)
           == ECI_ACL_OVERRIDE_DENIED
        && eci_acl_check(acl, "all", 3, "Area2098 (View)", 9, NULL, 0, NULL)
           == ECI_ACL_ALLOW
        && eci_acl_check(acl, "member", 6, EXEC, 70, NULL, 0, NULL)
           == ECI_ACL_ALLOW
        && eci_acl_check(acl, "member", 6, EXEC, 71, NULL, 0, NULL)
           != ECI_ACL_ALLOW
        && eci_acl_check(acl, "svc-3999", 8, "Area3999 (View)", 4000, NULL,
                         0, NULL)
           == ECI_ACL_ALLOW
        && eci_acl_check(acl, "svc-3999", 8, EXEC, 4000, NULL, 0, NULL)
           != ECI_ACL_ALLOW;
}


/*
 * Fails allocation 0, 1, 2, ... of a load in turn; returns how many there
 * were and keeps the distinct messages.
 */
static long
fail_each(const char *what, eci_acl_t *(*load)(eci_err_t *err),
    char msgs[MSGS][ECI_ERR_LEN], size_t *nmsgs)
{
    long        at;
    size_t      i, loaded, bad_msg, wrong;
    eci_err_t   err;
    eci_acl_t  *acl;

    loaded = 0;
    bad_msg = 0;
    wrong = 0;
    *nmsgs = 0;

    for (at = 0; ; at++) {
        faults_reset();
        fault_alloc_at = at;
        err.msg[0] = '\0';

        acl = load(&err);

        fault_alloc_at = -1;

        if (!fault_alloc_hit) {
            ok(acl != NULL && acl_answers_right(acl), "%s: with all its "
               "memory (%ld allocations) the ACL loads and answers right",
               what, at);
            eci_acl_free(acl);
            break;
        }

        if (acl != NULL) {
            /* a failure the core can do without */
            loaded++;
            if (!acl_answers_right(acl)) {
                wrong++;
                printf("# allocation %ld failed: wrong answers\n", at);
            }
            eci_acl_free(acl);
            continue;
        }

        if (strstr(err.msg, ": out of memory") == NULL) {
            bad_msg++;
            printf("# allocation %ld failed: \"%s\"\n", at, err.msg);
            continue;
        }

        for (i = 0; i < *nmsgs; i++) {
            if (strcmp(msgs[i], err.msg) == 0) {
                break;
            }
        }

        if (i == *nmsgs && *nmsgs < MSGS) {
            strcpy(msgs[(*nmsgs)++], err.msg);
        }
    }

    is_int(wrong, 0, "%s: no failed allocation gives an ACL that answers "
           "otherwise", what);
    is_int(loaded, 0, "%s: none gives an ACL at all (the load needs each "
           "of them)", what);
    is_int(bad_msg, 0, "%s: every other failed allocation fails the load "
           "with an \"out of memory\" message (jansson's parse too)", what);

    return at;
}


/* a message that starts with head and ends with tail */
static int
has_msg(char msgs[MSGS][ECI_ERR_LEN], size_t n, const char *head,
    const char *tail)
{
    size_t  i, h, t, len;

    h = strlen(head);
    t = strlen(tail);

    for (i = 0; i < n; i++) {
        len = strlen(msgs[i]);

        if (len >= h + t && strncmp(msgs[i], head, h) == 0
            && strcmp(msgs[i] + len - t, tail) == 0)
        {
            return 1;
        }
    }

    for (i = 0; i < n; i++) {
        printf("# seen: %s\n", msgs[i]);
    }

    return 0;
}


/* an exact-size copy (ASan sees a read past it), made before any fault */
static char  *acl_copy;

static eci_acl_t *
load_buffer(eci_err_t *err)
{
    return eci_acl_load_buffer(acl_copy, acl_len, "faults.json", err);
}


static char  acl_path[] = "/tmp/eci-acl-faults.XXXXXX";

static eci_acl_t *
load_file(eci_err_t *err)
{
    return eci_acl_load(acl_path, err);
}


static void
test_buffer(void)
{
    long    n;
    size_t  nmsgs;
    char    msgs[MSGS][ECI_ERR_LEN];

    n = fail_each("buffer", load_buffer, msgs, &nmsgs);

    ok(n > 10, "the load makes %ld allocations that can fail", n);

    /* each place that allocates says where it was, and no more */
    ok(has_msg(msgs, nmsgs, "\"faults.json\": out of memory", ""),
       "the ACL or its index: no place named");
    ok(has_msg(msgs, nmsgs, "\"faults.json\": principals: out of memory", ""),
       "the principals' table: the section named, no index");
    ok(has_msg(msgs, nmsgs, "\"faults.json\": groups: out of memory", ""),
       "the groups' table: the section named, no index");
    ok(has_msg(msgs, nmsgs, "\"faults.json\": principals.\"svc-",
               "\": out of memory"),
       "an entry: its name, no index");
    ok(has_msg(msgs, nmsgs, "\"faults.json\": principals.\"all\".permissions"
               ": out of memory", ""),
       "a grant's array of permissions: the entry and key, no index");
    ok(has_msg(msgs, nmsgs, "\"faults.json\": principals.\"all\".permissions"
               "[", "]: out of memory"),
       "a new distinct permission (list, copy or hash grown): the entry "
       "and the permission's index");
}


static void
test_file(void)
{
    int      fd;
    size_t   nmsgs;
    ssize_t  w;
    char     msgs[MSGS][ECI_ERR_LEN], want[128];

    fd = mkstemp(acl_path);
    if (fd == -1) {
        printf("Bail out! mkstemp\n");
        exit(1);
    }

    w = __real_write(fd, acl_json, acl_len);
    (void) __real_close(fd);

    if (w != (ssize_t) acl_len) {
        printf("Bail out! write\n");
        exit(1);
    }

    (void) fail_each("file", load_file, msgs, &nmsgs);

    /* the file is read in a buffer that doubles from 64 KiB */
    snprintf(want, sizeof(want), "\"%s\": out of memory", acl_path);
    ok(has_msg(msgs, nmsgs, want, ""), "reading the file: \"out of memory\"");

    unlink(acl_path);
}


/*
 * A small ACL whose principals have the per-group-set index (4 groups
 * and more, report and override ids), loaded with each of the arena's
 * allocations (eci_acl_alloc(): entries, grants, tables, the index's
 * rows) failing in turn: each fails the load, saying so.
 */
#define ARENA_ACL \
    "{\"principals\":{" \
    "\"p1\":{\"groups\":[\"g1\",\"g2\",\"g3\",\"g4\"]," \
    "\"permissions\":[\"" EXEC "\"],\"reportDistributionIds\":[9]}," \
    "\"p2\":{\"groups\":[\"g4\",\"g3\",\"g2\",\"g1\",\"g5\"]," \
    "\"permissions\":[\"" EXEC "\"],\"reportDistributionIds\":[]}}," \
    "\"groups\":{" \
    "\"g1\":{\"permissions\":[\"" EXEC "\"]," \
    "\"reportDistributionIds\":[1,2],\"overrideUserIds\":[5]}," \
    "\"g2\":{\"permissions\":[\"" EXEC "\"]," \
    "\"reportDistributionIds\":[2,3],\"overrideUserIds\":[5,6]}," \
    "\"g3\":{\"permissions\":[\"Reports (View)\"]," \
    "\"reportDistributionIds\":\"*\",\"overrideUserIds\":[]}," \
    "\"g4\":{\"permissions\":[\"" EXEC "\"]," \
    "\"reportDistributionIds\":[4],\"overrideUserIds\":\"*\"}," \
    "\"g5\":{\"permissions\":[\"" EXEC "\"]," \
    "\"reportDistributionIds\":[7],\"overrideUserIds\":[7]}}}"


static int
arena_answers_right(const eci_acl_t *acl)
{
    int32_t  denied, o56[] = { 5, 6 }, o8[] = { 8 };

    return eci_acl_check(acl, "p1", 2, EXEC, 9, NULL, 0, NULL)
           == ECI_ACL_ALLOW
        && eci_acl_check(acl, "p1", 2, EXEC, 2, o56, 2, NULL)
           == ECI_ACL_ALLOW
        && eci_acl_check(acl, "p1", 2, EXEC, 4, o8, 1, NULL)
           == ECI_ACL_ALLOW
        && eci_acl_check(acl, "p1", 2, EXEC, 1, o56, 2, &denied)
           == ECI_ACL_OVERRIDE_DENIED && denied == 6
        && eci_acl_check(acl, "p1", 2, EXEC, 7, NULL, 0, NULL)
           == ECI_ACL_ID_DENIED
        && eci_acl_check(acl, "p2", 2, EXEC, 7, o8, 1, &denied)
           == ECI_ACL_OVERRIDE_DENIED && denied == 8
        && eci_acl_check(acl, "p2", 2, EXEC, 3, NULL, 0, NULL)
           == ECI_ACL_ALLOW;
}


static void
test_arena(void)
{
    long        at;
    char       *copy;
    size_t      len, loaded, bad_msg;
    eci_err_t   err;
    eci_acl_t  *acl;

    len = sizeof(ARENA_ACL) - 1;
    copy = tap_copy(ARENA_ACL, len);
    loaded = 0;
    bad_msg = 0;

    for (at = 0; ; at++) {
        faults_reset();
        fault_arena_at = at;
        err.msg[0] = '\0';

        acl = eci_acl_load_buffer(copy, len, "arena.json", &err);

        if (!fault_arena_hit) {
            faults_reset();
            ok(acl != NULL && arena_answers_right(acl), "with all of its "
               "%ld arena allocations the small ACL loads and answers right",
               at);
            eci_acl_free(acl);
            break;
        }

        faults_reset();

        if (acl != NULL) {
            loaded++;
            printf("# arena allocation %ld failed: the ACL loads\n", at);
            eci_acl_free(acl);
            continue;
        }

        if (strncmp(err.msg, "\"arena.json\": ", 14) != 0
            || strcmp(err.msg + strlen(err.msg) - 15, ": out of memory")
               != 0)
        {
            bad_msg++;
            printf("# arena allocation %ld failed: \"%s\"\n", at, err.msg);
        }
    }

    ok(at > 20, "the small ACL makes %ld arena allocations", at);
    is_int(loaded, 0, "none of them failing gives an ACL");
    is_int(bad_msg, 0, "each fails the load with \"\\\"arena.json\\\": ... "
           "out of memory\"");

    /* the first allocation of a load is jansson's, in its parse */
    faults_reset();
    fault_alloc_at = 0;
    err.msg[0] = '\0';
    acl = eci_acl_load_buffer(copy, len, "arena.json", &err);
    faults_reset();
    ok(acl == NULL, "an allocation in jansson's parse fails the load");
    is_str(err.msg, "\"arena.json\": out of memory",
           "and says \"out of memory\", as jansson gives no text");
    eci_acl_free(acl);

    free(copy);
}


int
main(void)
{
    acl_build();

    acl_copy = tap_copy(acl_json, acl_len);
    if (acl_copy == NULL) {
        printf("Bail out! malloc\n");
        return 1;
    }

    test_buffer();
    test_file();
    test_arena();

    free(acl_copy);
    free(acl_json);

    return done_testing();
}
