/* attention (with its attention_lse) and the joint attention backward on the GPU: flash
 * attention for SIMT cores, one thread per query row (or key row), key/query tiles staged in
 * shared memory and read by every thread of the block at once (broadcast loads).
 *
 * The CPU's kernels (backends/cpu/kernels_attention.c) give each thread W query rows and stack
 * tiles; a GPU thread cannot afford those (local memory) and the B x G items of the CPU's joint
 * backward are far too few threads. Here, with BR = 64 threads a block and tiles of BC = 32 rows:
 *
 *   forward:  block = (b, h, 64 query rows); q_i and o_i live in the thread's registers; per key
 *             tile (K, V in shared) the thread scores its 32 keys, rescales once per tile
 *             (online softmax in base 2: q is pre-scaled by scale * log2 e, so exp is the SFU's
 *             ex2) and accumulates o_i; out_i = o_i / l_i, lse_i = ln 2 (m_i + log2 l_i).
 *   delta:    one thread per query row: D_i = dout_i . out_i (the backward's shared term).
 *   dq:       block as the forward; per key tile p_ij = 2^(s_ij - lse_i log2 e),
 *             dq_i += p_ij (dout_i . v_j - D_i) k_j; dq_i *= scale.
 *   dk, dv:   block = (b, g, 64 key rows, query head of the group); k_j (and v_j) in registers;
 *             per query tile (q, dout, lse, D in shared) of the rows that see key j:
 *             dv_j += p_ij dout_i;  dk_j += p_ij (dout_i . v_j - D_i) q_i, dk_j *= scale; with
 *             several heads a group, each head's share to scratch and a kernel summing them.
 *
 * A row is L threads' (L = 2 for heads of 64, 4 for 128: D / L <= 32 values of each row vector
 * a thread), so that q, dout and the accumulators fit in registers without spilling: thread
 * part p of a row holds elements p, p + L, p + 2L, ... (neighbouring lanes read neighbouring
 * banks of a shared row), its dot products are partial sums completed by shfl.sync butterflies
 * over the L lanes, and every lane of the row then has the scores.
 *
 * Causal blocks skip the tiles no row of theirs sees; the rows of a tile past a thread's own
 * limit are masked to p = 0. Heads wider than MAX_D (registers) keep the CPU's kernels. */
#include <math.h>
#include <stdio.h>

#include "backends/cuda/cuda.h"
#include "backends/cuda/nvvm.h"

enum { BR = 64, BC = 32, MAX_D = 128 };
static const double LOG2E = 1.44269504088896340736, LN2 = 0.693147180559945309417;

typedef struct gx {
    moac_cg *cg;
    const moac_emit_ctx *e;
    moac_kfn k;
    int64_t B, H, G, T, S, D, Dv, P;
    int64_t L;          /* threads a row */
    int causal;
    double scale;
    LLVMValueRef tid;   /* a block kernel: this thread's row within the block (thread / L) */
    LLVMValueRef part;  /* ... its part of the row (thread % L) */
    LLVMValueRef flat;  /* ... and its index in the block, for the copies into shared memory */
} gx;

int moac_gpu_attention_ok(const moac_node *n) {
    if (!moac_cpu_attention_ok(n)) return 0;
    return n->args[0]->type.dims[3] <= MAX_D && n->args[2]->type.dims[3] <= MAX_D;
}

static void dims(gx *a, const moac_emit_ctx *e) {
    const moac_node *n = e->node;
    const moac_type *q = &n->args[0]->type, *k = &n->args[1]->type, *v = &n->args[2]->type;
    *a = (gx){.cg = e->cg, .e = e, .B = q->dims[0], .H = q->dims[1], .T = q->dims[2], .D = q->dims[3],
              .G = k->dims[1], .S = k->dims[2], .Dv = v->dims[3], .causal = (int)n->i[0], .scale = n->f[0]};
    a->P = a->H / a->G;
    int64_t wide = a->D > a->Dv ? a->D : a->Dv;
    a->L = 1;
    while (wide / a->L > 32 && a->D % (2 * a->L) == 0 && a->Dv % (2 * a->L) == 0) a->L *= 2;
}

static LLVMValueRef ld(gx *a, LLVMValueRef base, LLVMValueRef idx) { return moac_cg_load(a->cg, a->cg->f32, base, idx); }
static LLVMValueRef ldc(gx *a, LLVMValueRef base, int64_t idx) { return ld(a, base, moac_cg_i64(a->cg, idx)); }
static LLVMValueRef fmul(gx *a, LLVMValueRef x, LLVMValueRef y) { return LLVMBuildFMul(a->cg->b, x, y, ""); }
static LLVMValueRef fsub(gx *a, LLVMValueRef x, LLVMValueRef y) { return LLVMBuildFSub(a->cg->b, x, y, ""); }
static LLVMValueRef f32(gx *a, double v) { return moac_cg_f32(a->cg, v); }
static LLVMValueRef udiv(gx *a, LLVMValueRef x, int64_t c) { return LLVMBuildUDiv(a->cg->b, x, moac_cg_i64(a->cg, c), ""); }
static LLVMValueRef urem(gx *a, LLVMValueRef x, int64_t c) { return LLVMBuildURem(a->cg->b, x, moac_cg_i64(a->cg, c), ""); }

/* A kernel; block: its rows a block (BR), each of L threads; 0: one thread per item. */
static void begin(gx *a, const char *what, int64_t items, int block, int nslots, const int *slots) {
    char name[64];
    snprintf(name, sizeof name, "%s_%s", a->e->prefix, what);
    a->k = moac_cg_kernel_begin(a->cg, name, items, nslots, slots);
    a->cg->kernels[a->k.index].block = block * (int)a->L;
    a->flat = block ? moac_nvvm_tid(a->cg) : NULL;
    a->tid = block ? udiv(a, a->flat, a->L) : NULL;
    a->part = block ? urem(a, a->flat, a->L) : NULL;
}

/* Register u of a row vector holds element part + L u. */
static LLVMValueRef elem(gx *a, int64_t u) { return moac_cg_addc(a->cg, a->part, a->L * u); }

/* x summed over the L threads of a row (every one gets the sum). */
static LLVMValueRef row_sum(gx *a, LLVMValueRef x) { return moac_nvvm_butterfly(a->cg, x, (int)a->L / 2, 0); }

static LLVMValueRef arg(gx *a, int j) { return moac_cg_arg(a->cg, &a->k, j); }

/* Causal (query, key) pairs per head, for the cost estimate. */
static double pairs(const gx *a) {
    return (double)a->B * (double)a->H * (a->causal ? (double)a->T * (double)(a->T + 1) / 2 : (double)a->T * (double)a->S);
}

/* The block copies rows r0 .. r0 + BC - 1 of a [rows, n] matrix at element `slab` into shared
 * s[BC][n] (zeros past the last row): the tile's rows are contiguous in memory, so thread t
 * copies elements t, t + BR, ... and a warp reads 128 consecutive bytes. */
static void stage(gx *a, LLVMValueRef x, LLVMValueRef slab, LLVMValueRef r0, int64_t rows, int64_t n, LLVMValueRef s) {
    moac_cg *cg = a->cg;
    LLVMValueRef first = moac_cg_mulc(cg, r0, n);
    int64_t threads = BR * a->L;
    for (int64_t u = 0; u < BC * n; u += threads) {
        LLVMValueRef e = moac_cg_addc(cg, a->flat, u);
        LLVMBasicBlockRef tail = NULL;
        if (u + threads > BC * n) tail = moac_cg_if(cg, moac_nvvm_ult(cg, e, BC * n));
        LLVMValueRef at = moac_cg_add(cg, first, e);
        LLVMValueRef v = ld(a, x, moac_cg_add(cg, slab, moac_nvvm_umin(cg, at, rows * n - 1)));
        v = LLVMBuildSelect(cg->b, moac_nvvm_ult(cg, at, rows * n), v, f32(a, 0), "");
        moac_cg_store(cg, v, s, e);
        if (tail) moac_cg_endif(cg, tail);
    }
}

/* sum_d x[d] * s[off + d] over the n elements of a row (x this thread's registers, s a shared
 * row): four partial sums so that the FMAs of one row do not form one dependent chain, then the
 * row's L threads' sums added. */
static LLVMValueRef dot(gx *a, const LLVMValueRef *x, LLVMValueRef s, int64_t off, int64_t n) {
    LLVMValueRef acc[4] = {f32(a, 0), f32(a, 0), f32(a, 0), f32(a, 0)};
    LLVMValueRef base = moac_cg_addc(a->cg, a->part, off);
    for (int64_t u = 0; u < n / a->L; u++)
        acc[u % 4] = moac_cg_fma(a->cg, x[u], ld(a, s, moac_cg_addc(a->cg, base, a->L * u)), acc[u % 4]);
    LLVMBuilderRef b = a->cg->b;
    return row_sum(a, LLVMBuildFAdd(b, LLVMBuildFAdd(b, acc[0], acc[1], ""), LLVMBuildFAdd(b, acc[2], acc[3], ""), ""));
}

/* Registers: x[u] = src[row + part + L u] * mul, this thread's share of n elements. */
static void load_row(gx *a, LLVMValueRef *x, LLVMValueRef src, LLVMValueRef row, int64_t n, double mul) {
    for (int64_t u = 0; u < n / a->L; u++) {
        x[u] = ld(a, src, moac_cg_add(a->cg, row, elem(a, u)));
        if (mul != 1.0) x[u] = fmul(a, x[u], f32(a, mul));
    }
}

static void zero_vars(gx *a, LLVMValueRef *acc, int64_t n) {
    for (int64_t u = 0; u < n / a->L; u++) acc[u] = moac_cg_var(a->cg, &a->k, a->cg->f32, f32(a, 0));
}

/* acc[u] += c * s[off + part + L u]. */
static void axpy(gx *a, LLVMValueRef *acc, LLVMValueRef c, LLVMValueRef s, int64_t off, int64_t n) {
    LLVMValueRef base = moac_cg_addc(a->cg, a->part, off);
    for (int64_t u = 0; u < n / a->L; u++)
        moac_cg_set(a->cg, acc[u], moac_cg_fma(a->cg, c, ld(a, s, moac_cg_addc(a->cg, base, a->L * u)),
                                               moac_cg_get(a->cg, a->cg->f32, acc[u])));
}

static void store_row(gx *a, LLVMValueRef *acc, LLVMValueRef dst, LLVMValueRef row, int64_t n, LLVMValueRef mul) {
    for (int64_t u = 0; u < n / a->L; u++)
        moac_cg_store(a->cg, fmul(a, moac_cg_get(a->cg, a->cg->f32, acc[u]), mul), dst, moac_cg_add(a->cg, row, elem(a, u)));
}

/* Shared array `which` of n floats (named by its size: kernels of other head sizes get their own). */
static LLVMValueRef shared(gx *a, int which, int64_t n) {
    char name[48];
    snprintf(name, sizeof name, "moac_attn_s%d_%lld", which, (long long)n);
    return moac_nvvm_shared(a->cg, name, n);
}

/* A query-row block's coordinates: (b, h) as bh, its first row, this thread's row i (clamped ic)
 * and the element offset of its K/V slab. */
typedef struct qrow {
    LLVMValueRef bh, i0, i, ic, kv;
} qrow;

static qrow query_rows(gx *a) {
    moac_cg *cg = a->cg;
    int64_t nqt = (a->T + BR - 1) / BR;
    qrow r;
    r.bh = udiv(a, a->k.lo, nqt);
    r.i0 = moac_cg_mulc(cg, urem(a, a->k.lo, nqt), BR);
    r.i = moac_cg_add(cg, r.i0, a->tid);
    r.ic = moac_nvvm_umin(cg, r.i, a->T - 1);
    LLVMValueRef b = udiv(a, r.bh, a->H), g = udiv(a, urem(a, r.bh, a->H), a->P);
    r.kv = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, b, a->G), g), a->S);
    return r;
}

/* Whether key j is hidden from query row i. */
static LLVMValueRef masked(gx *a, LLVMValueRef i, LLVMValueRef j) {
    LLVMBuilderRef b = a->cg->b;
    LLVMValueRef out = LLVMBuildICmp(b, LLVMIntUGE, j, moac_cg_i64(a->cg, a->S), "");
    if (a->causal) out = LLVMBuildOr(b, out, LLVMBuildICmp(b, LLVMIntUGT, j, i, ""), "");
    return out;
}

/* The keys a query block [i0, i0 + BR) needs: all, or causal up to its last row. */
static LLVMValueRef key_end(gx *a, LLVMValueRef i0) {
    return a->causal ? moac_nvvm_umin(a->cg, moac_cg_addc(a->cg, i0, BR), a->S) : moac_cg_i64(a->cg, a->S);
}

static void emit_forward(gx *a) {
    moac_cg *cg = a->cg;
    const moac_emit_ctx *e = a->e;
    int with_lse = e->lse >= 0;
    int slots[5] = {e->out, e->in[0], e->in[1], e->in[2], e->lse};
    begin(a, "attn", a->B * a->H * ((a->T + BR - 1) / BR), BR, with_lse ? 5 : 4, slots);
    LLVMValueRef out = arg(a, 0), q = arg(a, 1), kk = arg(a, 2), v = arg(a, 3), lse = with_lse ? arg(a, 4) : NULL;
    qrow r = query_rows(a);
    LLVMValueRef qv[MAX_D], o[MAX_D];
    LLVMValueRef row = moac_cg_add(cg, moac_cg_mulc(cg, r.bh, a->T), r.ic);
    load_row(a, qv, q, moac_cg_mulc(cg, row, a->D), a->D, a->scale * LOG2E);
    zero_vars(a, o, a->Dv);
    LLVMValueRef m = moac_cg_var(cg, &a->k, cg->f32, f32(a, -INFINITY)), l = moac_cg_var(cg, &a->k, cg->f32, f32(a, 0));
    LLVMValueRef ks = shared(a, 0, BC * a->D), vs = shared(a, 1, BC * a->Dv);
    moac_loop jt = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), key_end(a, r.i0), BC);
    stage(a, kk, moac_cg_mulc(cg, r.kv, a->D), jt.iv, a->S, a->D, ks);
    stage(a, v, moac_cg_mulc(cg, r.kv, a->Dv), jt.iv, a->S, a->Dv, vs);
    moac_nvvm_barrier(cg);
    LLVMValueRef s[BC], mt = f32(a, -INFINITY);
    for (int j = 0; j < BC; j++) {
        s[j] = dot(a, qv, ks, j * a->D, a->D);
        s[j] = LLVMBuildSelect(cg->b, masked(a, r.i, moac_cg_addc(cg, jt.iv, j)), f32(a, -INFINITY), s[j], "");
        mt = moac_cg_fmax(cg, mt, s[j]);
    }
    LLVMValueRef mold = moac_cg_get(cg, cg->f32, m), mnew = moac_cg_fmax(cg, mold, mt);
    LLVMValueRef alpha = moac_nvvm_ex2(cg, fsub(a, mold, mnew)), sum = f32(a, 0);
    for (int j = 0; j < BC; j++) {
        s[j] = moac_nvvm_ex2(cg, fsub(a, s[j], mnew));
        sum = LLVMBuildFAdd(cg->b, sum, s[j], "");
    }
    moac_cg_set(cg, l, moac_cg_fma(cg, moac_cg_get(cg, cg->f32, l), alpha, sum));
    moac_cg_set(cg, m, mnew);
    for (int64_t u = 0; u < a->Dv / a->L; u++) {
        LLVMValueRef acc = fmul(a, moac_cg_get(cg, cg->f32, o[u]), alpha), d = elem(a, u);
        for (int j = 0; j < BC; j++) acc = moac_cg_fma(cg, s[j], ld(a, vs, moac_cg_addc(cg, d, j * a->Dv)), acc);
        moac_cg_set(cg, o[u], acc);
    }
    moac_nvvm_barrier(cg); /* before the next tile overwrites K and V */
    moac_cg_end(cg, &jt);
    LLVMBasicBlockRef merge = moac_cg_if(cg, moac_nvvm_ult(cg, r.i, a->T));
    LLVMValueRef lv = moac_cg_get(cg, cg->f32, l);
    store_row(a, o, out, moac_cg_mulc(cg, row, a->Dv), a->Dv, LLVMBuildFDiv(cg->b, f32(a, 1), lv, ""));
    if (lse) { /* the row's first thread */
        LLVMBasicBlockRef lead = moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, a->part, moac_cg_i64(cg, 0), ""));
        LLVMValueRef v2 = LLVMBuildFAdd(cg->b, moac_cg_get(cg, cg->f32, m), moac_nvvm_lg2(cg, lv), "");
        moac_cg_store(cg, fmul(a, v2, f32(a, LN2)), lse, row);
        moac_cg_endif(cg, lead);
    }
    moac_cg_endif(cg, merge);
    moac_cg_kernel_end(cg, &a->k);
    moac_emit_cost(e, &a->k, 2.0 * pairs(a) * (double)(a->D + a->Dv),
                   4.0 * (double)(a->B * a->H * a->T * (a->D + a->Dv) + a->B * a->G * a->S * (a->D + a->Dv)));
}

int moac_gpu_emit_attention(const moac_emit_ctx *e) {
    if (!moac_gpu_attention_ok(e->node)) return moac_emit_attention(e);
    gx a;
    dims(&a, e);
    emit_forward(&a);
    return 0;
}

/* D_i = dout_i . out_i, one thread per row. */
static void emit_delta(gx *a, int dd) {
    moac_cg *cg = a->cg;
    int slots[3] = {dd, a->e->in[3], a->e->in[4]};
    begin(a, "attn_delta", a->B * a->H * a->T, 0, 3, slots);
    LLVMValueRef out = arg(a, 0), dout = arg(a, 1), fwd = arg(a, 2);
    moac_loop r = moac_cg_for(cg, &a->k, a->k.lo, a->k.hi, 1);
    LLVMValueRef base = moac_cg_mulc(cg, r.iv, a->Dv), acc = f32(a, 0);
    for (int64_t d = 0; d < a->Dv; d++) {
        LLVMValueRef at = moac_cg_addc(cg, base, d);
        acc = moac_cg_fma(cg, ld(a, dout, at), ld(a, fwd, at), acc);
    }
    moac_cg_store(cg, acc, out, r.iv);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &a->k);
    moac_emit_cost(a->e, &a->k, 2.0 * (double)(a->B * a->H * a->T * a->Dv), 8.0 * (double)(a->B * a->H * a->T * a->Dv));
}

static void emit_dq(gx *a, int dd) {
    moac_cg *cg = a->cg;
    const moac_emit_ctx *e = a->e;
    int slots[7] = {e->outs[0], e->in[0], e->in[1], e->in[2], e->in[3], e->in[5], dd};
    begin(a, "attn_dq", a->B * a->H * ((a->T + BR - 1) / BR), BR, 7, slots);
    LLVMValueRef dq = arg(a, 0), q = arg(a, 1), kk = arg(a, 2), v = arg(a, 3), dout = arg(a, 4), lse = arg(a, 5),
                 ddp = arg(a, 6);
    qrow r = query_rows(a);
    LLVMValueRef row = moac_cg_add(cg, moac_cg_mulc(cg, r.bh, a->T), r.ic);
    LLVMValueRef qv[MAX_D], dov[MAX_D], acc[MAX_D];
    load_row(a, qv, q, moac_cg_mulc(cg, row, a->D), a->D, a->scale * LOG2E);
    load_row(a, dov, dout, moac_cg_mulc(cg, row, a->Dv), a->Dv, 1.0);
    LLVMValueRef lse2 = fmul(a, ld(a, lse, row), f32(a, LOG2E)), di = ld(a, ddp, row);
    zero_vars(a, acc, a->D);
    LLVMValueRef ks = shared(a, 0, BC * a->D), vs = shared(a, 1, BC * a->Dv);
    moac_loop jt = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), key_end(a, r.i0), BC);
    stage(a, kk, moac_cg_mulc(cg, r.kv, a->D), jt.iv, a->S, a->D, ks);
    stage(a, v, moac_cg_mulc(cg, r.kv, a->Dv), jt.iv, a->S, a->Dv, vs);
    moac_nvvm_barrier(cg);
    for (int j = 0; j < BC; j++) {
        LLVMValueRef p = moac_nvvm_ex2(cg, fsub(a, dot(a, qv, ks, j * a->D, a->D), lse2));
        p = LLVMBuildSelect(cg->b, masked(a, r.i, moac_cg_addc(cg, jt.iv, j)), f32(a, 0), p, "");
        LLVMValueRef ds = fmul(a, p, fsub(a, dot(a, dov, vs, j * a->Dv, a->Dv), di));
        axpy(a, acc, ds, ks, j * a->D, a->D);
    }
    moac_nvvm_barrier(cg);
    moac_cg_end(cg, &jt);
    LLVMBasicBlockRef merge = moac_cg_if(cg, moac_nvvm_ult(cg, r.i, a->T));
    store_row(a, acc, dq, moac_cg_mulc(cg, row, a->D), a->D, f32(a, a->scale));
    moac_cg_endif(cg, merge);
    moac_cg_kernel_end(cg, &a->k);
    moac_emit_cost(e, &a->k, 2.0 * pairs(a) * (double)(2 * a->D + a->Dv), 0);
}

/* out[i] = sum_h part[h][i] over the P query heads of a group, in head order. */
static void emit_head_sum(gx *a, const char *what, int out, int part, int64_t n) {
    moac_cg *cg = a->cg;
    int slots[2] = {out, part};
    begin(a, what, n, 0, 2, slots);
    LLVMValueRef o = arg(a, 0), p = arg(a, 1);
    moac_loop r = moac_cg_for(cg, &a->k, a->k.lo, a->k.hi, 1);
    LLVMValueRef acc = ld(a, p, r.iv);
    for (int64_t h = 1; h < a->P; h++) acc = LLVMBuildFAdd(cg->b, acc, ld(a, p, moac_cg_addc(cg, r.iv, h * n)), "");
    moac_cg_store(cg, acc, o, r.iv);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &a->k);
    moac_emit_cost(a->e, &a->k, (double)(n * a->P), 4.0 * (double)(n * (a->P + 1)));
}

/* dk (which 1) or dv (which 2): one thread per key row. A group of P > 1 query heads (GQA, MQA)
 * splits its heads across blocks, each writing its head's share to scratch, which a second
 * kernel sums in head order: B x G x S / 64 blocks alone are too few for the GPU (48 for MQA at
 * the paper's size) and would walk the heads in turn. */
static void emit_dkv(gx *a, int which, int dd) {
    moac_cg *cg = a->cg;
    const moac_emit_ctx *e = a->e;
    int dk = which == 1;
    int64_t n = dk ? a->D : a->Dv, total = a->B * a->G * a->S * n;
    int part = a->P > 1 ? moac_cg_scratch(cg, 4 * a->P * total) : e->outs[which];
    int slots[7] = {part, e->in[0], e->in[1], e->in[2], e->in[3], e->in[5], dd};
    int64_t nkt = (a->S + BR - 1) / BR;
    begin(a, dk ? "attn_dk" : "attn_dv", a->B * a->G * nkt * a->P, BR, dk ? 7 : 6, slots);
    LLVMValueRef res = arg(a, 0), q = arg(a, 1), kk = arg(a, 2), v = arg(a, 3), dout = arg(a, 4), lse = arg(a, 5),
                 ddp = dk ? arg(a, 6) : NULL;
    LLVMValueRef head = urem(a, a->k.lo, a->P), blk = udiv(a, a->k.lo, a->P);
    LLVMValueRef bg = udiv(a, blk, nkt), j0 = moac_cg_mulc(cg, urem(a, blk, nkt), BR);
    LLVMValueRef j = moac_cg_add(cg, j0, a->tid), jc = moac_nvvm_umin(cg, j, a->S - 1);
    LLVMValueRef krow = moac_cg_add(cg, moac_cg_mulc(cg, bg, a->S), jc);
    LLVMValueRef kv[MAX_D], vv[MAX_D], acc[MAX_D];
    load_row(a, kv, kk, moac_cg_mulc(cg, krow, a->D), a->D, a->scale * LOG2E);
    if (dk) load_row(a, vv, v, moac_cg_mulc(cg, krow, a->Dv), a->Dv, 1.0);
    zero_vars(a, acc, n);
    LLVMValueRef qs = shared(a, 0, BC * a->D), dos = shared(a, 1, BC * a->Dv), st = shared(a, 2, 2 * BC);
    LLVMValueRef b = udiv(a, bg, a->G), g = urem(a, bg, a->G);
    LLVMValueRef bh = moac_cg_add(cg, moac_cg_mulc(cg, b, a->H), moac_cg_add(cg, moac_cg_mulc(cg, g, a->P), head));
    LLVMValueRef rows = moac_cg_mulc(cg, bh, a->T); /* the head's first query row */
    moac_loop it = moac_cg_for(cg, &a->k, a->causal ? j0 : moac_cg_i64(cg, 0), moac_cg_i64(cg, a->T), BC);
    stage(a, q, moac_cg_mulc(cg, rows, a->D), it.iv, a->T, a->D, qs);
    stage(a, dout, moac_cg_mulc(cg, rows, a->Dv), it.iv, a->T, a->Dv, dos);
    LLVMBasicBlockRef first = moac_cg_if(cg, moac_nvvm_ult(cg, a->flat, BC));
    LLVMValueRef i = moac_cg_add(cg, it.iv, a->flat), at = moac_cg_add(cg, rows, moac_nvvm_umin(cg, i, a->T - 1));
    moac_cg_store(cg, fmul(a, ld(a, lse, at), f32(a, LOG2E)), st, a->flat);
    if (dk) moac_cg_store(cg, ld(a, ddp, at), st, moac_cg_addc(cg, a->flat, BC));
    moac_cg_endif(cg, first);
    moac_nvvm_barrier(cg);
    for (int r = 0; r < BC; r++) {
        LLVMValueRef ir = moac_cg_addc(cg, it.iv, r);
        LLVMValueRef hidden = LLVMBuildICmp(cg->b, LLVMIntUGE, ir, moac_cg_i64(cg, a->T), "");
        if (a->causal) hidden = LLVMBuildOr(cg->b, hidden, LLVMBuildICmp(cg->b, LLVMIntULT, ir, j, ""), "");
        LLVMValueRef p = moac_nvvm_ex2(cg, fsub(a, dot(a, kv, qs, r * a->D, a->D), ldc(a, st, r)));
        p = LLVMBuildSelect(cg->b, hidden, f32(a, 0), p, "");
        if (dk) {
            LLVMValueRef ds = fmul(a, p, fsub(a, dot(a, vv, dos, r * a->Dv, a->Dv), ldc(a, st, BC + r)));
            axpy(a, acc, ds, qs, r * a->D, a->D);
        } else {
            axpy(a, acc, p, dos, r * a->Dv, a->Dv);
        }
    }
    moac_nvvm_barrier(cg);
    moac_cg_end(cg, &it);
    LLVMBasicBlockRef merge = moac_cg_if(cg, moac_nvvm_ult(cg, j, a->S));
    LLVMValueRef dst = moac_cg_add(cg, moac_cg_mulc(cg, head, total), moac_cg_mulc(cg, krow, n));
    store_row(a, acc, res, dst, n, f32(a, dk ? a->scale : 1.0));
    moac_cg_endif(cg, merge);
    moac_cg_kernel_end(cg, &a->k);
    moac_emit_cost(e, &a->k, 2.0 * pairs(a) * (double)(dk ? 2 * a->D + a->Dv : a->D + a->Dv), 0);
    if (a->P > 1) emit_head_sum(a, dk ? "attn_dk_sum" : "attn_dv_sum", e->outs[which], part, total);
}

/* The three gradients of one attention (a join), given the forward's output and statistics. */
int moac_gpu_emit_attention_grad(const moac_emit_ctx *e) {
    int joint = e->outs[0] >= 0 && e->outs[1] >= 0 && e->outs[2] >= 0;
    if (!joint) return moac_emit_attention_grad(e);
    if (e->node->nargs != 6 || !moac_gpu_attention_ok(e->node)) return moac_emit_attention_grads(e);
    gx a;
    dims(&a, e);
    int dd = moac_cg_scratch(e->cg, 4 * a.B * a.H * a.T);
    emit_delta(&a, dd);
    emit_dq(&a, dd);
    emit_dkv(&a, 1, dd);
    emit_dkv(&a, 2, dd);
    return 0;
}
