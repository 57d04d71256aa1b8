/*
 * eci_chain_line_parse() at its edges (issue 18: mutants of them survived
 * the unit tests): a line with or without its '\n', the chain id's every
 * character, the largest seq and one digit too many.  Lines are made by
 * hand: parsing does not check the hash.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eci_chain.h"
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

    return done_testing();
}
