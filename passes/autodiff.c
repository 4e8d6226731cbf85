/* Reverse-mode automatic differentiation: the forward graph gets its backward graph appended.
 *
 * 1. Which values need a gradient: params, and every value computed from one through an operand
 *    that its op differentiates (moac_grad_reaches). Everything else (token ids, top-k indices,
 *    one-hot masks, constants) is left alone, so no dead backward nodes are built for it.
 * 2. The seed: d(loss)/d(loss) = 1 at the operand of the output named "loss".
 * 3. The walk, in reverse topological order: a value's gradient is complete once every later
 *    node has run its rule, so each rule sees the sum of all contributions to its dy.
 * 4. One output "grad.<param name>" per param, in param order (zeros for a param the loss does
 *    not reach, so that an optimizer sees every parameter).
 *
 * The forward nodes stay as they are: the rules read them (activations, masks, indices). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/autodiff.h"
#include "passes/build.h"
#include "passes/pass.h"
#include "support/hash.h"

void moac_grad_accumulate(moac_grad_ctx *c, moac_node *x, moac_node *contribution) {
    /* A rule that builds a gradient of the wrong shape, or for a value nothing needs, is a bug. */
    if (x->id >= c->nforward || !c->needs[x->id] || x->type.dtype != MOAC_F32 ||
        !moac_type_equal(&x->type, &contribution->type)) {
        fprintf(stderr, "moac: internal error: autodiff: bad gradient contribution to %%%u\n", x->id);
        abort();
    }
    moac_node *old = c->grad[x->id];
    c->grad[x->id] = old ? moac_b_binary(c->g, MOAC_OP_ADD, old, contribution) : contribution;
}

static moac_node *find_output(const moac_graph *g, const char *name) {
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->op == MOAC_OP_OUTPUT && !strcmp(g->nodes[i]->s, name)) return g->nodes[i];
    return NULL;
}

/* A graph differentiated twice would get a second set of grad.* outputs; refuse it plainly. */
static int already_trained(const moac_graph *g, moac_diag *d) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op == MOAC_OP_OUTPUT && !strncmp(n->s, "grad.", 5)) {
            moac_diag_file_error(d, NULL, "autodiff: graph \"%s\" already has gradient outputs (%s); it is a "
                                 "training graph already", g->name, n->s);
            return 1;
        }
    }
    return 0;
}

static void mark_needs(const moac_graph *g, char *needs) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        needs[i] = n->op == MOAC_OP_PARAM;
        for (int k = 0; k < n->nargs && !needs[i]; k++)
            needs[i] = needs[n->args[k]->id] && moac_grad_reaches(n, k);
    }
}

/* The seed: ones of the loss's type (a non-scalar loss is differentiated as its sum). */
static moac_node *seed(moac_graph *g, const moac_node *value) {
    moac_node *one = moac_b_full(g, 1.0);
    if (value->type.rank == 0) return one;
    moac_node *n = moac_graph_append(g, MOAC_OP_BROADCAST, 1, &one);
    moac_node_set_list(g, n, value->type.dims, value->type.rank);
    return moac_b_finish(n);
}

/* The SSA names already taken, so that a grad.<param> output whose name a value (or an earlier
 * output) already has prints as %<id> instead: open addressing over the graph's names, built
 * once, since a search of the graph per param is quadratic (found by the spec fuzzer: 48 branches
 * x 8 layers took seconds). */
typedef struct name_set {
    const char **slot;
    size_t cap; /* a power of two, at least twice the names it will hold */
} name_set;

static size_t name_hash(const char *s) { return (size_t)moac_hash_bytes(MOAC_HASH_SEED, s, strlen(s)); }

/* 1 if s was in the set already; else adds it and returns 0. */
static int name_set_add(name_set *set, const char *s) {
    for (size_t i = name_hash(s) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        if (!set->slot[i]) {
            set->slot[i] = s;
            return 0;
        }
        if (!strcmp(set->slot[i], s)) return 1;
    }
}

static void grad_outputs(moac_grad_ctx *c) {
    moac_graph *g = c->g;
    name_set taken = {.cap = 16};
    while (taken.cap < 2 * (g->count + c->nforward)) taken.cap *= 2;
    taken.slot = calloc(taken.cap, sizeof *taken.slot);
    if (!taken.slot) abort();
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->name) name_set_add(&taken, g->nodes[i]->name);
    for (size_t i = 0; i < c->nforward; i++) {
        moac_node *p = g->nodes[i];
        if (p->op != MOAC_OP_PARAM) continue;
        moac_node *dp = c->grad[i];
        if (!dp) {
            moac_node *zero = moac_b_full(g, 0.0);
            dp = moac_graph_append(g, MOAC_OP_BROADCAST, 1, &zero);
            moac_node_set_list(g, dp, p->type.dims, p->type.rank);
            dp = moac_b_finish(dp);
        }
        moac_node *out = moac_b_output(g, dp, moac_arena_printf(g->arena, "grad.%s", p->s));
        if (out->name && name_set_add(&taken, out->name)) out->name = NULL;
    }
    free(taken.slot);
}

int moac_autodiff(moac_graph *g, moac_diag *d) {
    moac_node *loss = find_output(g, "loss");
    if (!loss) {
        moac_diag_file_error(d, NULL, "autodiff: graph \"%s\" has no output named \"loss\" to differentiate", g->name);
        return -1;
    }
    if (loss->type.dtype != MOAC_F32) {
        moac_diag_file_error(d, NULL, "autodiff: the loss of graph \"%s\" is i32; it must be f32", g->name);
        return -1;
    }
    if (already_trained(g, d)) return -1;
    moac_grad_ctx c = {.g = g, .d = d, .nforward = g->count};
    char *needs = calloc(g->count, 1);
    c.grad = calloc(g->count, sizeof *c.grad);
    if (!needs || !c.grad) abort();
    mark_needs(g, needs);
    c.needs = needs;
    moac_node *value = loss->args[0];
    if (needs[value->id]) c.grad[value->id] = seed(g, value);
    for (size_t i = c.nforward; i-- > 0 && !c.failed;) {
        moac_node *n = g->nodes[i];
        if (c.grad[i]) moac_grad_apply(&c, n, c.grad[i]);
    }
    if (!c.failed) grad_outputs(&c);
    free(needs);
    free(c.grad);
    return c.failed ? -1 : 0;
}

/* The pass driver's entry (passes/pass.h): the graph is extended in place. */
int moac_pass_autodiff(moac_graph **g, moac_diag *d) { return moac_autodiff(*g, d); }
