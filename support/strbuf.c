#include "support/strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void moac_strbuf_init(moac_strbuf *b) { b->data = NULL; b->len = b->cap = 0; }
void moac_strbuf_free(moac_strbuf *b) { free(b->data); moac_strbuf_init(b); }
void moac_strbuf_clear(moac_strbuf *b) { b->len = 0; if (b->data) b->data[0] = 0; }

static void reserve(moac_strbuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) { fputs("moac: out of memory (string buffer)\n", stderr); abort(); }
    b->data = d;
    b->cap = cap;
}

void moac_strbuf_append(moac_strbuf *b, const char *s, size_t n) {
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void moac_strbuf_puts(moac_strbuf *b, const char *s) { moac_strbuf_append(b, s, strlen(s)); }
void moac_strbuf_putc(moac_strbuf *b, char c) { moac_strbuf_append(b, &c, 1); }

void moac_strbuf_printf(moac_strbuf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void moac_strbuf_put_double(moac_strbuf *b, double v) {
    char tmp[40];
    if (isnan(v)) { moac_strbuf_puts(b, "nan"); return; }
    if (isinf(v)) { moac_strbuf_puts(b, v < 0 ? "-inf" : "inf"); return; }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* Keep a float looking like a float, so "1" and "1.0" are never confused by a reader. */
    if (!strpbrk(tmp, ".eEn")) strcat(tmp, ".0");
    moac_strbuf_puts(b, tmp);
}

void moac_strbuf_put_quoted(moac_strbuf *b, const char *s) {
    moac_strbuf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '"': moac_strbuf_puts(b, "\\\""); break;
        case '\\': moac_strbuf_puts(b, "\\\\"); break;
        case '\n': moac_strbuf_puts(b, "\\n"); break;
        case '\t': moac_strbuf_puts(b, "\\t"); break;
        default:
            if (c < 0x20) moac_strbuf_printf(b, "\\u%04x", c);
            else moac_strbuf_putc(b, (char)c);
        }
    }
    moac_strbuf_putc(b, '"');
}

const char *moac_strbuf_cstr(moac_strbuf *b) {
    if (!b->data) reserve(b, 0), b->data[0] = 0;
    return b->data;
}
