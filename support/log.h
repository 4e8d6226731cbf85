/* Where library code says what it did — a compile's summary line, the MOAC_DEBUG phases and
 * node counts, the MOAC_PROFILE table, a damaged cache entry — instead of printing: a callback
 * the caller supplies (the `moac` command's writes to stderr, cli/env.c). The library never
 * prints and never reads the environment; NULL (or no callback) means silence. */
#ifndef MOAC_LOG_H
#define MOAC_LOG_H

typedef struct moac_log {
    void (*write)(void *ctx, const char *text); /* one or more whole lines */
    void *ctx;
    int debug; /* also the debugging lines (MOAC_DEBUG=1): pass node counts, compile phases */
} moac_log;

void moac_log_puts(const moac_log *l, const char *text);
void moac_log_printf(const moac_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether l wants the debugging lines. */
int moac_log_debug(const moac_log *l);

#endif
