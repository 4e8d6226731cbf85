#include "support/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void moac_log_puts(const moac_log *l, const char *text) {
    if (l && l->write && text && *text) l->write(l->ctx, text);
}

void moac_log_printf(const moac_log *l, const char *fmt, ...) {
    if (!l || !l->write) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    char *text = malloc((size_t)n + 1);
    if (!text) abort();
    va_start(ap, fmt);
    vsnprintf(text, (size_t)n + 1, fmt, ap);
    va_end(ap);
    l->write(l->ctx, text);
    free(text);
}

int moac_log_debug(const moac_log *l) { return l && l->write && l->debug; }
