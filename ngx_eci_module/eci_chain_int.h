/*
 * The chain's parts shared by its two files (eci_chain.c: lines sealed,
 * signed and written; eci_chain_verify.c: lines read back and checked).
 * Not for the adapter or the tools: they use eci_chain.h.
 */

#ifndef ECI_CHAIN_INT_H
#define ECI_CHAIN_INT_H

#include <string.h>

#include <openssl/evp.h>

#include "eci_chain.h"



#define ECI_CHAIN_K_SEQ      ",\"seq\":"
#define ECI_CHAIN_K_CHAIN    ",\"chain\":\""
#define ECI_CHAIN_K_HASH     ",\"hash\":\""
#define ECI_CHAIN_K_SIG      ",\"sig\":\""
#define ECI_CHAIN_K_HEAD     ",\"head\":\""
#define ECI_CHAIN_K_TIME     "{\"time\":"
#define ECI_CHAIN_K_EVENT    ",\"event\":\""

#define eci_chain_lit(p, s)  (memcpy(p, s, sizeof(s) - 1), (p) + sizeof(s) - 1)
#define eci_chain_klen(s)    (sizeof(s) - 1)


struct eci_chain_verifier_s {
    EVP_PKEY      *pkey;
};


/* eci_chain_verify.c */
int eci_chain_unhex(const char *hex, size_t n, unsigned char *out);
int eci_chain_is_hex(const char *p, size_t n);

#endif /* ECI_CHAIN_INT_H */
