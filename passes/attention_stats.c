/* Pass 'attention_stats' (passes/schedule.h). The backward of an attention needs each query
 * row's softmax statistics (its log-sum-exp) and D_i = dout_i . out_i; the joint backward kernel
 * recomputes them unless the forward hands them over. So when a backend renders the forward
 * together with an attention_lse (a join) and the three gradients as one kernel (a join), this
 * pass adds `attention_lse(q, k, v)` right after the forward and gives the three gradients the
 * operands (q, k, v, dout, out, lse): the statistics become an ordinary value whose lifetime the
 * memory plan sees, instead of a side buffer only the backend knew about.
 *
 * Candidates are found by sorting (operands, attributes), so the pass is O(n log n). */
#include <stdlib.h>
#include <string.h>

#include "passes/schedule.h"

static int is_candidate(const moac_node *n) {
    return n->op == MOAC_OP_ATTENTION || (n->op == MOAC_OP_ATTENTION_GRAD && n->nargs == 4);
}

/* What an attention and its gradients share (q, k, v, causal, scale); then forwards first, then
 * gradients by dout, then node order. */
static int key_cmp(const void *x, const void *y) {
    const moac_node *a = *(const moac_node *const *)x, *b = *(const moac_node *const *)y;
    for (int k = 0; k < 3; k++)
        if (a->args[k] != b->args[k]) return a->args[k]->id < b->args[k]->id ? -1 : 1;
    if (a->i[0] != b->i[0]) return a->i[0] < b->i[0] ? -1 : 1;
    if (a->f[0] != b->f[0]) return a->f[0] < b->f[0] ? -1 : 1;
    if (a->op != b->op) return a->op == MOAC_OP_ATTENTION ? -1 : 1;
    if (a->nargs > 3 && a->args[3] != b->args[3]) return a->args[3]->id < b->args[3]->id ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int same_forward(const moac_node *a, const moac_node *b) {
    return a->args[0] == b->args[0] && a->args[1] == b->args[1] && a->args[2] == b->args[2] && a->i[0] == b->i[0] &&
           a->f[0] == b->f[0];
}

/* The statistics node for forward f (appended at the graph's end; placed by the caller), or NULL
 * when r would not render f and it as one kernel. */
static moac_node *new_stats(moac_graph *g, moac_node *f, const moac_sched_rules *r) {
    if (!r->supports(f)) return NULL;
    moac_node *l = moac_graph_append(g, MOAC_OP_ATTENTION_LSE, 3, f->args);
    l->i[0] = f->i[0];
    l->f[0] = f->f[0];
    char err[256];
    if (moac_node_infer(l, err, sizeof err)) abort(); /* f's shape rule passed, so this one does */
    const moac_node *pair[2] = {f, l};
    if (r->joins(pair, 2)) return l;
    l->dead = 1;
    return NULL;
}

/* Whether grads (count of them, one dout) are three gradients r renders as one kernel. */
static int joint(const moac_node *const *grads, int count, const moac_sched_rules *r) {
    if (count != 3 || !r->joins) return 0;
    for (int a = 0; a < 3; a++)
        for (int b = a + 1; b < 3; b++)
            if (!moac_sched_joinable(grads[a], grads[b])) return 0;
    return r->joins(grads, 3);
}

int moac_attention_stats(moac_graph *g, const moac_sched_rules *r, moac_diag *d) {
    (void)d;
    size_t count = g->count;
    moac_node **c = malloc((count ? count : 1) * sizeof *c);
    moac_node **after = calloc(count ? count : 1, sizeof *after); /* the stats node to place after node i */
    if (!c || !after) abort();
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (is_candidate(g->nodes[i])) c[n++] = g->nodes[i];
    qsort(c, n, sizeof *c, key_cmp);
    size_t added = 0;
    for (size_t s = 0, e; s < n; s = e) {
        for (e = s + 1; e < n && same_forward(c[s], c[e]);) e++;
        moac_node *f = c[s]->op == MOAC_OP_ATTENTION ? c[s] : NULL, *lse = NULL;
        size_t k = s;
        while (k < e && c[k]->op == MOAC_OP_ATTENTION) k++; /* a second identical forward: cse's business */
        for (size_t gs = k, ge; f && gs < e; gs = ge) {
            for (ge = gs + 1; ge < e && c[ge]->args[3] == c[gs]->args[3];) ge++;
            if (c[gs]->id < f->id || !joint((const moac_node *const *)c + gs, (int)(ge - gs), r)) continue;
            if (!lse && !(lse = new_stats(g, f, r))) break;
            for (size_t j = gs; j < ge; j++) {
                moac_node **args = moac_arena_alloc(g->arena, 6 * sizeof *args);
                memcpy(args, c[j]->args, 4 * sizeof *args);
                args[4] = f;
                args[5] = lse;
                c[j]->args = args;
                c[j]->nargs = 6;
            }
        }
        if (lse) after[f->id] = lse, added++;
    }
    if (added) { /* each statistics node right after its forward, then renumber */
        moac_node **order = moac_arena_alloc(g->arena, g->cap * sizeof *order);
        size_t k = 0;
        for (size_t i = 0; i < count; i++) {
            order[k++] = g->nodes[i];
            if (after[i]) order[k++] = after[i];
        }
        for (size_t i = 0; i < k; i++) order[i]->id = (uint32_t)i;
        g->nodes = order;
        g->count = k;
    } else {
        g->count = count; /* drop statistics nodes no backend join took */
    }
    free(c);
    free(after);
    return 0;
}
