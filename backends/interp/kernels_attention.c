/* Transformer kernels: attention and its gradient, rope and its transpose, embed and its
 * gradient. Heads layouts are [B,H,T,D]; query head h reads KV head h / (H/G). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/interp/kernels.h"

/* ---- Attention. ---- */

typedef struct attn_dims {
    int64_t B, H, G, T, S, D, Dv, per_group; /* per_group = H / G query heads per KV head */
    int causal;
    double scale;
} attn_dims;

static attn_dims attn_dims_of(const moac_kernel_ctx *k) {
    const moac_type *q = moac_kin(k, 0), *kt = moac_kin(k, 1), *v = moac_kin(k, 2);
    attn_dims a = {.B = q->dims[0], .H = q->dims[1], .G = kt->dims[1], .T = q->dims[2], .S = kt->dims[2],
                   .D = q->dims[3], .Dv = v->dims[3], .causal = (int)k->node->i[0], .scale = k->node->f[0]};
    a.per_group = a.H / a.G;
    assert(a.H % a.G == 0 && (!a.causal || a.S == a.T));
    return a;
}

/* The probabilities of query row t against keys 0..n-1 (n = t+1 when causal: keys s > t are
 * masked, i.e. have probability 0): p = softmax(scale * q_t . k_s). Returns n. */
static int64_t attn_probs(const attn_dims *a, const double *q, const double *kh, int64_t t, double *p) {
    int64_t n = a->causal ? t + 1 : a->S;
    double mx = -INFINITY;
    for (int64_t s = 0; s < n; s++) {
        const double *ks = kh + s * a->D;
        double dot = 0;
        for (int64_t d = 0; d < a->D; d++) dot += q[d] * ks[d];
        p[s] = a->scale * dot;
        mx = p[s] > mx ? p[s] : mx;
    }
    double sum = 0;
    for (int64_t s = 0; s < n; s++) sum += (p[s] = exp(p[s] - mx));
    for (int64_t s = 0; s < n; s++) p[s] /= sum;
    return n;
}

int moac_kernel_attention(const moac_kernel_ctx *k) {
    attn_dims a = attn_dims_of(k);
    double *p = malloc((size_t)a.S * sizeof *p);
    if (!p) return moac_kernel_fail(k, "out of memory");
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t h = 0; h < a.H; h++) {
            int64_t g = h / a.per_group;
            const double *qh = k->in[0] + (b * a.H + h) * a.T * a.D;
            const double *kh = k->in[1] + (b * a.G + g) * a.S * a.D;
            const double *vh = k->in[2] + (b * a.G + g) * a.S * a.Dv;
            double *oh = k->out + (b * a.H + h) * a.T * a.Dv;
            for (int64_t t = 0; t < a.T; t++) {
                int64_t n = attn_probs(&a, qh + t * a.D, kh, t, p);
                double *o = oh + t * a.Dv;
                for (int64_t s = 0; s < n; s++) {
                    const double *vs = vh + s * a.Dv;
                    for (int64_t d = 0; d < a.Dv; d++) o[d] += p[s] * vs[d];
                }
            }
        }
    free(p);
    return 0;
}

/* The log-sum-exp of each query row's scaled, masked scores: log sum_s exp(scale * q_t . k_s),
 * computed as max + log(sum exp(x - max)). v only fixes the shape. */
int moac_kernel_attention_lse(const moac_kernel_ctx *k) {
    attn_dims a = attn_dims_of(k);
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t h = 0; h < a.H; h++) {
            const double *qh = k->in[0] + (b * a.H + h) * a.T * a.D;
            const double *kh = k->in[1] + (b * a.G + h / a.per_group) * a.S * a.D;
            for (int64_t t = 0; t < a.T; t++) {
                int64_t n = a.causal ? t + 1 : a.S;
                double mx = -INFINITY, sum = 0;
                for (int pass = 0; pass < 2; pass++)
                    for (int64_t s = 0; s < n; s++) {
                        double dot = 0;
                        for (int64_t d = 0; d < a.D; d++) dot += qh[t * a.D + d] * kh[s * a.D + d];
                        double x = a.scale * dot;
                        if (pass == 0) mx = x > mx ? x : mx;
                        else sum += exp(x - mx);
                    }
                k->out[(b * a.H + h) * a.T + t] = n ? mx + log(sum) : -INFINITY;
            }
        }
    return 0;
}

/* (q, k, v, dout[, out, lse]) -> dq, dk or dv (out and lse, when given, are what this recomputes,
 * so the oracle ignores them), recomputing each row's probabilities P:
 *   dP = dout . v^T, dS = P * (dP - sum(dP * P)), dq = scale * dS . k, dk = scale * dS^T . q,
 *   dv = P^T . dout.
 * dk and dv accumulate over every query head of a KV head's group (and every query row), in a
 * fixed (b, h, t, s) order. */
int moac_kernel_attention_grad(const moac_kernel_ctx *k) {
    attn_dims a = attn_dims_of(k);
    int which = (int)k->node->i[1];
    assert(which >= 0 && which <= 2);
    double *p = malloc((size_t)a.S * 2 * sizeof *p);
    if (!p) return moac_kernel_fail(k, "out of memory");
    double *ds = p + a.S;
    for (int64_t b = 0; b < a.B; b++)
        for (int64_t h = 0; h < a.H; h++) {
            int64_t g = h / a.per_group;
            const double *qh = k->in[0] + (b * a.H + h) * a.T * a.D;
            const double *kh = k->in[1] + (b * a.G + g) * a.S * a.D;
            const double *vh = k->in[2] + (b * a.G + g) * a.S * a.Dv;
            const double *doh = k->in[3] + (b * a.H + h) * a.T * a.Dv;
            for (int64_t t = 0; t < a.T; t++) {
                const double *qt = qh + t * a.D, *dot = doh + t * a.Dv;
                int64_t n = attn_probs(&a, qt, kh, t, p);
                if (which == 2) { /* dv[g, s] += P[s] * dout[t] */
                    double *dvh = k->out + (b * a.G + g) * a.S * a.Dv;
                    for (int64_t s = 0; s < n; s++)
                        for (int64_t d = 0; d < a.Dv; d++) dvh[s * a.Dv + d] += p[s] * dot[d];
                    continue;
                }
                double rowsum = 0;
                for (int64_t s = 0; s < n; s++) {
                    const double *vs = vh + s * a.Dv;
                    double dp = 0;
                    for (int64_t d = 0; d < a.Dv; d++) dp += dot[d] * vs[d];
                    ds[s] = dp;
                    rowsum += dp * p[s];
                }
                for (int64_t s = 0; s < n; s++) ds[s] = p[s] * (ds[s] - rowsum);
                if (which == 0) { /* dq[t] = scale * sum_s dS[s] * k[s] */
                    double *dq = k->out + ((b * a.H + h) * a.T + t) * a.D;
                    for (int64_t s = 0; s < n; s++)
                        for (int64_t d = 0; d < a.D; d++) dq[d] += a.scale * ds[s] * kh[s * a.D + d];
                } else { /* dk[g, s] += scale * dS[s] * q[t] */
                    double *dkh = k->out + (b * a.G + g) * a.S * a.D;
                    for (int64_t s = 0; s < n; s++)
                        for (int64_t d = 0; d < a.D; d++) dkh[s * a.D + d] += a.scale * ds[s] * qt[d];
                }
            }
        }
    free(p);
    return 0;
}

/* ---- Rotary embedding. ---- */

/* Rotates each [D] row of x by +theta (dir = 1, rope) or -theta (dir = -1, rope_grad, the
 * transpose) on its first r = round(fraction * D) dims, in rotate-half form: for j < half = r/2,
 * theta_j = pos * base^(-2j/r) and (x_j, x_{j+half}) -> (x_j cos - x_{j+half} sin,
 * x_{j+half} cos + x_j sin). Dims >= r pass through. pos is the token index t, or pos[b,h,t]. */
static int rope(const moac_kernel_ctx *k, double dir) {
    const moac_type *x = moac_kin(k, 0);
    int64_t B = x->dims[0], H = x->dims[1], T = x->dims[2], D = x->dims[3];
    int64_t r = (int64_t)round(k->node->f[0] * (double)D), half = r / 2;
    assert(r >= 2 && r % 2 == 0 && r <= D);
    const double *pos = k->node->nargs == 2 ? k->in[1] : NULL;
    double *inv = malloc((size_t)(3 * half) * sizeof *inv);
    if (!inv) return moac_kernel_fail(k, "out of memory");
    double *cs = inv + half, *sn = cs + half;
    for (int64_t j = 0; j < half; j++) inv[j] = pow(k->node->f[1], -2.0 * (double)j / (double)r);
    for (int64_t row = 0; row < B * H * T; row++) {
        double p = (double)(row % T);
        if (pos) {
            p = pos[row];
            if (p != floor(p) || p < 0) { /* NaN and infinities included */
                free(inv);
                return moac_kernel_fail(k, p != floor(p) ? "position %g at element %lld is not an integer"
                                                         : "position %g at element %lld is negative",
                                        p, (long long)row);
            }
        }
        /* Without pos every (b, h) repeats the same T angles; recomputing them is simple and
         * cheap next to the attention that follows. */
        for (int64_t j = 0; j < half; j++) {
            double th = p * inv[j];
            cs[j] = cos(th);
            sn[j] = dir * sin(th);
        }
        const double *xi = k->in[0] + row * D;
        double *o = k->out + row * D;
        for (int64_t j = 0; j < half; j++) {
            o[j] = xi[j] * cs[j] - xi[j + half] * sn[j];
            o[j + half] = xi[j + half] * cs[j] + xi[j] * sn[j];
        }
        for (int64_t j = r; j < D; j++) o[j] = xi[j];
    }
    free(inv);
    return 0;
}

int moac_kernel_rope(const moac_kernel_ctx *k) { return rope(k, 1.0); }
int moac_kernel_rope_grad(const moac_kernel_ctx *k) { return rope(k, -1.0); }

/* ---- Embedding. ---- */

/* (table[V,C], ids[...]) -> out[..., :] = table[id, :]. */
int moac_kernel_embed(const moac_kernel_ctx *k) {
    const moac_type *table = moac_kin(k, 0);
    int64_t V = table->dims[0], C = table->dims[1], n = moac_type_numel(moac_kin(k, 1));
    for (int64_t i = 0; i < n; i++) {
        int64_t id;
        if (moac_kernel_index(k, k->in[1][i], V, "token id", i, &id)) return -1;
        memcpy(k->out + i * C, k->in[0] + id * C, (size_t)C * sizeof *k->out);
    }
    return 0;
}

/* (ids[...], dy[..., C]) -> [rows, C]: row id accumulates dy's rows with that id, in order. */
int moac_kernel_embed_grad(const moac_kernel_ctx *k) {
    int64_t rows = k->node->i[0], C = moac_kout(k)->dims[1], n = moac_type_numel(moac_kin(k, 0));
    for (int64_t i = 0; i < n; i++) {
        int64_t id;
        if (moac_kernel_index(k, k->in[0][i], rows, "token id", i, &id)) return -1;
        double *o = k->out + id * C;
        const double *dy = k->in[1] + i * C;
        for (int64_t c = 0; c < C; c++) o[c] += dy[c];
    }
    return 0;
}
