/* Layout and reduction kernels: reshape, transpose, slice, concat, pad, broadcast, repeat_heads (all
 * strided copies), reduce_sum, reduce_mean, group_mean. */
#include <assert.h>
#include <string.h>

#include "backends/interp/kernels.h"

/* Row-major strides of t. */
static void strides_of(const moac_type *t, int64_t *stride) {
    int64_t s = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        stride[d] = s;
        s *= t->dims[d];
    }
}

int moac_kernel_reshape(const moac_kernel_ctx *k) {
    memcpy(k->out, k->in[0], (size_t)moac_type_numel(moac_kout(k)) * sizeof *k->out);
    return 0;
}

/* Result dim d is operand dim perm[d]: walking the result in order reads the operand with the
 * operand's stride of dim perm[d]. */
int moac_kernel_transpose(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0), *out = moac_kout(k);
    int64_t xs[MOAC_MAX_RANK], st[MOAC_MAX_RANK];
    strides_of(x, xs);
    for (int d = 0; d < out->rank; d++) st[d] = xs[k->node->l[d]];
    moac_strided_copy(k->out, out->dims, out->rank, k->in[0], 0, st);
    return 0;
}

int moac_kernel_slice(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0), *out = moac_kout(k);
    int64_t st[MOAC_MAX_RANK];
    strides_of(x, st);
    int axis = (int)k->node->i[0];
    moac_strided_copy(k->out, out->dims, out->rank, k->in[0], k->node->i[1] * st[axis], st);
    return 0;
}

/* Per outer index, each operand's contiguous block of dims[axis] * inner elements in turn. */
int moac_kernel_concat(const moac_kernel_ctx *k) {
    const moac_type *out = moac_kout(k);
    int axis = (int)k->node->i[0];
    int64_t outer = moac_dims_prod(out, 0, axis), inner = moac_dims_prod(out, axis + 1, out->rank);
    double *o = k->out;
    for (int64_t r = 0; r < outer; r++)
        for (int a = 0; a < k->node->nargs; a++) {
            int64_t len = moac_kin(k, a)->dims[axis] * inner;
            memcpy(o, k->in[a] + r * len, (size_t)len * sizeof *o);
            o += len;
        }
    return 0;
}

/* Zeros (the buffer comes zeroed) with x copied in at `start` along `axis`: per outer index, one
 * contiguous block of len * inner elements. */
int moac_kernel_pad(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0), *out = moac_kout(k);
    int axis = (int)k->node->i[0];
    int64_t start = k->node->i[1], size = k->node->i[2], len = x->dims[axis];
    int64_t outer = moac_dims_prod(x, 0, axis), inner = moac_dims_prod(x, axis + 1, x->rank);
    assert(out->dims[axis] == size);
    for (int64_t o = 0; o < outer; o++)
        memcpy(k->out + (o * size + start) * inner, k->in[0] + o * len * inner, (size_t)(len * inner) * sizeof *k->out);
    return 0;
}

int moac_kernel_broadcast(const moac_kernel_ctx *k) {
    const moac_type *out = moac_kout(k);
    int64_t st[MOAC_MAX_RANK];
    moac_broadcast_strides(moac_kin(k, 0), out->rank, st);
    moac_strided_copy(k->out, out->dims, out->rank, k->in[0], 0, st);
    return 0;
}

/* Head h of the result is head h / times of x: x read with a head stride of 1/times, which the
 * strided copy cannot express, so copy [T,D] blocks. */
int moac_kernel_repeat_heads(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0), *out = moac_kout(k);
    int64_t times = k->node->i[0], block = x->dims[2] * x->dims[3], h_out = out->dims[1];
    for (int64_t b = 0; b < out->dims[0]; b++)
        for (int64_t h = 0; h < h_out; h++)
            memcpy(k->out + (b * h_out + h) * block, k->in[0] + (b * x->dims[1] + h / times) * block,
                   (size_t)block * sizeof *k->out);
    return 0;
}

/* out head g = mean of x heads g*size .. g*size+size-1 (summed in head order, then divided). */
int moac_kernel_group_mean(const moac_kernel_ctx *k) {
    const moac_type *x = moac_kin(k, 0), *out = moac_kout(k);
    int64_t size = k->node->i[0], block = x->dims[2] * x->dims[3], g_out = out->dims[1];
    for (int64_t b = 0; b < out->dims[0]; b++)
        for (int64_t g = 0; g < g_out; g++) {
            double *o = k->out + (b * g_out + g) * block;
            for (int64_t i = 0; i < size; i++) {
                const double *src = k->in[0] + (b * x->dims[1] + g * size + i) * block;
                for (int64_t j = 0; j < block; j++) o[j] += src[j];
            }
            for (int64_t j = 0; j < block; j++) o[j] /= (double)size;
        }
    return 0;
}

/* Sum over `axes`: walk x in row-major order adding each element into its result slot (reduced
 * dims have result stride 0), so every slot sums its elements in x's order. keep=1 only inserts
 * dims of size 1, which changes no offset. */
static void reduce_sum(const moac_kernel_ctx *k, int64_t *count) {
    const moac_type *x = moac_kin(k, 0);
    int reduced[MOAC_MAX_RANK] = {0};
    for (int a = 0; a < k->node->nl; a++) reduced[k->node->l[a]] = 1;
    int64_t ost[MOAC_MAX_RANK], s = 1, n = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        ost[d] = reduced[d] ? 0 : s;
        if (reduced[d]) n *= x->dims[d];
        else s *= x->dims[d];
    }
    *count = n;
    assert(x->rank >= 1); /* axes is non-empty */
    int r = x->rank;
    int64_t idx[MOAC_MAX_RANK] = {0}, inner = x->dims[r - 1], is = ost[r - 1], off = 0;
    int64_t rows = moac_dims_prod(x, 0, r - 1);
    const double *in = k->in[0];
    for (int64_t row = 0; row < rows; row++) {
        const double *src = in + row * inner;
        if (is == 0) {
            double acc = k->out[off];
            for (int64_t j = 0; j < inner; j++) acc += src[j];
            k->out[off] = acc;
        } else {
            double *o = k->out + off;
            for (int64_t j = 0; j < inner; j++) o[j] += src[j];
        }
        for (int d = r - 2; d >= 0; d--) {
            off += ost[d];
            if (++idx[d] < x->dims[d]) break;
            off -= ost[d] * x->dims[d];
            idx[d] = 0;
        }
    }
}

int moac_kernel_reduce_sum(const moac_kernel_ctx *k) {
    int64_t count;
    reduce_sum(k, &count);
    return 0;
}

int moac_kernel_reduce_mean(const moac_kernel_ctx *k) {
    int64_t count;
    reduce_sum(k, &count);
    int64_t n = moac_type_numel(moac_kout(k));
    for (int64_t i = 0; i < n; i++) k->out[i] /= (double)count;
    return 0;
}
