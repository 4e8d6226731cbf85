/* Elementwise kernels, and the graph's sources and sinks (input, param, full, output).
 *
 * Binary ops broadcast numpy-style: each operand is read through strides that are 0 along the
 * dimensions it is stretched over. i32 values are exact doubles, so add/sub/mul need no special
 * case; i32 div truncates toward zero as C does (a correctly rounded double quotient of two
 * 32-bit integers never crosses an integer, so trunc(a / b) is exact). */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "backends/interp/kernels.h"
#include "support/rng.h"

/* ---- Sources and sinks. ---- */

/* Inputs and params: the interpreter hands the kernel their persistent buffer; nothing to do. */
int moac_kernel_input(const moac_kernel_ctx *k) {
    (void)k;
    return 0;
}

int moac_kernel_param(const moac_kernel_ctx *k) {
    (void)k;
    return 0;
}

int moac_kernel_full(const moac_kernel_ctx *k) {
    int64_t n = moac_type_numel(moac_kout(k));
    double v = k->node->f[0];
    for (int64_t i = 0; i < n; i++) k->out[i] = v;
    return 0;
}

int moac_kernel_output(const moac_kernel_ctx *k) {
    memcpy(k->out, k->in[0], (size_t)moac_type_numel(moac_kout(k)) * sizeof *k->out);
    return 0;
}

/* ---- Binary, broadcasting. ---- */

typedef enum binop { B_ADD, B_SUB, B_MUL, B_DIV, B_IDIV, B_BCE } binop;

/* max(z,0) - z*y + log1p(exp(-|z|)): never overflows, exact for large |z|. */
static inline double bce(double z, double y) { return (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z))); }

/* One output row of `inner` elements, a and b read with strides sa and sb (0 or 1 in practice).
 * A switch outside the loops keeps each loop simple enough to vectorise. */
static void binary_row(binop op, double *restrict o, const double *a, int64_t sa, const double *b, int64_t sb,
                       int64_t inner) {
    switch (op) {
    case B_ADD: for (int64_t j = 0; j < inner; j++) o[j] = a[j * sa] + b[j * sb]; break;
    case B_SUB: for (int64_t j = 0; j < inner; j++) o[j] = a[j * sa] - b[j * sb]; break;
    case B_MUL: for (int64_t j = 0; j < inner; j++) o[j] = a[j * sa] * b[j * sb]; break;
    case B_DIV: for (int64_t j = 0; j < inner; j++) o[j] = a[j * sa] / b[j * sb]; break;
    case B_IDIV: for (int64_t j = 0; j < inner; j++) o[j] = trunc(a[j * sa] / b[j * sb]); break;
    case B_BCE: for (int64_t j = 0; j < inner; j++) o[j] = bce(a[j * sa], b[j * sb]); break;
    }
}

static int binary(const moac_kernel_ctx *k, binop op) {
    const moac_type *out = moac_kout(k);
    int rank = out->rank;
    if (op == B_DIV && out->dtype == MOAC_I32) {
        /* Integer division by zero has no value: report it rather than invent one. */
        int64_t nb = moac_type_numel(moac_kin(k, 1));
        for (int64_t i = 0; i < nb; i++)
            if (k->in[1][i] == 0) return moac_kernel_fail(k, "i32 division by zero (divisor element %lld)", (long long)i);
        op = B_IDIV;
    }
    if (rank == 0) {
        binary_row(op, k->out, k->in[0], 0, k->in[1], 0, 1);
        return 0;
    }
    int64_t sa[MOAC_MAX_RANK], sb[MOAC_MAX_RANK], idx[MOAC_MAX_RANK] = {0};
    moac_broadcast_strides(moac_kin(k, 0), rank, sa);
    moac_broadcast_strides(moac_kin(k, 1), rank, sb);
    int64_t inner = out->dims[rank - 1], rows = moac_dims_prod(out, 0, rank - 1), oa = 0, ob = 0;
    for (int64_t r = 0; r < rows; r++) {
        binary_row(op, k->out + r * inner, k->in[0] + oa, sa[rank - 1], k->in[1] + ob, sb[rank - 1], inner);
        moac_odometer_next(idx, out->dims, rank - 1, sa, sb, &oa, &ob); /* the outer dimensions */
    }
    return 0;
}

int moac_kernel_add(const moac_kernel_ctx *k) { return binary(k, B_ADD); }
int moac_kernel_sub(const moac_kernel_ctx *k) { return binary(k, B_SUB); }
int moac_kernel_mul(const moac_kernel_ctx *k) { return binary(k, B_MUL); }
int moac_kernel_div(const moac_kernel_ctx *k) { return binary(k, B_DIV); }
int moac_kernel_bce_logits(const moac_kernel_ctx *k) { return binary(k, B_BCE); }

/* ---- Unary. ---- */

/* Defines moac_kernel_<name> as out[i] = expr of x = in[0][i]. */
#define UNARY(name, expr)                                        \
    int moac_kernel_##name(const moac_kernel_ctx *k) {           \
        int64_t n = moac_type_numel(moac_kout(k));               \
        const double *in = k->in[0];                             \
        double *restrict o = k->out;                             \
        for (int64_t i = 0; i < n; i++) {                        \
            double x = in[i];                                    \
            o[i] = (expr);                                       \
        }                                                        \
        return 0;                                                \
    }

/* Standard normal CDF and density. */
static inline double phi_cdf(double x) { return 0.5 * (1.0 + erf(x * 0.70710678118654752440)); }
static inline double phi_pdf(double x) { return exp(-0.5 * x * x) * 0.39894228040143267794; }

/* sigmoid without overflow: exp of a non-positive number only. */
static inline double sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

UNARY(scale, x * k->node->f[0])
UNARY(neg, -x)
UNARY(square, x * x)
UNARY(exp, exp(x))
UNARY(log, log(x)) /* log of x <= 0 is -inf / nan, as C gives: not a data error */
UNARY(relu, x < 0 ? 0.0 : x) /* written so that NaN propagates */
UNARY(gelu, x * phi_cdf(x))
UNARY(sigmoid, sigmoid(x))

/* Inverted dropout: element i is kept iff its uniform draw of (seed, stream(DROPOUT, stream attr,
 * step), i) is >= p, and kept values are scaled by 1/(1-p). Backward applies the same node to dy,
 * so it draws the same mask. */
int moac_kernel_dropout(const moac_kernel_ctx *k) {
    int64_t n = moac_type_numel(moac_kout(k));
    double p = k->node->f[0];
    if (!k->opts || !k->opts->training || p == 0) {
        memcpy(k->out, k->in[0], (size_t)n * sizeof *k->out);
        return 0;
    }
    uint64_t stream = moac_rng_stream(MOAC_RNG_DROPOUT, (uint64_t)k->node->i[0], k->opts->step);
    double keep_scale = 1.0 / (1.0 - p);
    for (int64_t i = 0; i < n; i++)
        k->out[i] = (double)moac_rng_uniform(k->opts->seed, stream, (uint64_t)i) >= p ? k->in[0][i] * keep_scale : 0.0;
    return 0;
}

/* ---- Elementwise gradients: (x, dy), same shapes. ---- */

int moac_kernel_gelu_grad(const moac_kernel_ctx *k) {
    int64_t n = moac_type_numel(moac_kout(k));
    const double *x = k->in[0], *dy = k->in[1];
    for (int64_t i = 0; i < n; i++) k->out[i] = dy[i] * (phi_cdf(x[i]) + x[i] * phi_pdf(x[i]));
    return 0;
}

int moac_kernel_relu_grad(const moac_kernel_ctx *k) {
    int64_t n = moac_type_numel(moac_kout(k));
    const double *x = k->in[0], *dy = k->in[1];
    for (int64_t i = 0; i < n; i++) k->out[i] = x[i] > 0 ? dy[i] : 0.0;
    return 0;
}
