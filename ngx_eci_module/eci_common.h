/*
 * ngx_eci: definitions shared by the nginx-free core (eci_*).
 * The core never includes an nginx header.
 */

#ifndef ECI_COMMON_H
#define ECI_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* size of every error message buffer the core fills */
#define ECI_ERR_LEN  512

typedef struct {
    char  msg[ECI_ERR_LEN];
} eci_err_t;

/* printf-style helper: fills err->msg, always NUL-terminated */
void eci_err_set(eci_err_t *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif /* ECI_COMMON_H */
