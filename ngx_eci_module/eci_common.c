/*
 * ngx_eci: helpers shared by the nginx-free core.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "eci_common.h"


void
eci_err_set(eci_err_t *err, const char *fmt, ...)
{
    va_list  ap;

    if (err == NULL) {
        return;
    }

    va_start(ap, fmt);
    (void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
}


void
eci_hex(char *out, const unsigned char *in, size_t n)
{
    size_t   i;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0f];
    }
}
