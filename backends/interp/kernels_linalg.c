/* Linear algebra and row-wise kernels: matmul; softmax, layernorm, normalize and their gradients;
 * cross_entropy and its gradient. "Row" means the last axis throughout. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/interp/kernels.h"

/* ---- matmul. ---- */

/* Copies the [rows, cols] matrix m, transposed, into t [cols, rows]. */
static void transpose_into(double *restrict t, const double *m, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
}

/* c[M,N] = a[M,K] b[K,N], contiguous, c zeroed. i-k-j order: the inner loop runs along rows of b
 * and c with unit stride (vectorises), and each c[m,n] still sums over k in increasing order. */
static void gemm(double *restrict c, const double *restrict a, const double *restrict b, int64_t m, int64_t kk,
                 int64_t n) {
    for (int64_t i = 0; i < m; i++) {
        double *restrict ci = c + i * n;
        for (int64_t p = 0; p < kk; p++) {
            double aip = a[i * kk + p];
            const double *restrict bp = b + p * n;
            for (int64_t j = 0; j < n; j++) ci[j] += aip * bp[j];
        }
    }
}

/* Batch dims broadcast: each result batch reads a and b at offsets given by broadcast strides.
 * Transposed operands are first packed contiguous (the pack is reused while consecutive batches
 * read the same matrix, e.g. a weight shared by the whole batch). */
int moac_kernel_matmul(const moac_kernel_ctx *k) {
    const moac_type *at = moac_kin(k, 0), *bt = moac_kin(k, 1), *out = moac_kout(k);
    int ta = (int)k->node->i[0], tb = (int)k->node->i[1];
    int64_t m = out->dims[out->rank - 2], n = out->dims[out->rank - 1];
    int64_t kk = at->dims[at->rank - 1 - ta];
    int nb = out->rank - 2;
    /* Strides of a's and b's matrices over the result's batch dims (in units of matrices). */
    moac_type ab = *at, bb = *bt;
    ab.rank -= 2;
    bb.rank -= 2;
    int64_t sa[MOAC_MAX_RANK], sb[MOAC_MAX_RANK], idx[MOAC_MAX_RANK] = {0};
    moac_broadcast_strides(&ab, nb, sa);
    moac_broadcast_strides(&bb, nb, sb);
    double *pa = NULL, *pb = NULL;
    if (ta && !(pa = malloc((size_t)(m * kk) * sizeof *pa))) return moac_kernel_fail(k, "out of memory");
    if (tb && !(pb = malloc((size_t)(kk * n) * sizeof *pb))) {
        free(pa);
        return moac_kernel_fail(k, "out of memory");
    }
    int64_t batches = moac_dims_prod(out, 0, nb), oa = 0, ob = 0, packed_a = -1, packed_b = -1;
    for (int64_t r = 0; r < batches; r++) {
        const double *a = k->in[0] + oa * m * kk, *b = k->in[1] + ob * kk * n;
        if (ta) {
            if (packed_a != oa) transpose_into(pa, a, kk, m); /* a is stored [K, M] */
            packed_a = oa;
            a = pa;
        }
        if (tb) {
            if (packed_b != ob) transpose_into(pb, b, n, kk); /* b is stored [N, K] */
            packed_b = ob;
            b = pb;
        }
        gemm(k->out + r * m * n, a, b, m, kk, n);
        moac_odometer_next(idx, out->dims, nb, sa, sb, &oa, &ob);
    }
    free(pa);
    free(pb);
    return 0;
}

/* ---- Row-wise. ---- */

static int64_t row_len(const moac_type *t) { return t->dims[t->rank - 1]; }

/* o = softmax(x) over n elements, max subtracted so exp never overflows. */
static void softmax_row(double *restrict o, const double *x, int64_t n) {
    double mx = x[0];
    for (int64_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    double sum = 0;
    for (int64_t j = 0; j < n; j++) sum += (o[j] = exp(x[j] - mx));
    for (int64_t j = 0; j < n; j++) o[j] /= sum;
}

int moac_kernel_softmax(const moac_kernel_ctx *k) {
    int64_t n = row_len(moac_kout(k)), rows = moac_type_numel(moac_kout(k)) / n;
    for (int64_t r = 0; r < rows; r++) softmax_row(k->out + r * n, k->in[0] + r * n, n);
    return 0;
}

/* (y, dy) -> y * (dy - sum(dy * y)) per row. */
int moac_kernel_softmax_grad(const moac_kernel_ctx *k) {
    int64_t n = row_len(moac_kout(k)), rows = moac_type_numel(moac_kout(k)) / n;
    for (int64_t r = 0; r < rows; r++) {
        const double *y = k->in[0] + r * n, *dy = k->in[1] + r * n;
        double dot = 0;
        for (int64_t j = 0; j < n; j++) dot += dy[j] * y[j];
        for (int64_t j = 0; j < n; j++) k->out[r * n + j] = y[j] * (dy[j] - dot);
    }
    return 0;
}

/* Mean and 1/sqrt(population variance + eps) of one row (two passes: exact enough for any data). */
static void row_stats(const double *x, int64_t n, double eps, double *mean, double *rstd) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += x[j];
    double mu = s / (double)n, v = 0;
    for (int64_t j = 0; j < n; j++) v += (x[j] - mu) * (x[j] - mu);
    *mean = mu;
    *rstd = 1.0 / sqrt(v / (double)n + eps);
}

/* layernorm (weight, bias) and normalize (neither): (x - mean) * rstd [* w] [+ b]. */
static void norm_rows(const moac_kernel_ctx *k, const double *w, const double *b) {
    int64_t n = row_len(moac_kout(k)), rows = moac_type_numel(moac_kout(k)) / n;
    for (int64_t r = 0; r < rows; r++) {
        const double *x = k->in[0] + r * n;
        double *o = k->out + r * n, mean, rstd;
        row_stats(x, n, k->node->f[0], &mean, &rstd);
        for (int64_t j = 0; j < n; j++) {
            double v = (x[j] - mean) * rstd;
            if (w) v *= w[j];
            if (b) v += b[j];
            o[j] = v;
        }
    }
}

int moac_kernel_layernorm(const moac_kernel_ctx *k) {
    norm_rows(k, k->in[1], k->node->nargs == 3 ? k->in[2] : NULL);
    return 0;
}

int moac_kernel_normalize(const moac_kernel_ctx *k) {
    norm_rows(k, NULL, NULL);
    return 0;
}

/* (x, w, dy) -> dx of layernorm: g = dy * w, dx = (g - mean(g) - xhat * mean(g * xhat)) * rstd. */
int moac_kernel_layernorm_grad(const moac_kernel_ctx *k) {
    int64_t n = row_len(moac_kout(k)), rows = moac_type_numel(moac_kout(k)) / n;
    const double *w = k->in[1];
    for (int64_t r = 0; r < rows; r++) {
        const double *x = k->in[0] + r * n, *dy = k->in[2] + r * n;
        double *o = k->out + r * n, mean, rstd, sg = 0, sgx = 0;
        row_stats(x, n, k->node->f[0], &mean, &rstd);
        for (int64_t j = 0; j < n; j++) {
            double g = dy[j] * w[j], xhat = (x[j] - mean) * rstd;
            sg += g;
            sgx += g * xhat;
        }
        double mg = sg / (double)n, mgx = sgx / (double)n;
        for (int64_t j = 0; j < n; j++) {
            double xhat = (x[j] - mean) * rstd;
            o[j] = (dy[j] * w[j] - mg - xhat * mgx) * rstd;
        }
    }
    return 0;
}

/* ---- Cross-entropy. ---- */

/* log(sum(exp(x))) of one row, max subtracted. */
static double logsumexp(const double *x, int64_t n) {
    double mx = x[0];
    for (int64_t j = 1; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += exp(x[j] - mx);
    return mx + log(s);
}

/* Mean over all positions of logsumexp(row) - row[target]. */
int moac_kernel_cross_entropy(const moac_kernel_ctx *k) {
    const moac_type *lt = moac_kin(k, 0);
    int64_t v = row_len(lt), rows = moac_type_numel(lt) / v;
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        int64_t t;
        if (moac_kernel_index(k, k->in[1][r], v, "target", r, &t)) return -1;
        const double *x = k->in[0] + r * v;
        total += logsumexp(x, v) - x[t];
    }
    k->out[0] = total / (double)rows;
    return 0;
}

/* (logits, targets, dloss) -> dloss * (softmax(row) - onehot(target)) / N. */
int moac_kernel_cross_entropy_grad(const moac_kernel_ctx *k) {
    const moac_type *lt = moac_kin(k, 0);
    int64_t v = row_len(lt), rows = moac_type_numel(lt) / v;
    double g = k->in[2][0] / (double)rows;
    for (int64_t r = 0; r < rows; r++) {
        int64_t t;
        if (moac_kernel_index(k, k->in[1][r], v, "target", r, &t)) return -1;
        double *o = k->out + r * v;
        softmax_row(o, k->in[0] + r * v, v);
        o[t] -= 1.0;
        for (int64_t j = 0; j < v; j++) o[j] *= g;
    }
    return 0;
}
