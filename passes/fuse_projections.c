/* Horizontal fusion of projections (issue 11, item 1), two passes:
 *
 * fuse_projections (before autodiff): matmuls that project the same input by weights, e.g. a
 *   layer's Q, K and V and its router's first layer, x @ Wq^T, x @ Wk^T, ..., become one matmul
 *   by the weights joined along their output axis, x @ concat(Wq, Wk, ...)^T, whose result the
 *   old values read as slices. One GEMM of N = sum of the N's streams x once instead of once per
 *   projection; and its gradient is one GEMM of K = sum of the N's where the unfused graph had
 *   a GEMM per projection and the adds of their results (mosa-tiny's sparse heads: three
 *   K = 64 products of [B, E, k, C] and two adds of that size per layer).
 *
 * concat_pads (after autodiff): the gradient of those slices is a sum of pads, each a gradient
 *   placed in its block of the joined axis and zeros elsewhere; where the pads tile the axis
 *   exactly, the sum is their concat: no zeros are added and no [.., N] sums are made.
 *
 * Only weights that are params are joined, and only where their copies per step (the concat and
 * its gradient's slices) are small beside the traffic the join saves (the rule below). The fused graph has the same params (checkpoints are unchanged) and, in
 * exact arithmetic, the same values; in f32 the gradients' sums run in another order. */
#include <stdlib.h>
#include <string.h>

#include "passes/build.h"
#include "passes/pass.h"

enum { MAX_JOINED = 16 }; /* concat's operand limit (ir/ops.def) */

/* ---- ordering ------------------------------------------------------------------------------ */

typedef struct order {
    moac_graph *g;
    moac_node **nodes;
    size_t count;
    char *placed;
    size_t params;                /* params before this position are placed */
} order;

static void place(order *o, moac_node *n) {
    if (o->placed[n->id]) return;
    /* Params keep their relative order: their initial values are drawn by position
     * (moac_state_init_weights), so a param pulled forward brings the earlier ones with it. */
    if (n->op == MOAC_OP_PARAM)
        for (; o->params < n->id; o->params++)
            if (o->g->nodes[o->params]->op == MOAC_OP_PARAM) place(o, o->g->nodes[o->params]);
    o->placed[n->id] = 1;
    /* Operands first. Nodes already in order are met after their operands, so only the nodes a
     * pass appended recurse (a few levels: concat, its matmul, the params it joins). */
    for (int a = 0; a < n->nargs; a++) place(o, n->args[a]);
    o->nodes[o->count++] = n;
}

/* Restores topological order after nodes were appended and earlier nodes made to use them: in
 * the old order, each node right after the operands it lacks. Renumbers ids. */
static void reorder(moac_graph *g) {
    for (size_t i = 0; i < g->count; i++) g->nodes[i]->id = (uint32_t)i;
    order o = {.g = g, .nodes = moac_arena_alloc(g->arena, g->cap * sizeof *o.nodes), .placed = calloc(g->count + 1, 1)};
    if (!o.placed) abort();
    for (size_t i = 0; i < g->count; i++) place(&o, g->nodes[i]);
    free(o.placed);
    for (size_t i = 0; i < o.count; i++) o.nodes[i]->id = (uint32_t)i;
    g->nodes = o.nodes;
}

/* ---- fuse_projections ---------------------------------------------------------------------- */

/* x @ W^T with W a param [..., N, K]. */
static int is_projection(const moac_node *n) {
    return n->op == MOAC_OP_MATMUL && !n->dead && n->i[0] == 0 && n->i[1] == 1 && n->args[1]->op == MOAC_OP_PARAM;
}

/* Can b join a's group: the same input, weights of the same rank, batch dims and K? */
static int joins(const moac_node *a, const moac_node *b) {
    const moac_type *wa = &a->args[1]->type, *wb = &b->args[1]->type;
    if (b->args[0] != a->args[0] || wa->rank != wb->rank) return 0;
    for (int d = 0; d < wa->rank; d++)
        if (d != wa->rank - 2 && wa->dims[d] != wb->dims[d]) return 0;
    return 1;
}

int moac_pass_fuse_projections(moac_graph **gp, moac_diag *d) {
    (void)d;
    moac_graph *g = *gp;
    size_t count = g->count;
    int fused = 0;
    for (size_t i = 0; i < count; i++) {
        moac_node *first = g->nodes[i];
        if (!is_projection(first)) continue;
        moac_node *group[MAX_JOINED] = {first};
        int m = 1;
        for (size_t j = i + 1; j < count && m < MAX_JOINED; j++)
            if (is_projection(g->nodes[j]) && joins(first, g->nodes[j])) group[m++] = g->nodes[j];
        if (m < 2) continue;
        moac_node *w[MAX_JOINED];
        int64_t wsize = 0;
        for (int k = 0; k < m; k++) wsize += moac_type_numel(&(w[k] = group[k]->args[1])->type);
        /* Worth it? The join copies the weights (concat) and their gradient (slices) each step,
         * 4 passes over the weights; it saves m - 1 reads of x and, in the backward, m - 1 sums
         * of x's size. Measured on mosa-tiny at batch 2: its sparse heads' [69, 192, 512]
         * weights cost more to copy than the fusion saved on [2, 69, 128, 512] inputs. */
        if (4 * wsize >= (m - 1) * moac_type_numel(&first->args[0]->type)) continue;
        int waxis = first->args[1]->type.rank - 2, yaxis = first->type.rank - 1;
        moac_node *joined = moac_graph_append(g, MOAC_OP_CONCAT, m, w);
        joined->i[0] = waxis;
        moac_b_finish(joined);
        moac_node *y = moac_b_matmul(g, first->args[0], joined, 0, 1);
        /* Each projection becomes its slice of y, in place: its uses and position stay. */
        int64_t start = 0;
        for (int k = 0; k < m; k++) {
            moac_node *p = group[k];
            int64_t len = p->type.dims[yaxis];
            p->op = MOAC_OP_SLICE;
            p->nargs = 1;
            p->args[0] = y;
            memset(p->i, 0, sizeof p->i);
            p->i[0] = yaxis, p->i[1] = start, p->i[2] = len;
            start += len;
        }
        fused++;
    }
    if (fused) reorder(g);
    return 0;
}

/* ---- concat_pads --------------------------------------------------------------------------- */

/* Collects the pads under an add tree whose inner adds have no other use and no broadcast: 0 if
 * another kind of node is a leaf, or a pad of another axis or size. */
static int pad_leaves(const moac_node *n, int64_t axis, int64_t size, const int *uses, moac_node **leaves,
                      int *count) {
    if (n->op == MOAC_OP_PAD) {
        if (*count == MAX_JOINED || n->i[0] != axis || n->i[2] != size) return 0;
        leaves[(*count)++] = (moac_node *)n;
        return 1;
    }
    return n->op == MOAC_OP_ADD && uses[n->id] == 1 && moac_type_equal(&n->args[0]->type, &n->type) &&
           moac_type_equal(&n->args[1]->type, &n->type) && pad_leaves(n->args[0], axis, size, uses, leaves, count) &&
           pad_leaves(n->args[1], axis, size, uses, leaves, count);
}

static int by_start(const void *a, const void *b) {
    int64_t x = (*(moac_node *const *)a)->i[1], y = (*(moac_node *const *)b)->i[1];
    return (x > y) - (x < y);
}

int moac_pass_concat_pads(moac_graph **gp, moac_diag *d) {
    (void)d;
    moac_graph *g = *gp;
    int *uses = calloc(g->count + 1, sizeof *uses);
    if (!uses) abort();
    for (size_t i = 0; i < g->count; i++)
        for (int a = 0; a < g->nodes[i]->nargs; a++) uses[g->nodes[i]->args[a]->id]++;
    for (size_t i = 0; i < g->count; i++) {
        moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_ADD) continue;
        /* The pads' common axis and size: any pad in the tree's leftmost path. */
        const moac_node *p = n;
        while (p->op == MOAC_OP_ADD) p = p->args[0];
        if (p->op != MOAC_OP_PAD) continue;
        moac_node *leaves[MAX_JOINED];
        int count = 0;
        if (!moac_type_equal(&n->args[0]->type, &n->type) || !moac_type_equal(&n->args[1]->type, &n->type) ||
            !pad_leaves(n->args[0], p->i[0], p->i[2], uses, leaves, &count) ||
            !pad_leaves(n->args[1], p->i[0], p->i[2], uses, leaves, &count))
            continue;
        qsort(leaves, (size_t)count, sizeof *leaves, by_start);
        int axis = (int)p->i[0], tiles = 1;
        int64_t at = 0;
        for (int k = 0; k < count && tiles; k++) {
            tiles = leaves[k]->i[1] == at;
            at += leaves[k]->args[0]->type.dims[axis];
        }
        if (!tiles || at != p->i[2]) continue;
        /* The root add becomes the concat, in place (its uses stay); the tree's other nodes die in
         * dce. Operands come before the pads, so the order holds. */
        moac_node **args = moac_arena_alloc(g->arena, (size_t)count * sizeof *args);
        for (int k = 0; k < count; k++) {
            args[k] = leaves[k]->args[0];
            uses[args[k]->id]++;
        }
        n->op = MOAC_OP_CONCAT;
        n->args = args;
        n->nargs = count;
        memset(n->i, 0, sizeof n->i);
        n->i[0] = axis;
    }
    free(uses);
    return 0;
}
