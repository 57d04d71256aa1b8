/*
 * ngx_eci: helpers shared by the nginx-free core.
 */

#include <stdarg.h>
#include <stdio.h>

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
