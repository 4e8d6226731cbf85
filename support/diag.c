#include "support/diag.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void moac_diag_init(moac_diag *d) {
    moac_strbuf_init(&d->out);
    d->errors = d->warnings = 0;
    d->max_errors = 20;
}

void moac_diag_free(moac_diag *d) { moac_strbuf_free(&d->out); }

int moac_diag_full(const moac_diag *d) { return d->errors >= d->max_errors; }

static const char *level_name(moac_diag_level level) {
    switch (level) {
    case MOAC_DIAG_ERROR: return "error";
    case MOAC_DIAG_WARNING: return "warning";
    case MOAC_DIAG_NOTE: return "note";
    }
    return "error";
}

/* Prints line `line` of src with a caret under [col, col+len). Tabs are kept so the caret lines up. */
static void print_source_line(moac_strbuf *b, moac_loc loc) {
    const char *p = loc.src->text, *end = loc.src->text + loc.src->len;
    for (int l = 1; l < loc.line && p < end; p++)
        if (*p == '\n') l++;
    const char *eol = p;
    while (eol < end && *eol != '\n') eol++;
    if (eol > p && eol[-1] == '\r') eol--; /* CRLF files: do not print the carriage return */
    int width = snprintf(NULL, 0, "%d", loc.line);
    moac_strbuf_printf(b, " %*d | ", width < 4 ? 4 : width, loc.line);
    moac_strbuf_append(b, p, (size_t)(eol - p));
    moac_strbuf_printf(b, "\n %*s | ", width < 4 ? 4 : width, "");
    int linelen = (int)(eol - p);
    for (int i = 1; i < loc.col; i++) moac_strbuf_putc(b, (i <= linelen && p[i - 1] == '\t') ? '\t' : ' ');
    moac_strbuf_putc(b, '^');
    int len = loc.len;
    if (loc.col + len - 1 > linelen) len = linelen - loc.col + 1;
    for (int i = 1; i < len; i++) moac_strbuf_putc(b, '~');
    moac_strbuf_putc(b, '\n');
}

void moac_diag_report(moac_diag *d, moac_diag_level level, moac_loc loc, const char *fmt, ...) {
    if (level == MOAC_DIAG_ERROR) {
        if (d->errors >= d->max_errors) return;
        d->errors++;
    } else if (level == MOAC_DIAG_WARNING) {
        d->warnings++;
    } else if (d->errors >= d->max_errors) {
        return;
    }
    if (loc.src) moac_strbuf_printf(&d->out, "%s:%d:%d: ", loc.src->path, loc.line, loc.col);
    moac_strbuf_printf(&d->out, "%s: ", level_name(level));
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    moac_strbuf_puts(&d->out, tmp);
    moac_strbuf_putc(&d->out, '\n');
    if (loc.src && loc.line >= 1) print_source_line(&d->out, loc);
    if (level == MOAC_DIAG_ERROR && d->errors == d->max_errors)
        moac_strbuf_printf(&d->out, "error: too many errors (%d); stopping\n", d->max_errors);
}

void moac_diag_file_error(moac_diag *d, const char *path, const char *fmt, ...) {
    if (d->errors >= d->max_errors) return;
    d->errors++;
    if (path) moac_strbuf_printf(&d->out, "%s: ", path);
    moac_strbuf_puts(&d->out, "error: ");
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    moac_strbuf_puts(&d->out, tmp);
    moac_strbuf_putc(&d->out, '\n');
}

moac_source *moac_source_load(moac_arena *a, moac_diag *d, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        moac_diag_file_error(d, path, "cannot read file: %s", strerror(errno));
        return NULL;
    }
    moac_strbuf b;
    moac_strbuf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) moac_strbuf_append(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        moac_diag_file_error(d, path, "cannot read file (is it a directory?)");
        moac_strbuf_free(&b);
        return NULL;
    }
    const char *text = moac_strbuf_cstr(&b);
    if (memchr(text, 0, b.len)) {
        moac_diag_file_error(d, path, "file contains NUL bytes; expected a text file");
        moac_strbuf_free(&b);
        return NULL;
    }
    moac_source *s = moac_source_from_text(a, path, text);
    moac_strbuf_free(&b);
    return s;
}

moac_source *moac_source_from_text(moac_arena *a, const char *path, const char *text) {
    moac_source *s = moac_arena_alloc(a, sizeof *s);
    s->path = moac_arena_strdup(a, path);
    s->len = strlen(text);
    s->text = moac_arena_strndup(a, text, s->len);
    return s;
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (size_t)-1;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *cur);
    }
    return prev[lb];
}

const char *moac_suggest(const char *name, const char *const *candidates, size_t count) {
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t len = strlen(name);
    size_t limit = len <= 3 ? 1 : len <= 6 ? 2 : 3; /* a typo, not a different word */
    for (size_t i = 0; i < count; i++) {
        if (!candidates[i]) continue;
        size_t dist = edit_distance(name, candidates[i]);
        if (dist < best_d) { best_d = dist; best = candidates[i]; }
    }
    return best_d <= limit && best_d > 0 ? best : NULL;
}
