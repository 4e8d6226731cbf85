/* The transformer backbone (nanoGPT): token (+ learned position) embeddings, pre-norm blocks of
 * attention and MLP with residuals, final norm, LM head (tied to the token embedding by default),
 * cross-entropy, plus the auxiliary losses the mixtures registered. */
#include <math.h>
#include <string.h>

#include "passes/build.h"
#include "passes/lower.h"

moac_node *moac_lower_dropout(moac_lower *L, moac_node *x) {
    if (L->spec->dropout <= 0) return x;
    moac_node *n = moac_graph_append(L->g, MOAC_OP_DROPOUT, 1, &x);
    n->f[0] = L->spec->dropout;
    n->i[0] = L->next_stream++;
    return moac_b_finish(n);
}

moac_node *moac_lower_linear(moac_lower *L, moac_node *x, const char *wname, const char *bname, int64_t out,
                             int64_t in, double std, int bias) {
    moac_node *w = moac_b_param(L->g, wname, 0, std, MOAC_DIMS(out, in));
    moac_node *y = moac_b_matmul(L->g, x, w, 0, 1);
    if (bias) y = moac_b_binary(L->g, MOAC_OP_ADD, y, moac_b_param(L->g, bname, 0, 0, MOAC_DIMS(out)));
    return y;
}

static moac_node *layernorm(moac_lower *L, moac_node *x, const char *prefix) {
    moac_graph *g = L->g;
    moac_node *args[3] = {x, moac_b_param(g, moac_arena_printf(g->arena, "%s.w", prefix), 1, 0, MOAC_DIMS(L->C)), NULL};
    int n = 2;
    if (L->spec->norm_bias) args[n++] = moac_b_param(g, moac_arena_printf(g->arena, "%s.b", prefix), 0, 0, MOAC_DIMS(L->C));
    moac_node *ln = moac_graph_append(g, MOAC_OP_LAYERNORM, n, args);
    ln->f[0] = L->spec->norm_eps;
    return moac_b_finish(ln);
}

static moac_node *mlp(moac_lower *L, moac_node *x, int layer, double resid_std) {
    const moac_spec *s = L->spec;
    moac_arena *a = L->g->arena;
    moac_node *h = moac_lower_linear(L, x, moac_arena_printf(a, "h%d.mlp.w1", layer), moac_arena_printf(a, "h%d.mlp.b1", layer),
                                     s->mlp_hidden, L->C, 0.02, s->bias);
    h = moac_b_unary(L->g, s->mlp_act == MOAC_ACT_GELU ? MOAC_OP_GELU : MOAC_OP_RELU, h);
    h = moac_lower_linear(L, h, moac_arena_printf(a, "h%d.mlp.w2", layer), moac_arena_printf(a, "h%d.mlp.b2", layer), L->C,
                          s->mlp_hidden, resid_std, s->bias);
    return moac_lower_dropout(L, h);
}

int moac_lower_check_size(const moac_spec *s, int64_t batch, moac_diag *d) {
    long long B = batch > 0 ? batch : s->train.batch;
    if (moac_spec_largest_tensor(s, B) < MOAC_MAX_TENSOR) return 0;
    moac_diag_file_error(d, s->src ? s->src->path : NULL,
                         "model '%s' at batch %lld has tensors of 2^40 elements or more; lower the batch, context or "
                         "widths", s->name, B);
    return -1;
}

moac_graph *moac_lower_spec(moac_arena *a, const moac_spec *s, int64_t batch) {
    return moac_lower_spec_ex(a, s, batch, 0);
}

moac_graph *moac_lower_spec_ex(moac_arena *a, const moac_spec *s, int64_t batch, unsigned flags) {
    moac_lower L = {.spec = s, .B = batch > 0 ? batch : s->train.batch, .T = s->context, .C = s->width};
    moac_graph *g = L.g = moac_graph_new(a, s->name);
    moac_node *tokens = moac_b_input(g, "tokens", MOAC_I32, MOAC_DIMS(L.B, L.T));
    moac_node *targets = moac_b_input(g, "targets", MOAC_I32, MOAC_DIMS(L.B, L.T));
    moac_node *wte = moac_b_param(g, "wte", 0, 0.02, MOAC_DIMS(s->vocab, L.C));
    moac_node *x = moac_b_binary(g, MOAC_OP_EMBED, wte, tokens);
    if (s->positions == MOAC_POS_LEARNED)
        x = moac_b_binary(g, MOAC_OP_ADD, x, moac_b_param(g, "wpe", 0, 0.02, MOAC_DIMS(L.T, L.C)));
    x = moac_lower_dropout(&L, x);
    /* GPT-2: residual output projections start smaller, by 1/sqrt(2 * layers). */
    double resid_std = 0.02 / sqrt(2.0 * s->layers);
    for (int l = 0; l < s->layers; l++) {
        L.layer = l;
        moac_node *h = layernorm(&L, x, moac_arena_printf(a, "h%d.ln1", l));
        h = moac_lower_attention(&L, s->attention, h, moac_arena_printf(a, "h%d.attn", l));
        x = moac_b_binary(g, MOAC_OP_ADD, x, h);
        h = layernorm(&L, x, moac_arena_printf(a, "h%d.ln2", l));
        x = moac_b_binary(g, MOAC_OP_ADD, x, mlp(&L, h, l, resid_std));
    }
    x = layernorm(&L, x, "ln_f");
    moac_node *head = s->tied ? wte : moac_b_param(g, "lm_head", 0, 0.02, MOAC_DIMS(s->vocab, L.C));
    moac_node *logits = moac_b_matmul(g, x, head, 0, 1);
    if (flags & MOAC_LOWER_LOGITS) moac_b_output(g, logits, "logits");
    moac_node *lm = moac_b_binary(g, MOAC_OP_CROSS_ENTROPY, logits, targets);
    moac_node *loss = L.aux ? moac_b_binary(g, MOAC_OP_ADD, lm, L.aux) : lm;
    if (L.aux) moac_b_output(g, lm, "lm_loss");
    moac_b_output(g, loss, "loss");
    return g;
}
