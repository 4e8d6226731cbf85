/* Kernel dispatch (a table built from ir/ops.def) and the helpers the kernel files share. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backends/interp/kernels.h"

typedef int (*kernel_fn)(const moac_kernel_ctx *k);

static const kernel_fn kernels[MOAC_OP_COUNT] = {
#define X(name, ID, min_args, max_args, flags, attrs) [MOAC_OP_##ID] = moac_kernel_##name,
#include "ir/ops.def"
#undef X
};

int moac_kernel_run(const moac_kernel_ctx *k) {
    assert(k && k->node && k->node->op < MOAC_OP_COUNT && k->out);
    const moac_op_info *info = moac_op_info_get(k->node->op);
    assert(k->node->nargs >= info->min_args && k->node->nargs <= info->max_args);
    for (int i = 0; i < k->node->nargs; i++) assert(k->in[i]);
    (void)info;
    return kernels[k->node->op](k);
}

int moac_kernel_fail(const moac_kernel_ctx *k, const char *fmt, ...) {
    if (!k->err || !k->errlen) return -1;
    const moac_node *n = k->node;
    int used = n->name ? snprintf(k->err, k->errlen, "%%%s = %s: ", n->name, moac_op_info_get(n->op)->name)
                       : snprintf(k->err, k->errlen, "%%%" PRIu32 " = %s: ", n->id, moac_op_info_get(n->op)->name);
    if (used < 0 || (size_t)used >= k->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->err + used, k->errlen - (size_t)used, fmt, ap);
    va_end(ap);
    return -1;
}

int moac_kernel_index(const moac_kernel_ctx *k, double v, int64_t n, const char *what, int64_t at, int64_t *out) {
    if (v != floor(v)) /* also NaN and infinities */
        return moac_kernel_fail(k, "%s %g at element %" PRId64 " is not an integer", what, v, at);
    if (!(v >= 0 && v < (double)n))
        return moac_kernel_fail(k, "%s %.0f at element %" PRId64 " is outside [0, %" PRId64 ")", what, v, at, n);
    *out = (int64_t)v;
    return 0;
}

int64_t moac_dims_prod(const moac_type *t, int from, int to) {
    int64_t p = 1;
    for (int d = from; d < to; d++) p *= t->dims[d];
    return p;
}

void moac_broadcast_strides(const moac_type *t, int rank, int64_t *stride) {
    assert(t->rank <= rank);
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        int td = d - (rank - t->rank); /* t's dimension aligned with d, or < 0 */
        if (td < 0 || t->dims[td] == 1) {
            stride[d] = 0;
        } else {
            stride[d] = s;
        }
        if (td >= 0) s *= t->dims[td];
    }
}

void moac_strided_copy(double *out, const int64_t *shape, int rank, const double *in, int64_t offset,
                       const int64_t *stride) {
    if (rank == 0) {
        out[0] = in[offset];
        return;
    }
    /* Odometer over the outer dimensions; the innermost runs as a plain (often unit-stride) loop. */
    int64_t idx[MOAC_MAX_RANK] = {0}, inner = shape[rank - 1], is = stride[rank - 1], off = offset;
    int64_t rows = 1;
    for (int d = 0; d < rank - 1; d++) rows *= shape[d];
    for (int64_t r = 0; r < rows; r++) {
        double *o = out + r * inner;
        const double *src = in + off;
        if (is == 1) {
            memcpy(o, src, (size_t)inner * sizeof *o);
        } else {
            for (int64_t j = 0; j < inner; j++) o[j] = src[j * is];
        }
        for (int d = rank - 2; d >= 0; d--) {
            off += stride[d];
            if (++idx[d] < shape[d]) break;
            off -= stride[d] * shape[d];
            idx[d] = 0;
        }
    }
}
