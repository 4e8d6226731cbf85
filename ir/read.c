/* The IR text reader: a hand-written lexer and recursive-descent parser for the form that
 * moac_ir_print writes (grammar in docs/ir.md).
 *
 *   file  := 'graph' STRING '{' stmt* '}'
 *   stmt  := VALUE '=' OP '(' [VALUE (',' VALUE)*] ')' (KEY '=' literal)* ':' type [sched]
 *   type  := ('f32' | 'i32') '[' [INT (',' INT)*] ']'
 *   sched := '@k' INT | '@r' INT | '@view' | '@inline'
 *
 * The whole file is tokenised first, so that a use of a value defined further down can be told
 * apart from a use of one defined nowhere. Lexical errors are kept in their token and reported
 * when the parser reaches it, which keeps every message in source order. After an error the
 * parser skips to the next line that starts a statement and goes on, so one run reports several
 * problems; the result is NULL if any was reported. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

typedef enum tok_kind { T_EOF, T_ERROR, T_IDENT, T_VALUE, T_STRING, T_NUMBER, T_PUNCT, T_SCHED } tok_kind;

typedef struct token {
    tok_kind kind;
    const char *start;
    int len, line, col;
    int bol;          /* first token on its line */
    const char *str;  /* T_STRING: the decoded text; T_VALUE: the name without '%' */
    const char *msg;  /* T_ERROR: what is wrong, reported at errloc */
    moac_loc errloc;
} token;

/* A value definition found by the pre-scan; node is NULL until built (or when it failed). */
typedef struct def {
    const char *name;
    size_t tok;
    moac_node *node;
} def;

typedef struct reader {
    moac_arena *arena;
    const moac_source *src;
    moac_diag *d;
    token *toks;
    size_t ntoks, pos;
    def *defs; /* sorted by name, then by position */
    size_t ndefs;
    const char **def_names;
    moac_graph *g;
    int failed; /* an error was reported (counted even when the diag buffer is already full) */
} reader;

__attribute__((format(printf, 3, 4))) static void error_at(reader *r, moac_loc loc, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->failed = 1;
    moac_diag_error(r->d, loc, "%s", msg);
}

static moac_loc tok_loc(const reader *r, const token *t) {
    return (moac_loc){r->src, t->line, t->col, t->len > 0 ? t->len : 1};
}

/* ---- Lexer. ---- */

static int is_name_char(int c) { return isalnum(c) || c == '_' || c == '.'; }

typedef struct lexer {
    reader *r;
    const char *p, *end, *line_start;
    int line, bol;
    size_t cap;
} lexer;

static token *push(lexer *lx, tok_kind kind, const char *start) {
    reader *r = lx->r;
    if (r->ntoks == lx->cap) {
        lx->cap = lx->cap ? 2 * lx->cap : 256;
        token *grown = realloc(r->toks, lx->cap * sizeof *grown);
        if (!grown) abort();
        r->toks = grown;
    }
    token *t = &r->toks[r->ntoks++];
    *t = (token){.kind = kind, .start = start, .line = lx->line, .col = (int)(start - lx->line_start) + 1,
                 .bol = lx->bol};
    lx->bol = 0;
    return t;
}

static void lex_error(lexer *lx, token *t, const char *at, int len, const char *msg) {
    t->kind = T_ERROR;
    t->msg = msg;
    t->errloc = (moac_loc){lx->r->src, lx->line, (int)(at - lx->line_start) + 1, len > 0 ? len : 1};
}

static int hex_value(int c) { return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1; }

/* Decodes a string literal (the escapes moac_strbuf_put_quoted writes); lx->p is at the quote. */
static void lex_string(lexer *lx, token *t) {
    moac_strbuf b;
    moac_strbuf_init(&b);
    const char *p = lx->p + 1;
    for (; p < lx->end && *p != '"' && *p != '\n'; p++) {
        if (*p != '\\') { moac_strbuf_putc(&b, *p); continue; }
        const char *esc = p++;
        int cp = -1;
        switch (p < lx->end ? *p : 0) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case 'n': cp = '\n'; break;
        case 't': cp = '\t'; break;
        case 'u':
            cp = 0;
            for (int k = 1; k <= 4 && cp >= 0; k++) {
                int h = p + k < lx->end ? hex_value((unsigned char)p[k]) : -1;
                cp = h < 0 ? -1 : cp * 16 + h;
            }
            if (cp >= 0) p += 4;
            if (cp == 0) cp = -1;
            break;
        }
        if (cp < 0) {
            if (t->kind != T_ERROR) lex_error(lx, t, esc, 2, "invalid escape in string (use \\\" \\\\ \\n \\t or \\uXXXX)");
            if (p >= lx->end || *p == '\n') break;
            continue;
        }
        if (cp < 0x80) moac_strbuf_putc(&b, (char)cp);
        else if (cp < 0x800) moac_strbuf_printf(&b, "%c%c", 0xC0 | (cp >> 6), 0x80 | (cp & 63));
        else moac_strbuf_printf(&b, "%c%c%c", 0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    }
    if (p >= lx->end || *p != '"') {
        lex_error(lx, t, lx->p, (int)(p - lx->p), "unterminated string");
    } else {
        p++;
        t->str = moac_arena_strndup(lx->r->arena, moac_strbuf_cstr(&b), b.len);
    }
    moac_strbuf_free(&b);
    lx->p = p;
}

/* [-]digits[.digits][(e|E)[+-]digits], or -inf. Anything glued on makes it malformed. */
static void lex_number(lexer *lx, token *t) {
    const char *p = lx->p;
    if (*p == '-') p++;
    if (strncmp(p, "inf", 3) == 0) p += 3;
    while (isdigit((unsigned char)*p)) p++;
    if (*p == '.' && isdigit((unsigned char)p[1]))
        for (p++; isdigit((unsigned char)*p); p++) {}
    if ((*p == 'e' || *p == 'E') && (isdigit((unsigned char)p[1]) ||
                                     ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2]))))
        for (p += 2; isdigit((unsigned char)*p); p++) {}
    if (is_name_char((unsigned char)*p)) {
        while (p < lx->end && (is_name_char((unsigned char)*p) || *p == '-' || *p == '+')) p++;
        lex_error(lx, t, lx->p, (int)(p - lx->p), "malformed number");
    }
    lx->p = p;
}

static void lex_token(lexer *lx) {
    const char *s = lx->p;
    unsigned char c = (unsigned char)*s;
    token *t = push(lx, T_PUNCT, s);
    if (isalpha(c) || c == '_') {
        t->kind = T_IDENT;
        while (isalnum((unsigned char)*lx->p) || *lx->p == '_') lx->p++;
    } else if (c == '%') {
        t->kind = T_VALUE;
        for (lx->p++; is_name_char((unsigned char)*lx->p);) lx->p++;
        if (lx->p == s + 1) lex_error(lx, t, s, 1, "expected a value name after '%'");
        else t->str = moac_arena_strndup(lx->r->arena, s + 1, (size_t)(lx->p - s - 1));
    } else if (isdigit(c) || (c == '-' && (isdigit((unsigned char)s[1]) || strncmp(s + 1, "inf", 3) == 0))) {
        t->kind = T_NUMBER;
        lex_number(lx, t);
    } else if (c == '@') { /* a schedule annotation: '@' and a word, read by parse_sched */
        t->kind = T_SCHED;
        for (lx->p++; isalnum((unsigned char)*lx->p);) lx->p++;
    } else if (c == '"') {
        t->kind = T_STRING;
        lex_string(lx, t);
    } else if (c && strchr("(){}[],=:", c)) {
        lx->p++;
    } else {
        /* A run of non-ASCII bytes is one character as far as the user can see. */
        do lx->p++; while (c >= 0x80 && lx->p < lx->end && (unsigned char)*lx->p >= 0x80);
        lex_error(lx, t, s, (int)(lx->p - s), "unexpected character");
    }
    t->len = (int)(lx->p - s);
}

static void lex(reader *r) {
    lexer lx = {r, r->src->text, r->src->text + r->src->len, r->src->text, 1, 1, 0};
    int last_line = 1, last_col = 1;
    for (;;) {
        while (lx.p < lx.end && (isspace((unsigned char)*lx.p) || *lx.p == '#')) {
            if (*lx.p == '#') {
                while (lx.p < lx.end && *lx.p != '\n') lx.p++;
                continue;
            }
            if (*lx.p == '\n') { lx.line++; lx.line_start = lx.p + 1; lx.bol = 1; }
            lx.p++;
        }
        if (lx.p >= lx.end) break;
        lex_token(&lx);
        token *t = &r->toks[r->ntoks - 1];
        last_line = t->line;
        last_col = t->col + t->len;
    }
    /* End of file is located just after the last token, where a missing '}' belongs. */
    token *eof = push(&lx, T_EOF, lx.end);
    eof->line = last_line;
    eof->col = last_col;
    eof->len = 1;
}

/* ---- Definitions: a value is defined where its name is followed by '='. ---- */

static int def_cmp(const void *a, const void *b) {
    const def *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->tok > y->tok) - (x->tok < y->tok);
}

static void find_defs(reader *r) {
    r->defs = calloc(r->ntoks, sizeof *r->defs);
    r->def_names = calloc(r->ntoks, sizeof *r->def_names);
    if (!r->defs || !r->def_names) abort();
    for (size_t i = 0; i + 1 < r->ntoks; i++)
        if (r->toks[i].kind == T_VALUE && r->toks[i + 1].kind == T_PUNCT && r->toks[i + 1].start[0] == '=') {
            r->def_names[r->ndefs] = r->toks[i].str;
            r->defs[r->ndefs++] = (def){r->toks[i].str, i, NULL};
        }
    qsort(r->defs, r->ndefs, sizeof *r->defs, def_cmp);
}

/* The first definition of name, or NULL. */
static def *lookup(reader *r, const char *name) {
    size_t lo = 0, hi = r->ndefs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(r->defs[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < r->ndefs && strcmp(r->defs[lo].name, name) == 0 ? &r->defs[lo] : NULL;
}

/* ---- Parser plumbing. ---- */

static token *cur(reader *r) { return &r->toks[r->pos]; }
static int is_punct(const token *t, char c) { return t->kind == T_PUNCT && t->start[0] == c; }

static void report_lex_error(reader *r, token *t) {
    if (t->kind == T_ERROR && t->msg) {
        error_at(r, t->errloc, "%s", t->msg);
        t->msg = NULL;
    }
}

static void advance(reader *r) {
    report_lex_error(r, cur(r));
    if (cur(r)->kind != T_EOF) r->pos++;
}

/* "expected X, got Y" at the current token; a lexical error there speaks for itself instead. */
static void expected_here(reader *r, const char *what) {
    token *t = cur(r);
    if (t->kind == T_ERROR) report_lex_error(r, t);
    else if (t->kind == T_EOF) error_at(r, tok_loc(r, t), "expected %s, got the end of the file", what);
    else error_at(r, tok_loc(r, t), "expected %s, got '%.*s'", what, t->len, t->start);
}

/* The same for something that continues a line: when the line ended instead, the error points
 * at its end rather than at the next line. */
static void expected(reader *r, const char *what) {
    const token *t = cur(r);
    if (t->kind != T_EOF && t->bol && r->pos > 0) {
        const token *prev = t - 1;
        error_at(r, (moac_loc){r->src, prev->line, prev->col + prev->len, 1}, "expected %s at the end of the line", what);
    } else {
        expected_here(r, what);
    }
}

static int accept(reader *r, char c) {
    if (!is_punct(cur(r), c)) return 0;
    advance(r);
    return 1;
}

static int expect(reader *r, char c, const char *what) {
    if (accept(r, c)) return 1;
    expected(r, what);
    return 0;
}

static int starts_statement(const reader *r, size_t i) {
    const token *t = &r->toks[i];
    return is_punct(t, '}') || t->kind == T_IDENT ||
           (t->kind == T_VALUE && is_punct(&r->toks[i + 1], '='));
}

/* Skips to the next line that can start a statement, reporting lexical errors on the way.
 * must_advance: the error is at a statement's first token, which must not be retried. */
static void recover(reader *r, int must_advance) {
    if (must_advance) advance(r);
    while (cur(r)->kind != T_EOF && !(cur(r)->bol && starts_statement(r, r->pos))) advance(r);
}

static int tok_is(const token *t, const char *word) {
    return t->kind == T_IDENT && (size_t)t->len == strlen(word) && memcmp(t->start, word, (size_t)t->len) == 0;
}

/* The span from token `first` to the token before the current one (clamped to one line). */
static moac_loc span_loc(const reader *r, const token *first) {
    const token *last = &r->toks[r->pos > 0 ? r->pos - 1 : 0];
    moac_loc loc = tok_loc(r, first);
    if (last->line == first->line && last >= first) loc.len = (int)(last->start + last->len - first->start);
    return loc;
}

/* ---- Literals. ---- */

typedef enum lit_kind { L_INT, L_FLOAT, L_STRING, L_LIST, L_WORD } lit_kind;

typedef struct literal {
    lit_kind kind;
    int64_t i;
    double f;
    const char *s;
    int64_t *l;
    int nl;
    moac_loc loc;
} literal;

static int is_int_literal(const token *t) {
    if (t->kind != T_NUMBER) return 0;
    for (int k = 0; k < t->len; k++)
        if (strchr(".eEin", t->start[k])) return 0;
    return 1;
}

/* Converts the current int token; reports and returns -1 when it does not fit int64. */
static int int_value(reader *r, const token *t, int64_t *v) {
    char buf[32];
    errno = 0;
    if ((size_t)t->len < sizeof buf) {
        memcpy(buf, t->start, (size_t)t->len);
        buf[t->len] = 0;
        *v = strtoll(buf, NULL, 10);
    }
    if ((size_t)t->len >= sizeof buf || errno == ERANGE) {
        error_at(r, tok_loc(r, t), "integer '%.*s' is out of range", t->len, t->start);
        return -1;
    }
    return 0;
}

static int float_value(reader *r, const token *t, double *v) {
    char buf[64], *end = buf;
    if ((size_t)t->len < sizeof buf) {
        memcpy(buf, t->start, (size_t)t->len);
        buf[t->len] = 0;
        *v = strtod(buf, &end);
    }
    /* Overflow only: denormals set ERANGE too, yet read back exactly what was printed. */
    if ((size_t)t->len >= sizeof buf || *end || (isinf(*v) && !memchr(t->start, 'i', (size_t)t->len))) {
        error_at(r, tok_loc(r, t), "number '%.*s' is out of range", t->len, t->start);
        return -1;
    }
    return 0;
}

/* [INT (, INT)*]; the values go to the arena. Returns -1 on a syntax error, 1 if reported. */
static int parse_list(reader *r, literal *lit) {
    int cap = 0, bad = 0;
    advance(r);
    if (accept(r, ']')) return 0;
    for (;;) {
        token *t = cur(r);
        if (t->kind != T_NUMBER) { expected(r, "an integer in the list"); return -1; }
        int64_t v = 0;
        if (!is_int_literal(t)) {
            error_at(r, tok_loc(r, t), "list elements must be integers, got '%.*s'", t->len, t->start);
            bad = 1;
        } else if (int_value(r, t, &v)) {
            bad = 1;
        }
        if (lit->nl == cap) {
            cap = cap ? 2 * cap : 8;
            int64_t *grown = moac_arena_alloc(r->arena, (size_t)cap * sizeof *grown);
            if (lit->nl) memcpy(grown, lit->l, (size_t)lit->nl * sizeof *grown);
            lit->l = grown;
        }
        lit->l[lit->nl++] = v;
        advance(r);
        if (accept(r, ']')) return bad;
        if (!expect(r, ',', "',' or ']' in the list")) return -1;
    }
}

/* Reads one literal. Returns -1 on a syntax error (the caller recovers), 1 when a bad number was
 * reported (the literal is consumed), 0 when fine. */
static int parse_literal(reader *r, literal *lit) {
    token *t = cur(r);
    int rc = 0;
    *lit = (literal){.loc = tok_loc(r, t)};
    if (is_punct(t, '[')) {
        lit->kind = L_LIST;
        rc = parse_list(r, lit);
        if (rc >= 0) lit->loc = span_loc(r, t);
        return rc;
    }
    if (t->kind == T_STRING) {
        lit->kind = L_STRING;
        lit->s = t->str;
    } else if (is_int_literal(t)) {
        lit->kind = L_INT;
        rc = -int_value(r, t, &lit->i);
        lit->f = (double)lit->i;
    } else if (t->kind == T_NUMBER || tok_is(t, "nan") || tok_is(t, "inf")) {
        lit->kind = L_FLOAT;
        rc = -float_value(r, t, &lit->f);
    } else if (t->kind == T_IDENT) {
        lit->kind = L_WORD;
    } else {
        expected(r, "a value (a number, a \"string\" or a [list])");
        return -1;
    }
    advance(r);
    return rc;
}

/* ---- Statements. ---- */

enum { MAX_ARGS = 16 }; /* the op table's largest max_args (concat); check_arity refuses more */

typedef struct stmt {
    token *label;
    size_t label_idx;
    token *optok;
    moac_op op;
    const moac_op_info *info;
    moac_node tmp; /* attributes and the written type, copied into the node once all is well */
    moac_node *args[MAX_ARGS];
    int nargs;
    int seen[MOAC_MAX_ATTRS];
    moac_loc type_loc;
    int bad; /* an error was reported: do not build the node */
} stmt;

static int all_digits(const char *s) {
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static moac_node *resolve(reader *r, stmt *st, const token *t) {
    def *e = lookup(r, t->str);
    if (!e) {
        const char *s = moac_suggest(t->str, r->def_names, r->ndefs);
        if (s) error_at(r, tok_loc(r, t), "use of undefined value %%%s; did you mean %%%s?", t->str, s);
        else error_at(r, tok_loc(r, t), "use of undefined value %%%s", t->str);
    } else if (e->tok == st->label_idx) {
        error_at(r, tok_loc(r, t), "%%%s is used in its own definition", t->str);
    } else if (e->tok > st->label_idx) {
        error_at(r, tok_loc(r, t), "%%%s is used before its definition", t->str);
        moac_diag_note(r->d, tok_loc(r, &r->toks[e->tok]), "%%%s is defined here", t->str);
    } else {
        return e->node; /* NULL when its definition failed: that was reported already */
    }
    return NULL;
}

static void check_redefinition(reader *r, stmt *st) {
    def *e = lookup(r, st->label->str);
    if (!e || e->tok == st->label_idx) return;
    error_at(r, tok_loc(r, st->label), "redefinition of %%%s", st->label->str);
    moac_diag_note(r->d, tok_loc(r, &r->toks[e->tok]), "%%%s was first defined here", st->label->str);
    st->bad = 1;
}

static int parse_op(reader *r, stmt *st) {
    st->optok = cur(r);
    if (st->optok->kind != T_IDENT) { expected(r, "an op name"); return 0; }
    const char *name = moac_arena_strndup(r->arena, st->optok->start, (size_t)st->optok->len);
    st->op = moac_op_lookup(name);
    if (st->op == MOAC_OP_COUNT) {
        const char *s = moac_suggest(name, moac_op_names(), MOAC_OP_COUNT);
        if (s) error_at(r, tok_loc(r, st->optok), "unknown op '%s'; did you mean '%s'?", name, s);
        else error_at(r, tok_loc(r, st->optok), "unknown op '%s'", name);
        return 0;
    }
    st->info = moac_op_info_get(st->op);
    advance(r);
    return 1;
}

static void check_arity(reader *r, stmt *st) {
    const moac_op_info *info = st->info;
    if (st->nargs >= info->min_args && st->nargs <= info->max_args && st->nargs <= MAX_ARGS) return;
    moac_loc loc = tok_loc(r, st->optok);
    st->bad = 1;
    if (info->max_args == 0)
        error_at(r, loc, "%s takes no operands, got %d", info->name, st->nargs);
    else if (info->min_args == info->max_args)
        error_at(r, loc, "%s takes %d operand%s, got %d", info->name, info->min_args, info->min_args == 1 ? "" : "s",
                 st->nargs);
    else
        error_at(r, loc, "%s takes %d %s %d operands, got %d", info->name, info->min_args,
                 info->max_args == info->min_args + 1 ? "or" : "to", info->max_args, st->nargs);
}

static int parse_operands(reader *r, stmt *st) {
    if (!expect(r, '(', "'(' after the op name")) return 0;
    if (!accept(r, ')'))
        for (;;) {
            token *t = cur(r);
            if (t->kind != T_VALUE) { expected(r, "an operand such as %x"); return 0; }
            moac_node *n = resolve(r, st, t);
            if (!n) st->bad = 1;
            if (st->nargs < MAX_ARGS) st->args[st->nargs] = n;
            st->nargs++;
            advance(r);
            if (accept(r, ')')) break;
            if (!expect(r, ',', "',' or ')' after an operand")) return 0;
        }
    check_arity(r, st);
    return 1;
}

static const char *kind_name(moac_attr_kind k) {
    switch (k) {
    case MOAC_ATTR_INT: return "an int";
    case MOAC_ATTR_FLOAT: return "a float";
    case MOAC_ATTR_STRING: return "a string";
    case MOAC_ATTR_LIST: return "a list of ints";
    }
    return "?";
}

static void assign_attr(reader *r, stmt *st, const moac_attr_info *a, const literal *lit) {
    static const char *const lit_names[] = {"an int", "a float", "a string", "a list", "a bare word"};
    moac_node *t = &st->tmp;
    if (a->kind == MOAC_ATTR_INT && lit->kind == L_INT) { t->i[a->slot] = lit->i; return; }
    if (a->kind == MOAC_ATTR_FLOAT && (lit->kind == L_FLOAT || lit->kind == L_INT)) { t->f[a->slot] = lit->f; return; }
    if (a->kind == MOAC_ATTR_LIST && lit->kind == L_LIST) { t->l = lit->l; t->nl = lit->nl; return; }
    if (a->kind == MOAC_ATTR_STRING && lit->kind == L_STRING) { t->s = lit->s; return; }
    st->bad = 1;
    if (a->kind == MOAC_ATTR_STRING && lit->kind == L_WORD)
        error_at(r, lit->loc, "attribute '%s' of %s must be a string, written in quotes", a->key, st->info->name);
    else
        error_at(r, lit->loc, "attribute '%s' of %s must be %s, got %s", a->key, st->info->name, kind_name(a->kind),
                 lit_names[lit->kind]);
}

static int find_attr(const moac_op_info *info, const token *key) {
    for (int k = 0; k < info->nattrs; k++)
        if (tok_is(key, info->attrs[k].key)) return k;
    return -1;
}

static void unknown_attr(reader *r, stmt *st, const token *key) {
    const moac_op_info *info = st->info;
    const char *keys[MOAC_MAX_ATTRS];
    char list[128] = "";
    for (int k = 0; k < info->nattrs; k++) {
        keys[k] = info->attrs[k].key;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", keys[k]);
    }
    const char *name = moac_arena_strndup(r->arena, key->start, (size_t)key->len);
    const char *s = moac_suggest(name, keys, (size_t)info->nattrs);
    moac_loc loc = tok_loc(r, key);
    if (s) error_at(r, loc, "unknown attribute '%s' for %s; did you mean '%s'?", name, info->name, s);
    else if (info->nattrs == 0) error_at(r, loc, "unknown attribute '%s': %s takes no attributes", name, info->name);
    else error_at(r, loc, "unknown attribute '%s' for %s (it takes %s)", name, info->name, list);
    st->bad = 1;
}

static int parse_attrs(reader *r, stmt *st) {
    while (cur(r)->kind == T_IDENT) {
        token *key = cur(r);
        int idx = find_attr(st->info, key);
        if (idx < 0) {
            unknown_attr(r, st, key);
        } else if (st->seen[idx]) {
            error_at(r, tok_loc(r, key), "duplicate attribute '%s'", st->info->attrs[idx].key);
            st->bad = 1;
            idx = -1;
        }
        advance(r);
        if (!expect(r, '=', "'=' after the attribute name")) return 0;
        literal lit;
        int rc = parse_literal(r, &lit);
        if (rc < 0) return 0;
        if (rc > 0) st->bad = 1;
        else if (idx >= 0) assign_attr(r, st, &st->info->attrs[idx], &lit);
        if (idx >= 0) st->seen[idx] = 1;
    }
    for (int k = 0; k < st->info->nattrs; k++)
        if (!st->seen[k]) {
            const moac_attr_info *a = &st->info->attrs[k];
            error_at(r, tok_loc(r, st->optok), "%s: missing attribute '%s' (%s)", st->info->name, a->key,
                     kind_name(a->kind));
            st->bad = 1;
        }
    return 1;
}

/* ('f32' | 'i32') '[' dims ']'. Returns 0 on a syntax error. */
static int parse_type(reader *r, stmt *st) {
    moac_type *ty = &st->tmp.type;
    token *dt = cur(r);
    if (dt->kind != T_IDENT) { expected(r, "a type such as f32[2,3]"); return 0; }
    if (tok_is(dt, "f32") || tok_is(dt, "i32")) {
        ty->dtype = tok_is(dt, "i32") ? MOAC_I32 : MOAC_F32;
    } else {
        error_at(r, tok_loc(r, dt), "unknown dtype '%.*s' (expected f32 or i32)", dt->len, dt->start);
        st->bad = 1;
    }
    advance(r);
    if (!expect(r, '[', "'[' after the dtype")) return 0;
    int rank = 0;
    if (!accept(r, ']'))
        for (;;) {
            token *t = cur(r);
            int64_t v = 1;
            if (!is_int_literal(t)) { expected(r, "a dimension (a positive integer)"); return 0; }
            if (int_value(r, t, &v)) {
                st->bad = 1;
            } else if (v < 1) {
                error_at(r, tok_loc(r, t), "dimension must be >= 1, got %" PRId64, v);
                st->bad = 1;
            }
            if (rank == MOAC_MAX_RANK) {
                error_at(r, tok_loc(r, t), "a type has at most %d dimensions", MOAC_MAX_RANK);
                st->bad = 1;
            }
            if (rank < MOAC_MAX_RANK) ty->dims[rank] = v;
            rank++;
            advance(r);
            if (accept(r, ']')) break;
            if (!expect(r, ',', "',' or ']' in the type")) return 0;
        }
    ty->rank = rank > MOAC_MAX_RANK ? MOAC_MAX_RANK : rank;
    st->type_loc = span_loc(r, dt);
    return 1;
}

/* @kN | @rN | @view | @inline, after the type. Returns 0 on a syntax error. */
static int parse_sched(reader *r, stmt *st) {
    token *t = cur(r);
    if (t->kind != T_SCHED) return 1;
    const char *w = t->start + 1;
    int len = t->len - 1;
    if (len == 4 && !strncmp(w, "view", 4)) {
        st->tmp.sched = MOAC_SCHED_VIEW;
    } else if (len == 6 && !strncmp(w, "inline", 6)) {
        st->tmp.sched = MOAC_SCHED_INLINE;
    } else if (len >= 2 && len <= 11 && (w[0] == 'k' || w[0] == 'r') && strspn(w + 1, "0123456789") == (size_t)len - 1) {
        st->tmp.sched = w[0] == 'k' ? MOAC_SCHED_KERNEL : MOAC_SCHED_REFERENCE;
        long v = strtol(w + 1, NULL, 10);
        if (v > INT32_MAX) {
            error_at(r, tok_loc(r, t), "kernel number %.*s is too large", len - 1, w + 1);
            st->bad = 1;
        }
        st->tmp.kernel = (int32_t)(v > INT32_MAX ? 0 : v);
    } else {
        error_at(r, tok_loc(r, t), "unknown schedule annotation '%.*s' (expected @k<kernel>, @r<kernel>, @view or "
                 "@inline)", t->len, t->start);
        st->bad = 1;
    }
    advance(r);
    return 1;
}

static void build(reader *r, stmt *st) {
    moac_node *n = moac_graph_append(r->g, st->op, st->nargs, st->args);
    memcpy(n->i, st->tmp.i, sizeof n->i);
    memcpy(n->f, st->tmp.f, sizeof n->f);
    n->s = st->tmp.s;
    moac_node_set_list(r->g, n, st->tmp.l, st->tmp.nl);
    n->name = all_digits(st->label->str) ? NULL : st->label->str;
    n->loc = tok_loc(r, st->label);
    n->type = st->tmp.type;
    lookup(r, st->label->str)->node = n;

    moac_type written = st->tmp.type;
    char err[512];
    if (moac_node_infer(n, err, sizeof err)) {
        error_at(r, tok_loc(r, st->optok), "%%%s = %s", st->label->str, err);
    } else if (!moac_type_equal(&n->type, &written)) {
        moac_strbuf a, b;
        moac_strbuf_init(&a);
        moac_strbuf_init(&b);
        moac_type_print(&a, &written);
        moac_type_print(&b, &n->type);
        error_at(r, st->type_loc, "%%%s: written type %s but %s gives %s", st->label->str, moac_strbuf_cstr(&a),
                 st->info->name, moac_strbuf_cstr(&b));
        moac_strbuf_free(&a);
        moac_strbuf_free(&b);
    }
    /* Later uses are checked against what the file says, so one mistake is reported once. */
    n->type = written;
    n->sched = st->tmp.sched;
    n->kernel = st->tmp.kernel;
}

static void parse_stmt(reader *r) {
    stmt st = {.label = cur(r), .label_idx = r->pos};
    if (st.label->kind != T_VALUE) {
        expected_here(r, "a value definition such as '%x = neg(%y) : f32[2]', or '}'");
        recover(r, 1);
        return;
    }
    advance(r);
    if (!expect(r, '=', "'=' after the value name")) { recover(r, 0); return; }
    check_redefinition(r, &st);
    if (!parse_op(r, &st) || !parse_operands(r, &st) || !parse_attrs(r, &st) ||
        !expect(r, ':', "an attribute 'key=value', or ':' and the result type") || !parse_type(r, &st) ||
        !parse_sched(r, &st)) {
        recover(r, 0);
        return;
    }
    if (!st.bad) build(r, &st);
    /* The next statement may follow on the same line, but nothing else may. */
    token *t = cur(r);
    if (t->kind == T_EOF || t->bol || is_punct(t, '}') || (t->kind == T_VALUE && is_punct(t + 1, '='))) return;
    if (t->kind != T_ERROR)
        error_at(r, tok_loc(r, t), "unexpected '%.*s' after the result type%s", t->len, t->start,
                 st.tmp.sched ? " and its schedule annotation" : "");
    recover(r, 0);
}

/* graph "name" { stmt* } */
static void parse_file(reader *r) {
    const char *name = "";
    int header = tok_is(cur(r), "graph");
    if (!header) {
        expected_here(r, "'graph \"name\" {' at the start of the file");
    } else {
        advance(r);
        if (cur(r)->kind == T_STRING) {
            name = cur(r)->str;
            advance(r);
            header = expect(r, '{', "'{' after the graph's name");
        } else {
            expected(r, "the graph's name in quotes after 'graph'");
            header = 0;
        }
    }
    r->g = moac_graph_new(r->arena, name);
    if (!header) /* Resynchronise on the first value definition, if any. */
        while (cur(r)->kind != T_EOF && !is_punct(cur(r), '}') &&
               !(cur(r)->kind == T_VALUE && is_punct(&r->toks[r->pos + 1], '=')))
            advance(r);
    while (cur(r)->kind != T_EOF && !is_punct(cur(r), '}')) {
        if (r->failed && moac_diag_full(r->d)) return;
        parse_stmt(r);
    }
    if (cur(r)->kind == T_EOF) {
        if (header || r->g->count > 0) expected(r, "'}' at the end of the graph");
        return;
    }
    advance(r);
    token *t = cur(r);
    if (t->kind == T_ERROR) report_lex_error(r, t);
    else if (t->kind != T_EOF)
        error_at(r, tok_loc(r, t), "unexpected '%.*s' after the end of the graph", t->len, t->start);
}

moac_graph *moac_ir_read(moac_arena *a, const moac_source *src, moac_diag *d) {
    reader r = {.arena = a, .src = src, .d = d};
    lex(&r);
    find_defs(&r);
    parse_file(&r);
    free(r.toks);
    free(r.defs);
    free(r.def_names);
    return r.failed ? NULL : r.g;
}
