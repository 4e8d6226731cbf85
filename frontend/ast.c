/* Syntax tree builders (used by the generated parser, frontend/parser.y) and the debug printer. */
#include "frontend/ast.h"

#include <assert.h>
#include <string.h>

#include "frontend/ast_build.h"
#include "support/strbuf.h"

/* A diagnostic location for a span: it starts at the span's first byte and, when the span runs
 * over several lines, is cut at the end of its first line (the caret shows one line). */
moac_loc moac_loc_from(const moac_parser *p, const moac_yyltype *l) {
    moac_loc loc = {p->src, l->first_line, l->first_column, 1};
    size_t end = l->end;
    if (l->last_line != l->first_line) {
        const char *nl = memchr(p->src->text + l->offset, '\n', p->src->len - l->offset);
        if (nl) end = (size_t)(nl - p->src->text);
        if (end > l->offset && p->src->text[end - 1] == '\r') end--;
    }
    if (end > l->offset) loc.len = (int)(end - l->offset);
    return loc;
}

moac_vec *moac_vec_new(moac_arena *a) { return moac_arena_alloc(a, sizeof(moac_vec)); }

/* Grows by doubling; the old storage stays in the arena (at most as much again as the final). */
void *moac_vec_push(moac_arena *a, moac_vec *v, size_t elem_size) {
    if (v->len == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        void *data = moac_arena_alloc(a, (size_t)cap * elem_size);
        if (v->len) memcpy(data, v->data, (size_t)v->len * elem_size);
        v->data = data;
        v->cap = cap;
    }
    return (char *)v->data + (size_t)v->len++ * elem_size;
}

/* Sets the depth of a new node from its operands, and rejects the first node of a file that is
 * nested too deeply (a deeper tree would make every recursive walk risky). */
static void set_depth(moac_parser *p, moac_ast *e, int child_depth) {
    e->depth = child_depth + 1;
    if (e->depth > MOAC_AST_MAX_DEPTH && !p->too_deep) {
        p->too_deep = 1;
        moac_diag_error(p->diag, e->loc, "expression is nested too deeply (more than %d levels)",
                        MOAC_AST_MAX_DEPTH);
    }
}

static int max_int(int a, int b) { return a > b ? a : b; }

moac_ast *moac_ast_leaf(moac_parser *p, moac_ast_kind kind, const moac_yyltype *l) {
    moac_ast *e = moac_arena_alloc(p->arena, sizeof *e);
    e->kind = kind;
    e->loc = moac_loc_from(p, l);
    e->depth = 1;
    return e;
}

moac_ast *moac_ast_number(moac_parser *p, moac_numlit n, const moac_yyltype *l) {
    moac_ast *e = moac_ast_leaf(p, MOAC_AST_NUMBER, l);
    e->num = n.value;
    e->is_int = n.is_int;
    return e;
}

moac_ast *moac_ast_binary(moac_parser *p, char op, moac_ast *lhs, moac_ast *rhs, const moac_yyltype *l) {
    assert(lhs && rhs && strchr("+-*/", op));
    moac_ast *e = moac_ast_leaf(p, MOAC_AST_BINARY, l);
    e->op = op;
    e->lhs = lhs;
    e->rhs = rhs;
    set_depth(p, e, max_int(lhs->depth, rhs->depth));
    return e;
}

moac_ast *moac_ast_negate(moac_parser *p, moac_ast *operand, const moac_yyltype *l) {
    assert(operand);
    moac_ast *e = moac_ast_leaf(p, MOAC_AST_NEGATE, l);
    e->lhs = operand;
    set_depth(p, e, operand->depth);
    return e;
}

moac_ast *moac_ast_call(moac_parser *p, const char *callee, moac_vec *args, const moac_yyltype *l) {
    moac_ast *e = moac_ast_leaf(p, MOAC_AST_CALL, l);
    e->str = callee;
    int deepest = 0;
    if (args) {
        e->args = args->data;
        e->nargs = args->len;
        for (int i = 0; i < e->nargs; i++) deepest = max_int(deepest, e->args[i].value->depth);
    }
    set_depth(p, e, deepest);
    return e;
}

moac_ast *moac_ast_items(moac_parser *p, moac_ast_kind kind, moac_vec *items, const moac_yyltype *l) {
    assert(kind == MOAC_AST_LIST || (kind == MOAC_AST_RATIO && items && items->len >= 2));
    moac_ast *e = moac_ast_leaf(p, kind, l);
    int deepest = 0;
    if (items) {
        e->items = items->data;
        e->nitems = items->len;
        for (int i = 0; i < e->nitems; i++) deepest = max_int(deepest, e->items[i]->depth);
    }
    set_depth(p, e, deepest);
    return e;
}

moac_ast_item *moac_item_new(moac_parser *p, moac_item_kind kind, const moac_yyltype *keyword) {
    moac_ast_item *it = moac_arena_alloc(p->arena, sizeof *it);
    it->kind = kind;
    it->loc = moac_loc_from(p, keyword);
    return it;
}

void moac_item_finish(moac_parser *p, moac_ast_item *it, moac_vec *fields) {
    if (fields) {
        it->fields = fields->data;
        it->nfields = fields->len;
    }
    *(moac_ast_item *)moac_vec_push(p->arena, &p->items, sizeof *it) = *it;
}

/* ---- printing ---------------------------------------------------------------------------- */

void moac_ast_print(const moac_ast *e, moac_strbuf *out) {
    if (!e) {
        moac_strbuf_puts(out, "<null>");
        return;
    }
    switch (e->kind) {
    case MOAC_AST_NUMBER:
        if (e->is_int) moac_strbuf_printf(out, "%.0f", e->num);
        else moac_strbuf_put_double(out, e->num);
        break;
    case MOAC_AST_STRING: moac_strbuf_put_quoted(out, e->str); break;
    case MOAC_AST_BOOL: moac_strbuf_puts(out, e->num != 0 ? "true" : "false"); break;
    case MOAC_AST_NAME: moac_strbuf_puts(out, e->str); break;
    case MOAC_AST_CALL:
        moac_strbuf_printf(out, "%s(", e->str);
        for (int i = 0; i < e->nargs; i++) {
            if (i) moac_strbuf_puts(out, ", ");
            if (e->args[i].name) moac_strbuf_printf(out, "%s = ", e->args[i].name);
            moac_ast_print(e->args[i].value, out);
        }
        moac_strbuf_putc(out, ')');
        break;
    case MOAC_AST_LIST:
    case MOAC_AST_RATIO:
        if (e->kind == MOAC_AST_LIST) moac_strbuf_putc(out, '[');
        for (int i = 0; i < e->nitems; i++) {
            if (i) moac_strbuf_puts(out, e->kind == MOAC_AST_LIST ? ", " : ":");
            moac_ast_print(e->items[i], out);
        }
        if (e->kind == MOAC_AST_LIST) moac_strbuf_putc(out, ']');
        break;
    case MOAC_AST_BINARY:
        /* Fully parenthesised: the printout shows how the parser grouped the operands. */
        moac_strbuf_putc(out, '(');
        moac_ast_print(e->lhs, out);
        moac_strbuf_printf(out, " %c ", e->op);
        moac_ast_print(e->rhs, out);
        moac_strbuf_putc(out, ')');
        break;
    case MOAC_AST_NEGATE:
        /* -(-x) rather than --x, which reads like a typo */
        moac_strbuf_puts(out, e->lhs->kind == MOAC_AST_NEGATE ? "-(" : "-");
        moac_ast_print(e->lhs, out);
        if (e->lhs->kind == MOAC_AST_NEGATE) moac_strbuf_putc(out, ')');
        break;
    }
}
