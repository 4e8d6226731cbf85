/* Shape rules: one per op, named moac_shape_<name>, dispatched through the X-macro in ir/ops.def
 * (an op without a rule is a compile error: the dispatch table names a function that does not
 * exist).
 *
 * A rule reads the operands' types and the node's attributes, and either fills *out and returns 0
 * or writes why not into err and returns -1. Messages name the problem in the user's terms
 * ("inner dimensions differ: a is f32[2,3,4] (K=4), b is f32[5,6] (K=5)"); moac_node_infer
 * prefixes them with "<op>: ". Rules never see a wrong operand count or an untyped operand:
 * moac_node_infer checks those first. Integer arithmetic on attributes is written so that it
 * cannot overflow, whatever the IR text says. */
#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ir/ir.h"

/* Type and list spellings for messages, returned by value so several fit in one printf. */
typedef struct text { char s[192]; } text;

static text type_text(const moac_type *t) {
    text r;
    size_t used = (size_t)snprintf(r.s, sizeof r.s, "%s[", t->dtype == MOAC_I32 ? "i32" : "f32");
    if (t->rank < 0) used += (size_t)snprintf(r.s + used, sizeof r.s - used, "?");
    for (int k = 0; k < t->rank && k < MOAC_MAX_RANK && used < sizeof r.s; k++)
        used += (size_t)snprintf(r.s + used, sizeof r.s - used, "%s%" PRId64, k ? "," : "", t->dims[k]);
    if (used < sizeof r.s) snprintf(r.s + used, sizeof r.s - used, "]");
    return r;
}

static text list_text(const int64_t *l, int nl) {
    text r;
    size_t used = (size_t)snprintf(r.s, sizeof r.s, "[");
    int k = 0;
    for (; k < nl && used + 24 < sizeof r.s; k++) /* room left for one number and ",...]" */
        used += (size_t)snprintf(r.s + used, sizeof r.s - used, "%s%" PRId64, k ? "," : "", l[k]);
    snprintf(r.s + used, sizeof r.s - used, "%s]", k < nl ? ",..." : "");
    return r;
}

#define TY(t) (type_text(t).s)
#define ARG(k) (&n->args[(k)]->type)

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}
#define FAIL(...) return fail(err, errlen, __VA_ARGS__)

/* Checks operand k's dtype (-1: any) and rank range; `role` names it in messages. */
static int check_operand(const moac_node *n, int k, const char *role, int dtype, int min_rank, int max_rank,
                         char *err, size_t errlen) {
    const moac_type *t = ARG(k);
    char who[64];
    snprintf(who, sizeof who, role ? "operand %d (%s)" : "operand %d", k + 1, role);
    if (dtype >= 0 && (int)t->dtype != dtype)
        FAIL("%s must be %s, got %s", who, dtype == MOAC_I32 ? "i32" : "f32", TY(t));
    if (t->rank >= min_rank && t->rank <= max_rank) return 0;
    if (min_rank == max_rank) FAIL("%s must have rank %d, got %s", who, min_rank, TY(t));
    FAIL("%s must have rank >= %d, got %s", who, min_rank, TY(t));
}
#define OPERAND(k, role, dtype, lo, hi) \
    do { if (check_operand(n, (k), (role), (dtype), (lo), (hi), err, errlen)) return -1; } while (0)

static int flag_attr(const char *key, int64_t v, char *err, size_t errlen) {
    if (v == 0 || v == 1) return 0;
    FAIL("%s must be 0 or 1, got %" PRId64, key, v);
}
#define FLAG(key, v) do { if (flag_attr((key), (v), err, errlen)) return -1; } while (0)

static int checked_numel(const int64_t *dims, int rank, int64_t *numel) {
    int64_t p = 1;
    for (int k = 0; k < rank; k++)
        if (__builtin_mul_overflow(p, dims[k], &p)) return -1;
    *numel = p;
    return 0;
}

/* numpy broadcasting of two right-aligned shapes; returns the failing result axis or -1. */
static int broadcast(const int64_t *a, int ra, const int64_t *b, int rb, int64_t *out, int *rout) {
    int r = ra > rb ? ra : rb;
    for (int k = 1; k <= r; k++) {
        int64_t da = k <= ra ? a[ra - k] : 1, db = k <= rb ? b[rb - k] : 1;
        if (da != db && da != 1 && db != 1) return r - k;
        out[r - k] = da == 1 ? db : da;
    }
    *rout = r;
    return -1;
}

/* ---- Graph inputs, parameters, constants: the type is written; check the attributes. ---- */

static int need_name(const moac_node *n, char *err, size_t errlen) {
    if (n->s && *n->s) return 0;
    FAIL("name must not be empty");
}

static int moac_shape_input(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    *out = n->type;
    return need_name(n, err, errlen);
}

/* param: initialised to fill + std * N(0,1). */
static int moac_shape_param(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    *out = n->type;
    if (need_name(n, err, errlen)) return -1;
    if (!isfinite(n->f[0])) FAIL("fill must be a finite number, got %g", n->f[0]);
    if (!(n->f[1] >= 0 && isfinite(n->f[1]))) FAIL("std must be >= 0, got %g", n->f[1]);
    return 0;
}

static int moac_shape_full(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    (void)err, (void)errlen;
    *out = n->type;
    return 0;
}

/* ---- Elementwise. ---- */

static int binary(const moac_node *n, int f32_only, moac_type *out, char *err, size_t errlen) {
    const moac_type *a = ARG(0), *b = ARG(1);
    if (a->dtype != b->dtype) FAIL("operands have different dtypes: %s and %s", TY(a), TY(b));
    if (f32_only) OPERAND(0, NULL, MOAC_F32, 0, MOAC_MAX_RANK);
    out->dtype = a->dtype;
    int axis = broadcast(a->dims, a->rank, b->dims, b->rank, out->dims, &out->rank);
    if (axis >= 0) FAIL("cannot broadcast %s and %s: dimensions differ and neither is 1", TY(a), TY(b));
    return 0;
}

static int unary(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, NULL, MOAC_F32, 0, MOAC_MAX_RANK);
    *out = *ARG(0);
    return 0;
}

#define BINARY_RULE(name, f32_only) \
    static int moac_shape_##name(const moac_node *n, moac_type *out, char *err, size_t errlen) { \
        return binary(n, f32_only, out, err, errlen); \
    }
#define UNARY_RULE(name) \
    static int moac_shape_##name(const moac_node *n, moac_type *out, char *err, size_t errlen) { \
        return unary(n, out, err, errlen); \
    }
BINARY_RULE(add, 0)
BINARY_RULE(sub, 0)
BINARY_RULE(mul, 0)
BINARY_RULE(div, 0)
BINARY_RULE(bce_logits, 1)
UNARY_RULE(scale)
UNARY_RULE(neg)
UNARY_RULE(square)
UNARY_RULE(exp)
UNARY_RULE(log)
UNARY_RULE(relu)
UNARY_RULE(gelu)
UNARY_RULE(sigmoid)

static int moac_shape_dropout(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    if (!(n->f[0] >= 0 && n->f[0] < 1)) FAIL("p must be in [0, 1), got %g", n->f[0]);
    return unary(n, out, err, errlen);
}

/* ---- Layout. ---- */

static int moac_shape_reshape(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    const moac_type *x = ARG(0);
    if (n->nl > MOAC_MAX_RANK) FAIL("shape %s has rank %d; the maximum is %d", list_text(n->l, n->nl).s, n->nl, MOAC_MAX_RANK);
    for (int k = 0; k < n->nl; k++)
        if (n->l[k] < 1) FAIL("shape %s: every dimension must be >= 1", list_text(n->l, n->nl).s);
    int64_t want, have;
    if (checked_numel(n->l, n->nl, &want) || checked_numel(x->dims, x->rank, &have) || want != have)
        FAIL("shape %s does not have the same number of elements as %s", list_text(n->l, n->nl).s, TY(x));
    out->dtype = x->dtype;
    out->rank = n->nl;
    if (n->nl > 0) memcpy(out->dims, n->l, (size_t)n->nl * sizeof *n->l);
    return 0;
}

/* Result dim k is operand dim perm[k] (numpy's transpose). */
static int moac_shape_transpose(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    const moac_type *x = ARG(0);
    int seen[MOAC_MAX_RANK] = {0};
    int ok = n->nl == x->rank;
    for (int k = 0; ok && k < n->nl; k++) {
        ok = n->l[k] >= 0 && n->l[k] < x->rank && !seen[n->l[k]];
        if (ok) seen[n->l[k]] = 1;
    }
    if (!ok) FAIL("perm %s is not a permutation of 0..%d for %s", list_text(n->l, n->nl).s, x->rank - 1, TY(x));
    out->dtype = x->dtype;
    out->rank = x->rank;
    for (int k = 0; k < x->rank; k++) out->dims[k] = x->dims[n->l[k]];
    return 0;
}

static int moac_shape_slice(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    const moac_type *x = ARG(0);
    int64_t axis = n->i[0], start = n->i[1], len = n->i[2];
    if (axis < 0 || axis >= x->rank) FAIL("axis %" PRId64 " is out of range for %s", axis, TY(x));
    int64_t dim = x->dims[axis];
    if (start < 0 || len < 1 || start > dim || len > dim - start)
        FAIL("start=%" PRId64 " len=%" PRId64 " does not fit in axis %" PRId64 " of %s (need start >= 0, "
             "len >= 1, start+len <= %" PRId64 ")", start, len, axis, TY(x), dim);
    *out = *x;
    out->dims[axis] = len;
    return 0;
}

static int moac_shape_concat(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    const moac_type *x = ARG(0);
    int64_t axis = n->i[0];
    if (axis < 0 || axis >= x->rank) FAIL("axis %" PRId64 " is out of range for %s", axis, TY(x));
    *out = *x;
    for (int k = 1; k < n->nargs; k++) {
        const moac_type *y = ARG(k);
        int same = y->dtype == x->dtype && y->rank == x->rank;
        for (int d = 0; same && d < x->rank; d++) same = d == axis || y->dims[d] == x->dims[d];
        if (!same)
            FAIL("operand %d (%s) does not match operand 1 (%s) outside axis %" PRId64, k + 1, TY(y), TY(x), axis);
        out->dims[axis] += y->dims[axis];
    }
    return 0;
}

/* ---- Reductions and normalisation. ---- */

static int reduce(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    const moac_type *x = ARG(0);
    OPERAND(0, NULL, MOAC_F32, 0, MOAC_MAX_RANK);
    FLAG("keep", n->i[0]);
    if (n->nl == 0) FAIL("axes must name at least one axis");
    int reduced[MOAC_MAX_RANK] = {0};
    for (int k = 0; k < n->nl; k++) {
        if (n->l[k] < 0 || n->l[k] >= x->rank) FAIL("axis %" PRId64 " is out of range for %s", n->l[k], TY(x));
        if (reduced[n->l[k]]) FAIL("axis %" PRId64 " is listed twice in axes", n->l[k]);
        reduced[n->l[k]] = 1;
    }
    out->dtype = x->dtype;
    out->rank = 0;
    for (int k = 0; k < x->rank; k++) {
        if (!reduced[k]) out->dims[out->rank++] = x->dims[k];
        else if (n->i[0]) out->dims[out->rank++] = 1;
    }
    return 0;
}

static int moac_shape_reduce_sum(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    return reduce(n, out, err, errlen);
}

static int moac_shape_reduce_mean(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    return reduce(n, out, err, errlen);
}

static int moac_shape_softmax(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, NULL, MOAC_F32, 1, MOAC_MAX_RANK);
    *out = *ARG(0);
    return 0;
}

static int moac_shape_layernorm(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "x", MOAC_F32, 1, MOAC_MAX_RANK);
    const moac_type *x = ARG(0);
    int64_t c = x->dims[x->rank - 1];
    for (int k = 1; k < n->nargs; k++) {
        OPERAND(k, k == 1 ? "weight" : "bias", MOAC_F32, 1, 1);
        if (ARG(k)->dims[0] != c)
            FAIL("%s is %s but x is %s: expected [%" PRId64 "]", k == 1 ? "weight" : "bias", TY(ARG(k)), TY(x), c);
    }
    if (!(n->f[0] > 0)) FAIL("eps must be > 0, got %g", n->f[0]);
    *out = *x;
    return 0;
}

/* ---- Linear algebra. ---- */

static int moac_shape_matmul(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    FLAG("ta", n->i[0]);
    FLAG("tb", n->i[1]);
    OPERAND(0, "a", MOAC_F32, 2, MOAC_MAX_RANK);
    OPERAND(1, "b", MOAC_F32, 2, MOAC_MAX_RANK);
    const moac_type *a = ARG(0), *b = ARG(1);
    int ta = (int)n->i[0], tb = (int)n->i[1];
    int64_t m = a->dims[a->rank - 2 + ta], ka = a->dims[a->rank - 1 - ta];
    int64_t kb = b->dims[b->rank - 2 + tb], nn = b->dims[b->rank - 1 - tb];
    if (ka != kb)
        FAIL("inner dimensions differ: a is %s (K=%" PRId64 "), b is %s (K=%" PRId64 ")", TY(a), ka, TY(b), kb);
    out->dtype = MOAC_F32;
    int batch;
    if (broadcast(a->dims, a->rank - 2, b->dims, b->rank - 2, out->dims, &batch) >= 0)
        FAIL("batch dimensions do not broadcast: a is %s, b is %s", TY(a), TY(b));
    out->dims[batch] = m;
    out->dims[batch + 1] = nn;
    out->rank = batch + 2;
    return 0;
}

/* ---- Transformer pieces. ---- */

static int moac_shape_embed(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "table", MOAC_F32, 2, 2);
    OPERAND(1, "ids", MOAC_I32, 0, MOAC_MAX_RANK - 1);
    const moac_type *ids = ARG(1);
    *out = *ids;
    out->dtype = MOAC_F32;
    out->dims[out->rank++] = ARG(0)->dims[1];
    return 0;
}

static int moac_shape_attention(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    FLAG("causal", n->i[0]);
    if (!(n->f[0] > 0)) FAIL("scale must be > 0, got %g", n->f[0]);
    OPERAND(0, "q", MOAC_F32, 4, 4);
    OPERAND(1, "k", MOAC_F32, 4, 4);
    OPERAND(2, "v", MOAC_F32, 4, 4);
    const moac_type *q = ARG(0), *k = ARG(1), *v = ARG(2);
    if (k->dims[0] != q->dims[0] || v->dims[0] != q->dims[0])
        FAIL("batch sizes differ: q is %s, k is %s, v is %s", TY(q), TY(k), TY(v));
    if (k->dims[3] != q->dims[3]) FAIL("head dims differ: q is %s, k is %s", TY(q), TY(k));
    if (v->dims[1] != k->dims[1] || v->dims[2] != k->dims[2])
        FAIL("k is %s but v is %s: expected the same [B,G,S]", TY(k), TY(v));
    if (q->dims[1] % k->dims[1] != 0)
        FAIL("%" PRId64 " KV heads do not divide %" PRId64 " query heads (q is %s, k is %s)", k->dims[1],
             q->dims[1], TY(q), TY(k));
    if (n->i[0] && k->dims[2] != q->dims[2])
        FAIL("causal attention needs as many keys as queries: q is %s, k is %s", TY(q), TY(k));
    *out = *q;
    out->dims[3] = v->dims[3];
    return 0;
}

static int moac_shape_rope(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "x", MOAC_F32, 4, 4);
    const moac_type *x = ARG(0);
    double fraction = n->f[0];
    if (!(fraction > 0 && fraction <= 1)) FAIL("fraction must be in (0, 1], got %g", fraction);
    if (!(n->f[1] > 0)) FAIL("base must be > 0, got %g", n->f[1]);
    double rot = round(fraction * (double)x->dims[3]);
    if (rot < 2 || fmod(rot, 2) != 0)
        FAIL("fraction %g of head dim %" PRId64 " rotates %.0f dims; it must be even and >= 2", fraction,
             x->dims[3], rot);
    if (n->nargs == 2) {
        OPERAND(1, "pos", MOAC_I32, 3, 3);
        const moac_type *pos = ARG(1);
        for (int k = 0; k < 3; k++)
            if (pos->dims[k] != x->dims[k]) FAIL("pos is %s but x is %s: expected [B,H,T]", TY(pos), TY(x));
    }
    *out = *x;
    return 0;
}

static int moac_shape_group_mean(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, NULL, MOAC_F32, 4, 4);
    const moac_type *x = ARG(0);
    int64_t size = n->i[0];
    if (size < 1 || x->dims[1] % size != 0)
        FAIL("size %" PRId64 " must be >= 1 and divide the %" PRId64 " heads of %s", size, x->dims[1], TY(x));
    *out = *x;
    out->dims[1] = x->dims[1] / size;
    return 0;
}

static int moac_shape_repeat_heads(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, NULL, MOAC_F32, 4, 4);
    const moac_type *x = ARG(0);
    if (n->i[0] < 1) FAIL("times must be >= 1, got %" PRId64, n->i[0]);
    *out = *x;
    if (__builtin_mul_overflow(x->dims[1], n->i[0], &out->dims[1])) FAIL("times %" PRId64 " is too large", n->i[0]);
    return 0;
}

static int moac_shape_cross_entropy(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "logits", MOAC_F32, 1, MOAC_MAX_RANK);
    OPERAND(1, "targets", MOAC_I32, 0, MOAC_MAX_RANK);
    const moac_type *logits = ARG(0), *t = ARG(1);
    int ok = t->rank == logits->rank - 1;
    for (int k = 0; ok && k < t->rank; k++) ok = t->dims[k] == logits->dims[k];
    if (!ok) FAIL("targets are %s but logits are %s: expected the logits' shape without its last axis", TY(t),
                  TY(logits));
    out->dtype = MOAC_F32;
    out->rank = 0;
    return 0;
}

/* ---- Routing and sparse selection. ---- */

static int moac_shape_topk(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "scores", MOAC_F32, 1, MOAC_MAX_RANK);
    FLAG("first", n->i[1]);
    const moac_type *x = ARG(0);
    int64_t t = x->dims[x->rank - 1];
    if (n->i[0] < 1 || n->i[0] > t) FAIL("k=%" PRId64 " must be in [1, %" PRId64 "] for %s", n->i[0], t, TY(x));
    *out = *x;
    out->dtype = MOAC_I32;
    out->dims[x->rank - 1] = n->i[0];
    return 0;
}

static int moac_shape_take(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "x", MOAC_F32, 1, MOAC_MAX_RANK);
    OPERAND(1, "idx", MOAC_I32, 1, MOAC_MAX_RANK);
    const moac_type *x = ARG(0), *idx = ARG(1);
    int ok = idx->rank == x->rank;
    for (int k = 0; ok && k < x->rank - 1; k++) ok = idx->dims[k] == x->dims[k];
    if (!ok) FAIL("idx is %s but x is %s: expected the same leading dimensions", TY(idx), TY(x));
    *out = *idx;
    out->dtype = MOAC_F32;
    return 0;
}

static int moac_shape_gather_rows(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "x", MOAC_F32, 3, 3);
    OPERAND(1, "idx", MOAC_I32, 3, 3);
    const moac_type *x = ARG(0), *idx = ARG(1);
    if (idx->dims[0] != x->dims[0]) FAIL("batch sizes differ: x is %s, idx is %s", TY(x), TY(idx));
    *out = *idx;
    out->dtype = MOAC_F32;
    out->rank = 4;
    out->dims[3] = x->dims[2];
    return 0;
}

static int moac_shape_scatter_rows(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "y", MOAC_F32, 4, 4);
    OPERAND(1, "idx", MOAC_I32, 3, 3);
    const moac_type *y = ARG(0), *idx = ARG(1);
    for (int k = 0; k < 3; k++)
        if (idx->dims[k] != y->dims[k]) FAIL("idx is %s but y is %s: expected [B,E,k]", TY(idx), TY(y));
    if (n->i[0] < 1) FAIL("rows must be >= 1, got %" PRId64, n->i[0]);
    out->dtype = MOAC_F32;
    out->rank = 3;
    out->dims[0] = y->dims[0];
    out->dims[1] = n->i[0];
    out->dims[2] = y->dims[3];
    return 0;
}

static int moac_shape_onehot_argmax(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, NULL, MOAC_F32, 1, MOAC_MAX_RANK);
    *out = *ARG(0);
    return 0;
}

static int moac_shape_capacity_route(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "scores", MOAC_F32, 3, 3);
    const moac_type *x = ARG(0);
    if (n->nl != x->dims[2])
        FAIL("caps has %d entries but scores %s have %" PRId64 " experts", n->nl, TY(x), x->dims[2]);
    int64_t total = 0;
    for (int k = 0; k < n->nl; k++) {
        if (n->l[k] < 0) FAIL("caps[%d] is %" PRId64 "; capacities must be >= 0", k, n->l[k]);
        if (__builtin_add_overflow(total, n->l[k], &total)) total = INT64_MAX;
    }
    if (total < x->dims[1])
        FAIL("caps %s hold %" PRId64 " tokens but scores %s have %" PRId64 "; every token needs a slot",
             list_text(n->l, n->nl).s, total, TY(x), x->dims[1]);
    *out = *x;
    return 0;
}

/* ---- Backward ops. ---- */

/* Two operands of the same f32 type (value and its gradient). */
static int same_pair(const moac_node *n, int min_rank, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, NULL, MOAC_F32, min_rank, MOAC_MAX_RANK);
    OPERAND(1, "dy", MOAC_F32, min_rank, MOAC_MAX_RANK);
    if (!moac_type_equal(ARG(0), ARG(1))) FAIL("operands differ: %s and %s", TY(ARG(0)), TY(ARG(1)));
    *out = *ARG(0);
    return 0;
}

static int moac_shape_gelu_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    return same_pair(n, 0, out, err, errlen);
}

static int moac_shape_relu_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    return same_pair(n, 0, out, err, errlen);
}

static int moac_shape_softmax_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    return same_pair(n, 1, out, err, errlen);
}

static int moac_shape_normalize(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "x", MOAC_F32, 1, MOAC_MAX_RANK);
    if (!(n->f[0] > 0)) FAIL("eps must be > 0, got %g", n->f[0]);
    *out = *ARG(0);
    return 0;
}

static int moac_shape_layernorm_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "x", MOAC_F32, 1, MOAC_MAX_RANK);
    OPERAND(1, "weight", MOAC_F32, 1, 1);
    OPERAND(2, "dy", MOAC_F32, 1, MOAC_MAX_RANK);
    const moac_type *x = ARG(0);
    if (ARG(1)->dims[0] != x->dims[x->rank - 1]) FAIL("weight is %s but x is %s", TY(ARG(1)), TY(x));
    if (!moac_type_equal(x, ARG(2))) FAIL("dy is %s but x is %s", TY(ARG(2)), TY(x));
    if (!(n->f[0] > 0)) FAIL("eps must be > 0, got %g", n->f[0]);
    *out = *x;
    return 0;
}

static int moac_shape_attention_lse(const moac_node *n, moac_type *out, char *err, size_t errlen);

static int moac_shape_attention_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    moac_type fwd;
    if (moac_shape_attention(n, &fwd, err, errlen)) return -1; /* q, k, v as for attention */
    OPERAND(3, "dout", MOAC_F32, 4, 4);
    if (!moac_type_equal(ARG(3), &fwd)) FAIL("dout is %s but attention gives %s", TY(ARG(3)), TY(&fwd));
    if (n->i[1] < 0 || n->i[1] > 2) FAIL("which must be 0 (dq), 1 (dk) or 2 (dv), got %" PRId64, n->i[1]);
    if (n->nargs == 5) FAIL("the forward's output and its attention_lse come together (6 operands), or neither (4)");
    if (n->nargs == 6) {
        moac_type lse;
        if (moac_shape_attention_lse(n, &lse, err, errlen)) return -1;
        OPERAND(4, "out", MOAC_F32, 4, 4);
        OPERAND(5, "lse", MOAC_F32, 3, 3);
        if (!moac_type_equal(ARG(4), &fwd)) FAIL("out is %s but attention gives %s", TY(ARG(4)), TY(&fwd));
        if (!moac_type_equal(ARG(5), &lse)) FAIL("lse is %s but attention_lse gives %s", TY(ARG(5)), TY(&lse));
    }
    *out = *ARG((int)n->i[1]);
    return 0;
}

/* [B,H,T]: one statistic per query row. */
static int moac_shape_attention_lse(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    moac_type fwd;
    if (moac_shape_attention(n, &fwd, err, errlen)) return -1;
    *out = fwd;
    out->rank = 3;
    return 0;
}

static int moac_shape_rope_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    return moac_shape_rope(n, out, err, errlen);
}

static int moac_shape_embed_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "ids", MOAC_I32, 0, MOAC_MAX_RANK - 1);
    OPERAND(1, "dy", MOAC_F32, 1, MOAC_MAX_RANK);
    const moac_type *ids = ARG(0), *dy = ARG(1);
    if (dy->rank != ids->rank + 1) FAIL("dy is %s but ids are %s: expected ids' shape + [C]", TY(dy), TY(ids));
    for (int k = 0; k < ids->rank; k++)
        if (dy->dims[k] != ids->dims[k]) FAIL("dy is %s but ids are %s: expected ids' shape + [C]", TY(dy), TY(ids));
    if (n->i[0] < 1) FAIL("rows must be >= 1, got %" PRId64, n->i[0]);
    out->dtype = MOAC_F32;
    out->rank = 2;
    out->dims[0] = n->i[0];
    out->dims[1] = dy->dims[dy->rank - 1];
    return 0;
}

static int moac_shape_cross_entropy_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    moac_type loss;
    if (moac_shape_cross_entropy(n, &loss, err, errlen)) return -1;
    OPERAND(2, "dloss", MOAC_F32, 0, 0);
    *out = *ARG(0);
    return 0;
}

static int moac_shape_take_grad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "idx", MOAC_I32, 1, MOAC_MAX_RANK);
    OPERAND(1, "dy", MOAC_F32, 1, MOAC_MAX_RANK);
    const moac_type *idx = ARG(0), *dy = ARG(1);
    if (idx->rank != dy->rank) FAIL("dy is %s but idx is %s: expected the same shape", TY(dy), TY(idx));
    for (int k = 0; k < idx->rank; k++)
        if (idx->dims[k] != dy->dims[k]) FAIL("dy is %s but idx is %s: expected the same shape", TY(dy), TY(idx));
    if (n->i[0] < idx->dims[idx->rank - 1])
        FAIL("size %" PRId64 " is smaller than the %" PRId64 " indices per row", n->i[0], idx->dims[idx->rank - 1]);
    *out = *dy;
    out->dims[out->rank - 1] = n->i[0];
    return 0;
}

static int moac_shape_pad(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    OPERAND(0, "x", MOAC_F32, 1, MOAC_MAX_RANK);
    const moac_type *x = ARG(0);
    int64_t axis = n->i[0], start = n->i[1], size = n->i[2];
    if (axis < 0 || axis >= x->rank) FAIL("axis %" PRId64 " is out of range for %s", axis, TY(x));
    if (start < 0 || size < 1 || start > size - x->dims[axis])
        FAIL("x (%s) does not fit at start %" PRId64 " of size %" PRId64 " on axis %" PRId64, TY(x), start, size, axis);
    *out = *x;
    out->dims[axis] = size;
    return 0;
}

static int moac_shape_broadcast(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    const moac_type *x = ARG(0);
    if (n->nl < x->rank || n->nl > MOAC_MAX_RANK)
        FAIL("cannot broadcast %s to %s", TY(x), list_text(n->l, n->nl).s);
    for (int k = 0; k < n->nl; k++)
        if (n->l[k] < 1) FAIL("shape %s has a dimension < 1", list_text(n->l, n->nl).s);
    for (int k = 0; k < x->rank; k++) {
        int64_t have = x->dims[x->rank - 1 - k], want = n->l[n->nl - 1 - k];
        if (have != want && have != 1) FAIL("cannot broadcast %s to %s", TY(x), list_text(n->l, n->nl).s);
    }
    out->dtype = x->dtype;
    out->rank = n->nl;
    for (int k = 0; k < n->nl; k++) out->dims[k] = n->l[k];
    return 0;
}

static int moac_shape_output(const moac_node *n, moac_type *out, char *err, size_t errlen) {
    *out = *ARG(0);
    return need_name(n, err, errlen);
}

/* ---- Dispatch. ---- */

typedef int (*shape_rule)(const moac_node *n, moac_type *out, char *err, size_t errlen);

static const shape_rule rules[MOAC_OP_COUNT] = {
#define X(name, ID, min_args, max_args, flags, attrs) [MOAC_OP_##ID] = moac_shape_##name,
#include "ir/ops.def"
#undef X
};

/* A result type every later stage can rely on: rank in range, dims >= 1, numel fits int64. */
static int check_type(const moac_type *t, const char *what, char *err, size_t errlen) {
    if (t->rank < 0) FAIL("%s type is not set (the op's type is explicit: set it before inferring)", what);
    if (t->rank > MOAC_MAX_RANK) FAIL("%s type has rank %d; the maximum is %d", what, t->rank, MOAC_MAX_RANK);
    for (int k = 0; k < t->rank; k++)
        if (t->dims[k] < 1) FAIL("%s type %s: every dimension must be >= 1", what, TY(t));
    int64_t numel;
    if (checked_numel(t->dims, t->rank, &numel)) FAIL("%s type %s has too many elements", what, TY(t));
    return 0;
}

static int check_operands(const moac_node *n, const moac_op_info *info, char *err, size_t errlen) {
    if (n->nargs < info->min_args || n->nargs > info->max_args) {
        if (info->min_args == info->max_args) FAIL("expects %d operands, got %d", info->min_args, n->nargs);
        FAIL("expects %d to %d operands, got %d", info->min_args, info->max_args, n->nargs);
    }
    for (int k = 0; k < n->nargs; k++) {
        assert(n->args[k]);
        int rank = n->args[k]->type.rank;
        if (rank < 0) FAIL("operand %d has no type yet", k + 1);
        if (rank > MOAC_MAX_RANK) FAIL("operand %d has rank %d; the maximum is %d", k + 1, rank, MOAC_MAX_RANK);
    }
    return 0;
}

int moac_node_infer(moac_node *n, char *err, size_t errlen) {
    const moac_op_info *info = moac_op_info_get(n->op);
    char msg[512];
    size_t mlen = sizeof msg;
    moac_type out = {.dtype = MOAC_F32, .rank = -1};
    int rc = check_operands(n, info, msg, mlen);
    if (!rc && (info->flags & MOAC_OPF_EXPLICIT_TYPE)) rc = check_type(&n->type, "the", msg, mlen);
    if (!rc) rc = rules[n->op](n, &out, msg, mlen);
    if (!rc) rc = check_type(&out, "the result", msg, mlen);
    if (rc) {
        snprintf(err, errlen, "%s: %s", info->name, msg);
        return -1;
    }
    n->type = out;
    return 0;
}
