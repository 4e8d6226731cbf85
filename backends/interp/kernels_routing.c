/* Routing and sparse selection kernels: topk, take (+ grad), gather_rows, scatter_rows,
 * onehot_argmax, capacity_route.
 *
 * Every selection ranks by score, higher first, ties broken by the lower index, with NaN above
 * every number (moac_greater), so the order is total and results never depend on the sort used. */
#include <assert.h>
#include <stdlib.h>

#include "backends/interp/kernels.h"

typedef struct ranked {
    double score;
    int64_t index;
} ranked;

/* qsort order: better first. A total order (index breaks ties), so qsort is deterministic. */
static int by_rank(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (moac_greater(a->score, b->score)) return -1;
    if (moac_greater(b->score, a->score)) return 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* ---- topk. ---- */

/* Per row of T scores: the k best positions, written in ascending position order. With first=1,
 * position 0 is always kept and the other k-1 are the best of positions 1..T-1. */
int moac_kernel_topk(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0);
    int64_t T = x->dims[x->rank - 1], K = k->node->i[0], rows = moac_type_numel(x) / T;
    int first = (int)k->node->i[1];
    assert(K >= 1 && K <= T);
    ranked *cand = malloc((size_t)T * sizeof *cand);
    char *chosen = malloc((size_t)T);
    if (!cand || !chosen) {
        free(cand);
        free(chosen);
        return moac_kernel_fail(k, "out of memory");
    }
    for (int64_t r = 0; r < rows; r++) {
        const double *s = k->in[0] + r * T;
        int64_t n = 0;
        for (int64_t t = first; t < T; t++) cand[n++] = (ranked){s[t], t};
        qsort(cand, (size_t)n, sizeof *cand, by_rank);
        for (int64_t t = 0; t < T; t++) chosen[t] = 0;
        if (first) chosen[0] = 1;
        for (int64_t j = 0; j < K - first; j++) chosen[cand[j].index] = 1;
        double *o = k->out + r * K;
        int64_t w = 0;
        for (int64_t t = 0; t < T; t++)
            if (chosen[t]) o[w++] = (double)t;
        assert(w == K);
    }
    free(cand);
    free(chosen);
    return 0;
}

/* ---- take and its gradient. ---- */

/* (x[..., T], idx[..., K]) -> out[..., j] = x[..., idx[..., j]]. */
int moac_kernel_take(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0), *it = moac_kin(k, 1);
    int64_t T = x->dims[x->rank - 1], K = it->dims[it->rank - 1], n = moac_type_numel(it);
    for (int64_t i = 0; i < n; i++) {
        int64_t t;
        if (moac_kernel_index(k, k->in[1][i], T, "index", i, &t)) return -1;
        k->out[i] = k->in[0][(i / K) * T + t];
    }
    return 0;
}

/* (idx[..., K], dy[..., K]) -> [..., size], dy summed at idx (in order). */
int moac_kernel_take_grad(const moac_kernel_ctx *k) {
    const moac_type *it = moac_kin(k, 0);
    int64_t size = k->node->i[0], K = it->dims[it->rank - 1], n = moac_type_numel(it);
    for (int64_t i = 0; i < n; i++) {
        int64_t t;
        if (moac_kernel_index(k, k->in[0][i], size, "index", i, &t)) return -1;
        k->out[(i / K) * size + t] += k->in[1][i];
    }
    return 0;
}

/* ---- Row gather / scatter. ---- */

/* (x[B,T,C], idx[B,E,K]) -> out[b,e,j,:] = x[b, idx[b,e,j], :]. */
int moac_kernel_gather_rows(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0), *it = moac_kin(k, 1);
    int64_t T = x->dims[1], C = x->dims[2], per_b = it->dims[1] * it->dims[2], n = moac_type_numel(it);
    for (int64_t i = 0; i < n; i++) {
        int64_t t;
        if (moac_kernel_index(k, k->in[1][i], T, "row index", i, &t)) return -1;
        const double *src = k->in[0] + ((i / per_b) * T + t) * C;
        double *o = k->out + i * C;
        for (int64_t c = 0; c < C; c++) o[c] = src[c];
    }
    return 0;
}

/* (y[B,E,K,C], idx[B,E,K]) -> [B,rows,C]: out[b, idx[b,e,j], :] += y[b,e,j,:], in order. */
int moac_kernel_scatter_rows(const moac_kernel_ctx *k) {
    const moac_type *it = moac_kin(k, 1);
    int64_t rows = k->node->i[0], C = moac_kout(k)->dims[2], per_b = it->dims[1] * it->dims[2];
    int64_t n = moac_type_numel(it);
    for (int64_t i = 0; i < n; i++) {
        int64_t t;
        if (moac_kernel_index(k, k->in[1][i], rows, "row index", i, &t)) return -1;
        double *o = k->out + ((i / per_b) * rows + t) * C;
        const double *src = k->in[0] + i * C;
        for (int64_t c = 0; c < C; c++) o[c] += src[c];
    }
    return 0;
}

/* ---- Hard routing. ---- */

/* One-hot of the first maximum of each row. */
int moac_kernel_onehot_argmax(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0);
    int64_t E = x->dims[x->rank - 1], rows = moac_type_numel(x) / E;
    for (int64_t r = 0; r < rows; r++) {
        const double *s = k->in[0] + r * E;
        int64_t best = 0;
        for (int64_t e = 1; e < E; e++)
            if (moac_greater(s[e], s[best])) best = e;
        k->out[r * E + best] = 1.0;
    }
    return 0;
}

/* Expert choice with capacities, per batch row: experts e = 0..E-1 in order each take the
 * caps[e] best tokens by scores[:, e] among those not yet taken (fewer when fewer remain). The
 * shape rule guarantees sum(caps) >= T, so every token is taken; should one be left anyway, it
 * goes to the last expert, so the result is always one expert per token. */
int moac_kernel_capacity_route(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0);
    int64_t B = x->dims[0], T = x->dims[1], E = x->dims[2];
    assert(k->node->nl == E);
    ranked *cand = malloc((size_t)T * sizeof *cand);
    char *taken = malloc((size_t)T);
    if (!cand || !taken) {
        free(cand);
        free(taken);
        return moac_kernel_fail(k, "out of memory");
    }
    for (int64_t b = 0; b < B; b++) {
        const double *s = k->in[0] + b * T * E;
        double *o = k->out + b * T * E;
        for (int64_t t = 0; t < T; t++) taken[t] = 0;
        for (int64_t e = 0; e < E; e++) {
            int64_t n = 0;
            for (int64_t t = 0; t < T; t++)
                if (!taken[t]) cand[n++] = (ranked){s[t * E + e], t};
            qsort(cand, (size_t)n, sizeof *cand, by_rank);
            int64_t cap = k->node->l[e] < n ? k->node->l[e] : n;
            for (int64_t j = 0; j < cap; j++) {
                taken[cand[j].index] = 1;
                o[cand[j].index * E + e] = 1.0;
            }
        }
        for (int64_t t = 0; t < T; t++)
            if (!taken[t]) o[t * E + E - 1] = 1.0;
    }
    free(cand);
    free(taken);
    return 0;
}
