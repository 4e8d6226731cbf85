/* Driver of the spec parser: runs the generated scanner and parser on one source, words syntax
 * errors, steers error recovery, and resolves includes into a moac_ast_unit. */
#define _XOPEN_SOURCE 700 /* realpath, which plain POSIX (as the build asks for) leaves out */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/ast.h"
#include "frontend/ast_build.h"
#include "parser.h"
#define YYSTYPE moac_yystype
#define YYLTYPE moac_yyltype
#include "lexer.h"

/* ---- context stack -------------------------------------------------------------------------- */

void moac_ctx_push(moac_parser *p, moac_ctx_kind kind, const char *name, const moac_yyltype *open) {
    if (p->depth < MOAC_CTX_MAX) p->ctx[p->depth] = (moac_ctx){kind, name, *open};
    p->depth++;
}

void moac_ctx_pop(moac_parser *p) {
    assert(p->depth > 0);
    p->depth--;
}

void moac_ctx_reset(moac_parser *p, int depth) {
    if (p->depth > depth) p->depth = depth;
}

/* The innermost construct, or NULL at top level (or when nested beyond what is remembered). */
static const moac_ctx *ctx_top(const moac_parser *p) {
    return p->depth > 0 && p->depth <= MOAC_CTX_MAX ? &p->ctx[p->depth - 1] : NULL;
}

static int in_block(const moac_parser *p) { return p->depth > 0 && p->ctx[0].kind == MOAC_CTX_BLOCK; }

/* ---- tokens ---------------------------------------------------------------------------------- */

static int is_item_keyword(int kind) {
    return kind == TOK_INCLUDE || kind == TOK_LET || kind == TOK_MODEL || kind == TOK_TRAIN;
}

static int is_keyword(int kind) { return is_item_keyword(kind) || kind == TOK_TRUE || kind == TOK_FALSE; }

static int starts_expr(int kind) {
    return kind == TOK_NUMBER || kind == TOK_STRING || kind == TOK_NAME || kind == TOK_TRUE ||
           kind == TOK_FALSE || kind == '(' || kind == '[' || kind == '-';
}

/* True when the token is followed by '=' on its line: `name = ...` starts a field or binding. */
static int followed_by_eq(const moac_parser *p, const moac_token *t) {
    const char *s = p->src->text + t->loc.end;
    while (*s == ' ' || *s == '\t') s++;
    return *s == '=';
}

/* An item keyword starting a line, unless it is misused as a name (`train = 3` in a block); but
 * `let = 1` is a let with its name missing. */
static int starts_item(const moac_parser *p, const moac_token *t) {
    return is_item_keyword(t->kind) && t->loc.bol && (t->kind == TOK_LET || !followed_by_eq(p, t));
}

/* How a token is named in messages: identifier 'foo', number 3, string "x", keyword 'let', '='. */
static void describe(const moac_parser *p, const moac_token *t, char *buf, size_t size) {
    const char *text = p->src->text + t->loc.offset;
    int len = (int)(t->loc.end - t->loc.offset);
    const char *more = len > 40 ? "..." : "";
    if (len > 40) len = 37;
    switch (t->kind) {
    case TOK_YYEOF: snprintf(buf, size, "end of file"); break;
    case TOK_NAME: snprintf(buf, size, "identifier '%.*s%s'", len, text, more); break;
    case TOK_NUMBER: snprintf(buf, size, "number %.*s%s", len, text, more); break;
    case TOK_STRING: snprintf(buf, size, "string %.*s%s", len, text, more); break;
    default:
        if (is_keyword(t->kind)) snprintf(buf, size, "keyword '%.*s'", len, text);
        else if (t->kind > 0 && t->kind < 128) snprintf(buf, size, "'%c'", t->kind);
        else snprintf(buf, size, "invalid token");
    }
}

/* ---- error recovery -------------------------------------------------------------------------- */

/* Where parsing can resume after a syntax error: SYNC_ITEM before an item keyword that starts a
 * line (and is not misused as a name) or the end of file; inside a block, SYNC_FIELD before its
 * '}' or before a line `name = ...` indented no deeper than the latest field (deeper lines are
 * usually the continuation of a multi-line value). 0 if the token is not such a point. */
static int sync_kind(const moac_parser *p, const moac_token *t) {
    /* a token handed out again after a SYNC that is still wrong must not be replayed forever */
    if (p->synced && t->loc.offset == p->sync_offset) return 0;
    if (t->kind == TOK_YYEOF) return TOK_SYNC_ITEM;
    if (starts_item(p, t)) return TOK_SYNC_ITEM;
    if (!in_block(p)) return 0;
    if (t->kind == '}') return TOK_SYNC_FIELD;
    /* a keyword misused as a field name still starts a field: its own error comes next */
    if ((t->kind == TOK_NAME || is_keyword(t->kind)) && t->loc.bol && followed_by_eq(p, t) &&
        (p->field_col == 0 || t->loc.first_column <= p->field_col))
        return TOK_SYNC_FIELD;
    return 0;
}

/* Queues `t` behind a SYNC token if it is a synchronisation point; the parser, which discards
 * every token after an error until it gets a SYNC, then takes `t` up again. */
static int queue_if_sync(moac_parser *p, const moac_token *t) {
    int kind = sync_kind(p, t);
    if (!kind) return 0;
    p->synced = 1;
    p->sync_offset = t->loc.offset;
    p->queue[0] = (moac_token){.kind = kind, .loc = t->loc};
    p->queue[1] = *t;
    p->nqueue = 2;
    return 1;
}

static moac_token dequeue(moac_parser *p) {
    assert(p->nqueue > 0);
    moac_token t = p->queue[0];
    p->queue[0] = p->queue[1];
    p->nqueue--;
    return t;
}

int moac_yylex(moac_yystype *lval, moac_yyltype *lloc, moac_parser *p) {
    moac_token t;
    if (p->nqueue > 0) {
        t = dequeue(p);
    } else {
        t = (moac_token){0};
        t.kind = moac_lx_lex(&t.val, &t.loc, p->scanner);
        p->prev = p->cur;
        p->cur = t;
        /* after a scanner error, syntax errors up to the next synchronisation point are likely
         * its consequences (an unterminated string ate a ')'): keep quiet until that point */
        if (p->quiet == 2) p->quiet = 0;
        else if (p->quiet == 1 && sync_kind(p, &t)) p->quiet = 2;
        /* while recovering, every synchronisation point gets a SYNC in front: one may be
         * discarded if the parser unwound further than the context stack says */
        if (p->resync && queue_if_sync(p, &t)) t = dequeue(p);
    }
    *lval = t.val;
    *lloc = t.loc;
    return t.kind;
}

/* ---- syntax error messages ------------------------------------------------------------------- */

typedef struct expected_set {
    const int *kinds;
    int n;
} expected_set;

static int has(expected_set e, int kind) {
    for (int i = 0; i < e.n; i++)
        if (e.kinds[i] == kind) return 1;
    return 0;
}

static int only(expected_set e, int kind) { return e.n == 1 && e.kinds[0] == kind; }

/* "an expression", "a field name or '}'", "'include', 'let', 'model' or 'train'": the acceptable
 * tokens in words, the tokens that could only continue an expression left out. Empty if none. */
static void expected_words(const moac_parser *p, expected_set e, char *buf, size_t size) {
    const char *words[32];
    int n = 0;
    int all_expr = has(e, TOK_NUMBER) && has(e, TOK_STRING) && has(e, TOK_NAME) && has(e, '(') &&
                   has(e, '[') && has(e, '-');
    if (all_expr) words[n++] = "an expression";
    for (int i = 0; i < e.n && n < 32; i++) {
        int k = e.kinds[i];
        if ((all_expr && starts_expr(k)) || strchr("+-*/:(", k > 0 && k < 128 ? k : '?')) continue;
        static const char *const punct[] = {"'='", "','", "';'", "'{'", "'}'", "')'", "']'"};
        const char *w = NULL;
        switch (k) {
        case TOK_YYEOF: w = "end of file"; break;
        case TOK_NAME: w = ctx_top(p) && ctx_top(p)->kind == MOAC_CTX_BLOCK ? "a field name" : "a name"; break;
        case TOK_NUMBER: w = "a number"; break;
        case TOK_STRING: w = "a string"; break;
        case TOK_INCLUDE: w = "'include'"; break;
        case TOK_LET: w = "'let'"; break;
        case TOK_MODEL: w = "'model'"; break;
        case TOK_TRAIN: w = "'train'"; break;
        case TOK_TRUE: w = "'true'"; break;
        case TOK_FALSE: w = "'false'"; break;
        default: {
            const char *at = k > 0 && k < 128 ? strchr("=,;{})]", k) : NULL;
            if (at) w = punct[at - "=,;{})]"];
        }
        }
        if (w) words[n++] = w;
    }
    buf[0] = 0;
    size_t len = 0;
    for (int i = 0; i < n && len < size; i++) {
        const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
        len += (size_t)snprintf(buf + len, size - len, "%s%s", sep, words[i]);
    }
}

/* `name = ...` at the start of a line: the next field, so what came before was left open. */
static int next_field(const moac_parser *p, const moac_token *t) {
    return t->kind == TOK_NAME && t->loc.bol && followed_by_eq(p, t);
}

/* A token that cannot be inside the open bracket: it must have been closed before. */
static int ends_construct(const moac_parser *p, const moac_token *t) {
    return t->kind == TOK_YYEOF || t->kind == '}' || t->kind == ')' || t->kind == ']' || t->kind == ';' ||
           starts_item(p, t) || next_field(p, t);
}

/* Says what closes the innermost bracket when the parser could take it here and the lookahead
 * shows it was forgotten. Returns 0 when that is not the likely mistake. */
static int report_unclosed(moac_parser *p, const moac_ctx *c, expected_set e, const char *found) {
    const moac_token *t = &p->cur;
    moac_loc here = moac_loc_from(p, &t->loc);
    char opener = c->kind == MOAC_CTX_BLOCK ? '{' : c->kind == MOAC_CTX_LIST ? '[' : '(';
    char closer = c->kind == MOAC_CTX_BLOCK ? '}' : c->kind == MOAC_CTX_LIST ? ']' : ')';
    if (!has(e, closer)) return 0;
    if (c->kind == MOAC_CTX_BLOCK) {
        /* inside a block, only the start of the next item or the end of file says the '}' is
         * missing; anything else is a mistake in the fields */
        if (t->kind != TOK_YYEOF && !starts_item(p, t)) return 0;
        moac_diag_error(p->diag, here, "expected '}' to close the '%s' block, found %s", c->name, found);
    } else if (has(e, ',') && starts_expr(t->kind) && !next_field(p, t)) {
        /* a value where ',' could go: most likely a missing comma */
        if (c->kind == MOAC_CTX_CALL)
            moac_diag_error(p->diag, here, "expected ',' or ')' in the call to '%s', found %s", c->name, found);
        else
            moac_diag_error(p->diag, here, "expected ',' or ']' in the list, found %s", found);
        return 1;
    } else if (t->kind == '=' && p->prev.kind == TOK_NAME && c->kind != MOAC_CTX_CALL) {
        /* `[0.9, 0.99, weight_decay = 0.1)`: a named argument of the call around the list */
        moac_diag_error(p->diag, moac_loc_from(p, &p->prev.loc), "expected '%c' to close the %s before '%s ='",
                        closer, c->kind == MOAC_CTX_LIST ? "list" : "parenthesis", p->prev.val.str);
    } else if (!ends_construct(p, t)) {
        return 0;
    } else if (c->kind == MOAC_CTX_CALL) {
        moac_diag_error(p->diag, here, "expected ')' to close the call to '%s', found %s", c->name, found);
    } else if (c->kind == MOAC_CTX_LIST) {
        moac_diag_error(p->diag, here, "expected ']' to close the list, found %s", found);
    } else {
        moac_diag_error(p->diag, here, "expected ')' to close the parenthesis, found %s", found);
    }
    moac_diag_note(p->diag, moac_loc_from(p, &c->open), "to match this '%c'", opener);
    return 1;
}

static void report(moac_parser *p, expected_set e) {
    const moac_token *t = &p->cur, *prev = &p->prev;
    moac_diag *d = p->diag;
    moac_loc here = moac_loc_from(p, &t->loc);
    char found[96], want[256];
    describe(p, t, found, sizeof found);
    const moac_ctx *c = ctx_top(p);
    int after_value = has(e, '+'); /* a complete operand: an operator could follow */

    /* a keyword before '=', or an item keyword in the middle of a line, where a name would do */
    if (has(e, TOK_NAME) && ((is_keyword(t->kind) && followed_by_eq(p, t)) ||
                             (is_item_keyword(t->kind) && !t->loc.bol))) {
        int len = (int)(t->loc.end - t->loc.offset);
        moac_diag_error(d, here, "'%.*s' is a keyword and cannot be used as a name", len,
                        p->src->text + t->loc.offset);
    } else if (only(e, '=') && prev->kind == TOK_NAME) {
        if (in_block(p))
            moac_diag_error(d, here, "expected '=' after field name '%s', found %s", prev->val.str, found);
        else
            moac_diag_error(d, here, "expected '=' after 'let %s', found %s", prev->val.str, found);
    } else if (only(e, TOK_STRING) && prev->kind == TOK_INCLUDE) {
        moac_diag_error(d, here, "expected a file name in double quotes after 'include', found %s", found);
    } else if (only(e, TOK_NAME) && prev->kind == TOK_LET) {
        moac_diag_error(d, here, "expected a name after 'let', found %s", found);
    } else if (has(e, '{') && prev->kind == TOK_MODEL) {
        moac_diag_error(d, here, "expected a model name or '{' after 'model', found %s", found);
    } else if (only(e, '{')) {
        moac_diag_error(d, here, "expected '{' to open the block, found %s", found);
    } else if (t->kind == '=' && prev->kind == TOK_NAME && prev->loc.bol && c && c->kind == MOAC_CTX_BLOCK) {
        /* `e = 1 +` then `f = ...`: the next field was read as the end of e's value */
        moac_diag_error(d, moac_loc_from(p, &prev->loc), "incomplete value for field '%s' before field '%s'",
                        p->field_name, prev->val.str);
    } else if (c && report_unclosed(p, c, e, found)) {
        /* reported */
    } else if (after_value && in_block(p) && c && c->kind == MOAC_CTX_BLOCK) {
        moac_diag_error(d, here, "unexpected %s after the value of field '%s'", found, p->field_name);
    } else if (after_value && p->depth == 0 && !t->loc.bol) {
        moac_diag_error(d, here, "unexpected %s after the value of 'let %s'", found, p->field_name);
    } else if (p->depth == 0 && has(e, TOK_LET)) {
        const char *hint = t->kind == TOK_NAME && followed_by_eq(p, t)
                               ? " (fields go inside a 'model { ... }' or 'train { ... }' block)" : "";
        moac_diag_error(d, here, "unexpected %s at top level; expected 'include', 'let', 'model' or 'train'%s",
                        found, hint);
    } else {
        expected_words(p, e, want, sizeof want);
        if (want[0]) moac_diag_error(d, here, "unexpected %s; expected %s", found, want);
        else moac_diag_error(d, here, "unexpected %s", found);
    }
}

void moac_syntax_error(moac_parser *p, int found, const int *expected, int nexpected) {
    (void)found; /* only checked by the assert */
    assert((found == p->cur.kind || found < 0) && p->nqueue == 0);
    if (!p->quiet) report(p, (expected_set){expected, nexpected});
    p->resync = 1;
    queue_if_sync(p, &p->cur);
}

/* ---- one file -------------------------------------------------------------------------------- */

moac_ast_file *moac_parse(moac_arena *a, const moac_source *src, moac_diag *d) {
    if (!src) return NULL;
    moac_ast_file *file = moac_arena_alloc(a, sizeof *file);
    file->src = src;
    if (src->len > INT_MAX / 2) { /* the scanner counts in int */
        moac_diag_file_error(d, src->path, "file is too large (%zu bytes)", src->len);
        return file;
    }
    moac_parser p = {.arena = a, .diag = d, .src = src, .line = 1, .col = 1, .at_bol = 1,
                     .end_line = 1, .end_col = 1};
    yyscan_t scanner;
    if (moac_lx_lex_init_extra(&p, &scanner) != 0) {
        fputs("moac: out of memory (scanner)\n", stderr);
        abort();
    }
    p.scanner = scanner;
    YY_BUFFER_STATE buf = moac_lx__scan_bytes(src->text, (int)src->len, scanner);
    moac_yyparse(&p); /* the result is in p.items, errors in d: nothing else to look at */
    moac_lx__delete_buffer(buf, scanner);
    moac_lx_lex_destroy(scanner);
    file->items = p.items.data;
    file->nitems = p.items.len;
    return file;
}

/* ---- a unit: the root file and its includes ------------------------------------------------- */

enum { MAX_INCLUDE_DEPTH = 64 };

typedef struct unit_state {
    moac_arena *a;
    moac_diag *d;
    moac_vec files;  /* moac_ast_file *, each after the files it includes */
    moac_vec loaded; /* const char *: canonical paths of the files read so far */
    struct {
        const char *canon, *shown; /* shown: the path as messages give it */
    } chain[MAX_INCLUDE_DEPTH];    /* the files being parsed, root first: finds cycles */
    int nchain;
} unit_state;

/* Canonical path for comparing files, in the arena; NULL (errno set) if it does not exist. */
static const char *canonical(moac_arena *a, const char *path) {
    char *real = realpath(path, NULL);
    if (!real) return NULL;
    const char *copy = moac_arena_strdup(a, real);
    free(real);
    return copy;
}

/* Reads an included file through the bounded reader (the limits of a spec file); failures are
 * reported at the include's file name. */
static moac_source *read_included(unit_state *u, const char *path, const moac_ast_item *inc) {
    char *text, why[512];
    size_t len;
    if (moac_file_read(path, &moac_limits_spec, &text, &len, why, sizeof why)) {
        moac_diag_error(u->d, inc->name_loc, "cannot read included file '%s': %s", inc->name, why);
        return NULL;
    }
    moac_source *src = moac_arena_alloc(u->a, sizeof *src);
    src->path = moac_arena_strdup(u->a, path);
    src->len = len;
    src->text = moac_arena_strndup(u->a, text, len);
    free(text);
    return src;
}

static void parse_tree(unit_state *u, const moac_source *src, const char *canon);

static void include_one(unit_state *u, const moac_source *from, const moac_ast_item *inc) {
    /* relative to the including file's directory, kept as written so messages show that path */
    const char *slash = strrchr(from->path, '/');
    int dirlen = inc->name[0] == '/' || !slash ? 0 : (int)(slash - from->path + 1);
    const char *path = moac_arena_printf(u->a, "%.*s%s", dirlen, from->path, inc->name);
    const char *canon = canonical(u->a, path);
    if (!canon) {
        moac_diag_error(u->d, inc->name_loc, "cannot read included file '%s': %s", inc->name, strerror(errno));
        return;
    }
    for (int i = 0; i < u->nchain; i++) {
        if (strcmp(u->chain[i].canon, canon) != 0) continue;
        moac_strbuf msg;
        moac_strbuf_init(&msg);
        for (int j = i; j < u->nchain; j++) moac_strbuf_printf(&msg, "%s -> ", u->chain[j].shown);
        moac_strbuf_puts(&msg, u->chain[i].shown);
        moac_diag_error(u->d, inc->name_loc, "include cycle: %s", moac_strbuf_cstr(&msg));
        moac_strbuf_free(&msg);
        return;
    }
    for (int i = 0; i < u->loaded.len; i++)
        if (strcmp(((const char **)u->loaded.data)[i], canon) == 0) return; /* diamond: read once */
    if (u->nchain == MAX_INCLUDE_DEPTH) {
        moac_diag_error(u->d, inc->name_loc, "includes are nested too deeply (more than %d files)",
                        MAX_INCLUDE_DEPTH);
        return;
    }
    moac_source *src = read_included(u, path, inc);
    if (src) parse_tree(u, src, canon);
}

/* Parses src, then its includes in order (depth first), then lists src after them. */
static void parse_tree(unit_state *u, const moac_source *src, const char *canon) {
    assert(u->nchain < MAX_INCLUDE_DEPTH);
    *(const char **)moac_vec_push(u->a, &u->loaded, sizeof canon) = canon;
    u->chain[u->nchain].canon = canon;
    u->chain[u->nchain].shown = src->path;
    u->nchain++;
    moac_ast_file *file = moac_parse(u->a, src, u->d);
    for (int i = 0; i < file->nitems && !moac_diag_full(u->d); i++)
        if (file->items[i].kind == MOAC_ITEM_INCLUDE) include_one(u, src, &file->items[i]);
    u->nchain--;
    *(moac_ast_file **)moac_vec_push(u->a, &u->files, sizeof file) = file;
}

static moac_ast_unit *parse_root(moac_arena *a, const moac_source *src, moac_diag *d) {
    moac_ast_unit *unit = moac_arena_alloc(a, sizeof *unit);
    if (!src) return unit;
    unit_state u = {.a = a, .d = d};
    /* a root given as text may have no file behind it: then its path is its identity */
    const char *canon = canonical(a, src->path);
    parse_tree(&u, src, canon ? canon : src->path);
    unit->files = u.files.data;
    unit->nfiles = u.files.len;
    return unit;
}

moac_ast_unit *moac_parse_unit(moac_arena *a, const char *path, moac_diag *d) {
    return parse_root(a, moac_source_load(a, d, path, &moac_limits_spec), d);
}

moac_ast_unit *moac_parse_unit_text(moac_arena *a, const char *path, const char *text, moac_diag *d) {
    return parse_root(a, moac_source_from_text(a, path ? path : "<input>", text), d);
}
