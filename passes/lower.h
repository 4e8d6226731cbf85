/* Lowering of a checked spec to the forward IR graph, ending in the loss.
 * lower.c builds the transformer backbone (embeddings, blocks, MLP, LM head, losses);
 * lower_attention.c builds one layer's attention: schemes, KV groupings and mixtures. */
#ifndef MOAC_LOWER_H
#define MOAC_LOWER_H
#include "frontend/spec.h"
#include "ir/ir.h"

typedef struct moac_lower {
    moac_graph *g;
    const moac_spec *spec;
    int64_t B, T, C;
    int layer;
    int next_stream;   /* dropout sites each draw from their own random stream */
    moac_node *aux;    /* weighted sum of the auxiliary losses so far (scalar), or NULL */
} moac_lower;

/* Builds the forward graph of spec at the given batch size (its train batch when 0). */
moac_graph *moac_lower_spec(moac_arena *a, const moac_spec *spec, int64_t batch);

/* Checks that every tensor of the graph would have fewer than 2^40 elements (a bound that keeps
 * every size computation exact); reports the spec and the batch otherwise. Returns 0 or -1. */
int moac_lower_check_size(const moac_spec *spec, int64_t batch, moac_diag *d);

enum moac_lower_flags {
    MOAC_LOWER_LOGITS = 1 << 0, /* also output "logits" [B,T,V] (evaluation: accuracy, generation) */
};
moac_graph *moac_lower_spec_ex(moac_arena *a, const moac_spec *spec, int64_t batch, unsigned flags);

/* Shared by both files. */
moac_node *moac_lower_dropout(moac_lower *L, moac_node *x);
/* x[..., in] @ W[out, in]^T (+ b): a projection with nanoGPT's weight layout. */
moac_node *moac_lower_linear(moac_lower *L, moac_node *x, const char *wname, const char *bname, int64_t out,
                             int64_t in, double std, int bias);
moac_node *moac_lower_attention(moac_lower *L, const moac_scheme *sc, moac_node *x, const char *prefix);

#endif
