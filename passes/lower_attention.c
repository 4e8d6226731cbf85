/* One layer's attention, built from the scheme tree:
 *   dense   Q/K/V projections, optional RoPE, causal attention reading grouped KV heads, output
 *           projection; its K/V may first pass through a KV grouping (mixSGA experts).
 *   sparse  MoSA heads: router, top-k tokens per head, gathered Q/K/V with RoPE at the original
 *           positions, causal attention, scaling by the router score, scatter-add back.
 *   mixture mean / sum / token-choice route (soft or hard top-1) / expert-choice capacity, with
 *           the auxiliary losses and the gate statistics as graph outputs. */
#include <math.h>
#include <string.h>

#include "passes/build.h"
#include "passes/lower.h"

static const char *join(moac_lower *L, const char *prefix, const char *leaf) {
    return moac_arena_printf(L->g->arena, "%s.%s", prefix, leaf);
}

/* [B,T,H*D] -> [B,H,T,D] */
static moac_node *split_heads(moac_lower *L, moac_node *x, int64_t H, int64_t D) {
    x = moac_b_reshape(L->g, x, MOAC_DIMS(L->B, L->T, H, D));
    return moac_b_transpose(L->g, x, MOAC_DIMS(0, 2, 1, 3));
}

/* [B,H,T,D] -> [B,T,H*D] */
static moac_node *merge_heads(moac_lower *L, moac_node *x) {
    int64_t H = x->type.dims[1], D = x->type.dims[3];
    x = moac_b_transpose(L->g, x, MOAC_DIMS(0, 2, 1, 3));
    return moac_b_reshape(L->g, x, MOAC_DIMS(L->B, L->T, H * D));
}

static moac_node *rope(moac_lower *L, moac_node *x, moac_node *pos, double fraction) {
    moac_node *args[2] = {x, pos};
    moac_node *n = moac_graph_append(L->g, MOAC_OP_ROPE, pos ? 2 : 1, args);
    n->f[0] = fraction;
    n->f[1] = L->spec->rope_base;
    return moac_b_finish(n);
}

static moac_node *attend(moac_lower *L, moac_node *q, moac_node *k, moac_node *v) {
    moac_node *args[3] = {q, k, v};
    moac_node *n = moac_graph_append(L->g, MOAC_OP_ATTENTION, 3, args);
    n->i[0] = 1;
    n->f[0] = 1.0 / sqrt((double)q->type.dims[3]);
    return moac_b_finish(n);
}

static double resid_std(moac_lower *L) { return 0.02 / sqrt(2.0 * L->spec->layers); }

/* ---- mixture weights ------------------------------------------------------------------- */

static moac_node *router_logits(moac_lower *L, const moac_scheme *mix, moac_node *x, const char *prefix) {
    const moac_router *r = &mix->router;
    int64_t E = mix->nbranches;
    if (r->hidden) {
        moac_node *h = moac_lower_linear(L, x, join(L, prefix, "router.w1"), NULL, r->hidden, L->C, 0.02, 0);
        h = moac_b_unary(L->g, r->act == MOAC_ACT_GELU ? MOAC_OP_GELU : MOAC_OP_RELU, h);
        return moac_lower_linear(L, h, join(L, prefix, "router.w2"), NULL, E, r->hidden, 0.02, 0);
    }
    double std = r->he_init ? sqrt(2.0 / (double)L->C) : 0.02;
    return moac_lower_linear(L, x, join(L, prefix, "router.w"), join(L, prefix, "router.b"), E, L->C, std, r->bias);
}

static void add_aux(moac_lower *L, moac_node *term, double weight, const char *name) {
    moac_b_output(L->g, term, name);
    /* The papers average the per-layer auxiliary losses over layers before weighting them. */
    moac_node *w = moac_b_scale(L->g, term, weight / L->spec->layers);
    L->aux = L->aux ? moac_b_binary(L->g, MOAC_OP_ADD, L->aux, w) : w;
}

/* Per-token weights [B,T,E] of a routed mixture, with its aux loss and statistics registered.
 * NULL for mean and sum, whose weights are constants. */
static moac_node *mixture_weights(moac_lower *L, const moac_scheme *mix, moac_node *x, const char *prefix) {
    moac_graph *g = L->g;
    if (mix->rule != MOAC_MIX_ROUTE && mix->rule != MOAC_MIX_CAPACITY) return NULL;
    int64_t E = mix->nbranches;
    moac_node *z = router_logits(L, mix, x, prefix);
    moac_node *gates = moac_b_unary(g, mix->gate == MOAC_GATE_SOFTMAX ? MOAC_OP_SOFTMAX : MOAC_OP_SIGMOID, z);
    if (mix->rule == MOAC_MIX_CAPACITY) {
        /* Expert choice: a hard one-hot assignment. The LM loss cannot reach the router through
         * it; only the consistency loss trains the router (mixSGA). */
        moac_node *n = moac_graph_append(g, MOAC_OP_CAPACITY_ROUTE, 1, &gates);
        int64_t caps[64], left = L->T;
        for (int e = 0; e < E; e++) {
            int64_t c = e == E - 1 ? left : (int64_t)ceil(mix->ratios[e] * (double)L->T);
            caps[e] = c < left ? c : left;
            left -= caps[e];
        }
        moac_node_set_list(g, n, caps, (int)E);
        moac_node *assign = moac_b_finish(n);
        moac_b_output(g, moac_b_reduce(g, MOAC_OP_REDUCE_MEAN, assign, MOAC_DIMS(0, 1), 0), join(L, prefix, "shares"));
        if (mix->aux == MOAC_AUX_CONSISTENCY) {
            moac_node *bce = moac_b_binary(g, MOAC_OP_BCE_LOGITS, z, assign);
            add_aux(L, moac_b_reduce(g, MOAC_OP_REDUCE_MEAN, bce, MOAC_DIMS(0, 1, 2), 0), mix->aux_weight,
                    join(L, prefix, "consistency"));
        }
        return assign;
    }
    moac_node *mean_gate = moac_b_reduce(g, MOAC_OP_REDUCE_MEAN, gates, MOAC_DIMS(0, 1), 0);
    moac_b_output(g, mean_gate, join(L, prefix, "gates"));
    if (mix->aux == MOAC_AUX_BALANCE) {
        /* MoAS: MSE between the batch-mean gates and the uniform distribution. */
        moac_node *diff = moac_b_binary(g, MOAC_OP_SUB, mean_gate, moac_b_full(g, 1.0 / (double)E));
        moac_node *mse = moac_b_reduce(g, MOAC_OP_REDUCE_MEAN, moac_b_unary(g, MOAC_OP_SQUARE, diff), MOAC_DIMS(0), 0);
        add_aux(L, mse, mix->aux_weight, join(L, prefix, "balance"));
    }
    if (mix->hard) {
        /* Top-1: only the winning branch contributes, scaled by its gate so the router learns. */
        gates = moac_b_binary(g, MOAC_OP_MUL, gates, moac_b_unary(g, MOAC_OP_ONEHOT_ARGMAX, gates));
    }
    return moac_lower_dropout(L, gates);
}

/* Weight of branch e as a tensor that broadcasts against [B,T,C] or, with heads_layout, against
 * [B,H,T,D]. */
static moac_node *branch_weight(moac_lower *L, moac_node *w, int e, int heads_layout) {
    moac_node *we = moac_b_slice(L->g, w, 2, e, 1); /* [B,T,1] */
    if (heads_layout) we = moac_b_reshape(L->g, we, MOAC_DIMS(L->B, 1, L->T, 1));
    return we;
}

static moac_node *combine(moac_lower *L, const moac_scheme *mix, moac_node *w, moac_node **parts, int heads_layout) {
    moac_node *sum = NULL;
    for (int e = 0; e < mix->nbranches; e++) {
        moac_node *p = parts[e];
        if (w) p = moac_b_binary(L->g, MOAC_OP_MUL, branch_weight(L, w, e, heads_layout), p);
        sum = sum ? moac_b_binary(L->g, MOAC_OP_ADD, sum, p) : p;
    }
    if (mix->rule == MOAC_MIX_MEAN) sum = moac_b_scale(L->g, sum, 1.0 / mix->nbranches);
    return sum;
}

/* ---- KV groupings ---------------------------------------------------------------------- */

/* Applies a KV grouping to k and v ([B,G,T,D]). With full set, the result keeps G heads
 * (each group's mean repeated back), as a mixture of groupings needs; otherwise a lone grouping
 * yields G/size heads, which attention reads as grouped KV heads. */
static void group_kv(moac_lower *L, const moac_scheme *kv, moac_node *x, const char *prefix, moac_node **k,
                     moac_node **v, int full) {
    moac_graph *g = L->g;
    if (kv->kind == MOAC_SCHEME_GROUP) {
        if (kv->group == 1) return;
        moac_node *kk[2] = {*k, *v};
        for (int i = 0; i < 2; i++) {
            moac_node *n = moac_graph_append(g, MOAC_OP_GROUP_MEAN, 1, &kk[i]);
            n->i[0] = kv->group;
            kk[i] = moac_b_finish(n);
            if (full) {
                n = moac_graph_append(g, MOAC_OP_REPEAT_HEADS, 1, &kk[i]);
                n->i[0] = kv->group;
                kk[i] = moac_b_finish(n);
            }
        }
        *k = kk[0];
        *v = kk[1];
        return;
    }
    moac_node *w = mixture_weights(L, kv, x, prefix);
    moac_node *ks[64], *vs[64];
    for (int e = 0; e < kv->nbranches; e++) {
        ks[e] = *k;
        vs[e] = *v;
        group_kv(L, kv->branches[e], x, join(L, prefix, kv->branches[e]->label), &ks[e], &vs[e], 1);
    }
    *k = combine(L, kv, w, ks, 1);
    *v = combine(L, kv, w, vs, 1);
}

/* ---- schemes --------------------------------------------------------------------------- */

static moac_node *dense(moac_lower *L, const moac_scheme *sc, moac_node *x, const char *prefix) {
    int64_t H = sc->heads, G = sc->kv_heads, D = sc->head_dim;
    int bias = L->spec->bias;
    moac_node *q = moac_lower_linear(L, x, join(L, prefix, "wq"), join(L, prefix, "bq"), H * D, L->C, 0.02, bias);
    moac_node *k = moac_lower_linear(L, x, join(L, prefix, "wk"), join(L, prefix, "bk"), G * D, L->C, 0.02, bias);
    moac_node *v = moac_lower_linear(L, x, join(L, prefix, "wv"), join(L, prefix, "bv"), G * D, L->C, 0.02, bias);
    q = split_heads(L, q, H, D);
    k = split_heads(L, k, G, D);
    v = split_heads(L, v, G, D);
    if (sc->kv) group_kv(L, sc->kv, x, join(L, prefix, "kv"), &k, &v, 0);
    if (sc->rope > 0) {
        q = rope(L, q, NULL, sc->rope);
        k = rope(L, k, NULL, sc->rope);
    }
    moac_node *o = merge_heads(L, attend(L, q, k, v));
    o = moac_lower_linear(L, o, join(L, prefix, "wo"), join(L, prefix, "bo"), L->C, H * D, resid_std(L), bias);
    return moac_lower_dropout(L, o);
}

static moac_node *sparse(moac_lower *L, const moac_scheme *sc, moac_node *x, const char *prefix) {
    moac_graph *g = L->g;
    int64_t E = sc->heads, D = sc->head_dim, k = sc->k;
    /* Each head scores every token; expert choice picks its top-k (ascending positions). */
    moac_node *r = moac_b_unary(g, MOAC_OP_SIGMOID, moac_lower_linear(L, x, join(L, prefix, "wr"), NULL, E, L->C, 0.02, 0));
    r = moac_b_transpose(g, r, MOAC_DIMS(0, 2, 1)); /* [B,E,T] */
    moac_node *sel = moac_graph_append(g, MOAC_OP_TOPK, 1, &r);
    sel->i[0] = k;
    sel->i[1] = sc->include_first;
    moac_node *idx = moac_b_finish(sel);
    moac_node *score = moac_b_binary(g, MOAC_OP_TAKE, r, idx);      /* [B,E,k] */
    /* Selection statistics: the mean router score of the chosen tokens per head, next to the
     * mean over all tokens; their gap shows how selective each head has become. */
    moac_b_output(g, moac_b_reduce(g, MOAC_OP_REDUCE_MEAN, score, MOAC_DIMS(0, 2), 0), join(L, prefix, "selected_score"));
    moac_b_output(g, moac_b_reduce(g, MOAC_OP_REDUCE_MEAN, r, MOAC_DIMS(0, 2), 0), join(L, prefix, "mean_score"));
    moac_node *xs = moac_b_binary(g, MOAC_OP_GATHER_ROWS, x, idx);  /* [B,E,k,C] */
    moac_node *proj[3];
    static const char *const names[3] = {"wq", "wk", "wv"};
    for (int i = 0; i < 3; i++) {
        moac_node *w = moac_b_param(g, join(L, prefix, names[i]), 0, 0.02, MOAC_DIMS(E, D, L->C));
        proj[i] = moac_b_matmul(g, xs, w, 0, 1); /* [B,E,k,D] */
    }
    if (sc->rope > 0) { /* at the tokens' original positions */
        proj[0] = rope(L, proj[0], idx, sc->rope);
        proj[1] = rope(L, proj[1], idx, sc->rope);
    }
    moac_node *o = attend(L, proj[0], proj[1], proj[2]);
    /* Scaling by the router score is the router's only path to the loss. */
    o = moac_b_binary(g, MOAC_OP_MUL, o, moac_b_reshape(g, score, MOAC_DIMS(L->B, E, k, 1)));
    moac_node *wo = moac_b_param(g, join(L, prefix, "wo"), 0, resid_std(L), MOAC_DIMS(E, L->C, D));
    moac_node *y = moac_b_matmul(g, o, wo, 0, 1); /* [B,E,k,C] */
    moac_node *back = moac_graph_append(g, MOAC_OP_SCATTER_ROWS, 2, (moac_node *[]){y, idx});
    back->i[0] = L->T;
    return moac_lower_dropout(L, moac_b_finish(back));
}

static moac_node *mixture(moac_lower *L, const moac_scheme *mix, moac_node *x, const char *prefix) {
    moac_node *w = mixture_weights(L, mix, x, prefix);
    moac_node *parts[64];
    for (int e = 0; e < mix->nbranches; e++)
        parts[e] = moac_lower_attention(L, mix->branches[e], x, join(L, prefix, mix->branches[e]->label));
    return combine(L, mix, w, parts, 0);
}

moac_node *moac_lower_attention(moac_lower *L, const moac_scheme *sc, moac_node *x, const char *prefix) {
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE: return dense(L, sc, x, prefix);
    case MOAC_SCHEME_SPARSE: return sparse(L, sc, x, prefix);
    case MOAC_SCHEME_MIX: return mixture(L, sc, x, prefix);
    case MOAC_SCHEME_GROUP: break; /* sema only allows groupings inside attn(kv = ...) */
    }
    return x;
}
