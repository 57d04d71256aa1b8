/*
 * eci_chain_line_parse() at its edges (issue 18: mutants of them survived
 * the unit tests): a line with or without its '\n', the chain id's every
 * character, the largest seq and one digit too many; the line's opening
 * ({"time": and its event, the event's name refused whole), a seq that
 * begins the line, and what the hash of a line of the old HMAC chain
 * covers.  Lines are made by hand: parsing does not check the hash.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_chain.h"
#include "eci_chain_int.h"
#include "tap.h"


#define CHAIN  "20261203T190144Z-71967277874e444e"
#define HASH   "0123456789abcdef0123456789abcdef" \
               "0123456789abcdef0123456789abcdef"


/* parses an exact-size copy (ASan sees a read past it) */
static int
parse(const char *line, size_t len, eci_chain_line_t *l)
{
    int    rc;
    char  *copy;

    copy = tap_copy(line, len);
    rc = eci_chain_line_parse(copy, len, l);
    free(copy);

    return rc;
}


static int
parse_seq(const char *seq, const char *chain, eci_chain_line_t *l)
{
    char  line[512];

    snprintf(line, sizeof(line), "{\"time\":\"2026-12-03T19:01:44.123Z\","
             "\"event\":\"result\",\"seq\":%s,\"chain\":\"%s\",\"hash\":\""
             HASH "\"}\n", seq, chain);

    return parse(line, strlen(line), l);
}


/* a record line that opens with head (where {"time":... belongs) */
static int
parse_open(const char *head, eci_chain_line_t *l)
{
    char  line[512];

    snprintf(line, sizeof(line), "%s,\"seq\":5,\"chain\":\"" CHAIN "\","
             "\"hash\":\"" HASH "\"}\n", head);

    return parse(line, strlen(line), l);
}


static void
test_line_opening(void)
{
    eci_chain_line_t  l;

    is_int(parse_open("{\"time\":null,\"event\":\"result\"", &l), 0,
           "a line with \"time\": null parses");
    is_str(l.event, "result", "and its event is read after the null");
    is_int(parse_open("{\"time\":\"2026-12-03T19:01:44.123Z\","
                      "\"event\":\"stop\"", &l), 0, "one with a time");
    is_str(l.event, "stop", "its event");

    /* the event is read only where a line of ours has it */
    is_int(parse_open("{\"tine\":null,\"event\":\"stop\"", &l), 0,
           "a line that does not open with {\"time\": parses");
    is_str(l.event, "", "but has no event");
    is_int(parse_open("{\"tine\":\"2026-12-03T19:01:44.123Z\","
                      "\"event\":\"stop\"", &l), 0,
           "nor with a time string after another key");
    is_str(l.event, "", "no event either");

    /* a name that does not end where its letters end is no event */
    is_int(parse_open("{\"time\":null,\"event\":\"stopX\"", &l), 0,
           "an event \"stopX\" parses");
    is_str(l.event, "", "as a line without event (not \"s\", not \"stop\")");
    is_int(parse_open("{\"time\":null,\"event\":\"abcdefghijklmnopq\"", &l),
           0, "an event name longer than ECI_CHAIN_EVENT_MAX - 1 parses");
    is_str(l.event, "", "as a line without event");
    is_int(parse_open("{\"time\":null,\"event\":\"abcdefghijklmno\"", &l),
           0, "one of ECI_CHAIN_EVENT_MAX - 1 letters");
    is_str(l.event, "abcdefghijklmno", "is read whole");
    is_int(parse_open("{\"time\":null,\"event\":\"az\"", &l), 0,
           "an event of the letters at both ends of a-z");
    is_str(l.event, "az", "is read whole");
}


static void
test_seq_at_start(void)
{
    eci_chain_line_t  l;

    /* digits from the first byte: the scan back stops at the line's start */
    is_int(parse("5,\"chain\":\"" CHAIN "\",\"hash\":\"" HASH "\"}",
                 strlen("5,\"chain\":\"" CHAIN "\",\"hash\":\"" HASH
                        "\"}"), &l),
           -1, "a line that begins with its seq's digits is no line "
           "(exact-size copy: nothing before it is read)");
    is_int(parse("5,\"chain\":\"" HASH "\"}",
                 strlen("5,\"chain\":\"" HASH "\"}"), &l), -1,
           "nor an old HMAC line that begins with its digits");
}


/* the old HMAC chain: its hash covers the line up to ,"chain" */
/* hex digests and keys in a line: every digit must be hex, either half */
static void
test_unhex(void)
{
    size_t          i;
    unsigned char   out[2];
    const char     *bad[] = { "zz", "0z", "z0", "0G", "g0", " 0", "0 " };

    ok(eci_chain_unhex("0aF1", 4, out) == 0 && out[0] == 0x0a
       && out[1] == 0xf1, "\"0aF1\" is 0a f1");

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(eci_chain_unhex(bad[i], 2, out), -1,
               "\"%s\" is not hex", bad[i]);
    }
}


static void
test_legacy_hashed(void)
{
    static const char  line[] =
        "{\"time\":\"2026-12-03T19:01:44.123Z\",\"seq\":7,"
        "\"chain\":\"" HASH "\"}\n";
    eci_chain_line_t   l;

    is_int(parse(line, sizeof(line) - 1, &l), 1,
           "a line of the old HMAC chain is told apart");
    ok(l.seq == 7 && strcmp(l.hash, HASH) == 0, "with its seq and hash");
    is_int(l.hashed, strstr(line, ",\"chain\"") - line,
           "its hash covers the line up to ,\"chain\"");
}


int
main(void)
{
    char              line[512], chain[ECI_CHAIN_ID_LEN + 1];
    size_t            len, i;
    eci_chain_line_t  l;

    snprintf(line, sizeof(line), "{\"time\":\"2026-12-03T19:01:44.123Z\","
             "\"event\":\"result\",\"seq\":5,\"chain\":\"" CHAIN "\","
             "\"hash\":\"" HASH "\"}\n");
    len = strlen(line);

    is_int(parse(line, len, &l), 0, "a line with its newline parses");
    ok(l.seq == 5 && strcmp(l.chain, CHAIN) == 0
       && strcmp(l.event, "result") == 0, "seq, chain and event read");
    is_int(parse(line, len - 1, &l), 0, "so does the line without it");
    is_int(l.seq, 5, "to the same seq");
    is_int(parse(line, len - 2, &l), -1, "without its '}' it is no line");

    /* every character of the chain id is checked, the first too */
    for (i = 0; i < ECI_CHAIN_ID_LEN; i += ECI_CHAIN_ID_LEN - 1) {
        memcpy(chain, CHAIN, sizeof(chain));
        chain[i] = 'X';
        is_int(parse_seq("5", chain, &l), -1, "chain id with 'X' at %zu: "
               "no line", i);
    }

    /* the largest seq that cannot overflow, and past it */
    is_int(parse_seq("18446744073709551609", CHAIN, &l), 0,
           "seq 18446744073709551609 parses");
    ok(l.seq == UINT64_C(18446744073709551609), "to its value");
    is_int(parse_seq("18446744073709551610", CHAIN, &l), -1,
           "seq 18446744073709551610 is refused (it could overflow)");
    is_int(parse_seq("00000000000000000005", CHAIN, &l), 0,
           "a seq of 20 digits, leading zeros, parses");
    is_int(parse_seq("000000000000000000005", CHAIN, &l), -1,
           "one of 21 digits is refused");

    test_line_opening();
    test_seq_at_start();
    test_legacy_hashed();
    test_unhex();

    return done_testing();
}
