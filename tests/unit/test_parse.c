/* Scanner and parser of spec files: tokens, precedence, every construct, syntax errors and
 * their recovery, includes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frontend/ast.h"
#include "frontend/ast_build.h"
#include "parser.h"
#define YYSTYPE moac_yystype
#define YYLTYPE moac_yyltype
#include "lexer.h"

/* ---- helpers --------------------------------------------------------------------------------- */

typedef struct fixture {
    moac_arena a;
    moac_diag d;
    moac_strbuf b;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    moac_arena_init(&f->a);
    moac_diag_init(&f->d);
    moac_strbuf_init(&f->b);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    moac_strbuf_free(&f->b);
    moac_diag_free(&f->d);
    moac_arena_free(&f->a);
    free(f);
    return 0;
}

static moac_ast_file *parse(fixture *f, const char *text) {
    return moac_parse(&f->a, moac_source_from_text(&f->a, "t.moa", text), &f->d);
}

/* Parses `let v = <expr>` and returns the expression, which must be error-free. */
static const moac_ast *expr(fixture *f, const char *text) {
    char buf[512];
    snprintf(buf, sizeof buf, "let v = %s\n", text);
    moac_ast_file *file = parse(f, buf);
    if (f->d.errors) fprintf(stderr, "%s", moac_strbuf_cstr(&f->d.out));
    assert_int_equal(f->d.errors, 0);
    assert_int_equal(file->nitems, 1);
    return file->items[0].value;
}

static const char *printed(fixture *f, const moac_ast *e) {
    moac_strbuf_clear(&f->b);
    moac_ast_print(e, &f->b);
    return moac_strbuf_cstr(&f->b);
}

static void assert_loc(moac_loc loc, int line, int col, int len) {
    assert_int_equal(loc.line, line);
    assert_int_equal(loc.col, col);
    assert_int_equal(loc.len, len);
}

/* The diagnostics contain "t.moa:LINE:COL: error: MSG" (MSG may be a prefix of the message). */
static void assert_error(fixture *f, int line, int col, const char *msg) {
    char want[512];
    snprintf(want, sizeof want, "t.moa:%d:%d: error: %s", line, col, msg);
    const char *out = moac_strbuf_cstr(&f->d.out);
    if (!strstr(out, want)) fail_msg("missing \"%s\" in:\n%s", want, out);
}

/* ---- tokens ---------------------------------------------------------------------------------- */

typedef struct scanned {
    int kind;
    moac_yyltype loc;
    moac_yystype val;
} scanned;

/* Runs the scanner alone over text; returns the number of tokens, EOF included. */
static int scan(fixture *f, const char *text, scanned *out, int max) {
    moac_parser p = {.arena = &f->a, .diag = &f->d, .src = moac_source_from_text(&f->a, "t.moa", text),
                     .line = 1, .col = 1, .at_bol = 1, .end_line = 1, .end_col = 1};
    yyscan_t scanner;
    assert_int_equal(moac_lx_lex_init_extra(&p, &scanner), 0);
    YY_BUFFER_STATE buf = moac_lx__scan_bytes(p.src->text, (int)p.src->len, scanner);
    int n = 0;
    do {
        assert_true(n < max);
        out[n].kind = moac_lx_lex(&out[n].val, &out[n].loc, scanner);
    } while (out[n++].kind != TOK_YYEOF);
    moac_lx__delete_buffer(buf, scanner);
    moac_lx_lex_destroy(scanner);
    return n;
}

static void assert_tok(const scanned *t, int kind, int line, int col, int len) {
    assert_int_equal(t->kind, kind);
    assert_int_equal(t->loc.first_line, line);
    assert_int_equal(t->loc.first_column, col);
    assert_int_equal((int)(t->loc.end - t->loc.offset), len);
}

static void test_tokens(void **state) {
    fixture *f = *state;
    scanned t[32];
    int n = scan(f, "let x = 3.5e2 \"a\\\"b\" # c\n  model{}[]():+-*/,; true false include train _a9\n", t, 32);
    assert_int_equal(n, 25);
    assert_tok(&t[0], TOK_LET, 1, 1, 3);
    assert_true(t[0].loc.bol);
    assert_tok(&t[1], TOK_NAME, 1, 5, 1);
    assert_string_equal(t[1].val.str, "x");
    assert_false(t[1].loc.bol);
    assert_tok(&t[2], '=', 1, 7, 1);
    assert_tok(&t[3], TOK_NUMBER, 1, 9, 5);
    assert_true(t[3].val.numlit.value == 350.0);
    assert_false(t[3].val.numlit.is_int);
    assert_tok(&t[4], TOK_STRING, 1, 15, 6);
    assert_string_equal(t[4].val.str, "a\"b");
    assert_tok(&t[5], TOK_MODEL, 2, 3, 5);
    assert_true(t[5].loc.bol);
    const char *punct = "{}[]():+-*/,;";
    for (int i = 0; punct[i]; i++) assert_tok(&t[6 + i], punct[i], 2, 8 + i, 1);
    assert_tok(&t[19], TOK_TRUE, 2, 22, 4);
    assert_tok(&t[20], TOK_FALSE, 2, 27, 5);
    assert_tok(&t[21], TOK_INCLUDE, 2, 33, 7);
    assert_tok(&t[22], TOK_TRAIN, 2, 41, 5);
    assert_tok(&t[23], TOK_NAME, 2, 47, 3);
    assert_int_equal(t[24].kind, TOK_YYEOF);
    assert_int_equal(f->d.errors, 0);
}

static void test_numbers(void **state) {
    fixture *f = *state;
    struct { const char *text; double value; int is_int; } cases[] = {
        {"3", 3, 1}, {"0.1", 0.1, 0}, {"3e-4", 3e-4, 0}, {"1.5E+3", 1500, 0}, {".5", 0.5, 0},
        {"5.", 5, 0}, {"007", 7, 1}, {"9007199254740992", 9007199254740992.0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const moac_ast *e = expr(f, cases[i].text);
        assert_int_equal(e->kind, MOAC_AST_NUMBER);
        assert_true(e->num == cases[i].value);
        assert_int_equal(e->is_int, cases[i].is_int);
    }
    parse(f, "let a = 9007199254740993\nlet b = 2x\nlet c = 1e999\n");
    assert_int_equal(f->d.errors, 3);
    assert_error(f, 1, 9, "integer 9007199254740993 is too large");
    assert_error(f, 2, 9, "invalid number '2x'");
    assert_error(f, 3, 9, "number 1e999 is too large");
}

static void test_strings(void **state) {
    fixture *f = *state;
    const moac_ast *e = expr(f, "\"tab\\there \\\"q\\\" back\\\\slash\\nnl\"");
    assert_int_equal(e->kind, MOAC_AST_STRING);
    assert_string_equal(e->str, "tab\there \"q\" back\\slash\nnl");
    assert_string_equal(printed(f, e), "\"tab\\there \\\"q\\\" back\\\\slash\\nnl\"");

    moac_ast_file *file = parse(f, "let a = \"no end\nlet b = \"bad \\q\"\nlet c = 'single'\nlet d = 1\n");
    assert_int_equal(f->d.errors, 3);
    assert_error(f, 1, 9, "unterminated string literal\n");
    assert_error(f, 2, 14, "unknown escape sequence '\\q' in string");
    assert_error(f, 3, 9, "strings are written in double quotes");
    assert_int_equal(file->nitems, 4); /* each still yields a string */
    assert_string_equal(file->items[0].value->str, "no end");
}

static void test_comments_and_crlf(void **state) {
    fixture *f = *state;
    moac_ast_file *file = parse(f, "# one\r\n// two\r\nlet a = 1 # three\r\n\r\nlet b = \"x\" // four\r\n");
    assert_int_equal(f->d.errors, 0);
    assert_int_equal(file->nitems, 2);
    assert_loc(file->items[1].loc, 5, 1, 3);
    assert_loc(file->items[1].value->loc, 5, 9, 3);
    assert_string_equal(file->items[1].value->str, "x");
    /* a byte order mark is skipped at the start only */
    file = parse(f, "\xEF\xBB\xBFlet a = 1\n  \xEF\xBB\xBF\nlet b = 2\n");
    assert_int_equal(file->nitems, 2);
    assert_int_equal(f->d.errors, 1);
    assert_error(f, 2, 3, "unexpected character '\xEF\xBB\xBF' (U+FEFF)");
    moac_strbuf_clear(&f->d.out);
    f->d.errors = 0;
    /* an unterminated string ends at the CR of a CRLF line end */
    file = parse(f, "let c = \"open\r\nlet d = 2\r\n");
    assert_int_equal(f->d.errors, 1);
    assert_string_equal(file->items[0].value->str, "open");
}

/* ---- expressions ----------------------------------------------------------------------------- */

static void test_precedence(void **state) {
    fixture *f = *state;
    struct { const char *in, *out; } cases[] = {
        {"a - b - c", "((a - b) - c)"},
        {"a / b / c", "((a / b) / c)"},
        {"2 + 3 * 4", "(2 + (3 * 4))"},
        {"2 * 3 + 4", "((2 * 3) + 4)"},
        {"(2 + 3) * 4", "((2 + 3) * 4)"},
        {"-a * b", "(-a * b)"},
        {"a * -b", "(a * -b)"},
        {"- -a", "-(-a)"},
        {"-(a + b)", "-(a + b)"},
        {"width / 4", "(width / 4)"},
        {"1 + 2:3", "(1 + 2):3"},
        {"true", "true"},
        {"false", "false"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_string_equal(printed(f, expr(f, cases[i].in)), cases[i].out);

    const moac_ast *e = expr(f, "2 + 3 * 4");
    assert_int_equal(e->kind, MOAC_AST_BINARY);
    assert_int_equal(e->op, '+');
    assert_int_equal(e->rhs->op, '*');
    assert_loc(e->loc, 1, 9, 9);
    assert_loc(e->rhs->loc, 1, 13, 5);

    e = expr(f, "-x");
    assert_int_equal(e->kind, MOAC_AST_NEGATE);
    assert_int_equal(e->lhs->kind, MOAC_AST_NAME);
    assert_loc(e->loc, 1, 9, 2);
}

static void test_ratio(void **state) {
    fixture *f = *state;
    const moac_ast *e = expr(f, "3:1:6");
    assert_int_equal(e->kind, MOAC_AST_RATIO);
    assert_int_equal(e->nitems, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(e->items[i]->kind, MOAC_AST_NUMBER);
    assert_true(e->items[2]->num == 6);
    assert_loc(e->loc, 1, 9, 5);
    assert_string_equal(printed(f, e), "3:1:6");
    assert_int_equal(expr(f, "a:b")->nitems, 2);
}

static void test_calls_and_lists(void **state) {
    fixture *f = *state;
    const moac_ast *e = expr(f, "route(mha(), gqa(kv_heads = 2), gate = softmax,)");
    assert_int_equal(e->kind, MOAC_AST_CALL);
    assert_string_equal(e->str, "route");
    assert_int_equal(e->nargs, 3);
    assert_null(e->args[0].name);
    assert_int_equal(e->args[0].value->kind, MOAC_AST_CALL);
    assert_int_equal(e->args[0].value->nargs, 0);
    assert_string_equal(e->args[1].value->args[0].name, "kv_heads");
    assert_loc(e->args[1].value->args[0].name_loc, 1, 26, 8);
    assert_string_equal(e->args[2].name, "gate");
    assert_int_equal(e->args[2].value->kind, MOAC_AST_NAME);
    assert_loc(e->loc, 1, 9, 48);
    assert_string_equal(printed(f, e), "route(mha(), gqa(kv_heads = 2), gate = softmax)");

    e = expr(f, "[]");
    assert_int_equal(e->kind, MOAC_AST_LIST);
    assert_int_equal(e->nitems, 0);
    e = expr(f, "[0.9, [1], \"x\", a:b,]");
    assert_int_equal(e->nitems, 4);
    assert_int_equal(e->items[1]->kind, MOAC_AST_LIST);
    assert_int_equal(e->items[3]->kind, MOAC_AST_RATIO);
    assert_string_equal(printed(f, e), "[0.9, [1], \"x\", a:b]");

    /* a value over several lines is located on its first line, up to that line's end */
    moac_ast_file *file = parse(f, "let r = mlp(a,\r\n            b)\n");
    assert_int_equal(f->d.errors, 0);
    assert_loc(file->items[0].value->loc, 1, 9, 6);
}

/* ---- items ----------------------------------------------------------------------------------- */

static void test_items(void **state) {
    fixture *f = *state;
    moac_ast_file *file = parse(f,
        "include \"common/x.moa\"\n"
        "let gqa2 = gqa(kv_heads = 2)\n"
        "model moas {\n"
        "  vocab = 283\n"
        "  heads = 6, width = 384; head_dim = width / heads\n"
        "}\n"
        "model { }\n"
        "train {\n"
        "  data = \"input.txt\", batch = 12; steps = 500\n"
        "}\n");
    assert_int_equal(f->d.errors, 0);
    assert_int_equal(file->nitems, 5);
    const moac_ast_item *it = file->items;
    assert_int_equal(it[0].kind, MOAC_ITEM_INCLUDE);
    assert_string_equal(it[0].name, "common/x.moa");
    assert_loc(it[0].loc, 1, 1, 7);
    assert_loc(it[0].name_loc, 1, 9, 14);
    assert_int_equal(it[1].kind, MOAC_ITEM_LET);
    assert_string_equal(it[1].name, "gqa2");
    assert_loc(it[1].name_loc, 2, 5, 4);
    assert_string_equal(printed(f, it[1].value), "gqa(kv_heads = 2)");
    assert_int_equal(it[2].kind, MOAC_ITEM_MODEL);
    assert_string_equal(it[2].name, "moas");
    assert_loc(it[2].loc, 3, 1, 5);
    assert_int_equal(it[2].nfields, 4);
    assert_string_equal(it[2].fields[3].name, "head_dim");
    assert_loc(it[2].fields[3].loc, 5, 27, 8);
    assert_string_equal(printed(f, it[2].fields[3].value), "(width / heads)");
    assert_int_equal(it[3].kind, MOAC_ITEM_MODEL);
    assert_null(it[3].name);
    assert_int_equal(it[3].nfields, 0);
    assert_int_equal(it[4].kind, MOAC_ITEM_TRAIN);
    assert_int_equal(it[4].nfields, 3);
    assert_string_equal(it[4].fields[0].value->str, "input.txt");

    assert_null(moac_parse(&f->a, NULL, &f->d));
    file = parse(f, "  # nothing but a comment\n");
    assert_int_equal(file->nitems, 0);
    assert_int_equal(f->d.errors, 0);
}

/* ---- syntax errors --------------------------------------------------------------------------- */

static void test_three_errors(void **state) {
    fixture *f = *state;
    moac_ast_file *file = parse(f,
        "model moas {\n"
        "  vocab 283\n"
        "  width = 384\n"
        "  heads = 6 )\n"
        "  norm = layernorm(bias = false\n"
        "  attention = route(mha(), gqa(kv_heads = 2),\n"
        "                    gate = softmax)\n"
        "}\n"
        "train { steps = 500 }\n");
    assert_int_equal(f->d.errors, 3);
    assert_error(f, 2, 9, "expected '=' after field name 'vocab', found number 283\n");
    assert_error(f, 4, 13, "unexpected ')' after the value of field 'heads'\n");
    assert_error(f, 6, 3, "expected ')' to close the call to 'layernorm', found identifier 'attention'\n");
    assert_non_null(strstr(moac_strbuf_cstr(&f->d.out), "t.moa:5:19: note: to match this '('\n"));
    /* recovery keeps what parsed: width, attention, and the train block */
    assert_int_equal(file->nitems, 2);
    assert_int_equal(file->items[0].nfields, 2);
    assert_string_equal(file->items[0].fields[1].name, "attention");
    assert_int_equal(file->items[1].nfields, 1);
}

static void test_error_messages(void **state) {
    fixture *f = *state;
    parse(f,
        "let model = 3\n"           /* 1 */
        "include foo\n"             /* 2 */
        "let u = f(a b)\n"          /* 3 */
        "let v = [1, 2\n"           /* 4 */
        "model x { }\n"             /* 5 */
        "width = 3\n"               /* 6 */
        "let w = 1 @ 2\n"           /* 7 */
        "model {\n"                 /* 8 */
        "  a = }\n"                 /* 9 */
        "model {\n"                 /* 10 */
        "  b = 1\n");               /* 11 */
    assert_error(f, 1, 5, "'model' is a keyword and cannot be used as a name\n");
    assert_error(f, 2, 9, "expected a file name in double quotes after 'include', found identifier 'foo'\n");
    assert_error(f, 3, 13, "expected ',' or ')' in the call to 'f', found identifier 'b'\n");
    assert_error(f, 5, 1, "expected ']' to close the list, found keyword 'model'\n");
    /* recovery resumes at the keyword that showed the list was left open */
    assert_error(f, 6, 1, "unexpected identifier 'width' at top level; "
                          "expected 'include', 'let', 'model' or 'train' (fields go inside");
    assert_error(f, 7, 11, "unexpected character '@'\n");
    assert_error(f, 9, 7, "unexpected '}'; expected an expression\n");
    assert_error(f, 11, 8, "expected '}' to close the 'model' block, found end of file\n");
    assert_int_equal(f->d.errors, 8);
}

static void test_error_limit(void **state) {
    fixture *f = *state;
    moac_strbuf text;
    moac_strbuf_init(&text);
    for (int i = 0; i < 50; i++) moac_strbuf_puts(&text, "let = 1\n");
    parse(f, moac_strbuf_cstr(&text));
    moac_strbuf_free(&text);
    assert_int_equal(f->d.errors, f->d.max_errors);
    assert_true(moac_diag_full(&f->d));
}

static void test_too_deep(void **state) {
    fixture *f = *state;
    moac_strbuf text;
    moac_strbuf_init(&text);
    moac_strbuf_puts(&text, "let x = ");
    for (int i = 0; i < 300; i++) moac_strbuf_putc(&text, '[');
    moac_strbuf_putc(&text, '1');
    for (int i = 0; i < 300; i++) moac_strbuf_putc(&text, ']');
    moac_strbuf_puts(&text, "\nlet y = ");
    for (int i = 0; i < 20000; i++) moac_strbuf_putc(&text, '(');
    parse(f, moac_strbuf_cstr(&text));
    moac_strbuf_free(&text);
    assert_int_equal(f->d.errors, 2);
    assert_error(f, 1, 109, "expression is nested too deeply (more than 200 levels)");
    assert_non_null(strstr(moac_strbuf_cstr(&f->d.out), "t.moa:2:"));
}

/* ---- includes -------------------------------------------------------------------------------- */

typedef struct tmpdir {
    char path[64];
    char files[8][160];
    int nfiles;
    char dirs[4][160];
    int ndirs;
} tmpdir;

static void tmp_mkdir(tmpdir *t, const char *name) {
    char base[sizeof t->path]; /* a copy: gcc cannot see that t->path and t->dirs differ */
    memcpy(base, t->path, sizeof base);
    snprintf(t->dirs[t->ndirs], sizeof t->dirs[0], "%s/%s", base, name);
    assert_int_equal(mkdir(t->dirs[t->ndirs], 0700), 0);
    t->ndirs++;
}

static const char *tmp_write(tmpdir *t, const char *name, const char *text) {
    char *path = t->files[t->nfiles++];
    char base[sizeof t->path];
    memcpy(base, t->path, sizeof base);
    snprintf(path, sizeof t->files[0], "%s/%s", base, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void tmp_clean(tmpdir *t) {
    for (int i = 0; i < t->nfiles; i++) unlink(t->files[i]);
    for (int i = t->ndirs - 1; i >= 0; i--) rmdir(t->dirs[i]);
    rmdir(t->path);
}

static tmpdir *tmp_new(void) {
    tmpdir *t = calloc(1, sizeof *t);
    strcpy(t->path, "/tmp/moac-test-parse-XXXXXX");
    assert_non_null(mkdtemp(t->path));
    return t;
}

static void test_include_relative_and_diamond(void **state) {
    fixture *f = *state;
    tmpdir *t = tmp_new();
    tmp_mkdir(t, "common");
    tmp_mkdir(t, "sub");
    tmp_write(t, "common/shared.moa", "let shared = 0\n");
    tmp_write(t, "common/a.moa", "include \"shared.moa\"\nlet a = 1\n");
    tmp_write(t, "sub/b.moa", "include \"../common/shared.moa\"\nlet b = 2\n");
    const char *root =
        tmp_write(t, "root.moa", "include \"common/a.moa\"\ninclude \"sub/b.moa\"\nlet root = 3\n");
    moac_ast_unit *u = moac_parse_unit(&f->a, root, &f->d);
    tmp_clean(t);
    free(t);
    assert_int_equal(f->d.errors, 0);
    /* shared.moa is read once, before everything that includes it */
    assert_int_equal(u->nfiles, 4);
    const char *order[] = {"shared", "a", "b", "root"};
    for (int i = 0; i < 4; i++) {
        const moac_ast_file *file = u->files[i];
        const moac_ast_item *last = &file->items[file->nitems - 1];
        assert_int_equal(last->kind, MOAC_ITEM_LET);
        assert_string_equal(last->name, order[i]);
    }
    assert_non_null(strstr(u->files[1]->src->path, "/common/a.moa"));
}

static void test_include_errors(void **state) {
    fixture *f = *state;
    tmpdir *t = tmp_new();
    tmp_write(t, "b.moa", "let b = 1\ninclude \"a.moa\"\n");
    const char *a = tmp_write(t, "a.moa", "include \"b.moa\"\n  include \"missing.moa\"\n");
    moac_ast_unit *u = moac_parse_unit(&f->a, a, &f->d);
    char dir[64], cycle[512], missing[512];
    strcpy(dir, t->path);
    tmp_clean(t);
    free(t);
    assert_int_equal(u->nfiles, 2);
    assert_int_equal(f->d.errors, 2);
    const char *out = moac_strbuf_cstr(&f->d.out);
    snprintf(cycle, sizeof cycle, "%s/b.moa:2:9: error: include cycle: %s/a.moa -> %s/b.moa -> %s/a.moa\n",
             dir, dir, dir, dir);
    if (!strstr(out, cycle)) fail_msg("missing \"%s\" in:\n%s", cycle, out);
    snprintf(missing, sizeof missing,
             "%s/a.moa:2:11: error: cannot read included file 'missing.moa': No such file or directory\n", dir);
    if (!strstr(out, missing)) fail_msg("missing \"%s\" in:\n%s", missing, out);
}

static void test_include_from_text(void **state) {
    fixture *f = *state;
    tmpdir *t = tmp_new();
    tmp_write(t, "inc.moa", "let inc = 1\n");
    char root[128];
    snprintf(root, sizeof root, "%s/virtual.moa", t->path); /* no such file: only its directory counts */
    moac_ast_unit *u = moac_parse_unit_text(&f->a, root, "include \"inc.moa\"\ninclude \"inc.moa\"\n", &f->d);
    tmp_clean(t);
    free(t);
    assert_int_equal(f->d.errors, 0);
    assert_int_equal(u->nfiles, 2);
    assert_string_equal(u->files[0]->items[0].name, "inc");

    u = moac_parse_unit(&f->a, "/nonexistent/root.moa", &f->d);
    assert_int_equal(u->nfiles, 0);
    assert_int_equal(f->d.errors, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_comments_and_crlf, setup, teardown),
        cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_and_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_three_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_too_deep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_relative_and_diamond, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_include_from_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
