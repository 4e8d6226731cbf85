/* Private to the reference interpreter: one kernel per op of ir/ops.def, and the helpers they
 * share.
 *
 * Every kernel is `int moac_kernel_<name>(const moac_kernel_ctx *k)`, declared here through the
 * X-macro, so an op added to the table without a kernel is a link error (and the dispatch table
 * in kernels.c names every one). A kernel reads k->in (one row-major buffer per operand, typed as
 * the operand node), writes k->out (zeroed, typed as k->node), and returns 0, or -1 after
 * describing bad data through moac_kernel_fail. Shapes are never checked here: the shape rules of
 * ir/shape.c already guarantee what each kernel relies on, so a mismatch is an assert.
 *
 * Sums accumulate in double, in a fixed order, so every result is deterministic. */
#ifndef MOAC_INTERP_KERNELS_H
#define MOAC_INTERP_KERNELS_H
#include <stdint.h>

#include "backends/interp/interp.h"

#define X(name, ID, min_args, max_args, flags, attrs) int moac_kernel_##name(const moac_kernel_ctx *k);
#include "ir/ops.def"
#undef X

/* Writes "%<value> = <op>: <message>" into k->err and returns -1. */
int moac_kernel_fail(const moac_kernel_ctx *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reads an index stored as a double: it must be an integer in [0, n). Otherwise reports
 * "<what> <v> at element <at> is outside [0, n)" (or "is not an integer") and returns -1. */
int moac_kernel_index(const moac_kernel_ctx *k, double v, int64_t n, const char *what, int64_t at, int64_t *out);

/* The type of operand i and of the result. */
static inline const moac_type *moac_kin(const moac_kernel_ctx *k, int i) { return &k->node->args[i]->type; }
static inline const moac_type *moac_kout(const moac_kernel_ctx *k) { return &k->node->type; }

/* Product of dims [from, to). */
int64_t moac_dims_prod(const moac_type *t, int from, int to);

/* Strides of t's elements when t is broadcast to a shape of rank `rank` (right-aligned):
 * stride[d] is 0 where t has no dimension d or a dimension of size 1. */
void moac_broadcast_strides(const moac_type *t, int rank, int64_t *stride);

/* out (shape `shape`, rank `rank`, row-major) = in read at offset + sum(index[d] * stride[d]).
 * Transpose, slice, broadcast and repeat_heads are all this one strided copy. */
void moac_strided_copy(double *out, const int64_t *shape, int rank, const double *in, int64_t offset,
                       const int64_t *stride);

/* a > b, with NaN ordered above every number (as torch.topk and argmax do), so that selections
 * are well defined whatever the data. */
/* Advances a two-operand odometer over the first n dims of `dims` (last dim fastest): idx is the
 * position, *oa / *ob the operands' offsets under strides sa / sb (0 where broadcast). */
static inline void moac_odometer_next(int64_t *idx, const int64_t *dims, int n, const int64_t *sa, const int64_t *sb,
                                      int64_t *oa, int64_t *ob) {
    for (int d = n - 1; d >= 0; d--) {
        *oa += sa[d];
        *ob += sb[d];
        if (++idx[d] < dims[d]) return;
        *oa -= sa[d] * dims[d];
        *ob -= sb[d] * dims[d];
        idx[d] = 0;
    }
}

static inline int moac_greater(double a, double b) { return a > b || (a != a && b == b); }

#endif
