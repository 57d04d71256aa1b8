/*
 * Unit tests of the ACL (eci_acl.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "eci_acl.h"
#include "tap.h"


#define EXEC  ECI_PERMISSION_EXEC

/* literal with its length */
#define S(s)  (s), (sizeof(s) - 1)


static const char  acl_json[] =
    "{\n"
    "  \"principals\": {\n"
    "    \"svc-reporting\": {\n"
    "      \"permissions\": [\"" EXEC "\"],\n"
    "      \"reportDistributionIds\": \"*\",\n"
    "      \"overrideUserIds\": [8, 7]\n"
    "    },\n"
    "    \"CN=bi-batch,O=Acme\": { \"groups\": [\"report-operators\"] },\n"
    "    \"svc-noperm\": {\n"
    "      \"permissions\": [\"Customers (View)\"],\n"
    "      \"groups\": [\"viewers\"]\n"
    "    },\n"
    "    \"svc-default\": { \"permissions\": [\"" EXEC "\"] },\n"
    "    \"svc-mixed\": {\n"
    "      \"permissions\": [\"" EXEC "\"],\n"
    "      \"reportDistributionIds\": [1],\n"
    "      \"groups\": [\"overriders\", \"report-operators\"]\n"
    "    },\n"
    "    \"svc-split\": { \"groups\": [\"over-7\", \"over-8\"] },\n"
    "    \"svc-empty\": {},\n"
    "    \"svc-none\": {\n"
    "      \"permissions\": [\"" EXEC "\"],\n"
    "      \"reportDistributionIds\": [],\n"
    "      \"overrideUserIds\": []\n"
    "    },\n"
    "    \"svc-dup\": { \"groups\": [\"viewers\", \"dup-ok\"] },\n"
    "    \"svc-dup-own\": { \"allowDuplicateExec\": true },\n"
    "    \"svc-dup-false\": { \"allowDuplicateExec\": false,"
                           " \"groups\": [\"viewers\"] },\n"
    "    \"we\\\"ird\\\\ n\\u00e9\\u0001\\u007f\": {\n"
    "      \"permissions\": [\"Sales Orders (Read Only)\", \"" EXEC "\"],\n"
    "      \"reportDistributionIds\": [2147483647, 1]\n"
    "    }\n"
    "  },\n"
    "  \"groups\": {\n"
    "    \"report-operators\": {\n"
    "      \"permissions\": [\"" EXEC "\"],\n"
    "      \"reportDistributionIds\": [42, 1, 2, 2]\n"
    "    },\n"
    "    \"overriders\": {\n"
    "      \"permissions\": [\"" EXEC "\"],\n"
    "      \"reportDistributionIds\": [100],\n"
    "      \"overrideUserIds\": \"*\"\n"
    "    },\n"
    "    \"over-7\": { \"permissions\": [\"" EXEC "\"],"
                   " \"overrideUserIds\": [7] },\n"
    "    \"over-8\": { \"permissions\": [\"" EXEC "\"],"
                   " \"overrideUserIds\": [8] },\n"
    "    \"viewers\": { \"permissions\": [\"Customers (View)\"] },\n"
    "    \"dup-ok\": { \"allowDuplicateExec\": true }\n"
    "  }\n"
    "}\n";


/* a message is one printable line */
static int
msg_clean(const char *msg)
{
    const unsigned char  *p;

    for (p = (const unsigned char *) msg; *p != '\0'; p++) {
        if (*p < 0x20 || *p >= 0x7f) {
            return 0;
        }
    }

    return msg[0] != '\0';
}


static eci_acl_rc_t
check(const eci_acl_t *acl, const char *p, const char *perm, int32_t id,
    const int32_t *ids, size_t n, int32_t *denied)
{
    return eci_acl_check(acl, p, strlen(p), perm, id, ids, n, denied);
}


static void
test_check(void)
{
    int32_t       denied;
    eci_err_t     err;
    eci_acl_t    *acl;

    static const int32_t  o7[] = { 7 };
    static const int32_t  o78[] = { 7, 8 };
    static const int32_t  o87[] = { 8, 7 };
    static const int32_t  o79[] = { 7, 9 };
    static const int32_t  o789[] = { 7, 8, 9 };
    static const int32_t  o5[] = { 5 };
    static const int32_t  weird[] = { 'w', 'e' };

    err.msg[0] = '\0';
    acl = eci_acl_load_buffer(S(acl_json), "acl.json", &err);
    ok(acl != NULL, "example ACL loads");

    if (acl == NULL) {
        printf("#   %s\n", err.msg);
        return;
    }

    is_int(eci_acl_principal_count(acl), 12, "principal count");

    /* "*" ids, explicit overrides */
    is_int(check(acl, "svc-reporting", EXEC, 5, NULL, 0, NULL),
           ECI_ACL_ALLOW, "\"*\" covers any id");
    is_int(check(acl, "svc-reporting", EXEC, 2147483647, NULL, 0, NULL),
           ECI_ACL_ALLOW, "\"*\" covers the largest id");
    is_int(check(acl, "svc-reporting", EXEC, 5, o78, 2, NULL),
           ECI_ACL_ALLOW, "listed overrides allowed");
    is_int(check(acl, "svc-reporting", EXEC, 5, o87, 2, NULL),
           ECI_ACL_ALLOW, "listed overrides allowed in any order");
    denied = 0;
    is_int(check(acl, "svc-reporting", EXEC, 5, o79, 2, &denied),
           ECI_ACL_OVERRIDE_DENIED, "unlisted override refused");
    is_int(denied, 9, "denied is the unlisted override");
    is_int(check(acl, "svc-reporting", EXEC, 5, o79, 2, NULL),
           ECI_ACL_OVERRIDE_DENIED, "denied may be NULL");
    is_int(check(acl, "svc-reporting", "Customers (View)", 5, NULL, 0,
                 NULL),
           ECI_ACL_NO_PERMISSION, "other permission refused");
    is_int(check(acl, "svc-reporting", "distributedreportssettings (manage)",
                 5, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION, "permissions are case-sensitive");

    /* principals match exactly */
    is_int(check(acl, "SVC-reporting", EXEC, 5, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "principal is case-sensitive");
    is_int(check(acl, "svc-reporting ", EXEC, 5, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "trailing space is another principal");
    is_int(check(acl, "svc-report", EXEC, 5, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "prefix is another principal");
    is_int(check(acl, "", EXEC, 5, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "empty principal is unknown");
    is_int(eci_acl_check(acl, "svc-reportingXYZ", 13, EXEC, 5, NULL, 0,
                         NULL),
           ECI_ACL_ALLOW, "principal is plen bytes, not NUL-terminated");
    is_int(eci_acl_check(acl, S("svc-reporting\0"), EXEC, 5, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "a NUL byte is part of the principal");
    is_int(check(acl, "report-operators", EXEC, 42, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "a group is not a principal");

    /* odd bytes in names */
    is_int(eci_acl_check(acl, S("we\"ird\\ n\xc3\xa9\x01\x7f"), EXEC,
                         2147483647, NULL, 0, NULL),
           ECI_ACL_ALLOW, "principal with quotes, UTF-8 and controls");
    is_int(eci_acl_check(acl, S("we\"ird\\ n\xc3\xa9\x01\x7f"), EXEC, 2,
                         NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "odd principal: unlisted id refused");
    is_int(eci_acl_check(acl, S("we\"ird\\ n\xc3\xa9\x01"), EXEC, 1, NULL,
                         0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "odd principal: one byte short");
    is_int(eci_acl_check(acl, S("we\"ird\\ n\xc3\xa9\x01\x7f"),
                         "Sales Orders (Read Only)", 1, weird, 2, NULL),
           ECI_ACL_OVERRIDE_DENIED, "odd principal: no override list");

    /* a group grant */
    is_int(check(acl, "CN=bi-batch,O=Acme", EXEC, 42, NULL, 0, NULL),
           ECI_ACL_ALLOW, "group grant allows its id");
    is_int(check(acl, "CN=bi-batch,O=Acme", EXEC, 2, NULL, 0, NULL),
           ECI_ACL_ALLOW, "group grant allows a duplicated id");
    is_int(check(acl, "CN=bi-batch,O=Acme", EXEC, 3, NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "group grant refuses other ids");
    denied = 0;
    is_int(check(acl, "CN=bi-batch,O=Acme", EXEC, 42, o7, 1, &denied),
           ECI_ACL_OVERRIDE_DENIED, "absent overrideUserIds: none allowed");
    is_int(denied, 7, "denied override of a group grant");
    is_int(check(acl, "cn=bi-batch,o=acme", EXEC, 42, NULL, 0, NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "DN principal is case-sensitive");

    /* no permission anywhere: NO_PERMISSION wins over the id */
    is_int(check(acl, "svc-noperm", EXEC, 1, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION, "no grant has the permission");
    is_int(check(acl, "svc-noperm", "Customers (View)", 1, NULL, 0, NULL),
           ECI_ACL_ALLOW, "the permission it has");
    is_int(check(acl, "svc-empty", EXEC, 1, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION, "empty entry has no permission");

    /* absent reportDistributionIds is "*", absent overrideUserIds none */
    is_int(check(acl, "svc-default", EXEC, 123456, NULL, 0, NULL),
           ECI_ACL_ALLOW, "absent reportDistributionIds: any id");
    denied = 0;
    is_int(check(acl, "svc-default", EXEC, 123456, o5, 1, &denied),
           ECI_ACL_OVERRIDE_DENIED, "absent overrideUserIds: denied");
    is_int(denied, 5, "denied override of absent list");

    /* empty lists cover nothing */
    is_int(check(acl, "svc-none", EXEC, 1, NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "empty reportDistributionIds: no id");

    /* one grant must cover everything: grants do not add up */
    is_int(check(acl, "svc-mixed", EXEC, 1, NULL, 0, NULL),
           ECI_ACL_ALLOW, "own grant");
    is_int(check(acl, "svc-mixed", EXEC, 42, NULL, 0, NULL),
           ECI_ACL_ALLOW, "second group's grant");
    is_int(check(acl, "svc-mixed", EXEC, 100, o5, 1, NULL),
           ECI_ACL_ALLOW, "first group's grant with an override");
    denied = 0;
    is_int(check(acl, "svc-mixed", EXEC, 1, o5, 1, &denied),
           ECI_ACL_OVERRIDE_DENIED,
           "override of one grant does not extend to another's id");
    is_int(denied, 5, "denied override across grants");
    is_int(check(acl, "svc-mixed", EXEC, 7, NULL, 0, NULL),
           ECI_ACL_ID_DENIED, "id in no grant");
    is_int(check(acl, "svc-mixed", EXEC, 7, o5, 1, NULL),
           ECI_ACL_ID_DENIED, "ID_DENIED comes before OVERRIDE_DENIED");

    is_int(check(acl, "svc-split", EXEC, 9, o7, 1, NULL),
           ECI_ACL_ALLOW, "split: 7 alone");
    is_int(check(acl, "svc-split", EXEC, 9, o87 , 1, NULL),
           ECI_ACL_ALLOW, "split: 8 alone");
    denied = 0;
    is_int(check(acl, "svc-split", EXEC, 9, o78, 2, &denied),
           ECI_ACL_OVERRIDE_DENIED, "split: 7 and 8 need one grant");
    is_int(denied, 8, "split: 7,8 denies 8 (7's grant gets furthest)");
    denied = 0;
    is_int(check(acl, "svc-split", EXEC, 9, o87, 2, &denied),
           ECI_ACL_OVERRIDE_DENIED, "split: 8 and 7 need one grant");
    is_int(denied, 7, "split: 8,7 denies 7");
    denied = 0;
    is_int(check(acl, "svc-split", EXEC, 9, o789, 3, &denied),
           ECI_ACL_OVERRIDE_DENIED, "split: 7,8,9");
    is_int(denied, 9, "split: first id no grant covers is reported");

    /* allowDuplicateExec */
    is_int(eci_acl_allow_duplicate(acl, S("svc-dup")), 1,
           "allowDuplicateExec from a group");
    is_int(eci_acl_allow_duplicate(acl, S("svc-dup-own")), 1,
           "allowDuplicateExec on the principal");
    is_int(eci_acl_allow_duplicate(acl, S("svc-dup-false")), 0,
           "allowDuplicateExec false");
    is_int(eci_acl_allow_duplicate(acl, S("svc-reporting")), 0,
           "allowDuplicateExec absent");
    is_int(eci_acl_allow_duplicate(acl, S("nobody")), 0,
           "allowDuplicateExec of an unknown principal");
    is_int(check(acl, "svc-dup-own", EXEC, 1, NULL, 0, NULL),
           ECI_ACL_NO_PERMISSION, "allowDuplicateExec grants nothing");

    ok(strcmp(eci_acl_rc_text(ECI_ACL_ALLOW), "allowed") == 0,
       "rc text: allowed");
    like(eci_acl_rc_text(ECI_ACL_UNKNOWN_PRINCIPAL), "principal",
         "rc text: unknown principal");
    like(eci_acl_rc_text(ECI_ACL_NO_PERMISSION), "permission",
         "rc text: no permission");
    like(eci_acl_rc_text(ECI_ACL_ID_DENIED), "report distribution id",
         "rc text: id denied");
    like(eci_acl_rc_text(ECI_ACL_OVERRIDE_DENIED), "override user id",
         "rc text: override denied");

    eci_acl_free(acl);
    eci_acl_free(NULL);
}


static void
load_bad(const char *json, const char *want, int exact, const char *name)
{
    eci_err_t   err;
    eci_acl_t  *acl;

    strcpy(err.msg, "(unset)");
    tap_dirty_stack();
    acl = eci_acl_load_buffer(json, strlen(json), "acl.json", &err);

    ok(acl == NULL, "%s: refused", name);

    if (exact) {
        is_str(err.msg, want, "%s: message", name);

    } else {
        like(err.msg, want, "%s: message", name);
    }

    ok(msg_clean(err.msg), "%s: message is printable", name);

    eci_acl_free(acl);
}


static void
load_good(const char *json, const char *name)
{
    eci_err_t   err;
    eci_acl_t  *acl;

    err.msg[0] = '\0';
    acl = eci_acl_load_buffer(json, strlen(json), "acl.json", &err);

    ok(acl != NULL, "%s: accepted", name);

    if (acl == NULL) {
        printf("#   %s\n", err.msg);
    }

    eci_acl_free(acl);
}


#define PR(entry)   "{\"principals\": {\"p\": " entry "}}"
#define GR(entry)   "{\"principals\": {}, \"groups\": {\"g\": " entry "}}"

static void
test_errors(void)
{
    char  big[512], name[301], want[512];

    /* syntax, with jansson's line and column */
    load_bad("{\n  \"principals\": {\n    \"a\": {,\n", "\"acl.json\": line 3 "
             "column 11: string or '}' expected near ','", 1, "syntax error");
    load_bad("", "\"acl.json\": line 1 column 0: ", 0, "empty file");
    /* jansson's text is shown as it is: its quotes are not escaped */
    load_bad("{\"principals\" \"x\"}", "\"acl.json\": line 1 column 17: "
             "':' expected near '\"x\"'", 1, "jansson's text with quotes");
    load_bad("{\"principals\": {}} x", "\"acl.json\": line 1 column 20: "
             "end of file expected", 0, "trailing garbage");
    load_bad("{\"principals\": {\"a\": {},\n  \"a\": {}}}",
             "\"acl.json\": line 2 column 5: duplicate object key", 0,
             "duplicate principal");
    load_bad("{\"principals\": {\"a\": {\"permissions\": [],\n"
             "\"permissions\": []}}}",
             "\"acl.json\": line 2 column 13: duplicate object key", 0,
             "duplicate key in an entry");
    load_bad("{\"principals\": {}, \"principals\": {}}",
             "duplicate object key", 0, "duplicate top-level key");
    load_bad("{\"principals\": {\"a\\u0000b\": {}}}",
             "NUL byte in object key", 0, "NUL in a principal name");
    load_bad("{\"principals\": {\"a\x01\": {}}}", "\"acl.json\": line 1 ", 0,
             "raw control byte");
    load_bad("{\"principals\": {\"a\xff\": {}}}", "unable to decode byte 0xff",
             0, "invalid UTF-8");
    load_bad("{\"principals\": {\"p\": {\"reportDistributionIds\": "
             "[99999999999999999999]}}}", "too big integer", 0,
             "integer too big for jansson");

    /* structure */
    load_bad("[]", "\"acl.json\": the top level must be an object", 1,
             "array at the top");
    load_bad("{}", "\"acl.json\": principals: required key is missing", 1,
             "principals missing");
    load_bad("{\"groups\": {}}", "\"acl.json\": principals: required key is "
             "missing", 1, "only groups");
    load_bad("{\"principals\": {}, \"colour\": 1}",
             "\"acl.json\": colour: unknown key", 1, "unknown top-level key");
    load_bad("{\"principals\": {}, \"co\\\"lour\": 1}",
             "\"acl.json\": \"co\\\"lour\": unknown key", 1,
             "unknown top-level key with a quote");
    load_bad("{\"principals\": []}", "\"acl.json\": principals: must be an "
             "object", 1, "principals not an object");
    load_bad("{\"principals\": {\"p\": {\"apiKey\": 7}}}",
             "\"acl.json\": principals.\"p\".apiKey: must be the name of a "
             "keystore key", 1, "apiKey not a string");
    load_bad("{\"principals\": {\"p\": {\"apiKey\": \"a b\"}}}",
             "\"acl.json\": principals.\"p\".apiKey: must be the name of a "
             "keystore key: 1 to 64 of A-Z a-z 0-9 . _ -", 1,
             "apiKey with a space");
    load_bad("{\"principals\": {}, \"groups\": []}", "\"acl.json\": groups: "
             "must be an object", 1, "groups not an object");
    load_bad("{\"principals\": {\"\": {}}}", "\"acl.json\": principals.\"\": "
             "name must not be empty", 1, "empty principal name");
    load_bad("{\"principals\": {}, \"groups\": {\"\": {}}}",
             "\"acl.json\": groups.\"\": name must not be empty", 1,
             "empty group name");
    load_bad(PR("[]"), "\"acl.json\": principals.\"p\": must be an object",
             1, "principal entry not an object");
    load_bad(GR("true"), "\"acl.json\": groups.\"g\": must be an object", 1,
             "group entry not an object");

    /* unknown keys */
    load_bad("{\"principals\": {\"svc-reporting\": {\"colour\": 1}}}",
             "\"acl.json\": principals.\"svc-reporting\".colour: unknown key",
             1, "unknown key in a principal");
    load_bad(GR("{\"colour\": 1}"),
             "\"acl.json\": groups.\"g\".colour: unknown key", 1,
             "unknown key in a group");
    load_bad(GR("{\"groups\": []}"),
             "\"acl.json\": groups.\"g\".groups: unknown key", 0,
             "groups in a group");
    load_bad(PR("{\"Permissions\": []}"),
             "\"acl.json\": principals.\"p\".Permissions: unknown key", 1,
             "keys are case-sensitive");

    /* permissions */
    load_bad(PR("{\"permissions\": \"" EXEC "\"}"),
             "\"acl.json\": principals.\"p\".permissions: must be an array",
             0, "permissions not an array");
    load_bad(PR("{\"permissions\": [\"" EXEC "\", 5]}"),
             "\"acl.json\": principals.\"p\".permissions[1]: must be a "
             "permission like \"" EXEC "\"", 1, "permission not a string");
    load_bad(PR("{\"permissions\": [\"\"]}"),
             "\"acl.json\": principals.\"p\".permissions[0]: must not be "
             "empty", 1, "empty permission");
    load_bad(PR("{\"permissions\": [\"Manage\"]}"),
             "permissions[0]: must be a permission like", 0,
             "permission without level");
    load_bad(PR("{\"permissions\": [\"DistributedReportsSettings(Manage)\"]}"),
             "permissions[0]: must be a permission like", 0,
             "permission without space");
    load_bad(PR("{\"permissions\": [\"DistributedReportsSettings (Manage\"]}"),
             "permissions[0]: must be a permission like", 0,
             "permission without ')'");
    load_bad(PR("{\"permissions\": [\" (Manage)\"]}"),
             "permissions[0]: must be a permission like", 0,
             "permission without area");
    load_bad(PR("{\"permissions\": [\"Area ()\"]}"),
             "permissions[0]: must be a permission like", 0,
             "permission with empty level");
    load_bad(PR("{\"permissions\": [\"Area (Level) \"]}"),
             "permissions[0]: must be a permission like", 0,
             "permission with a trailing space");
    load_bad(PR("{\"permissions\": [\"Area  (Level)\"]}"),
             "permissions[0]: must be a permission like", 0,
             "permission with two spaces");
    load_bad(PR("{\"permissions\": [\"A (B (C))\"]}"),
             "permissions[0]: must be a permission like", 0,
             "nested parentheses");
    load_bad(PR("{\"permissions\": [\"Area (Le*vel)\"]}"),
             "permissions[0]: must be a permission like", 0,
             "odd character in level");
    load_bad(PR("{\"permissions\": [\"1Area (Level)\"]}"),
             "permissions[0]: must be a permission like", 0,
             "area starting with a digit");
    load_good(PR("{\"permissions\": [\"Sales Orders (Read Only)\", "
                 "\"Area2 (Level3)\"]}"), "permissions with words, digits");
    load_good(PR("{\"permissions\": []}"), "empty permissions");

    /* id lists */
    load_bad("{\"principals\": {\"svc-reporting\": "
             "{\"reportDistributionIds\": [1, 2, 0]}}}",
             "\"acl.json\": principals.\"svc-reporting\".reportDistributionIds"
             "[2]: must be an integer from 1 to 2147483647", 1, "id 0");
    load_bad(PR("{\"reportDistributionIds\": [2147483648]}"),
             "reportDistributionIds[0]: must be an integer from 1 to "
             "2147483647", 0, "id 2^31");
    load_bad(PR("{\"reportDistributionIds\": [-1]}"),
             "reportDistributionIds[0]: must be an integer", 0, "id -1");
    load_bad(PR("{\"reportDistributionIds\": [1.0]}"),
             "reportDistributionIds[0]: must be an integer", 0, "id 1.0");
    load_bad(PR("{\"reportDistributionIds\": [\"3\"]}"),
             "reportDistributionIds[0]: must be an integer", 0, "id \"3\"");
    load_bad(PR("{\"reportDistributionIds\": [null]}"),
             "reportDistributionIds[0]: must be an integer", 0, "id null");
    load_bad(PR("{\"reportDistributionIds\": \"all\"}"),
             "\"acl.json\": principals.\"p\".reportDistributionIds: must be "
             "\"*\" or an array of integers from 1 to 2147483647", 1,
             "\"all\"");
    load_bad(PR("{\"reportDistributionIds\": \"\"}"),
             "reportDistributionIds: must be \"*\" or", 0, "empty string");
    load_bad(PR("{\"reportDistributionIds\": 5}"),
             "reportDistributionIds: must be \"*\" or", 0, "bare integer");
    load_bad(PR("{\"reportDistributionIds\": null}"),
             "reportDistributionIds: must be \"*\" or", 0, "null");
    load_bad(PR("{\"overrideUserIds\": [7, 0]}"),
             "\"acl.json\": principals.\"p\".overrideUserIds[1]: must be an "
             "integer from 1 to 2147483647", 1, "override id 0");
    load_bad(PR("{\"overrideUserIds\": \"**\"}"),
             "overrideUserIds: must be \"*\" or", 0, "\"**\"");
    load_bad(GR("{\"overrideUserIds\": {}}"),
             "\"acl.json\": groups.\"g\".overrideUserIds: must be \"*\" or",
             0, "override object in a group");
    load_good(PR("{\"reportDistributionIds\": [2147483647, 1, 1], "
                 "\"overrideUserIds\": \"*\"}"), "extreme and repeated ids");

    /* groups */
    load_bad("{\"principals\": {\"x\": {\"groups\": [\"nope\"]}}}",
             "\"acl.json\": principals.\"x\".groups[0]: unknown group "
             "\"nope\"", 1, "unknown group");
    load_bad("{\"principals\": {\"x\": {\"groups\": [\"g\", \"G\"]}}, "
             "\"groups\": {\"g\": {}}}",
             "\"acl.json\": principals.\"x\".groups[1]: unknown group "
             "\"G\"", 1, "group names are case-sensitive");
    load_bad("{\"principals\": {\"x\": {\"groups\": [\"x\"]}}}",
             "groups[0]: unknown group \"x\"", 0,
             "a principal is not a group");
    load_bad("{\"principals\": {\"x\": {\"groups\": [\"a\\\"b\\u0001\"]}}}",
             "groups[0]: unknown group \"a\\\"b\\x01\"", 0,
             "unknown group name escaped");
    load_bad(PR("{\"groups\": \"g\"}"),
             "\"acl.json\": principals.\"p\".groups: must be an array of "
             "group names", 1, "groups not an array");
    load_bad("{\"principals\": {\"p\": {\"groups\": [\"g\", 1]}}, "
             "\"groups\": {\"g\": {}}}",
             "\"acl.json\": principals.\"p\".groups[1]: must be a group name",
             1, "group name not a string");
    load_bad("{\"principals\": {\"p\": {\"groups\": [\"\"]}}}",
             "\"acl.json\": principals.\"p\".groups[0]: must not be empty", 1,
             "empty group name reference");

    /* allowDuplicateExec */
    load_bad(PR("{\"allowDuplicateExec\": \"yes\"}"),
             "\"acl.json\": principals.\"p\".allowDuplicateExec: must be true "
             "or false", 1, "allowDuplicateExec not a boolean");
    load_bad(GR("{\"allowDuplicateExec\": 1}"),
             "\"acl.json\": groups.\"g\".allowDuplicateExec: must be true or "
             "false", 1, "allowDuplicateExec 1 in a group");

    /* names in messages are escaped and cut */
    load_bad("{\"principals\": {\"a\\\"b\\\\c\\u0001d\\u00e9\": "
             "{\"colour\": 1}}}",
             "\"acl.json\": principals.\"a\\\"b\\\\c\\x01d\\xc3\\xa9\"."
             "colour: unknown key", 1, "principal name escaped");
    load_bad(PR("{\"co lour\\n\": 1}"),
             "\"acl.json\": principals.\"p\".\"co lour\\x0a\": unknown key", 1,
             "odd key quoted and escaped");

    memset(name, 'n', 300);
    name[300] = '\0';
    snprintf(big, sizeof(big), "{\"principals\": {\"%s\": "
             "{\"colour\": 1}}}", name);
    name[64] = '\0';
    snprintf(want, sizeof(want), "\"acl.json\": principals.\"%s...\"."
             "colour: unknown key", name);
    load_bad(big, want, 1, "long name cut to 64 bytes");

    /* the first error in document order is reported */
    load_bad("{\"principals\": {\"a\": {\"x\": 1}, \"b\": {\"y\": 1}}}",
             "principals.\"a\".x: unknown key", 0, "first error reported");
}


static void
test_files(void)
{
    FILE       *f;
    char        path[] = "/tmp/eci-acl-XXXXXX";
    int         fd;
    eci_err_t   err;
    eci_acl_t  *acl;

    acl = eci_acl_load("/nonexistent/eci/acl.json", &err);
    ok(acl == NULL, "missing file refused");
    is_str(err.msg, "\"/nonexistent/eci/acl.json\": cannot open: No such "
           "file or directory", "missing file message");

    acl = eci_acl_load("/tmp", &err);
    ok(acl == NULL, "directory refused");
    like(err.msg, "\"/tmp\": cannot read: Is a directory",
         "directory message");

    fd = mkstemp(path);
    f = fdopen(fd, "w");
    fputs(acl_json, f);
    fclose(f);

    acl = eci_acl_load(path, &err);
    ok(acl != NULL, "file loads");
    if (acl != NULL) {
        is_int(eci_acl_principal_count(acl), 12, "file: principal count");
        is_int(check(acl, "svc-reporting", EXEC, 5, NULL, 0, NULL),
               ECI_ACL_ALLOW, "file: lookup");
    }
    eci_acl_free(acl);

    f = fopen(path, "w");
    fputs("{\n  \"principals\": {\n    \"x\": {\"colour\": 1},\n", f);
    fclose(f);

    acl = eci_acl_load(path, &err);
    ok(acl == NULL, "file with a syntax error refused");
    ok(strncmp(err.msg, "\"/tmp/eci-acl-", 14) == 0
       && strstr(err.msg, "\": line 4 column 0: ") != NULL,
       "file syntax error names the file, line and column");
    printf("# %s\n", err.msg);

    f = fopen(path, "w");
    fputs("{\"principals\": {\"x\": {\"colour\": 1}}}", f);
    fclose(f);

    acl = eci_acl_load(path, &err);
    ok(acl == NULL, "file with a semantic error refused");
    ok(strncmp(err.msg, "\"/tmp/eci-acl-", 14) == 0
       && strstr(err.msg, "\": principals.\"x\".colour: unknown key")
          != NULL,
       "file semantic error names the file and the JSON path");

    unlink(path);

    acl = eci_acl_load_buffer(S("{}"), "we\"ird\n.json", &err);
    ok(acl == NULL && strncmp(err.msg, "\"we\\\"ird\\x0a.json\": ", 20) == 0,
       "file name escaped in messages");
}


/* 100,000 principals in 1,000 groups, built in memory */

#define BIG_PRINCIPALS  100000
#define BIG_GROUPS      1000

static void
test_big(void)
{
    char             *json, *p;
    char              name[64];
    size_t            i, cap;
    int32_t           denied;
    eci_err_t         err;
    eci_acl_t        *acl;
    json_t           *root;
    json_error_t      jerr;
    struct timespec   t0, t1, j0, j1;

    static const int32_t  o3[] = { 3 };
    static const int32_t  o4[] = { 4 };

    cap = 256 + BIG_GROUPS * 200 + (size_t) BIG_PRINCIPALS * 200;
    json = malloc(cap);
    p = json;

    p += sprintf(p, "{\"groups\": {");

    for (i = 0; i < BIG_GROUPS; i++) {
        p += sprintf(p, "%s\"group-%zu\": {\"permissions\": [\"" EXEC "\"], "
                     "\"reportDistributionIds\": [%zu, %zu]}",
                     i == 0 ? "" : ",\n", i, i + 1, i + 100001);
    }

    p += sprintf(p, "},\n\"principals\": {");

    for (i = 0; i < BIG_PRINCIPALS; i++) {
        p += sprintf(p, "%s\"CN=user-%zu,OU=Batch,O=Acme\": {"
                     "\"permissions\": [\"" EXEC "\"], "
                     "\"reportDistributionIds\": [%zu], "
                     "\"overrideUserIds\": [%zu, 3], "
                     "\"groups\": [\"group-%zu\"]}",
                     i == 0 ? "" : ",\n", i, i + 1000000, i + 10,
                     i % BIG_GROUPS);
    }

    p += sprintf(p, "}}\n");

    clock_gettime(CLOCK_MONOTONIC, &t0);
    acl = eci_acl_load_buffer(json, p - json, "big.json", &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);

    /*
     * for scale: the part of the load that is jansson's own (a figure, no
     * test; make mutation skips it, 8 s under ASan)
     */
    if (getenv("ECI_UNIT_NO_FIGURES") == NULL) {
        clock_gettime(CLOCK_MONOTONIC, &j0);
        root = json_loadb(json, p - json, JSON_REJECT_DUPLICATES, &jerr);
        json_decref(root);
        clock_gettime(CLOCK_MONOTONIC, &j1);

        printf("# %zu bytes of JSON; jansson alone parses and frees it in "
               "%ld ms\n", (size_t) (p - json),
               (long) ((j1.tv_sec - j0.tv_sec) * 1000
                       + (j1.tv_nsec - j0.tv_nsec) / 1000000));
    }

    free(json);

    ok(acl != NULL, "big ACL loads");

    if (acl == NULL) {
        printf("#   %s\n", err.msg);
        return;
    }

    printf("# loaded %d principals in %ld ms\n", BIG_PRINCIPALS,
           (long) ((t1.tv_sec - t0.tv_sec) * 1000
                   + (t1.tv_nsec - t0.tv_nsec) / 1000000));

    is_int(eci_acl_principal_count(acl), BIG_PRINCIPALS,
           "big: principal count");

    is_int(check(acl, "CN=user-0,OU=Batch,O=Acme", EXEC, 1000000, o3, 1,
                 NULL),
           ECI_ACL_ALLOW, "big: first principal, own grant");
    is_int(check(acl, "CN=user-99999,OU=Batch,O=Acme", EXEC, 1099999, o3, 1,
                 NULL),
           ECI_ACL_ALLOW, "big: last principal, own grant");

    snprintf(name, sizeof(name), "CN=user-%d,OU=Batch,O=Acme", 54321);
    is_int(check(acl, name, EXEC, 322, NULL, 0, NULL), ECI_ACL_ALLOW,
           "big: group grant");
    is_int(check(acl, name, EXEC, 100322, NULL, 0, NULL), ECI_ACL_ALLOW,
           "big: group grant, second id");
    is_int(check(acl, name, EXEC, 323, NULL, 0, NULL), ECI_ACL_ID_DENIED,
           "big: neighbour group's id refused");
    denied = 0;
    is_int(check(acl, name, EXEC, 322, o3, 1, &denied),
           ECI_ACL_OVERRIDE_DENIED, "big: group grant has no overrides");
    is_int(denied, 3, "big: denied override");
    is_int(check(acl, name, EXEC, 1054321, o4, 1, NULL),
           ECI_ACL_OVERRIDE_DENIED, "big: own grant, unlisted override");
    is_int(check(acl, "CN=user-100000,OU=Batch,O=Acme", EXEC, 1, NULL, 0,
                 NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "big: unknown principal");
    is_int(check(acl, "cn=user-1,OU=Batch,O=Acme", EXEC, 1000001, NULL, 0,
                 NULL),
           ECI_ACL_UNKNOWN_PRINCIPAL, "big: case variant unknown");

    for (i = 0; i < BIG_PRINCIPALS; i++) {
        snprintf(name, sizeof(name), "CN=user-%zu,OU=Batch,O=Acme", i);

        if (check(acl, name, EXEC, (int32_t) (i + 1000000), NULL, 0, NULL)
            != ECI_ACL_ALLOW)
        {
            break;
        }
    }

    is_int(i, BIG_PRINCIPALS, "big: every principal found");

    eci_acl_free(acl);
}


int
main(void)
{
    test_check();
    test_errors();
    test_files();
    test_big();

    return done_testing();
}
