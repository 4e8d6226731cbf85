/* Graph construction and editing, and the small type helpers every stage uses.
 *
 * Nodes, operand arrays, names and attribute storage all live in the graph's arena; nothing
 * here frees memory. Editing is append-only plus "mark dead, then compact", which keeps every
 * node pointer held by a pass valid until the pass calls moac_graph_compact. */
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <string.h>

#include "ir/ir.h"

moac_graph *moac_graph_new(moac_arena *a, const char *name) {
    moac_graph *g = moac_arena_alloc(a, sizeof *g);
    g->arena = a;
    g->name = moac_arena_strdup(a, name ? name : "");
    g->cap = 16;
    g->nodes = moac_arena_alloc(a, g->cap * sizeof *g->nodes);
    return g;
}

moac_node *moac_graph_append(moac_graph *g, moac_op op, int nargs, moac_node *const *args) {
    const moac_op_info *info = moac_op_info_get(op);
    /* Callers build ops from the table; a wrong count here is a pass bug, not a user error. */
    assert(nargs >= 0 && nargs <= info->max_args);
    (void)info;
    if (g->count == g->cap) {
        /* The old array stays in the arena; doubling keeps the waste bounded by the final size. */
        moac_node **grown = moac_arena_alloc(g->arena, 2 * g->cap * sizeof *grown);
        memcpy(grown, g->nodes, g->count * sizeof *grown);
        g->nodes = grown;
        g->cap *= 2;
    }
    moac_node *n = moac_arena_alloc(g->arena, sizeof *n);
    n->op = op;
    n->id = (uint32_t)g->count;
    n->nargs = nargs;
    if (nargs > 0) {
        n->args = moac_arena_alloc(g->arena, (size_t)nargs * sizeof *n->args);
        for (int k = 0; k < nargs; k++) {
            assert(args[k]);
            n->args[k] = args[k];
        }
    }
    n->type.dtype = MOAC_F32;
    n->type.rank = -1;
    g->nodes[g->count++] = n;
    return n;
}

void moac_node_set_list(moac_graph *g, moac_node *n, const int64_t *values, int count) {
    assert(count >= 0);
    n->nl = count;
    n->l = count > 0 ? moac_arena_dup(g->arena, values, (size_t)count * sizeof *values) : NULL;
}

/* `to` itself is skipped: the usual rewrite appends to = f(from) and then redirects every
 * other use of from to it, which must not make `to` its own operand. */
void moac_graph_replace_uses(moac_graph *g, moac_node *from, moac_node *to) {
    assert(from && to && from != to);
    size_t start = 0;
    while (start < g->count && g->nodes[start] != from) start++;
    assert(start < g->count && "replace_uses: `from` is not in the graph");
    for (size_t i = start + 1; i < g->count; i++) {
        moac_node *n = g->nodes[i];
        if (n == to) continue;
        for (int k = 0; k < n->nargs; k++)
            if (n->args[k] == from) n->args[k] = to;
    }
}

void moac_graph_compact(moac_graph *g) {
    size_t kept = 0;
    for (size_t i = 0; i < g->count; i++) {
        moac_node *n = g->nodes[i];
        if (n->dead) continue;
        /* A live node may not keep a removed operand: that would leave a dangling edge. */
        for (int k = 0; k < n->nargs; k++) assert(!n->args[k]->dead && "compact: live node uses a dead one");
        n->id = (uint32_t)kept;
        g->nodes[kept++] = n;
    }
    g->count = kept;
}

moac_graph *moac_graph_clone(moac_arena *a, const moac_graph *g) {
    moac_graph *c = moac_graph_new(a, g->name);
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        moac_node *args[16], **argv = n->nargs <= 16 ? args : moac_arena_alloc(a, (size_t)n->nargs * sizeof *argv);
        for (int k = 0; k < n->nargs; k++) argv[k] = c->nodes[n->args[k]->id];
        moac_node *m = moac_graph_append(c, n->op, n->nargs, argv);
        memcpy(m->i, n->i, sizeof m->i);
        memcpy(m->f, n->f, sizeof m->f);
        m->s = n->s ? moac_arena_strdup(a, n->s) : NULL;
        moac_node_set_list(c, m, n->l, n->nl);
        m->name = n->name ? moac_arena_strdup(a, n->name) : NULL;
        m->type = n->type;
        m->loc = n->loc;
        m->sched = n->sched;
        m->kernel = n->kernel;
    }
    return c;
}

moac_node *moac_graph_find(const moac_graph *g, const char *name) {
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->name && strcmp(g->nodes[i]->name, name) == 0) return g->nodes[i];
    return NULL;
}

/* -1 when the product overflows int64: only possible for a type no shape rule accepted. */
int64_t moac_type_numel(const moac_type *t) {
    assert(t->rank >= 0 && t->rank <= MOAC_MAX_RANK);
    int64_t n = 1;
    for (int k = 0; k < t->rank; k++)
        if (__builtin_mul_overflow(n, t->dims[k], &n)) return -1;
    return n;
}

int moac_type_equal(const moac_type *a, const moac_type *b) {
    assert(a->rank <= MOAC_MAX_RANK && b->rank <= MOAC_MAX_RANK);
    if (a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int k = 0; k < a->rank; k++)
        if (a->dims[k] != b->dims[k]) return 0;
    return 1;
}

/* An uninferred type (rank -1) prints as "f32[?]" so that messages about it stay readable. */
void moac_type_print(moac_strbuf *b, const moac_type *t) {
    assert(t->rank <= MOAC_MAX_RANK);
    moac_strbuf_puts(b, t->dtype == MOAC_I32 ? "i32[" : "f32[");
    if (t->rank < 0) moac_strbuf_putc(b, '?');
    for (int k = 0; k < t->rank; k++) moac_strbuf_printf(b, "%s%" PRId64, k ? "," : "", t->dims[k]);
    moac_strbuf_putc(b, ']');
}

int moac_name_writable(const char *s) {
    int digits_only = 1;
    if (!*s) return 0;
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.') return 0;
        if (!isdigit((unsigned char)*s)) digits_only = 0;
    }
    return !digits_only;
}
