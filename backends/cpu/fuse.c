/* Fused elementwise and layout kernels. A value computed by elementwise ops (add, gelu, dropout,
 * ...) and layout ops (reshape, transpose, slice, concat, pad, broadcast, repeat_heads, full) is not
 * materialised when its only consumer is another such op: the consumer's kernel evaluates it in
 * registers, per output element. Layout ops are index maps, so a chain like
 * transpose(reshape(add(x, bias))) becomes one loop nest reading x and bias directly.
 *
 * Indices are carried as a vector of per-dimension values and, where a reshape made it cheaper,
 * as a linear index: a contiguous materialised leaf only needs the linear index, which stays
 * affine in the innermost loop variable, so LLVM's loop vectoriser turns the loads into plain
 * vector loads. */
#include <math.h>
#include <string.h>

#include "backends/cpu/internal.h"

/* The CPU fuses everything the shared rule allows. */
int moac_fuse_node(const moac_node *n) { return moac_sched_fusable(n); }

typedef struct ix {
    const moac_type *t;           /* the shape these indices address */
    LLVMValueRef dim[MOAC_MAX_RANK];
    LLVMValueRef lin;             /* linear index in t, or NULL if only dims are known */
    int have_dims;
} ix;

typedef struct fctx {
    const moac_build *b;
    moac_cg *cg;
    moac_kfn *k;
    int nleaves;
    int leaf_slot[MOAC_KERNEL_MAX_SLOTS];
    LLVMValueRef leaf_ptr[MOAC_KERNEL_MAX_SLOTS];
    LLVMValueRef seed, step, training;
} fctx;

static int is_leaf(const moac_build *b, const moac_node *n) { return !b->inlined[n->id]; }

static void collect(const moac_build *b, const moac_node *n, int *slots, int *count, int max) {
    if (is_leaf(b, n)) {
        int s = b->slot_of[n->id];
        for (int i = 0; i < *count; i++)
            if (slots[i] == s) return;
        if (*count < max) slots[*count] = s;
        (*count)++;
        return;
    }
    for (int a = 0; a < n->nargs; a++) collect(b, n->args[a], slots, count, max);
}

int moac_fuse_leaves(const moac_build *b, const moac_node *root, int *slots, int max) {
    int count = 0;
    for (int a = 0; a < root->nargs; a++) collect(b, root->args[a], slots, &count, max);
    return count;
}

static LLVMValueRef linear(fctx *f, ix *x) {
    if (x->lin) return x->lin;
    LLVMValueRef l = moac_cg_i64(f->cg, 0);
    for (int d = 0; d < x->t->rank; d++) l = moac_cg_add(f->cg, moac_cg_mulc(f->cg, l, x->t->dims[d]), x->dim[d]);
    x->lin = l;
    return l;
}

static void dims(fctx *f, ix *x) {
    if (x->have_dims) return;
    LLVMValueRef rest = x->lin;
    for (int d = x->t->rank - 1; d >= 0; d--) {
        LLVMValueRef n = moac_cg_i64(f->cg, x->t->dims[d]);
        if (d == 0) {
            x->dim[d] = rest;
        } else {
            x->dim[d] = LLVMBuildURem(f->cg->b, rest, n, "");
            rest = LLVMBuildUDiv(f->cg->b, rest, n, "");
        }
    }
    x->have_dims = 1;
}

/* The index into `to` (an operand broadcast numpy-style to x's shape). */
static ix broadcast_ix(fctx *f, ix *x, const moac_type *to) {
    ix r = {.t = to};
    if (moac_type_equal(to, x->t) || (to->rank == x->t->rank && !memcmp(to->dims, x->t->dims, sizeof to->dims))) {
        r = *x;
        r.t = to;
        return r;
    }
    dims(f, x);
    int off = x->t->rank - to->rank;
    for (int d = 0; d < to->rank; d++) r.dim[d] = to->dims[d] == 1 ? moac_cg_i64(f->cg, 0) : x->dim[d + off];
    r.have_dims = 1;
    return r;
}

static LLVMValueRef eval(fctx *f, const moac_node *n, ix *x);

static LLVMValueRef load_leaf(fctx *f, const moac_node *n, ix *x) {
    int s = f->b->slot_of[n->id];
    for (int i = 0; i < f->nleaves; i++)
        if (f->leaf_slot[i] == s) {
            LLVMTypeRef t = n->type.dtype == MOAC_I32 ? f->cg->i32 : f->cg->f32;
            return moac_cg_load(f->cg, t, f->leaf_ptr[i], linear(f, x));
        }
    return NULL;
}

static LLVMValueRef arg(fctx *f, const moac_node *n, int a, ix *x) {
    ix y = broadcast_ix(f, x, &n->args[a]->type);
    return eval(f, n->args[a], &y);
}

static LLVMValueRef fc(fctx *f, double v) { return moac_cg_f32(f->cg, v); }

/* Standard normal cdf and pdf, as the interpreter's phi_cdf / phi_pdf. */
static LLVMValueRef phi_cdf(fctx *f, LLVMValueRef v) {
    LLVMBuilderRef B = f->cg->b;
    LLVMValueRef e = moac_cg_erf(f->cg, LLVMBuildFMul(B, v, fc(f, 0.70710678118654752440), ""));
    return LLVMBuildFMul(B, fc(f, 0.5), LLVMBuildFAdd(B, fc(f, 1.0), e, ""), "");
}
static LLVMValueRef phi_pdf(fctx *f, LLVMValueRef v) {
    LLVMBuilderRef B = f->cg->b;
    LLVMValueRef e = moac_cg_exp(f->cg, LLVMBuildFMul(B, fc(f, -0.5), LLVMBuildFMul(B, v, v, ""), ""));
    return LLVMBuildFMul(B, e, fc(f, 0.39894228040143267794), "");
}

static LLVMValueRef compute(fctx *f, const moac_node *n, ix *x);

/* concat: a branch per operand (its block of the axis), so each element reads one operand only;
 * the values meet in a phi. Indices are computed before the branches, so that nothing computed
 * inside one is used outside it. */
static LLVMValueRef concat(fctx *f, const moac_node *n, ix *x) {
    moac_cg *cg = f->cg;
    LLVMBuilderRef B = cg->b;
    dims(f, x);
    int axis = (int)n->i[0];
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(B));
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, fn, "concat.done");
    LLVMValueRef vals[16];
    LLVMBasicBlockRef from[16];
    int64_t start = 0;
    for (int a = 0; a < n->nargs; a++) {
        int64_t len = n->args[a]->type.dims[axis];
        LLVMBasicBlockRef here = NULL, next = NULL;
        if (a + 1 < n->nargs) {
            here = LLVMAppendBasicBlockInContext(cg->ctx, fn, "concat.arg");
            next = LLVMAppendBasicBlockInContext(cg->ctx, fn, "concat.next");
            LLVMValueRef in = LLVMBuildICmp(B, LLVMIntSLT, x->dim[axis], moac_cg_i64(cg, start + len), "");
            LLVMBuildCondBr(B, in, here, next);
            LLVMPositionBuilderAtEnd(B, here);
        }
        ix y = {.t = &n->args[a]->type, .have_dims = 1};
        memcpy(y.dim, x->dim, sizeof y.dim);
        y.dim[axis] = moac_cg_addc(cg, x->dim[axis], -start);
        vals[a] = eval(f, n->args[a], &y);
        if (!vals[a]) return NULL;
        from[a] = LLVMGetInsertBlock(B);
        LLVMBuildBr(B, done);
        if (next) LLVMPositionBuilderAtEnd(B, next);
        start += len;
    }
    LLVMPositionBuilderAtEnd(B, done);
    LLVMValueRef phi = LLVMBuildPhi(B, LLVMTypeOf(vals[0]), "concat");
    LLVMAddIncoming(phi, vals, from, (unsigned)n->nargs);
    return phi;
}

static LLVMValueRef eval(fctx *f, const moac_node *n, ix *x) {
    return is_leaf(f->b, n) ? load_leaf(f, n, x) : compute(f, n, x);
}

/* The value of n's element at x, from its operands. */
static LLVMValueRef compute(fctx *f, const moac_node *n, ix *x) {
    moac_cg *cg = f->cg;
    LLVMBuilderRef B = cg->b;
    switch (n->op) {
    case MOAC_OP_FULL: return n->type.dtype == MOAC_I32 ? moac_cg_i32(cg, (int32_t)n->f[0]) : fc(f, n->f[0]);
    case MOAC_OP_ADD: return LLVMBuildFAdd(B, arg(f, n, 0, x), arg(f, n, 1, x), "");
    case MOAC_OP_SUB: return LLVMBuildFSub(B, arg(f, n, 0, x), arg(f, n, 1, x), "");
    case MOAC_OP_MUL: return LLVMBuildFMul(B, arg(f, n, 0, x), arg(f, n, 1, x), "");
    case MOAC_OP_DIV: return LLVMBuildFDiv(B, arg(f, n, 0, x), arg(f, n, 1, x), "");
    case MOAC_OP_SCALE: return LLVMBuildFMul(B, arg(f, n, 0, x), fc(f, n->f[0]), "");
    case MOAC_OP_NEG: return LLVMBuildFNeg(B, arg(f, n, 0, x), "");
    case MOAC_OP_SQUARE: {
        LLVMValueRef v = arg(f, n, 0, x);
        return LLVMBuildFMul(B, v, v, "");
    }
    case MOAC_OP_EXP: return moac_cg_exp(cg, arg(f, n, 0, x));
    case MOAC_OP_LOG: return moac_cg_log(cg, arg(f, n, 0, x));
    case MOAC_OP_RELU: {
        LLVMValueRef v = arg(f, n, 0, x);
        return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, v, fc(f, 0), ""), v, fc(f, 0), "");
    }
    case MOAC_OP_GELU: {
        LLVMValueRef v = arg(f, n, 0, x);
        return LLVMBuildFMul(B, v, phi_cdf(f, v), "gelu");
    }
    case MOAC_OP_SIGMOID: {
        LLVMValueRef v = arg(f, n, 0, x);
        LLVMValueRef e = moac_cg_exp(cg, LLVMBuildFNeg(B, v, ""));
        return LLVMBuildFDiv(B, fc(f, 1.0), LLVMBuildFAdd(B, fc(f, 1.0), e, ""), "sigmoid");
    }
    case MOAC_OP_BCE_LOGITS: { /* max(z,0) - z*y + log(1 + exp(-|z|)) */
        LLVMValueRef z = arg(f, n, 0, x), y = arg(f, n, 1, x);
        LLVMValueRef pos = moac_cg_fmax(cg, z, fc(f, 0));
        LLVMValueRef e = moac_cg_exp(cg, LLVMBuildFNeg(B, moac_cg_fabs(cg, z), ""));
        LLVMValueRef l = moac_cg_log(cg, LLVMBuildFAdd(B, fc(f, 1.0), e, ""));
        return LLVMBuildFAdd(B, LLVMBuildFSub(B, pos, LLVMBuildFMul(B, z, y, ""), ""), l, "bce");
    }
    case MOAC_OP_DROPOUT: {
        LLVMValueRef v = arg(f, n, 0, x);
        double p = n->f[0];
        if (p == 0) return v;
        ix own = *x;
        LLVMValueRef idx = linear(f, &own);
        /* stream = (DROPOUT << 56) | (site << 32) | step: the interpreter's moac_rng_stream. */
        uint64_t hi = ((uint64_t)2 << 56) | (((uint64_t)n->i[0] & 0xffffffu) << 32);
        LLVMValueRef stream = LLVMBuildOr(B, LLVMConstInt(cg->i64, hi, 0),
                                          LLVMBuildAnd(B, f->step, LLVMConstInt(cg->i64, 0xffffffffu, 0), ""), "");
        LLVMValueRef keep = moac_cg_dropout_keep(cg, f->seed, stream, idx, p);
        LLVMValueRef kept = LLVMBuildSelect(B, keep, LLVMBuildFMul(B, v, fc(f, 1.0 / (1.0 - p)), ""), fc(f, 0), "");
        LLVMValueRef training = LLVMBuildICmp(B, LLVMIntNE, f->training, moac_cg_i64(cg, 0), "");
        return LLVMBuildSelect(B, training, kept, v, "dropout");
    }
    case MOAC_OP_GELU_GRAD: {
        LLVMValueRef v = arg(f, n, 0, x), dy = arg(f, n, 1, x);
        LLVMValueRef d = LLVMBuildFAdd(B, phi_cdf(f, v), LLVMBuildFMul(B, v, phi_pdf(f, v), ""), "");
        return LLVMBuildFMul(B, dy, d, "gelu_grad");
    }
    case MOAC_OP_RELU_GRAD: {
        LLVMValueRef v = arg(f, n, 0, x), dy = arg(f, n, 1, x);
        return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOGT, v, fc(f, 0), ""), dy, fc(f, 0), "");
    }
    case MOAC_OP_BROADCAST: return arg(f, n, 0, x);
    case MOAC_OP_RESHAPE: {
        const moac_type *in = &n->args[0]->type;
        int p = 0; /* dims the reshape keeps in front: [B,T,H,D] <- [B,T,C] keeps B and T */
        while (p < in->rank && p < n->type.rank && in->dims[p] == n->type.dims[p]) p++;
        if (!x->have_dims || p == 0 || x->lin) {
            ix y = {.t = in, .lin = linear(f, x)};
            return eval(f, n->args[0], &y);
        }
        /* Indices known per dim (under a transpose): keep the common front dims and re-split
         * only the rest, so that the operand's index stays affine in the innermost index (and
         * its loads vectorise) where the rest is one dim, as for a slice of a fused projection. */
        ix y = {.t = in, .have_dims = 1};
        LLVMValueRef rest = moac_cg_i64(cg, 0);
        for (int d = 0; d < p; d++) y.dim[d] = x->dim[d];
        for (int d = p; d < n->type.rank; d++) rest = moac_cg_add(cg, moac_cg_mulc(cg, rest, n->type.dims[d]), x->dim[d]);
        for (int d = in->rank - 1; d >= p; d--) {
            if (d == p) {
                y.dim[d] = rest;
                break;
            }
            LLVMValueRef dim = moac_cg_i64(cg, in->dims[d]);
            y.dim[d] = LLVMBuildURem(B, rest, dim, "");
            rest = LLVMBuildUDiv(B, rest, dim, "");
        }
        return eval(f, n->args[0], &y);
    }
    case MOAC_OP_TRANSPOSE: {
        dims(f, x);
        ix y = {.t = &n->args[0]->type, .have_dims = 1};
        for (int d = 0; d < n->nl; d++) y.dim[n->l[d]] = x->dim[d];
        return eval(f, n->args[0], &y);
    }
    case MOAC_OP_SLICE: {
        dims(f, x);
        ix y = {.t = &n->args[0]->type, .have_dims = 1};
        memcpy(y.dim, x->dim, sizeof y.dim);
        y.dim[n->i[0]] = moac_cg_addc(cg, x->dim[n->i[0]], n->i[1]);
        return eval(f, n->args[0], &y);
    }
    case MOAC_OP_CONCAT: return concat(f, n, x);
    case MOAC_OP_REPEAT_HEADS: {
        dims(f, x);
        ix y = {.t = &n->args[0]->type, .have_dims = 1};
        memcpy(y.dim, x->dim, sizeof y.dim);
        y.dim[1] = LLVMBuildUDiv(B, x->dim[1], moac_cg_i64(cg, n->i[0]), "");
        return eval(f, n->args[0], &y);
    }
    case MOAC_OP_PAD: { /* zeros, with the operand at [start, start + len) on axis */
        dims(f, x);
        int axis = (int)n->i[0];
        int64_t start = n->i[1], len = n->args[0]->type.dims[axis];
        LLVMValueRef rel = moac_cg_addc(cg, x->dim[axis], -start);
        LLVMValueRef in = LLVMBuildICmp(B, LLVMIntULT, rel, moac_cg_i64(cg, len), "inside");
        ix y = {.t = &n->args[0]->type, .have_dims = 1};
        memcpy(y.dim, x->dim, sizeof y.dim);
        y.dim[axis] = LLVMBuildSelect(B, in, rel, moac_cg_i64(cg, 0), "");
        LLVMValueRef v = eval(f, n->args[0], &y);
        return LLVMBuildSelect(B, in, v, n->type.dtype == MOAC_I32 ? moac_cg_i32(cg, 0) : fc(f, 0), "pad");
    }
    default: return NULL;
    }
}

int moac_fuse_emit(moac_build *b, const moac_node *root) {
    moac_cg *cg = b->cg;
    fctx f = {.b = b, .cg = cg};
    int leaves[MOAC_KERNEL_MAX_SLOTS];
    int nleaves = moac_fuse_leaves(b, root, leaves, MOAC_KERNEL_MAX_SLOTS - 2);
    if (nleaves > MOAC_KERNEL_MAX_SLOTS - 2) return -1;
    int slots[MOAC_KERNEL_MAX_SLOTS];
    slots[0] = b->slot_of[root->id];
    slots[1] = MOAC_SLOT_PARAMS;
    memcpy(slots + 2, leaves, (size_t)nleaves * sizeof *leaves);

    /* A reshape keeps the row-major order: iterate over the shape it reshapes instead (a
     * transpose under it then keeps its inner dimension, and its reads stay contiguous). */
    const moac_node *top = root;
    while (top->op == MOAC_OP_RESHAPE && !is_leaf(b, top->args[0])) top = top->args[0];
    const moac_type *t = &top->type;
    int64_t numel = moac_type_numel(t);
    int64_t inner = t->rank ? t->dims[t->rank - 1] : 1;
    int64_t rows = inner ? numel / inner : 0;
    /* Few long rows: split them into column chunks so every thread gets work; a GPU: one
     * element per item (a thread per element, a warp's reads contiguous). */
    int64_t chunk = rows >= 8 ? inner : (inner < 4096 ? inner : 4096);
    if (cg->target->fine_items) chunk = 1;
    /* A concat along the rows: whole rows per item, each operand's run copied by a loop of its
     * own (contiguous, so vectorised) instead of a branch per element. */
    int concat_rows = top->op == MOAC_OP_CONCAT && !cg->target->fine_items;
    if (concat_rows) chunk = inner;
    int64_t nchunks = chunk ? (inner + chunk - 1) / chunk : 0;
    char name[64];
    snprintf(name, sizeof name, "n%u_%s", root->id, moac_op_info_get(root->op)->name);
    moac_kfn k = moac_cg_kernel_begin(cg, name, rows * nchunks, 2 + nleaves, slots);
    cg->kernels[k.index].cost = (double)numel * 8.0 * (1 + nleaves);
    cg->kernels[k.index].node = (int)root->id;
    f.k = &k;
    f.nleaves = nleaves;
    memcpy(f.leaf_slot, leaves, (size_t)nleaves * sizeof *leaves);
    for (int i = 0; i < nleaves; i++) f.leaf_ptr[i] = moac_cg_arg(cg, &k, 2 + i);
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), params = moac_cg_arg(cg, &k, 1);
    f.seed = moac_cg_load(cg, cg->i64, params, moac_cg_i64(cg, 0));
    f.step = moac_cg_load(cg, cg->i64, params, moac_cg_i64(cg, 1));
    f.training = moac_cg_load(cg, cg->i64, params, moac_cg_i64(cg, 2));

    moac_loop item = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef row = LLVMBuildUDiv(cg->b, item.iv, moac_cg_i64(cg, nchunks), "row");
    LLVMValueRef c0 = moac_cg_mulc(cg, LLVMBuildURem(cg->b, item.iv, moac_cg_i64(cg, nchunks), ""), chunk);
    LLVMValueRef c1 = moac_cg_addc(cg, c0, chunk);
    LLVMValueRef lim = moac_cg_i64(cg, inner);
    c1 = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, c1, lim, ""), c1, lim, "");
    /* Outer dims of the row, computed once per row. */
    ix rowix = {.t = t, .have_dims = 1};
    LLVMValueRef rest = row;
    for (int d = t->rank - 2; d >= 0; d--) {
        LLVMValueRef n = moac_cg_i64(cg, t->dims[d]);
        rowix.dim[d] = d ? LLVMBuildURem(cg->b, rest, n, "") : rest;
        if (d) rest = LLVMBuildUDiv(cg->b, rest, n, "");
    }
    if (concat_rows && top->i[0] == t->rank - 1) {
        int64_t start = 0;
        for (int a = 0; a < top->nargs; a++) {
            const moac_type *at = &top->args[a]->type;
            int64_t len = at->dims[at->rank - 1];
            moac_loop col = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, len), 1);
            ix y = rowix;
            y.t = at;
            y.dim[at->rank - 1] = col.iv;
            y.lin = moac_cg_add(cg, moac_cg_mulc(cg, row, len), col.iv);
            LLVMValueRef v = eval(&f, top->args[a], &y);
            if (!v) return -1;
            moac_cg_store(cg, v, out, moac_cg_add(cg, moac_cg_mulc(cg, row, inner), moac_cg_addc(cg, col.iv, start)));
            moac_cg_end(cg, &col);
            start += len;
        }
        moac_cg_end(cg, &item);
        moac_cg_kernel_end(cg, &k);
        return 0;
    }
    if (concat_rows) { /* along an outer axis: a row lies in one operand, chosen once per row */
        int axis = (int)top->i[0];
        LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
        LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, fn, "row.done");
        int64_t start = 0;
        for (int a = 0; a < top->nargs; a++) {
            const moac_type *at = &top->args[a]->type;
            int64_t len = at->dims[axis];
            LLVMBasicBlockRef here = LLVMAppendBasicBlockInContext(cg->ctx, fn, "row.arg");
            LLVMBasicBlockRef next = LLVMAppendBasicBlockInContext(cg->ctx, fn, "row.next");
            LLVMValueRef in = LLVMBuildICmp(cg->b, LLVMIntSLT, rowix.dim[axis], moac_cg_i64(cg, start + len), "");
            LLVMBuildCondBr(cg->b, in, here, next);
            LLVMPositionBuilderAtEnd(cg->b, here);
            ix ra = rowix;
            ra.t = at;
            ra.dim[axis] = moac_cg_addc(cg, rowix.dim[axis], -start);
            ra.dim[at->rank - 1] = moac_cg_i64(cg, 0);
            ra.lin = NULL;
            LLVMValueRef base = linear(&f, &ra); /* the operand's row start */
            moac_loop col = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, inner), 1);
            ix y = ra;
            y.dim[at->rank - 1] = col.iv;
            y.lin = moac_cg_add(cg, base, col.iv);
            LLVMValueRef v = eval(&f, top->args[a], &y);
            if (!v) return -1;
            moac_cg_store(cg, v, out, moac_cg_add(cg, moac_cg_mulc(cg, row, inner), col.iv));
            moac_cg_end(cg, &col);
            LLVMBuildBr(cg->b, done);
            LLVMPositionBuilderAtEnd(cg->b, next);
            start += len;
        }
        LLVMBuildBr(cg->b, done);
        LLVMPositionBuilderAtEnd(cg->b, done);
        moac_cg_end(cg, &item);
        moac_cg_kernel_end(cg, &k);
        return 0;
    }
    moac_loop col = moac_cg_for(cg, &k, c0, c1, 1);
    ix x = rowix;
    if (t->rank) x.dim[t->rank - 1] = col.iv;
    x.lin = moac_cg_add(cg, moac_cg_mulc(cg, row, inner), col.iv);
    LLVMValueRef v = compute(&f, top, &x);
    if (!v) return -1;
    moac_cg_store(cg, v, out, x.lin);
    moac_cg_end(cg, &col);
    moac_cg_end(cg, &item);
    moac_cg_kernel_end(cg, &k);
    return 0;
}
