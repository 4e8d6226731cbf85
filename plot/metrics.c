/* A run's metrics.jsonl read into series (plot/plot.h). Each line is one JSON object: a step's
 * metrics ({"step": 3, "loss": 4.2, "h0.attn.gates": [0.3, 0.3, 0.4], ...}) or an evaluation
 * ({"step": 3, "eval": {"val_loss": 4.4, ...}}). Every number or array of numbers is a series,
 * whatever its key, so a metric a new scheme logs is drawn without a change here.
 *
 * What a real run directory can hold besides clean lines, and what becomes of it:
 * - a last line cut short (killed while writing it; a system that stopped may leave NUL bytes
 *   instead): left out, with a warning;
 * - nan, -nan, inf, -inf (glibc's printf for a diverged run; not JSON): read as missing values,
 *   left out of the picture, with one warning saying how many and where the first is;
 * - the steps after a checkpoint twice (a run killed after it and resumed from it appends them
 *   again): the later lines win, with a note;
 * - blank lines: skipped.
 * Anything else that is not a JSON object of metrics is an error at its file:line:col. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "plot/plot.h"
#include "runtime/json.h"
#include "support/readfile.h"

void moac_plot_run_init(moac_plot_run *r) {
    memset(r, 0, sizeof *r);
    moac_arena_init(&r->arena);
}

void moac_plot_run_free(moac_plot_run *r) {
    for (size_t i = 0; i < r->nseries; i++) {
        free(r->series[i].step);
        free(r->series[i].value);
    }
    free(r->series);
    moac_arena_free(&r->arena);
    moac_plot_run_init(r);
}

static void *grow(void *p, size_t n, size_t size) {
    void *q = realloc(p, n * size);
    if (!q) abort(); /* out of memory: the library's convention (support/arena.c) */
    return q;
}

const moac_plot_series *moac_plot_run_find(const moac_plot_run *r, const char *key) {
    for (size_t i = 0; i < r->nseries; i++)
        if (!strcmp(r->series[i].key, key)) return &r->series[i];
    return NULL;
}

typedef struct reader {
    moac_plot_run *r;
    moac_diag *d;
    moac_source src;       /* the whole file, for messages that show the line */
    char *clean;           /* a copy of the file without NUL bytes, made for a message if needed */
    int line;              /* the line being read */
    size_t line_start;     /* its offset in the file */
    size_t nonfinite;      /* values that were nan, inf or null */
    int nf_line, nf_col;   /* the first of them */
    char nf_key[64];
    double nf_step;
    int back_line, back_col; /* the first step that went back (a resumed run), 0: none */
    double back_step;
} reader;

/* Reports at column col (1-based) of the current line, showing the line. NUL bytes (a torn
 * end) would cut the message buffer short, so the line is then shown from a copy without them. */
static void report(reader *p, moac_diag_level level, int col, int len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(reader *p, moac_diag_level level, int col, int len, const char *fmt, ...) {
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    moac_source *src = &p->src, clean;
    if (memchr(p->src.text, 0, p->src.len)) {
        if (!p->clean) {
            p->clean = grow(NULL, p->src.len + 1, 1);
            for (size_t i = 0; i < p->src.len; i++) p->clean[i] = p->src.text[i] ? p->src.text[i] : ' ';
            p->clean[p->src.len] = 0;
        }
        clean = (moac_source){p->src.path, p->clean, p->src.len};
        src = &clean;
    }
    moac_diag_report(p->d, level, (moac_loc){src, p->line, col, len > 0 ? len : 1}, "%s", msg);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* glibc's printf writes a NaN or an infinity as nan, -nan, inf or -inf, which is not JSON: a
 * copy of the line with each such word outside strings as null, or NULL when there is none.
 * *first is the offset of the first one in the line. */
static char *nonfinite_as_null(moac_arena *a, const char *s, size_t n, size_t *first) {
    char *out = moac_arena_alloc(a, 2 * n + 8);
    size_t o = 0, found = 0;
    int in_string = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (in_string) {
            out[o++] = c, i++;
            if (c == '\\' && i < n) out[o++] = s[i++];
            else if (c == '"') in_string = 0;
            continue;
        }
        if (c == '"') in_string = 1;
        size_t j = i + (c == '-' || c == '+'), w = 0;
        if (j + 3 <= n && !strncasecmp(s + j, "nan", 3)) w = 3;
        else if (j + 8 <= n && !strncasecmp(s + j, "infinity", 8)) w = 8;
        else if (j + 3 <= n && !strncasecmp(s + j, "inf", 3)) w = 3;
        size_t k = o;
        while (k > 0 && is_space(out[k - 1])) k--;
        int value_place = k > 0 && (out[k - 1] == ':' || out[k - 1] == ',' || out[k - 1] == '[');
        int word_end = w && (j + w == n || strchr(",]} \t\r", s[j + w]));
        if (value_place && word_end) {
            if (!found++) *first = i;
            memcpy(out + o, "null", 4);
            o += 4, i = j + w;
            continue;
        }
        out[o++] = c, i++;
    }
    out[o] = 0;
    return found ? out : NULL;
}

static moac_plot_series *series_for(reader *p, const char *key, size_t key_len, int width) {
    moac_plot_run *r = p->r;
    /* Keys come in the same order on every line: try the one after the last first. */
    for (size_t t = 0; t < r->nseries; t++) {
        size_t i = (r->hint + t) % r->nseries;
        moac_plot_series *s = &r->series[i];
        if (strlen(s->key) == key_len && !memcmp(s->key, key, key_len)) {
            r->hint = i + 1;
            return s;
        }
    }
    if (r->nseries == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 32;
        r->series = grow(r->series, r->cap, sizeof *r->series);
    }
    moac_plot_series *s = &r->series[r->nseries++];
    memset(s, 0, sizeof *s);
    s->key = moac_arena_strndup(&r->arena, key, key_len);
    s->width = width;
    s->line = p->line;
    r->hint = r->nseries;
    return s;
}

static void append(reader *p, moac_plot_series *s, double step, const double *v, int col) {
    if (s->count && s->step[s->count - 1] >= step) {
        /* The steps went back: a run resumed from an earlier checkpoint. Its lines replace the
         * ones logged after that checkpoint (they hold the same losses, bit for bit). */
        while (s->count && s->step[s->count - 1] >= step) s->count--;
        if (!p->back_line) p->back_line = p->line, p->back_col = col, p->back_step = step;
    }
    if (s->count == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->step = grow(s->step, s->cap, sizeof *s->step);
        s->value = grow(s->value, s->cap * (size_t)s->width, sizeof *s->value);
    }
    s->step[s->count] = step;
    memcpy(s->value + s->count * (size_t)s->width, v, (size_t)s->width * sizeof *v);
    s->count++;
}

/* One value of a line: a number, null or an array of them is a point of the key's series;
 * anything else (a string, an object) is not a metric moac draws and is passed over. */
static int add_value(reader *p, const char *prefix, const moac_json *v, double step, int step_col) {
    size_t n = v->type == MOAC_JSON_ARRAY ? v->count : 1;
    if (v->type == MOAC_JSON_ARRAY) {
        if (!n || n > 4096) return 0;
        for (size_t i = 0; i < n; i++)
            if (v->items[i]->type != MOAC_JSON_NUMBER && v->items[i]->type != MOAC_JSON_NULL) return 0;
    } else if (v->type != MOAC_JSON_NUMBER && v->type != MOAC_JSON_NULL) {
        return 0;
    }
    char key[512];
    int kn = snprintf(key, sizeof key, "%s%.*s", prefix, (int)v->key_len, v->key);
    if (kn < 0 || (size_t)kn >= sizeof key) return 0; /* no metric has a name that long */
    moac_plot_series *s = series_for(p, key, (size_t)kn, (int)n);
    if (s->width != (int)n) {
        report(p, MOAC_DIAG_ERROR, (int)(v->offset + 1), 1,
               "'%s' has %zu value%s here but %d on line %d; the file holds the metrics of two different "
               "runs: give each run its own directory (moac train --out DIR)",
               key, n, n == 1 ? "" : "s", s->width, s->line);
        return -1;
    }
    double vals[4096];
    for (size_t i = 0; i < n; i++) {
        const moac_json *x = v->type == MOAC_JSON_ARRAY ? v->items[i] : v;
        vals[i] = x->type == MOAC_JSON_NUMBER ? x->number : NAN;
        if (x->type == MOAC_JSON_NULL && !p->nonfinite++) {
            p->nf_line = p->line, p->nf_col = (int)(x->offset + 1), p->nf_step = step;
            snprintf(p->nf_key, sizeof p->nf_key, "%.60s", key);
        }
    }
    append(p, s, step, vals, step_col);
    return 0;
}

/* The first occurrence of word in s[0, n), or NULL. */
static const char *find(const char *s, size_t n, const char *word) {
    size_t w = strlen(word);
    for (size_t i = 0; i + w <= n; i++)
        if (!memcmp(s + i, word, w)) return s + i;
    return NULL;
}

static void read_line(reader *p, const char *s, size_t n, int unterminated) {
    size_t end = n;
    while (end > 0 && (is_space(s[end - 1]) || (unterminated && !s[end - 1]))) end--;
    size_t begin = 0;
    while (begin < end && is_space(s[begin])) begin++;
    if (begin == end) {
        if (end < n && unterminated && memchr(s, 0, n))
            moac_diag_file_warning(p->d, p->src.path, "ends in %zu NUL bytes after its last line (the system stopped "
                                   "while writing it?); they are left out", n - end);
        return;
    }
    moac_arena a;
    moac_arena_init(&a);
    moac_json_error err;
    size_t first_nan = 0;
    moac_json *root = moac_json_parse(&a, s, end, NULL, &err);
    if (!root && unterminated) {
        report(p, MOAC_DIAG_WARNING, (int)end, 1,
               "the last line is cut short (the run was stopped while writing it?); it is left out");
        goto done;
    }
    if (!root) {
        moac_json_error err2;
        char *fixed = nonfinite_as_null(&a, s, end, &first_nan);
        root = fixed ? moac_json_parse(&a, fixed, strlen(fixed), NULL, &err2) : NULL;
        if (!root) {
            const char *again = find(s + 1, end - 1, "{\"step\":");
            report(p, MOAC_DIAG_ERROR, (int)(err.offset + 1), 1,
                   "not a line of metrics: %s; %s", err.msg,
                   again ? "the line holds a line cut short with a whole one after it (a run stopped while "
                           "writing and resumed): delete the text before the second {\"step\":"
                         : "each line of metrics.jsonl is one JSON object, as moac train writes them; fix or "
                           "delete this line");
            goto done;
        }
    }
    if (root->type != MOAC_JSON_OBJECT) {
        report(p, MOAC_DIAG_ERROR, (int)(root->offset + 1), 1, "a JSON %s, not an object of metrics; each line "
               "of metrics.jsonl is one object, as moac train writes them", moac_json_type_name(root->type));
        goto done;
    }
    const moac_json *step = moac_json_get(root, "step");
    if (!step) {
        report(p, MOAC_DIAG_ERROR, 1, 1, "a line of metrics without \"step\"; each line of metrics.jsonl has one, "
               "as moac train writes them");
        goto done;
    }
    if (step->type != MOAC_JSON_NUMBER || !step->is_int || step->integer < 0 || step->integer > (1LL << 53)) {
        report(p, MOAC_DIAG_ERROR, (int)(step->offset + 1), 1, "\"step\" is not a whole number from 0 to 2^53");
        goto done;
    }
    double at = (double)step->integer;
    int step_col = (int)(step->offset + 1), nan_before = p->nonfinite == 0;
    for (size_t i = 0; i < root->count; i++) {
        const moac_json *v = root->items[i];
        if (v->key_len == 4 && !memcmp(v->key, "step", 4)) continue;
        if (v->key_len == 4 && !memcmp(v->key, "eval", 4) && v->type == MOAC_JSON_OBJECT) {
            for (size_t k = 0; k < v->count; k++)
                if (add_value(p, "eval.", v->items[k], at, step_col)) goto done;
            continue;
        }
        if (add_value(p, "", v, at, step_col)) goto done;
    }
    /* the columns of a line with nan in it are the original's, not the copy's */
    if (nan_before && p->nonfinite && first_nan) p->nf_col = (int)first_nan + 1;
    p->r->lines++;
done:
    moac_arena_free(&a);
}

int moac_plot_run_parse(moac_plot_run *r, const char *path, const char *label, const char *text, size_t len,
                        moac_diag *d) {
    r->path = moac_arena_strdup(&r->arena, path);
    r->label = moac_arena_strdup(&r->arena, label);
    reader p = {.r = r, .d = d, .src = {r->path, text, len}};
    int errors = d->errors;
    for (size_t pos = 0; pos < len && !moac_diag_full(d);) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        p.line++;
        p.line_start = pos;
        read_line(&p, text + pos, end - pos, !nl);
        pos = nl ? end + 1 : len;
    }
    if (p.nonfinite && d->errors == errors) {
        p.line = p.nf_line;
        report(&p, MOAC_DIAG_WARNING, p.nf_col, 1,
               "'%s' is not a number at step %.0f (nan or inf: did the run diverge?); %zu value%s that %s not "
               "finite %s left out of the picture", p.nf_key, p.nf_step, p.nonfinite, p.nonfinite == 1 ? "" : "s",
               p.nonfinite == 1 ? "is" : "are", p.nonfinite == 1 ? "is" : "are");
    }
    if (p.back_line && d->errors == errors) {
        p.line = p.back_line;
        report(&p, MOAC_DIAG_NOTE, p.back_col, 1,
               "the steps go back to %.0f here: a run resumed from an earlier checkpoint logged the steps after it "
               "again; the later lines are drawn", p.back_step);
    }
    free(p.clean);
    return d->errors > errors ? -1 : 0;
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), t = strlen(tail);
    return n > t && !strcmp(s + n - t, tail);
}

/* The name a run is labelled with: its directory's last component ("runs/moas/" -> "moas"). */
static char *dir_label(moac_arena *a, const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    char *name = moac_arena_strndup(a, dir + b, n - b);
    if (*name && strcmp(name, ".") && strcmp(name, "..")) return name;
    char *full = realpath(dir, NULL); /* "." or "..": the directory's own name */
    if (!full) return moac_arena_strndup(a, dir, n);
    const char *slash = strrchr(full, '/');
    char *out = moac_arena_strdup(a, slash && slash[1] ? slash + 1 : full);
    free(full);
    return out;
}

int moac_plot_run_load(moac_plot_run *r, const char *path, moac_diag *d) {
    struct stat sb;
    if (stat(path, &sb)) {
        if (errno == ENOENT)
            moac_diag_file_error(d, path, "no such run directory; give the directory a moac train run wrote "
                                 "(--out DIR; by default runs/<spec name>)");
        else
            moac_diag_file_error(d, path, "cannot read it: %s", strerror(errno));
        return -1;
    }
    const char *file = path, *label;
    if (S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path);
        while (n > 1 && path[n - 1] == '/') n--;
        file = moac_arena_printf(&r->arena, "%.*s/metrics.jsonl", (int)n, path);
        label = dir_label(&r->arena, path);
        if (stat(file, &sb) && errno == ENOENT) {
            moac_diag_file_error(d, path, "has no metrics.jsonl: it is not a moac train run directory (moac train "
                                 "SPEC --out DIR writes DIR/metrics.jsonl at its first step)");
            return -1;
        }
    } else {
        /* a metrics file itself: labelled by its directory, or its own name if it is not called
         * metrics.jsonl */
        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
        if (!strcmp(base, "metrics.jsonl"))
            label = dir_label(&r->arena, slash ? moac_arena_strndup(&r->arena, path, (size_t)(slash - path) + 1) : ".");
        else
            label = moac_arena_strndup(&r->arena, base, strlen(base) - (ends_with(base, ".jsonl") ? 6 : 0));
    }
    char *text, why[512];
    size_t len;
    if (moac_file_read(file, &moac_limits_metrics, &text, &len, why, sizeof why)) {
        moac_diag_file_error(d, file, "cannot read the metrics: %s", why);
        return -1;
    }
    int rc = moac_plot_run_parse(r, file, label, text, len, d);
    free(text);
    return rc;
}
