/* Common-subexpression elimination: two nodes with the same op, operands, attributes and type
 * compute the same value, so later uses of the second read the first. Inputs, parameters,
 * outputs and dropout (each site draws its own random mask) are never merged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "passes/pass.h"

static int mergeable(const moac_node *n) {
    return n->op != MOAC_OP_INPUT && n->op != MOAC_OP_PARAM && n->op != MOAC_OP_OUTPUT && n->op != MOAC_OP_DROPOUT;
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ULL; }

static uint64_t node_hash(const moac_node *n) {
    uint64_t h = mix(0xcbf29ce484222325ULL, (uint64_t)n->op);
    for (int i = 0; i < n->nargs; i++) h = mix(h, n->args[i]->id);
    for (int i = 0; i < MOAC_MAX_INT_ATTRS; i++) h = mix(h, (uint64_t)n->i[i]);
    for (int i = 0; i < n->nl; i++) h = mix(h, (uint64_t)n->l[i]);
    return h;
}

static int same(const moac_node *a, const moac_node *b) {
    if (a->op != b->op || a->nargs != b->nargs || a->nl != b->nl || !moac_type_equal(&a->type, &b->type)) return 0;
    for (int i = 0; i < a->nargs; i++)
        if (a->args[i] != b->args[i]) return 0;
    if (memcmp(a->i, b->i, sizeof a->i) || memcmp(a->f, b->f, sizeof a->f)) return 0;
    if (a->nl && memcmp(a->l, b->l, sizeof *a->l * (size_t)a->nl)) return 0;
    if ((a->s == NULL) != (b->s == NULL) || (a->s && strcmp(a->s, b->s))) return 0;
    return 1;
}

/* One walk in node order: each node's operands are first redirected to their representatives
 * (rep, by node id), then the node is looked up. Redirecting as we go, rather than rewriting
 * every later use of a merged node at once, keeps the pass linear (a graph of 420 layers took
 * over 10 s under the fuzzer's sanitizers with a search of the graph per merge). */
int moac_pass_cse(moac_graph **gp, moac_diag *d) {
    (void)d;
    moac_graph *g = *gp;
    size_t cap = 16, ids = 0;
    while (cap < 2 * g->count) cap *= 2;
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->id >= ids) ids = (size_t)g->nodes[i]->id + 1;
    moac_node **table = calloc(cap, sizeof *table), **rep = calloc(ids ? ids : 1, sizeof *rep);
    if (!table || !rep) abort();
    for (size_t i = 0; i < g->count; i++) {
        moac_node *n = g->nodes[i];
        for (int k = 0; k < n->nargs; k++)
            if (rep[n->args[k]->id]) n->args[k] = rep[n->args[k]->id];
        if (!mergeable(n)) continue;
        size_t slot = node_hash(n) & (cap - 1);
        while (table[slot] && !same(table[slot], n)) slot = (slot + 1) & (cap - 1);
        if (!table[slot]) {
            table[slot] = n;
            continue;
        }
        rep[n->id] = table[slot];
        n->dead = 1;
    }
    free(rep);
    free(table);
    moac_graph_compact(g);
    return 0;
}
