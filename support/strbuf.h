/* Growable string buffer for printers (IR text, DOT, JSON, diagnostics). */
#ifndef MOAC_STRBUF_H
#define MOAC_STRBUF_H
#include <stddef.h>
#include <stdio.h>

typedef struct moac_strbuf {
    char *data; /* always NUL-terminated once anything was appended */
    size_t len, cap;
} moac_strbuf;

void moac_strbuf_init(moac_strbuf *b);
void moac_strbuf_free(moac_strbuf *b);
void moac_strbuf_clear(moac_strbuf *b);
void moac_strbuf_append(moac_strbuf *b, const char *s, size_t n);
void moac_strbuf_puts(moac_strbuf *b, const char *s);
void moac_strbuf_putc(moac_strbuf *b, char c);
void moac_strbuf_printf(moac_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Shortest decimal text that reads back (strtod) to exactly the same double. */
void moac_strbuf_put_double(moac_strbuf *b, double v);
/* A JSON / IR string literal with quotes and escapes. */
void moac_strbuf_put_quoted(moac_strbuf *b, const char *s);
const char *moac_strbuf_cstr(moac_strbuf *b);

#endif
