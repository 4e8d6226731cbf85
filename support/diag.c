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

/* Prints line `line` of src with a caret under [col, col+len). Tabs are kept so the caret lines up.
 * A long line (a generated spec may have one of megabytes) is shown as a window of SHOWN_COLS
 * bytes around the caret, with "..." where it is cut, so 20 errors cannot print 100 MB. */
enum { SHOWN_COLS = 160, SHOWN_BEFORE = 40 };
static void print_source_line(moac_strbuf *b, moac_loc loc) {
    const char *p = loc.src->text, *end = loc.src->text + loc.src->len;
    for (int l = 1; l < loc.line && p < end; p++)
        if (*p == '\n') l++;
    const char *eol = p;
    while (eol < end && *eol != '\n') eol++;
    if (eol > p && eol[-1] == '\r') eol--; /* CRLF files: do not print the carriage return */
    long linelen = (long)(eol - p), from = 0, to = linelen; /* the shown bytes: [from, to) */
    if (linelen > SHOWN_COLS) {
        from = loc.col - 1 > SHOWN_BEFORE ? loc.col - 1 - SHOWN_BEFORE : 0;
        if (from > linelen - SHOWN_COLS) from = linelen - SHOWN_COLS;
        to = from + SHOWN_COLS;
    }
    const char *cut_before = from > 0 ? "..." : "", *cut_after = to < linelen ? "..." : "";
    int width = snprintf(NULL, 0, "%d", loc.line);
    moac_strbuf_printf(b, " %*d | %s", width < 4 ? 4 : width, loc.line, cut_before);
    moac_strbuf_append(b, p + from, (size_t)(to - from));
    moac_strbuf_printf(b, "%s\n %*s | %*s", cut_after, width < 4 ? 4 : width, "", (int)strlen(cut_before), "");
    long col = loc.col < from + 1 ? from + 1 : loc.col;
    for (long i = from + 1; i < col && i <= to; i++) moac_strbuf_putc(b, (i <= linelen && p[i - 1] == '\t') ? '\t' : ' ');
    moac_strbuf_putc(b, '^');
    long last = loc.col + (long)loc.len - 1; /* the span's last column, clipped to what is shown */
    if (last > to) last = to;
    for (long i = col + 1; i <= last; i++) moac_strbuf_putc(b, '~');
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

void moac_diag_file_warning(moac_diag *d, const char *path, const char *fmt, ...) {
    d->warnings++;
    if (path) moac_strbuf_printf(&d->out, "%s: ", path);
    moac_strbuf_puts(&d->out, "warning: ");
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    moac_strbuf_puts(&d->out, tmp);
    moac_strbuf_putc(&d->out, '\n');
}

moac_source *moac_source_load(moac_arena *a, moac_diag *d, const char *path, const moac_read_limits *lim) {
    char *text, why[512];
    size_t len;
    if (moac_file_read(path, lim, &text, &len, why, sizeof why)) {
        moac_diag_file_error(d, path, "cannot read file: %s", why);
        return NULL;
    }
    moac_source *s = moac_arena_alloc(a, sizeof *s);
    s->path = moac_arena_strdup(a, path);
    s->len = len;
    s->text = moac_arena_strndup(a, text, len);
    free(text);
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
