#include "runtime/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const moac_json_limits moac_json_default_limits = {100u * 1000 * 1000, 64, (size_t)1 << 21};

typedef struct parser {
    moac_arena *a;
    const char *s;
    size_t len, pos, nodes;
    moac_json_limits lim;
    moac_json_error *err;
    int failed;
} parser;

/* Records the first error only: later ones are consequences of it. Returns NULL for tail calls. */
static void *fail(parser *p, size_t offset, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void *fail(parser *p, size_t offset, const char *fmt, ...) {
    if (p->failed) return NULL;
    p->failed = 1;
    p->err->offset = offset;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    return NULL;
}

/* A character for a message: 'x' when printable, else its byte value. */
static const char *show(char c, char buf[16]) {
    unsigned char u = (unsigned char)c;
    if (u >= 0x21 && u < 0x7f) snprintf(buf, 16, "'%c'", c);
    else snprintf(buf, 16, "byte 0x%02x", u);
    return buf;
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static moac_json *node(parser *p, moac_json_type t, size_t offset) {
    if (++p->nodes > p->lim.max_nodes)
        return fail(p, offset, "more than %zu values in one document", p->lim.max_nodes);
    moac_json *v = moac_arena_alloc(p->a, sizeof *v);
    v->type = t;
    v->offset = offset;
    return v;
}

/* The length of the valid UTF-8 character at s (at most avail bytes), or 0 if it is invalid. */
static size_t utf8_one(const unsigned char *s, size_t avail) {
    unsigned c = s[0], cp, min;
    size_t n;
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) n = 2, cp = c & 0x1f, min = 0x80;
    else if ((c & 0xf0) == 0xe0) n = 3, cp = c & 0x0f, min = 0x800;
    else if ((c & 0xf8) == 0xf0) n = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (avail < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

size_t moac_utf8_check(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, n;
    while (i < len && (n = utf8_one(s + i, len - i)) > 0) i += n;
    return i;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Decodes the string whose opening quote is at p->pos into the arena. Decoded text is never
 * longer than the source (an escape of 6 or 12 bytes yields at most 4), so one allocation of
 * the raw length suffices. */
static int parse_string(parser *p, const char **out, size_t *outlen) {
    size_t start = p->pos, i = start + 1, end = i;
    while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len) return fail(p, start, "unterminated string"), 0;
    char *o = moac_arena_alloc(p->a, end - i + 1);
    size_t n = 0;
    while (i < end) {
        unsigned char c = (unsigned char)p->s[i];
        if (c < 0x20) return fail(p, i, "unescaped control character 0x%02x in a string", c), 0;
        if (c >= 0x80) {
            size_t k = utf8_one((const unsigned char *)p->s + i, end - i);
            if (k == 0) return fail(p, i, "invalid UTF-8 (byte 0x%02x) in a string", c), 0;
            memcpy(o + n, p->s + i, k);
            n += k, i += k;
            continue;
        }
        if (c != '\\') { o[n++] = (char)c; i++; continue; }
        char e = p->s[i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            o[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            i += 2;
            continue;
        }
        if (e != 'u') return fail(p, i, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?'), 0;
        unsigned cp, lo;
        if (end - i < 6 || !hex4(p->s + i + 2, &cp))
            return fail(p, i, "invalid \\u escape: expected 4 hex digits"), 0;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return fail(p, i, "unpaired low surrogate \\u%04x", cp), 0;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (end - i < 12 || p->s[i + 6] != '\\' || p->s[i + 7] != 'u' || !hex4(p->s + i + 8, &lo) ||
                lo < 0xdc00 || lo > 0xdfff)
                return fail(p, i, "unpaired high surrogate \\u%04x", cp), 0;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            i += 6;
        }
        n += put_utf8(o + n, cp);
        i += 6;
    }
    o[n] = 0;
    p->pos = end + 1;
    *out = o;
    *outlen = n;
    return 1;
}

static moac_json *parse_number(parser *p) {
    size_t start = p->pos, i = start;
    const char *s = p->s;
    int integral = 1;
    if (i < p->len && s[i] == '-') i++;
    if (i >= p->len || s[i] < '0' || s[i] > '9') return fail(p, start, "invalid number: expected a digit");
    if (s[i] == '0' && i + 1 < p->len && s[i + 1] >= '0' && s[i + 1] <= '9')
        return fail(p, start, "invalid number: leading zero");
    while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    if (i < p->len && s[i] == '.') {
        integral = 0;
        if (++i >= p->len || s[i] < '0' || s[i] > '9')
            return fail(p, i, "invalid number: expected a digit after '.'");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        integral = 0;
        if (++i < p->len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return fail(p, i, "invalid number: expected a digit in the exponent");
        while (i < p->len && s[i] >= '0' && s[i] <= '9') i++;
    }
    moac_json *v = node(p, MOAC_JSON_NUMBER, start);
    if (!v) return NULL;
    /* strtod needs a terminated copy: the document need not end after the number. */
    char tmp[64];
    char *text = i - start < sizeof tmp ? tmp : moac_arena_alloc(p->a, i - start + 1);
    memcpy(text, s + start, i - start);
    text[i - start] = 0;
    v->number = strtod(text, NULL);
    if (!isfinite(v->number)) return fail(p, start, "number out of range");
    if (integral) {
        int neg = s[start] == '-';
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        v->is_int = 1;
        for (size_t k = start + (size_t)neg; k < i; k++) {
            unsigned d = (unsigned)(s[k] - '0');
            if (mag > (limit - d) / 10) { v->is_int = 0; break; }
            mag = mag * 10 + d;
        }
        if (v->is_int) v->integer = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    p->pos = i;
    return v;
}

static int key_cmp(const void *a, const void *b) {
    const moac_json *x = *(const moac_json *const *)a, *y = *(const moac_json *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    if (x->key_len != y->key_len) return x->key_len < y->key_len ? -1 : 1;
    return x->key_offset < y->key_offset ? -1 : x->key_offset > y->key_offset;
}

/* Rejects a repeated key (reported at its second occurrence in the document). Sorting keeps
 * this O(n log n) for headers with many tensors. */
static int check_duplicates(parser *p, moac_json *obj) {
    if (obj->count < 2) return 1;
    moac_json **sorted = moac_arena_dup(p->a, obj->items, obj->count * sizeof *sorted);
    qsort(sorted, obj->count, sizeof *sorted, key_cmp);
    const moac_json *dup = NULL;
    for (size_t i = 1; i < obj->count; i++) {
        const moac_json *x = sorted[i - 1], *y = sorted[i];
        if (x->key_len == y->key_len && !memcmp(x->key, y->key, x->key_len) &&
            (!dup || y->key_offset < dup->key_offset))
            dup = y;
    }
    if (!dup) return 1;
    fail(p, dup->key_offset, "duplicate key \"%.60s\"", dup->key);
    return 0;
}

/* Members are collected in a linked list in the arena and copied to an array at the end, so
 * nothing is realloc'd and nothing outlives a failed parse but arena memory. */
typedef struct member_list {
    moac_json *v;
    struct member_list *next;
} member_list;

static moac_json *parse_value(parser *p, int depth);

static moac_json *parse_container(parser *p, int depth, int is_object) {
    size_t start = p->pos;
    char close = is_object ? '}' : ']';
    if (depth >= p->lim.max_depth)
        return fail(p, start, "nesting deeper than %d levels", p->lim.max_depth);
    moac_json *c = node(p, is_object ? MOAC_JSON_OBJECT : MOAC_JSON_ARRAY, start);
    if (!c) return NULL;
    p->pos++;
    skip_ws(p);
    member_list *head = NULL, **tail = &head;
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return c;
    }
    for (;;) {
        skip_ws(p);
        const char *key = NULL;
        size_t key_len = 0, key_offset = p->pos;
        char buf[16];
        if (is_object) {
            if (p->pos >= p->len) return fail(p, p->pos, "unexpected end of input, expected a string key");
            if (p->s[p->pos] != '"')
                return fail(p, p->pos, "expected a string key, got %s", show(p->s[p->pos], buf));
            if (!parse_string(p, &key, &key_len)) return NULL;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, p->pos, "expected ':' after an object key");
            p->pos++;
        }
        moac_json *v = parse_value(p, depth + 1);
        if (!v) return NULL;
        v->key = key, v->key_len = key_len, v->key_offset = key_offset;
        member_list *m = moac_arena_alloc(p->a, sizeof *m);
        m->v = v;
        *tail = m, tail = &m->next;
        c->count++;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, p->pos, "unexpected end of input, expected ',' or '%c'", close);
        char ch = p->s[p->pos++];
        if (ch == close) break;
        if (ch != ',')
            return fail(p, p->pos - 1, "expected ',' or '%c' after %s, got %s", close,
                        is_object ? "an object member" : "an array element", show(ch, buf));
    }
    c->items = moac_arena_alloc(p->a, c->count * sizeof *c->items);
    size_t i = 0;
    for (member_list *m = head; m; m = m->next) c->items[i++] = m->v;
    if (is_object && !check_duplicates(p, c)) return NULL;
    return c;
}

static int literal(parser *p, const char *word) {
    size_t n = strlen(word);
    return p->len - p->pos >= n && !memcmp(p->s + p->pos, word, n);
}

static moac_json *parse_value(parser *p, int depth) {
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, p->pos, "unexpected end of input, expected a value");
    char c = p->s[p->pos], buf[16];
    size_t start = p->pos;
    moac_json *v;
    switch (c) {
    case '{': return parse_container(p, depth, 1);
    case '[': return parse_container(p, depth, 0);
    case '"':
        if (!(v = node(p, MOAC_JSON_STRING, start))) return NULL;
        return parse_string(p, &v->str, &v->len) ? v : NULL;
    case 't':
    case 'f':
        if (!literal(p, c == 't' ? "true" : "false")) break;
        if (!(v = node(p, MOAC_JSON_BOOL, start))) return NULL;
        v->boolean = c == 't';
        p->pos += c == 't' ? 4 : 5;
        return v;
    case 'n':
        if (!literal(p, "null")) break;
        p->pos += 4;
        return node(p, MOAC_JSON_NULL, start);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
    }
    return fail(p, start, "expected a value, got %s", show(c, buf));
}

moac_json *moac_json_parse(moac_arena *a, const char *text, size_t len, const moac_json_limits *limits,
                           moac_json_error *err) {
    parser p = {a, text, len, 0, 0, limits ? *limits : moac_json_default_limits, err, 0};
    err->offset = 0;
    err->msg[0] = 0;
    if (len > p.lim.max_bytes)
        return fail(&p, 0, "document of %zu bytes is larger than the limit of %zu", len, p.lim.max_bytes);
    moac_json *root = parse_value(&p, 0);
    if (!root) return NULL;
    skip_ws(&p);
    char buf[16];
    if (p.pos < len) return fail(&p, p.pos, "unexpected %s after the JSON value", show(text[p.pos], buf));
    return root;
}

const moac_json *moac_json_get(const moac_json *obj, const char *key) {
    if (!obj || obj->type != MOAC_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->count; i++)
        if (obj->items[i]->key_len == n && !memcmp(obj->items[i]->key, key, n)) return obj->items[i];
    return NULL;
}

const char *moac_json_type_name(moac_json_type t) {
    switch (t) {
    case MOAC_JSON_NULL: return "null";
    case MOAC_JSON_BOOL: return "boolean";
    case MOAC_JSON_NUMBER: return "number";
    case MOAC_JSON_STRING: return "string";
    case MOAC_JSON_ARRAY: return "array";
    case MOAC_JSON_OBJECT: return "object";
    }
    return "value";
}

void moac_json_put_string(moac_strbuf *b, const char *s, size_t len) {
    moac_strbuf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': moac_strbuf_puts(b, "\\\""); break;
        case '\\': moac_strbuf_puts(b, "\\\\"); break;
        case '\n': moac_strbuf_puts(b, "\\n"); break;
        case '\r': moac_strbuf_puts(b, "\\r"); break;
        case '\t': moac_strbuf_puts(b, "\\t"); break;
        default:
            if (c < 0x20 || c == 0x7f) moac_strbuf_printf(b, "\\u%04x", c);
            else moac_strbuf_putc(b, (char)c);
        }
    }
    moac_strbuf_putc(b, '"');
}
