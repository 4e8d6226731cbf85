/* Gradient rules: one per op of ir/ops.def, named moac_grad_<name>, dispatched through the
 * X-macro (an op without a rule is a compile error: the table names a function that does not
 * exist).
 *
 * A rule gets the forward node n and dy = d(loss)/d(n) (n's type), and hands d(loss)/d(operand)
 * to moac_grad_accumulate for each operand that wants one (a param's gradient flows through it).
 * Rules only append nodes; they read forward values (operands and n itself) freely, which is why
 * the pass keeps the forward graph. Operands that are i32 never get a gradient, nor do operands
 * of piecewise-constant ops (moac_grad_reaches says which). */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "passes/autodiff.h"
#include "passes/build.h"

typedef moac_grad_ctx ctx;

int moac_grad_reaches(const moac_node *n, int k) {
    assert(k >= 0 && k < n->nargs);
    if (n->args[k]->type.dtype != MOAC_F32) return 0;
    switch (n->op) {
    case MOAC_OP_TOPK:           /* indices: a selection, piecewise constant in the scores */
    case MOAC_OP_ONEHOT_ARGMAX:  /* hard top-1: the gate it multiplies carries the gradient */
    case MOAC_OP_CAPACITY_ROUTE: /* mixSGA: the LM loss sends nothing to the router */
    case MOAC_OP_OUTPUT:         /* results are not differentiated; "loss" is seeded directly */
        return 0;
    case MOAC_OP_BCE_LOGITS: return k == 0; /* the targets (an assignment) are constants */
    default: return 1;
    }
}

static int wants(const ctx *c, const moac_node *n, int k) {
    return moac_grad_reaches(n, k) && c->needs[n->args[k]->id];
}

static void emit(ctx *c, moac_node *n, int k, moac_node *v) { moac_grad_accumulate(c, n->args[k], v); }

static const moac_type *arg_type(const moac_node *n, int k) { return &n->args[k]->type; }

/* ---- Builders for what build.h has no helper for. ---- */

static moac_node *un(ctx *c, moac_op op, moac_node *x) { return moac_b_unary(c->g, op, x); }
static moac_node *bin(ctx *c, moac_op op, moac_node *a, moac_node *b) { return moac_b_binary(c->g, op, a, b); }

static moac_node *reshape_to(ctx *c, moac_node *x, const moac_type *t) {
    if (moac_type_equal(&x->type, t)) return x;
    return moac_b_reshape(c->g, x, t->rank, t->dims);
}

static moac_node *broadcast_to(ctx *c, moac_node *x, const moac_type *t) {
    if (moac_type_equal(&x->type, t)) return x;
    moac_node *n = moac_graph_append(c->g, MOAC_OP_BROADCAST, 1, &x);
    moac_node_set_list(c->g, n, t->dims, t->rank);
    return moac_b_finish(n);
}

/* The transpose of numpy broadcasting: dy (of the broadcast shape) summed over the axes where
 * the operand of type t was stretched or absent, then shaped like the operand. */
static moac_node *unbroadcast(ctx *c, moac_node *dy, const moac_type *t) {
    if (moac_type_equal(&dy->type, t)) return dy;
    int r = dy->type.rank, off = r - t->rank;
    assert(off >= 0);
    int64_t axes[MOAC_MAX_RANK];
    int na = 0;
    for (int k = 0; k < r; k++) {
        int64_t have = k < off ? 1 : t->dims[k - off];
        if (have == 1 && dy->type.dims[k] != 1) axes[na++] = k;
    }
    if (na) dy = moac_b_reduce(c->g, MOAC_OP_REDUCE_SUM, dy, na, axes, 1);
    return reshape_to(c, dy, t);
}

/* An op with one int attribute (group_mean, repeat_heads, take_grad, embed_grad, scatter_rows). */
static moac_node *with_int(ctx *c, moac_op op, int nargs, moac_node *const *args, int64_t v) {
    moac_node *n = moac_graph_append(c->g, op, nargs, args);
    n->i[0] = v;
    return moac_b_finish(n);
}

/* A new node with n's int and float attributes: the backward op keeps its forward op's
 * attributes in the same slots (dropout -> dropout, attention -> attention_grad, rope ->
 * rope_grad, layernorm -> layernorm_grad / normalize; normalize -> layernorm_grad). */
static moac_node *like(ctx *c, const moac_node *n, moac_op op, int nargs, moac_node *const *args) {
    moac_node *b = moac_graph_append(c->g, op, nargs, args);
    memcpy(b->i, n->i, sizeof b->i);
    memcpy(b->f, n->f, sizeof b->f);
    return b;
}

/* ---- No gradient. ---- */

/* Graph inputs, parameters and constants have no operands; the walk stops at them. */
static void moac_grad_input(ctx *c, moac_node *n, moac_node *dy) { (void)c, (void)n, (void)dy; }
static void moac_grad_param(ctx *c, moac_node *n, moac_node *dy) { (void)c, (void)n, (void)dy; }
static void moac_grad_full(ctx *c, moac_node *n, moac_node *dy) { (void)c, (void)n, (void)dy; }
/* Piecewise constant in their scores (moac_grad_reaches): top-k indices carry no gradient; a
 * hard one-hot (top-1 gates, expert-choice assignment) is a constant mask almost everywhere. */
static void moac_grad_topk(ctx *c, moac_node *n, moac_node *dy) { (void)c, (void)n, (void)dy; }
static void moac_grad_onehot_argmax(ctx *c, moac_node *n, moac_node *dy) { (void)c, (void)n, (void)dy; }
static void moac_grad_capacity_route(ctx *c, moac_node *n, moac_node *dy) { (void)c, (void)n, (void)dy; }
/* Results have no users to take a gradient from; the walk seeds the "loss" output's operand. */
static void moac_grad_output(ctx *c, moac_node *n, moac_node *dy) { (void)c, (void)n, (void)dy; }

/* Backward ops in a loss's forward path would need second-order rules, which moac does not
 * have: say so rather than silently dropping the gradient. (pad, broadcast and normalize are
 * plain functions with first-order rules below.) */
static void refuse(ctx *c, moac_node *n, const char *why) {
    char value[96];
    if (n->name) snprintf(value, sizeof value, "%%%s", n->name);
    else snprintf(value, sizeof value, "%%%" PRIu32, n->id);
    moac_diag_error(c->d, n->loc, "autodiff: %s = %s: %s", value, moac_op_info_get(n->op)->name, why);
    c->failed = 1;
}
static void no_second_order(ctx *c, moac_node *n) {
    refuse(c, n, "the loss depends on a backward op; second-order gradients are not supported");
}
#define SECOND_ORDER(name) \
    static void moac_grad_##name(ctx *c, moac_node *n, moac_node *dy) { (void)dy, no_second_order(c, n); }
SECOND_ORDER(gelu_grad)
SECOND_ORDER(relu_grad)
SECOND_ORDER(softmax_grad)
SECOND_ORDER(layernorm_grad)
SECOND_ORDER(attention_grad)
SECOND_ORDER(rope_grad)
SECOND_ORDER(embed_grad)
SECOND_ORDER(cross_entropy_grad)
SECOND_ORDER(take_grad)

/* Statistics a pass after autodiff adds for the backward (attention_stats); never in a loss's path
 * when autodiff runs on the pipeline, so only hand-written IR gets here. */
static void moac_grad_attention_lse(ctx *c, moac_node *n, moac_node *dy) {
    (void)dy;
    refuse(c, n, "the loss depends on the attention's softmax statistics, which have no gradient rule; "
                 "differentiate the graph without them");
}

/* ---- Elementwise. Binary ops broadcast, so each operand's share is unbroadcast. ---- */

static void moac_grad_add(ctx *c, moac_node *n, moac_node *dy) {
    for (int k = 0; k < 2; k++)
        if (wants(c, n, k)) emit(c, n, k, unbroadcast(c, dy, arg_type(n, k)));
}

static void moac_grad_sub(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, unbroadcast(c, dy, arg_type(n, 0)));
    if (wants(c, n, 1)) emit(c, n, 1, un(c, MOAC_OP_NEG, unbroadcast(c, dy, arg_type(n, 1))));
}

static void moac_grad_mul(ctx *c, moac_node *n, moac_node *dy) {
    for (int k = 0; k < 2; k++)
        if (wants(c, n, k)) emit(c, n, k, unbroadcast(c, bin(c, MOAC_OP_MUL, dy, n->args[1 - k]), arg_type(n, k)));
}

/* y = a / b: da = dy / b, db = -dy * a / b^2 = -dy * y / b. */
static void moac_grad_div(ctx *c, moac_node *n, moac_node *dy) {
    moac_node *b = n->args[1];
    if (wants(c, n, 0)) emit(c, n, 0, unbroadcast(c, bin(c, MOAC_OP_DIV, dy, b), arg_type(n, 0)));
    if (wants(c, n, 1)) {
        moac_node *t = bin(c, MOAC_OP_DIV, bin(c, MOAC_OP_MUL, dy, n), b);
        emit(c, n, 1, un(c, MOAC_OP_NEG, unbroadcast(c, t, arg_type(n, 1))));
    }
}

static void moac_grad_scale(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, moac_b_scale(c->g, dy, n->f[0]));
}

static void moac_grad_neg(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, un(c, MOAC_OP_NEG, dy));
}

static void moac_grad_square(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, bin(c, MOAC_OP_MUL, dy, moac_b_scale(c->g, n->args[0], 2.0)));
}

static void moac_grad_exp(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, bin(c, MOAC_OP_MUL, dy, n));
}

static void moac_grad_log(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, bin(c, MOAC_OP_DIV, dy, n->args[0]));
}

static void moac_grad_relu(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, bin(c, MOAC_OP_RELU_GRAD, n->args[0], dy));
}

static void moac_grad_gelu(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, bin(c, MOAC_OP_GELU_GRAD, n->args[0], dy));
}

/* y = sigmoid(x): dx = dy * y * (1 - y), from the forward value. */
static void moac_grad_sigmoid(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    moac_node *one_minus = bin(c, MOAC_OP_SUB, moac_b_full(c->g, 1.0), n);
    emit(c, n, 0, bin(c, MOAC_OP_MUL, dy, bin(c, MOAC_OP_MUL, n, one_minus)));
}

/* The same site (p, stream) draws the same mask for dy as for x in the same step, so applying
 * the forward dropout to dy is exactly dy * mask / (1 - p). */
static void moac_grad_dropout(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, moac_b_finish(like(c, n, MOAC_OP_DROPOUT, 1, &dy)));
}

/* d/dz BCE(sigmoid(z), y) = sigmoid(z) - y; none to y (moac_grad_reaches). */
static void moac_grad_bce_logits(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    moac_node *d = bin(c, MOAC_OP_SUB, un(c, MOAC_OP_SIGMOID, n->args[0]), n->args[1]);
    emit(c, n, 0, unbroadcast(c, bin(c, MOAC_OP_MUL, d, dy), arg_type(n, 0)));
}

/* ---- Layout. ---- */

static void moac_grad_reshape(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, reshape_to(c, dy, arg_type(n, 0)));
}

static void moac_grad_transpose(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    int64_t inverse[MOAC_MAX_RANK];
    for (int k = 0; k < n->nl; k++) inverse[n->l[k]] = k;
    emit(c, n, 0, moac_b_transpose(c->g, dy, n->nl, inverse));
}

static void moac_grad_slice(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    moac_node *p = moac_graph_append(c->g, MOAC_OP_PAD, 1, &dy);
    p->i[0] = n->i[0];
    p->i[1] = n->i[1];
    p->i[2] = arg_type(n, 0)->dims[n->i[0]];
    emit(c, n, 0, moac_b_finish(p));
}

/* Each operand's gradient is its slice of dy. */
static void moac_grad_concat(ctx *c, moac_node *n, moac_node *dy) {
    int axis = (int)n->i[0];
    int64_t start = 0;
    for (int a = 0; a < n->nargs; a++) {
        int64_t len = arg_type(n, a)->dims[axis];
        if (wants(c, n, a)) emit(c, n, a, moac_b_slice(c->g, dy, axis, start, len));
        start += len;
    }
}

/* pad is slice's transpose, and the other way round. */
static void moac_grad_pad(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, moac_b_slice(c->g, dy, (int)n->i[0], n->i[1], arg_type(n, 0)->dims[n->i[0]]));
}

static void moac_grad_broadcast(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, unbroadcast(c, dy, arg_type(n, 0)));
}

/* ---- Reductions and normalisation. ---- */

/* dy back to the operand's shape: the reduced axes as 1s (keep=1's shape), then stretched. The
 * number of elements each output summed is returned for reduce_mean. */
static moac_node *unreduce(ctx *c, const moac_node *n, moac_node *dy, double *count) {
    moac_type kept = *arg_type(n, 0);
    *count = 1;
    for (int k = 0; k < n->nl; k++) {
        *count *= (double)kept.dims[n->l[k]];
        kept.dims[n->l[k]] = 1;
    }
    return reshape_to(c, dy, &kept);
}

static void moac_grad_reduce_sum(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    double count;
    emit(c, n, 0, broadcast_to(c, unreduce(c, n, dy, &count), arg_type(n, 0)));
}

static void moac_grad_reduce_mean(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    double count;
    moac_node *kept = unreduce(c, n, dy, &count);
    emit(c, n, 0, broadcast_to(c, moac_b_scale(c->g, kept, 1.0 / count), arg_type(n, 0)));
}

static void moac_grad_softmax(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, bin(c, MOAC_OP_SOFTMAX_GRAD, n, dy));
}

/* Sum of dy over every axis but the last: the gradient of a per-channel weight or bias. */
static moac_node *sum_leading(ctx *c, moac_node *x) {
    if (x->type.rank == 1) return x;
    int64_t axes[MOAC_MAX_RANK];
    for (int k = 0; k < x->type.rank - 1; k++) axes[k] = k;
    return moac_b_reduce(c->g, MOAC_OP_REDUCE_SUM, x, x->type.rank - 1, axes, 0);
}

/* y = normalize(x) * w + b: dx by layernorm_grad, dw = sum(dy * normalize(x)), db = sum(dy). */
static void moac_grad_layernorm(ctx *c, moac_node *n, moac_node *dy) {
    moac_node *x = n->args[0], *w = n->args[1];
    if (wants(c, n, 0)) emit(c, n, 0, moac_b_finish(like(c, n, MOAC_OP_LAYERNORM_GRAD, 3, (moac_node *[]){x, w, dy})));
    if (wants(c, n, 1)) {
        moac_node *xhat = moac_b_finish(like(c, n, MOAC_OP_NORMALIZE, 1, &x));
        emit(c, n, 1, sum_leading(c, bin(c, MOAC_OP_MUL, dy, xhat)));
    }
    if (n->nargs == 3 && wants(c, n, 2)) emit(c, n, 2, sum_leading(c, dy));
}

/* normalize is layernorm with weight 1. */
static void moac_grad_normalize(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    moac_type ct = {.dtype = MOAC_F32, .rank = 1, .dims = {n->type.dims[n->type.rank - 1]}};
    moac_node *ones = broadcast_to(c, moac_b_full(c->g, 1.0), &ct);
    emit(c, n, 0, moac_b_finish(like(c, n, MOAC_OP_LAYERNORM_GRAD, 3, (moac_node *[]){n->args[0], ones, dy})));
}

/* ---- Linear algebra. ---- */

/* C = A' B' with A' = ta ? Aᵀ : A, B' = tb ? Bᵀ : B (last two dims):
 *   dA' = dC B'ᵀ and dB' = A'ᵀ dC, transposed back where ta / tb, which the flags absorb:
 *   dA = ta ? matmul(B, dC, tb, 1) : matmul(dC, B, 0, !tb)
 *   dB = tb ? matmul(dC, A, 1, ta) : matmul(A, dC, !ta, 0)
 * then unbroadcast over the batch dims an operand was stretched on. */
static void moac_grad_matmul(ctx *c, moac_node *n, moac_node *dy) {
    moac_node *a = n->args[0], *b = n->args[1];
    int ta = (int)n->i[0], tb = (int)n->i[1];
    if (wants(c, n, 0)) {
        moac_node *da = ta ? moac_b_matmul(c->g, b, dy, tb, 1) : moac_b_matmul(c->g, dy, b, 0, !tb);
        emit(c, n, 0, unbroadcast(c, da, &a->type));
    }
    if (!wants(c, n, 1)) return;
    if (b->type.rank == 2 && a->type.rank > 2 && !ta) {
        /* A projection x[..., K] @ W: fold the batch dims into M, so the weight's gradient is
         * one [P,K]x[P,N] product rather than a per-batch product summed afterwards. */
        int64_t p = moac_type_numel(&a->type) / a->type.dims[a->type.rank - 1];
        moac_node *a2 = moac_b_reshape(c->g, a, MOAC_DIMS(p, a->type.dims[a->type.rank - 1]));
        moac_node *d2 = moac_b_reshape(c->g, dy, MOAC_DIMS(p, dy->type.dims[dy->type.rank - 1]));
        emit(c, n, 1, tb ? moac_b_matmul(c->g, d2, a2, 1, 0) : moac_b_matmul(c->g, a2, d2, 1, 0));
        return;
    }
    moac_node *db = tb ? moac_b_matmul(c->g, dy, a, 1, ta) : moac_b_matmul(c->g, a, dy, !ta, 0);
    emit(c, n, 1, unbroadcast(c, db, &b->type));
}

/* ---- Transformer pieces. ---- */

static void moac_grad_embed(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    emit(c, n, 0, with_int(c, MOAC_OP_EMBED_GRAD, 2, (moac_node *[]){n->args[1], dy}, arg_type(n, 0)->dims[0]));
}

static void moac_grad_attention(ctx *c, moac_node *n, moac_node *dy) {
    for (int k = 0; k < 3; k++) {
        if (!wants(c, n, k)) continue;
        moac_node *g = like(c, n, MOAC_OP_ATTENTION_GRAD, 4, (moac_node *[]){n->args[0], n->args[1], n->args[2], dy});
        g->i[1] = k; /* which */
        emit(c, n, k, moac_b_finish(g));
    }
}

/* A rotation by the positions' angles; its transpose rotates back. No gradient to pos (i32). */
static void moac_grad_rope(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    moac_node *args[2] = {dy, n->nargs == 2 ? n->args[1] : NULL};
    emit(c, n, 0, moac_b_finish(like(c, n, MOAC_OP_ROPE_GRAD, n->nargs, args)));
}

/* y_g = (1/s) sum of x over group g: every x head in the group gets dy_g / s. */
static void moac_grad_group_mean(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    moac_node *rep = with_int(c, MOAC_OP_REPEAT_HEADS, 1, &dy, n->i[0]);
    emit(c, n, 0, moac_b_scale(c->g, rep, 1.0 / (double)n->i[0]));
}

/* y_h = x_{h/t}: x_g gets the sum of dy over its t copies, i.e. t times their mean. */
static void moac_grad_repeat_heads(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    moac_node *mean = with_int(c, MOAC_OP_GROUP_MEAN, 1, &dy, n->i[0]);
    emit(c, n, 0, moac_b_scale(c->g, mean, (double)n->i[0]));
}

static void moac_grad_cross_entropy(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    emit(c, n, 0, moac_b_op(c->g, MOAC_OP_CROSS_ENTROPY_GRAD, 3, (moac_node *[]){n->args[0], n->args[1], dy}));
}

/* ---- Routing and sparse selection: gradients flow to the values, never to the indices. ---- */

static void moac_grad_take(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    const moac_type *x = arg_type(n, 0);
    emit(c, n, 0, with_int(c, MOAC_OP_TAKE_GRAD, 2, (moac_node *[]){n->args[1], dy}, x->dims[x->rank - 1]));
}

static void moac_grad_gather_rows(ctx *c, moac_node *n, moac_node *dy) {
    if (!wants(c, n, 0)) return;
    emit(c, n, 0, with_int(c, MOAC_OP_SCATTER_ROWS, 2, (moac_node *[]){dy, n->args[1]}, arg_type(n, 0)->dims[1]));
}

static void moac_grad_scatter_rows(ctx *c, moac_node *n, moac_node *dy) {
    if (wants(c, n, 0)) emit(c, n, 0, bin(c, MOAC_OP_GATHER_ROWS, dy, n->args[1]));
}

/* ---- Dispatch. ---- */

typedef void (*grad_rule)(ctx *c, moac_node *n, moac_node *dy);

static const grad_rule rules[MOAC_OP_COUNT] = {
#define X(name, ID, min_args, max_args, flags, attrs) [MOAC_OP_##ID] = moac_grad_##name,
#include "ir/ops.def"
#undef X
};

void moac_grad_apply(ctx *c, moac_node *n, moac_node *dy) {
    assert(moac_type_equal(&dy->type, &n->type));
    rules[n->op](c, n, dy);
}
