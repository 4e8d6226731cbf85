/* The IR verifier, run after the reader and after every pass.
 *
 * Per node: its id is its position; its operands are nodes defined earlier in the same graph (and
 * not marked dead); its operand count is within the op's range; its attributes and type are what
 * the op's shape rule accepts and infers (the rule is re-run on a copy, so nothing changes); its
 * name, if any, is unique and can be written in the text form. Graph inputs, parameters and
 * outputs must also not share their `name` attribute with another of the same op. Each problem is
 * one diagnostic, "<stage>: %<value> = <op>: <problem>", at the node's location. A scheduled
 * graph's annotations are checked last (moac_sched_check, ir/sched.c). */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

typedef struct verifier {
    const moac_graph *g;
    moac_diag *d;
    const char *stage;
    int problems;
} verifier;

void moac_ir_report(moac_diag *d, const char *stage, const moac_node *n, const char *fmt, ...) {
    char msg[768], value[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n->name) snprintf(value, sizeof value, "%%%s", n->name);
    else snprintf(value, sizeof value, "%%%" PRIu32, n->id);
    moac_diag_error(d, n->loc, "%s: %s = %s: %s", stage, value, moac_op_info_get(n->op)->name, msg);
}

#define problem(v, n, ...) ((v)->problems++, moac_ir_report((v)->d, (v)->stage, (n), __VA_ARGS__))

/* How an operand is spelled in messages: "%x" or "%7". */
static const char *value_text(const moac_node *n, char *buf, size_t len) {
    if (n->name) snprintf(buf, len, "%%%s", n->name);
    else snprintf(buf, len, "%%%" PRIu32, n->id);
    return buf;
}

static size_t position_of(const moac_graph *g, const moac_node *n) {
    if (n->id < g->count && g->nodes[n->id] == n) return n->id;
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i] == n) return i;
    return g->count;
}

/* Returns 1 when the operands are sound enough to run the shape rule on. */
static int check_operands(verifier *v, size_t pos, const moac_node *n) {
    const moac_op_info *info = moac_op_info_get(n->op);
    if (n->nargs < info->min_args || n->nargs > info->max_args) {
        if (info->min_args == info->max_args)
            problem(v, n, "has %d operands; %s takes %d", n->nargs, info->name, info->min_args);
        else
            problem(v, n, "has %d operands; %s takes %d to %d", n->nargs, info->name, info->min_args, info->max_args);
        return 0;
    }
    int ok = 1;
    for (int k = 0; k < n->nargs; k++) {
        const moac_node *a = n->args[k];
        char name[96];
        if (!a) {
            problem(v, n, "operand %d is missing", k + 1);
            ok = 0;
            continue;
        }
        size_t at = position_of(v->g, a);
        if (at == v->g->count) problem(v, n, "operand %d (%s) is not in the graph", k + 1, value_text(a, name, sizeof name));
        else if (at >= pos) problem(v, n, "operand %d (%s) is defined at position %zu, not before it", k + 1,
                                    value_text(a, name, sizeof name), at);
        else if (a->dead && !n->dead) problem(v, n, "operand %d (%s) is marked dead", k + 1, value_text(a, name, sizeof name));
        else continue;
        ok = 0;
    }
    return ok;
}

static void check_type(verifier *v, const moac_node *n) {
    moac_node copy = *n;
    char err[640];
    if (moac_node_infer(&copy, err, sizeof err)) {
        /* The rule's message starts with "<op>: ", which problem() already says. */
        const char *name = moac_op_info_get(n->op)->name;
        size_t len = strlen(name);
        const char *msg = strncmp(err, name, len) == 0 && err[len] == ':' ? err + len + 2 : err;
        problem(v, n, "%s", msg);
        return;
    }
    if (moac_type_equal(&copy.type, &n->type)) return;
    moac_strbuf have, want;
    moac_strbuf_init(&have);
    moac_strbuf_init(&want);
    moac_type_print(&have, &n->type);
    moac_type_print(&want, &copy.type);
    problem(v, n, "type is %s but %s gives %s", moac_strbuf_cstr(&have), moac_op_info_get(n->op)->name,
            moac_strbuf_cstr(&want));
    moac_strbuf_free(&have);
    moac_strbuf_free(&want);
}

/* Names that must be unique: SSA names, and the `name` attribute of inputs, params, outputs. */
typedef struct name_entry {
    const char *key;
    int op; /* -1 for SSA names */
    size_t pos;
} name_entry;

static int entry_cmp(const void *a, const void *b) {
    const name_entry *x = a, *y = b;
    if (x->op != y->op) return x->op - y->op;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int has_unique_name_attr(moac_op op) {
    return op == MOAC_OP_INPUT || op == MOAC_OP_PARAM || op == MOAC_OP_OUTPUT;
}

/* Reports every later holder of a name already used earlier, in graph order. */
static void check_names(verifier *v) {
    const moac_graph *g = v->g;
    name_entry *e = malloc((2 * g->count + 1) * sizeof *e);
    size_t *first = malloc((2 * g->count + 1) * sizeof *first);
    if (!e || !first) abort();
    size_t n = 0;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *node = g->nodes[i];
        if (node->name) e[n++] = (name_entry){node->name, -1, i};
        if (has_unique_name_attr(node->op) && node->s && *node->s) e[n++] = (name_entry){node->s, (int)node->op, i};
    }
    qsort(e, n, sizeof *e, entry_cmp);
    /* first[k]: position of the first holder of e[k]'s name, or SIZE_MAX when e[k] is it. */
    for (size_t k = 0; k < n; k++)
        first[k] = k > 0 && e[k - 1].op == e[k].op && strcmp(e[k - 1].key, e[k].key) == 0
                       ? (first[k - 1] == SIZE_MAX ? e[k - 1].pos : first[k - 1])
                       : SIZE_MAX;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *node = g->nodes[i];
        if (node->name && !moac_name_writable(node->name))
            problem(v, node, "name '%s' cannot be written in the text form (use [A-Za-z0-9_.], not only digits)",
                    node->name);
    }
    for (size_t k = 0; k < n; k++) {
        if (first[k] == SIZE_MAX) continue;
        const moac_node *node = g->nodes[e[k].pos];
        if (e[k].op < 0) problem(v, node, "name %%%s is already used at position %zu", e[k].key, first[k]);
        else problem(v, node, "another %s at position %zu is also named \"%s\"", moac_op_info_get(node->op)->name,
                     first[k], e[k].key);
    }
    free(e);
    free(first);
}

int moac_ir_verify(const moac_graph *g, moac_diag *d, const char *stage) {
    verifier v = {g, d, stage ? stage : "verify", 0};
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->id != i) problem(&v, n, "id is %" PRIu32 " but the node is at position %zu", n->id, i);
        if (check_operands(&v, i, n)) check_type(&v, n);
    }
    check_names(&v);
    /* The schedule check reads operands and uses, so only a graph sound otherwise gets it. */
    if (!v.problems) v.problems += moac_sched_check(g, d, v.stage);
    return v.problems;
}
