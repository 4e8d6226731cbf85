/* Row-wise CPU kernels: softmax, layernorm, normalize and their gradients, cross-entropy and its
 * gradient. "Row" is the last axis; every kernel's items are rows, each row handled by one thread
 * with explicit <W x float> code (W = the target's lanes) and a masked tail, so a row of any
 * length (1, 5, 283) is one vector loop plus at most one masked chunk. Reductions along a row
 * are vector accumulators reduced once per row (the loop vectoriser would leave float sums scalar
 * without reassociation); their order depends only on the row length, never on the threads.
 * On a GPU a row is a warp's: 32 threads (items = rows x 32), lane l taking the chunks l, l + 32,
 * ... (a warp reads 32 x W contiguous floats at a time), the row's sums a butterfly of shuffles
 * over the lanes' partials, so every lane has them: a fixed order too.
 * Embedding, rope, group_mean and the reductions are in kernels_embed.c, sharing the helpers of
 * kernels_rows.h. */
#include "backends/cpu/kernels_rows.h"
#include "backends/cuda/nvvm.h" /* the GPU's warp shuffles, for the row kernels' GPU form */

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- Shared helpers (declared in kernels_rows.h). ---- */

moac_kfn moac_rows_kernel(const moac_emit_ctx *e, moac_rowc *c, const char *what, int64_t items, int nslots,
                          const int *slots) {
    char name[64];
    snprintf(name, sizeof name, "%s_%s", e->prefix, what);
    moac_kfn k = moac_cg_kernel_begin(e->cg, name, items, nslots, slots);
    memset(c, 0, sizeof *c);
    c->cg = e->cg;
    c->W = e->cg->vec;
    c->vt = LLVMVectorType(e->cg->f32, (unsigned)c->W);
    c->dt = LLVMVectorType(e->cg->f64, (unsigned)c->W);
    return k;
}

/* The constant mask of the first m lanes. */
static LLVMValueRef tail_mask(moac_rowc *c, int64_t m) {
    LLVMValueRef lanes[64];
    LLVMTypeRef i1 = c->cg->i1;
    for (int i = 0; i < c->W; i++) lanes[i] = LLVMConstInt(i1, i < m, 0);
    return LLVMConstVector(lanes, (unsigned)c->W);
}

LLVMValueRef moac_rows_lane_mask(moac_rowc *c, LLVMValueRef j0, int64_t n) {
    moac_cg *cg = c->cg;
    LLVMValueRef lanes[64];
    for (int i = 0; i < c->W; i++) lanes[i] = moac_cg_i64(cg, i);
    LLVMValueRef iota = LLVMConstVector(lanes, (unsigned)c->W);
    LLVMTypeRef i64v = LLVMVectorType(cg->i64, (unsigned)c->W);
    LLVMValueRef j = LLVMBuildInsertElement(cg->b, LLVMGetUndef(i64v), j0, moac_cg_i32(cg, 0), "");
    j = LLVMBuildShuffleVector(cg->b, j, LLVMGetUndef(i64v), LLVMConstNull(LLVMVectorType(cg->i32, (unsigned)c->W)),
                               "");
    LLVMValueRef idx = LLVMBuildAdd(cg->b, j, iota, "");
    for (int i = 0; i < c->W; i++) lanes[i] = moac_cg_i64(cg, n);
    return LLVMBuildICmp(cg->b, LLVMIntSLT, idx, LLVMConstVector(lanes, (unsigned)c->W), "lanes");
}

/* llvm.masked.load / llvm.masked.store, overloaded on the vector and the pointer type. */
static LLVMValueRef masked_call(moac_rowc *c, const char *name, LLVMTypeRef vt, LLVMValueRef *args) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef over[2] = {vt, c->cg->ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(c->cg->mod, id, over, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(c->cg->ctx, id, over, 2);
    return LLVMBuildCall2(c->cg->b, fty, fn, args, 4, "");
}

LLVMValueRef moac_rows_load(moac_rowc *c, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx) {
    if (!c->mask) return moac_cg_load(c->cg, vt, base, idx);
    LLVMValueRef args[4] = {moac_cg_gep(c->cg, vt, base, idx), moac_cg_i32(c->cg, 4), c->mask, LLVMConstNull(vt)};
    return masked_call(c, "llvm.masked.load", vt, args);
}

void moac_rows_store(moac_rowc *c, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
    if (!c->mask) {
        moac_cg_store(c->cg, v, base, idx);
        return;
    }
    LLVMValueRef args[4] = {v, moac_cg_gep(c->cg, LLVMTypeOf(v), base, idx), moac_cg_i32(c->cg, 4), c->mask};
    masked_call(c, "llvm.masked.store", LLVMTypeOf(v), args);
}

LLVMValueRef moac_rows_acc(moac_rowc *c, LLVMTypeRef vt, double init) {
    LLVMValueRef zero = LLVMConstNull(vt);
    return moac_cg_var(c->cg, c->k, vt, moac_cg_fconst(c->cg, zero, init));
}

void moac_rows_acc_add(moac_rowc *c, LLVMValueRef var, LLVMValueRef v) {
    LLVMBuilderRef b = c->cg->b;
    if (c->mask) v = LLVMBuildSelect(b, c->mask, v, LLVMConstNull(LLVMTypeOf(v)), "");
    moac_cg_set(c->cg, var, LLVMBuildFAdd(b, moac_cg_get(c->cg, LLVMTypeOf(v), var), v, ""));
}

/* var = max(var, v) as a compare and select, which is one vmaxps (maxnum's NaN rule costs a
 * compare and a blend more on x86, on the row's critical path). A NaN in the row may then be
 * skipped by the max, but it still makes the row's sum, so the whole row, NaN, as the reference. */
static void acc_max(moac_rowc *c, LLVMValueRef var, LLVMValueRef v) {
    LLVMBuilderRef b = c->cg->b;
    if (c->mask) v = LLVMBuildSelect(b, c->mask, v, moac_cg_fconst(c->cg, v, -INFINITY), "");
    LLVMValueRef m = moac_cg_get(c->cg, LLVMTypeOf(v), var);
    moac_cg_set(c->cg, var, LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, m, v, ""), m, v, ""));
}

/* The GPU's moac_rows_chunks: lane l takes chunks l, l + 32, ...; the tail chunk, if any, is the
 * lane's whose turn it is. */
static void lane_chunks(moac_rowc *c, int64_t n, moac_rows_body fn) {
    moac_cg *cg = c->cg;
    int64_t full = n / c->W * c->W, tail = full / c->W; /* the tail's chunk number */
    if (full > 0) {
        moac_loop l = moac_cg_for(cg, c->k, moac_cg_mulc(cg, c->lane, c->W), moac_cg_i64(cg, full), 32 * c->W);
        c->mask = NULL;
        fn(c, l.iv);
        moac_cg_end(cg, &l);
    }
    if (n > full) {
        LLVMBasicBlockRef merge = moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, c->lane, moac_cg_i64(cg, tail % 32), ""));
        c->mask = tail_mask(c, n - full);
        fn(c, moac_cg_i64(cg, full));
        c->mask = NULL;
        moac_cg_endif(cg, merge);
    }
}

void moac_rows_chunks(moac_rowc *c, int64_t n, moac_rows_body fn) {
    if (c->lane) {
        lane_chunks(c, n, fn);
        return;
    }
    int64_t full = n / c->W * c->W;
    if (full > 0) {
        moac_loop l = moac_cg_for(c->cg, c->k, moac_cg_i64(c->cg, 0), moac_cg_i64(c->cg, full), c->W);
        c->mask = NULL;
        fn(c, l.iv);
        moac_cg_end(c->cg, &l);
    }
    if (n > full) {
        c->mask = tail_mask(c, n - full);
        fn(c, moac_cg_i64(c->cg, full));
        c->mask = NULL;
    }
}

LLVMValueRef moac_rows_fsplat(moac_rowc *c, LLVMValueRef s) { return moac_cg_splat(c->cg, s, c->W); }

int64_t moac_rows_last(const moac_type *t) { return t->rank ? t->dims[t->rank - 1] : 1; }

/* ---- Bodies of the row passes: c->p[] are the operands, c->off the row's first element. ---- */

static LLVMValueRef ld(moac_rowc *c, int i, LLVMValueRef j) {
    return moac_rows_load(c, c->vt, c->p[i], moac_cg_add(c->cg, c->off, j));
}
static void st(moac_rowc *c, LLVMValueRef v, LLVMValueRef j) {
    moac_rows_store(c, v, c->out, moac_cg_add(c->cg, c->off, j));
}
static LLVMValueRef fsub(moac_rowc *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFSub(c->cg->b, a, b, ""); }
static LLVMValueRef fmul(moac_rowc *c, LLVMValueRef a, LLVMValueRef b) { return LLVMBuildFMul(c->cg->b, a, b, ""); }

static void b_max(moac_rowc *c, LLVMValueRef j) { acc_max(c, c->acc[0], ld(c, 0, j)); }
static void b_sum(moac_rowc *c, LLVMValueRef j) { moac_rows_acc_add(c, c->acc[0], ld(c, 0, j)); }
/* exp(x - max), summed; stored too when there is an output (softmax, its use in the CE grad). */
static void b_exp(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef v = moac_cg_exp(c->cg, fsub(c, ld(c, 0, j), c->s[0]));
    if (c->out) st(c, v, j);
    moac_rows_acc_add(c, c->acc[0], v);
}
static void b_scale_out(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef idx = moac_cg_add(c->cg, c->off, j);
    moac_rows_store(c, fmul(c, moac_rows_load(c, c->vt, c->out, idx), c->s[0]), c->out, idx);
}
static void b_dot(moac_rowc *c, LLVMValueRef j) { moac_rows_acc_add(c, c->acc[0], fmul(c, ld(c, 0, j), ld(c, 1, j))); }
static void b_softmax_grad(moac_rowc *c, LLVMValueRef j) {
    st(c, fmul(c, ld(c, 0, j), fsub(c, ld(c, 1, j), c->s[0])), j);
}
static void b_var(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef d = fsub(c, ld(c, 0, j), c->s[0]);
    moac_rows_acc_add(c, c->acc[0], fmul(c, d, d));
}
/* (x - mean) * rstd [* w] [+ b]; w and b are indexed by the column alone. */
static void b_norm(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef v = fmul(c, fsub(c, ld(c, 0, j), c->s[0]), c->s[1]);
    if (c->p[1]) v = fmul(c, v, moac_rows_load(c, c->vt, c->p[1], j));
    if (c->p[2]) v = LLVMBuildFAdd(c->cg->b, v, moac_rows_load(c, c->vt, c->p[2], j), "");
    st(c, v, j);
}
/* g = dy * w, xhat = (x - mean) * rstd: sums of g and g * xhat. p = {x, w, dy}. */
static void b_lngrad_sums(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef g = fmul(c, ld(c, 2, j), moac_rows_load(c, c->vt, c->p[1], j));
    LLVMValueRef xhat = fmul(c, fsub(c, ld(c, 0, j), c->s[0]), c->s[1]);
    moac_rows_acc_add(c, c->acc[0], g);
    moac_rows_acc_add(c, c->acc[1], fmul(c, g, xhat));
}
/* dx = (g - mean(g) - xhat * mean(g * xhat)) * rstd; s = {mean, rstd, mean(g), mean(g * xhat)}. */
static void b_lngrad_out(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef g = fmul(c, ld(c, 2, j), moac_rows_load(c, c->vt, c->p[1], j));
    LLVMValueRef xhat = fmul(c, fsub(c, ld(c, 0, j), c->s[0]), c->s[1]);
    LLVMValueRef v = fsub(c, fsub(c, g, c->s[2]), fmul(c, xhat, c->s[3]));
    st(c, fmul(c, v, c->s[1]), j);
}

/* x of every lane of the warp combined by sum (max = 0) or max, in every lane: shfl.sync.bfly
 * with lane masks 16, 8, 4, 2, 1. The identity where the thread has its row alone. */
static LLVMValueRef warp_all(moac_rowc *c, LLVMValueRef x, int max) {
    return c->lane ? moac_nvvm_butterfly(c->cg, x, 16, max) : x;
}

/* The row's sum of vector accumulator acc. */
static LLVMValueRef row_total(moac_rowc *c, int acc) {
    return warp_all(c, moac_cg_hsum(c->cg, moac_cg_get(c->cg, c->vt, c->acc[acc])), 0);
}

/* Row sums of one pass as a scalar. */
static LLVMValueRef pass_sum(moac_rowc *c, int64_t n, moac_rows_body fn, int acc) {
    moac_cg_set(c->cg, c->acc[acc], LLVMConstNull(c->vt));
    moac_rows_chunks(c, n, fn);
    return row_total(c, acc);
}

static LLVMValueRef pass_max(moac_rowc *c, int64_t n) {
    moac_cg_set(c->cg, c->acc[0], moac_cg_fconst(c->cg, LLVMConstNull(c->vt), -INFINITY));
    moac_rows_chunks(c, n, b_max);
    return warp_all(c, moac_cg_hmax(c->cg, moac_cg_get(c->cg, c->vt, c->acc[0])), 1);
}

/* Opens the row loop of kernel k: c->off = row * n. On a GPU the kernel's items become rows x 32,
 * a warp per row: item i is lane i % 32 of row i / 32. */
static moac_loop row_loop(moac_rowc *c, moac_kfn *k, int64_t n) {
    moac_cg *cg = c->cg;
    c->k = k;
    c->acc[0] = moac_rows_acc(c, c->vt, 0.0);
    c->acc[1] = moac_rows_acc(c, c->vt, 0.0);
    if (cg->target->kind == MOAC_TARGET_NVPTX) {
        cg->kernels[k->index].items *= 32;
        c->lane = LLVMBuildURem(cg->b, k->lo, moac_cg_i64(cg, 32), "lane");
        LLVMValueRef first = LLVMBuildUDiv(cg->b, k->lo, moac_cg_i64(cg, 32), "");
        LLVMValueRef last = LLVMBuildUDiv(cg->b, moac_cg_addc(cg, k->hi, 31), moac_cg_i64(cg, 32), "");
        moac_loop r = moac_cg_for(cg, k, first, last, 1);
        c->off = moac_cg_mulc(cg, r.iv, n);
        return r;
    }
    moac_loop r = moac_cg_for(c->cg, k, k->lo, k->hi, 1);
    c->off = moac_cg_mulc(c->cg, r.iv, n);
    return r;
}

/* max, exp(x - max) summed (and stored to c->out when set); returns (max, sum). */
static void exp_passes(moac_rowc *c, int64_t n, LLVMValueRef *mx, LLVMValueRef *sum) {
    *mx = pass_max(c, n);
    c->s[0] = moac_rows_fsplat(c, *mx);
    *sum = pass_sum(c, n, b_exp, 0);
}

/* ---- softmax, softmax_grad. ---- */

int moac_emit_softmax(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    int64_t n = moac_rows_last(&e->node->type), rows = moac_type_numel(&e->node->type) / n;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, "softmax", rows, 2, (int[]){e->out, e->in[0]});
    c.out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    moac_loop r = row_loop(&c, &k, n);
    LLVMValueRef mx, sum;
    exp_passes(&c, n, &mx, &sum);
    c.s[0] = moac_rows_fsplat(&c, LLVMBuildFDiv(cg->b, moac_cg_f32(cg, 1.0), sum, ""));
    moac_rows_chunks(&c, n, b_scale_out);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 30.0 * (double)(rows * n), 8.0 * (double)(rows * n));
    return 0;
}

int moac_emit_softmax_grad(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    int64_t n = moac_rows_last(&e->node->type), rows = moac_type_numel(&e->node->type) / n;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, "softmax_grad", rows, 3, (int[]){e->out, e->in[0], e->in[1]});
    c.out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    c.p[1] = moac_cg_arg(cg, &k, 2);
    moac_loop r = row_loop(&c, &k, n);
    c.s[0] = moac_rows_fsplat(&c, pass_sum(&c, n, b_dot, 0));
    moac_rows_chunks(&c, n, b_softmax_grad);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 4.0 * (double)(rows * n), 12.0 * (double)(rows * n));
    return 0;
}

/* ---- layernorm, normalize, layernorm_grad. ---- */

/* Mean and 1/sqrt(biased variance + eps) of the row at c->off (two passes, as the reference:
 * exact enough whatever the row's offset from zero); sets c->s[0] = mean, c->s[1] = rstd. */
static void row_stats(moac_rowc *c, int64_t n, double eps) {
    moac_cg *cg = c->cg;
    LLVMValueRef inv_n = moac_cg_f32(cg, 1.0 / (double)n);
    LLVMValueRef mean = LLVMBuildFMul(cg->b, pass_sum(c, n, b_sum, 0), inv_n, "mean");
    c->s[0] = moac_rows_fsplat(c, mean);
    LLVMValueRef var = LLVMBuildFMul(cg->b, pass_sum(c, n, b_var, 0), inv_n, "var");
    LLVMValueRef rstd = LLVMBuildFDiv(cg->b, moac_cg_f32(cg, 1.0),
                                      moac_cg_sqrt(cg, LLVMBuildFAdd(cg->b, var, moac_cg_f32(cg, eps), "")), "rstd");
    c->s[1] = moac_rows_fsplat(c, rstd);
}

static int emit_norm(const moac_emit_ctx *e, int nargs) {
    moac_cg *cg = e->cg;
    int64_t n = moac_rows_last(&e->node->type), rows = moac_type_numel(&e->node->type) / n;
    int slots[4] = {e->out, e->in[0], nargs > 1 ? e->in[1] : 0, nargs > 2 ? e->in[2] : 0};
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, nargs > 1 ? "layernorm" : "normalize", rows, 1 + nargs, slots);
    c.out = moac_cg_arg(cg, &k, 0);
    for (int i = 0; i < nargs; i++) c.p[i] = moac_cg_arg(cg, &k, 1 + i);
    moac_loop r = row_loop(&c, &k, n);
    row_stats(&c, n, e->node->f[0]);
    moac_rows_chunks(&c, n, b_norm);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 8.0 * (double)(rows * n), 8.0 * (double)(rows * n));
    return 0;
}

int moac_emit_layernorm(const moac_emit_ctx *e) { return emit_norm(e, e->node->nargs); }
int moac_emit_normalize(const moac_emit_ctx *e) { return emit_norm(e, 1); }

int moac_emit_layernorm_grad(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    int64_t n = moac_rows_last(&e->node->type), rows = moac_type_numel(&e->node->type) / n;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, "layernorm_grad", rows, 4, (int[]){e->out, e->in[0], e->in[1], e->in[2]});
    c.out = moac_cg_arg(cg, &k, 0);
    for (int i = 0; i < 3; i++) c.p[i] = moac_cg_arg(cg, &k, 1 + i);
    moac_loop r = row_loop(&c, &k, n);
    row_stats(&c, n, e->node->f[0]);
    moac_cg_set(cg, c.acc[0], LLVMConstNull(c.vt));
    moac_cg_set(cg, c.acc[1], LLVMConstNull(c.vt));
    moac_rows_chunks(&c, n, b_lngrad_sums);
    LLVMValueRef inv_n = moac_cg_f32(cg, 1.0 / (double)n);
    c.s[2] = moac_rows_fsplat(&c, LLVMBuildFMul(cg->b, row_total(&c, 0), inv_n, ""));
    c.s[3] = moac_rows_fsplat(&c, LLVMBuildFMul(cg->b, row_total(&c, 1), inv_n, ""));
    moac_rows_chunks(&c, n, b_lngrad_out);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 16.0 * (double)(rows * n), 12.0 * (double)(rows * n));
    return 0;
}

/* ---- cross_entropy, cross_entropy_grad. ---- */

/* The target of row `row` as i64, and whether it lies in [0, v). The lead's runtime validates
 * targets before running (the reference reports them as errors); here an invalid target must only
 * never be read through, so callers clamp or skip. */
static LLVMValueRef load_target(moac_cg *cg, LLVMValueRef targets, LLVMValueRef row, int64_t v, LLVMValueRef *valid) {
    LLVMValueRef t = LLVMBuildSExt(cg->b, moac_cg_load(cg, cg->i32, targets, row), cg->i64, "target");
    *valid = LLVMBuildICmp(cg->b, LLVMIntULT, t, moac_cg_i64(cg, v), "valid"); /* unsigned: also t >= 0 */
    return t;
}

/* Two kernels, so the mean is deterministic whatever the thread count: per-row losses
 * logsumexp(row) - row[target] into a scratch buffer (parallel over rows; NaN for an invalid
 * target), then one thread sums them in row order in double. */
int moac_emit_cross_entropy(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_type *lt = &e->node->args[0]->type;
    int64_t v = moac_rows_last(lt), rows = moac_type_numel(lt) / v;
    int scratch = moac_cg_scratch(cg, rows * (int64_t)sizeof(double));
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, "cross_entropy_rows", rows, 3, (int[]){scratch, e->in[0], e->in[1]});
    LLVMValueRef losses = moac_cg_arg(cg, &k, 0), targets = moac_cg_arg(cg, &k, 2);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    moac_loop r = row_loop(&c, &k, v);
    LLVMValueRef mx, sum, valid;
    exp_passes(&c, v, &mx, &sum);
    LLVMValueRef lse = LLVMBuildFAdd(cg->b, mx, moac_cg_log(cg, sum), "lse");
    LLVMValueRef t = load_target(cg, targets, r.iv, v, &valid);
    t = LLVMBuildSelect(cg->b, valid, t, moac_cg_i64(cg, 0), "");
    LLVMValueRef loss = LLVMBuildFSub(cg->b, lse, moac_cg_load(cg, cg->f32, c.p[0], moac_cg_add(cg, c.off, t)), "");
    loss = LLVMBuildSelect(cg->b, valid, loss, moac_cg_f32(cg, NAN), "");
    LLVMBasicBlockRef lead = c.lane ? moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, c.lane, moac_cg_i64(cg, 0), "")) : NULL;
    moac_cg_store(cg, LLVMBuildFPExt(cg->b, loss, cg->f64, ""), losses, r.iv);
    if (lead) moac_cg_endif(cg, lead);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 25.0 * (double)(rows * v), 4.0 * (double)(rows * v));

    moac_kfn s = moac_rows_kernel(e, &c, "cross_entropy_mean", 1, 2, (int[]){e->out, scratch});
    cg->kernels[s.index].serial = 1;
    LLVMValueRef out = moac_cg_arg(cg, &s, 0);
    losses = moac_cg_arg(cg, &s, 1);
    LLVMValueRef acc = moac_cg_var(cg, &s, cg->f64, LLVMConstReal(cg->f64, 0.0));
    moac_loop l = moac_cg_for(cg, &s, moac_cg_i64(cg, 0), moac_cg_i64(cg, rows), 1);
    moac_cg_set(cg, acc,
                LLVMBuildFAdd(cg->b, moac_cg_get(cg, cg->f64, acc), moac_cg_load(cg, cg->f64, losses, l.iv), ""));
    moac_cg_end(cg, &l);
    LLVMValueRef mean = LLVMBuildFDiv(cg->b, moac_cg_get(cg, cg->f64, acc), LLVMConstReal(cg->f64, (double)rows), "");
    moac_cg_store(cg, LLVMBuildFPTrunc(cg->b, mean, cg->f32, ""), out, moac_cg_i64(cg, 0));
    moac_cg_kernel_end(cg, &s);
    moac_emit_cost(e, &s, (double)rows, 8.0 * (double)rows);
    return 0;
}

/* dloss * (softmax(row) - onehot(target)) / N: softmax scaled by dloss / N, then dloss / N taken
 * off at the target (skipped for an invalid target). */
int moac_emit_cross_entropy_grad(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    int64_t v = moac_rows_last(&e->node->type), rows = moac_type_numel(&e->node->type) / v;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, "cross_entropy_grad", rows, 4, (int[]){e->out, e->in[0], e->in[1], e->in[2]});
    c.out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    LLVMValueRef targets = moac_cg_arg(cg, &k, 2), dloss = moac_cg_arg(cg, &k, 3);
    LLVMValueRef g =
        LLVMBuildFDiv(cg->b, moac_cg_load(cg, cg->f32, dloss, moac_cg_i64(cg, 0)), moac_cg_f32(cg, (double)rows), "g");
    moac_loop r = row_loop(&c, &k, v);
    LLVMValueRef mx, sum, valid;
    exp_passes(&c, v, &mx, &sum);
    c.s[0] = moac_rows_fsplat(&c, LLVMBuildFDiv(cg->b, g, sum, ""));
    moac_rows_chunks(&c, v, b_scale_out);
    LLVMValueRef t = load_target(cg, targets, r.iv, v, &valid);
    if (c.lane) /* the lane that wrote column t takes dloss / N off it: no other lane's write to wait for */
        valid = LLVMBuildAnd(cg->b, valid, LLVMBuildICmp(cg->b, LLVMIntEQ, c.lane, LLVMBuildURem(cg->b, LLVMBuildUDiv(
                                 cg->b, t, moac_cg_i64(cg, c.W), ""), moac_cg_i64(cg, 32), ""), ""), "");
    LLVMBasicBlockRef merge = moac_cg_if(cg, valid);
    LLVMValueRef at = moac_cg_add(cg, c.off, t);
    moac_cg_store(cg, LLVMBuildFSub(cg->b, moac_cg_load(cg, cg->f32, c.out, at), g, ""), c.out, at);
    moac_cg_endif(cg, merge);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 30.0 * (double)(rows * v), 8.0 * (double)(rows * v));
    return 0;
}
