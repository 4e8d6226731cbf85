/* attention and attention_grad as flash-style kernels: online softmax over blocks of keys, no
 * [T, S] matrix anywhere, grouped KV heads read in place (query head h reads KV head h/(H/G)).
 *
 * Layout trick. Every block product works on a transposed tile XT[n][W] in the kernel's stack
 * (W = the target's f32 lanes), whose lanes are W rows of one operand — W query rows in the
 * forward and dq kernels, W keys in the dk/dv kernel — against R <= W rows of the other operand
 * read in place. Then
 *   dots:   s_r = sum_d XT[d] * y[r, d]      one vector accumulator per row r,
 *   accum:  AT[d] = AT[d] * alpha + sum_r c_r * z[r, d]
 * are vector FMAs with the y/z element broadcast from memory (free on x86) and the softmax is
 * lane-wise (no horizontal max or sum). Only the tile loads and the final stores transpose, W
 * columns at a time in registers.
 *
 * Kernels:
 *   forward:  items = (b, h, pair of query blocks); pass over keys, out = OT / l.
 *   which=0:  items as forward; pass 1 recomputes m, l and D_i = dout_i . out_i, pass 2
 *             dq_i = scale * sum_j p_ij (dout_i . v_j - D_i) k_j.
 *   which=1,2: a statistics kernel (as forward) writes lse_i (and D_i for dk) to scratch; then
 *             items = (b, g, pair of key blocks), each summing over the query heads of its group
 *             and the query rows that see its keys (i >= j when causal):
 *             dv_j = sum_i p_ij dout_i,  dk_j = scale * sum_i p_ij (dout_i . v_j - D_i) q_i.
 *   joint:    all three at once (moac_emit_attention_grads, when the scheduler finds dq, dk and dv
 *             of one attention): the statistics kernel, then items = (b, g), each computing dk,
 *             dv and the dq of its group's query heads in one key-major pass (see below).
 * Causal work grows with the query index (and shrinks with the key index), so an item takes
 * block p and block n-1-p: every item costs the same and any split of the items balances. */
#include <math.h>
#include <string.h>

#include "backends/cpu/emit.h"

/* MAX_DIM bounds the stack tiles (3 of MAX_DIM x W floats): larger heads use the reference. */
enum { MAX_W = 16, MAX_DIM = 512, ACCUM_UNROLL = 4 };

typedef enum mode { M_FWD, M_STATS_L, M_STATS_LD, M_DQ, M_DK, M_DV, M_JOINT } mode;

typedef struct ax {
    moac_cg *cg;
    const moac_emit_ctx *e;
    moac_kfn k;
    int W;          /* lanes of a tile; also the rows of a block */
    LLVMTypeRef V;  /* <W x float> */
    int64_t B, H, G, T, S, D, Dv, per_group, Tp; /* Tp: T rounded up to W (stats rows) */
    int causal;
    double scale;
    mode m;
    /* The kernel's operands (NULL where unused) and the current item's element offsets. */
    LLVMValueRef q, kk, v, dout, out, stats;
    LLVMValueRef qoff, koff, voff, doff, soff;
    /* Where the key-major kernels read lse_i and D_i: row i of query head bh at bh * sst + i of
     * lsep and ddp (the statistics kernel's scratch, or the forward's lse and a D of our own). */
    LLVMValueRef lsep, ddp;
    int64_t sst;
    LLVMValueRef i0, j0;  /* the current query block (forward, dq) or key block (dk, dv) */
    /* Tiles and softmax state. */
    LLVMValueRef XT, YT, AT, mvar, lvar, lse, dd;
    /* The joint gradient kernel: results, dv tile, this query head's dqT (stride Tp) and the
     * current key block's static key count. */
    LLVMValueRef dq, dk, dv, BT, dqt;
    int nk;
} ax;

/* ---- Small IR helpers. ---- */

static LLVMValueRef vconst(ax *a, double c) { return moac_cg_fconst(a->cg, LLVMConstNull(a->V), c); }

static LLVMValueRef i64min(ax *a, LLVMValueRef x, LLVMValueRef y) {
    LLVMBuilderRef b = a->cg->b;
    return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSLT, x, y, ""), x, y, "");
}

/* max(x, y) as one compare-select (vmaxps): the scores it compares are never NaN unless the
 * inputs are, and then the exp below still propagates them. */
static LLVMValueRef vmax(ax *a, LLVMValueRef x, LLVMValueRef y) {
    return LLVMBuildSelect(a->cg->b, LLVMBuildFCmp(a->cg->b, LLVMRealOGT, x, y, ""), x, y, "");
}

/* e^x for the softmax's x <= 0 (s - max, s - lse; a rounding error above 0 at most): the
 * Cephes reduction and polynomial of moac_cg_exp without its overflow and NaN selects, 16 vector
 * operations instead of ~27, which matters as one exp comes per 2*D FMAs. n = round(x log2 e)
 * comes from adding 1.5 * 2^23, which leaves n in the low mantissa bits: no float-to-int
 * conversion (poison on NaN in LLVM), and those bits shifted into the exponent field are 2^n.
 * x below -87.3 (masked scores, -inf) gives 2^-126 ~ 1e-38 rather than 0: negligible next to a
 * sum >= 1, and exactly zeroed where a gradient needs it. NaN in, NaN out. */
static LLVMValueRef softmax_exp(ax *a, LLVMValueRef x) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef lo = vconst(a, -87.3), magic = vconst(a, 12582912.0);
    x = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, lo, ""), lo, x, "");
    LLVMValueRef u = moac_cg_fma(cg, x, vconst(a, 1.44269504088896341), magic);
    LLVMValueRef fx = LLVMBuildFSub(b, u, magic, "");
    LLVMValueRef r = moac_cg_fma(cg, fx, vconst(a, -0.693359375), x);
    r = moac_cg_fma(cg, fx, vconst(a, 2.12194440e-4), r);
    static const double c[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                               4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
    LLVMValueRef p = vconst(a, c[0]);
    for (int i = 1; i < 6; i++) p = moac_cg_fma(cg, p, r, vconst(a, c[i]));
    LLVMValueRef y = moac_cg_fma(cg, p, LLVMBuildFMul(b, r, r, ""), LLVMBuildFAdd(b, r, vconst(a, 1.0), ""));
    LLVMTypeRef it = LLVMVectorType(cg->i32, (unsigned)a->W);
    LLVMValueRef bits = LLVMBuildAdd(b, LLVMBuildBitCast(b, u, it, ""), moac_cg_splat(cg, moac_cg_i32(cg, 127), a->W), "");
    bits = LLVMBuildShl(b, bits, moac_cg_splat(cg, moac_cg_i32(cg, 23), a->W), "");
    return LLVMBuildFMul(b, y, LLVMBuildBitCast(b, bits, a->V, ""), "");
}

/* lane < n, as a mask. */
static LLVMValueRef lane_mask(ax *a, LLVMValueRef n) {
    LLVMValueRef iota[MAX_W];
    for (int l = 0; l < a->W; l++) iota[l] = moac_cg_i32(a->cg, l);
    LLVMValueRef nn = moac_cg_splat(a->cg, LLVMBuildTrunc(a->cg->b, n, a->cg->i32, ""), a->W);
    return LLVMBuildICmp(a->cg->b, LLVMIntSLT, LLVMConstVector(iota, (unsigned)a->W), nn, "");
}

/* A [n][W] f32 tile on the stack, 64-byte aligned. */
static LLVMValueRef tile_new(ax *a, int64_t n) {
    LLVMValueRef t = moac_cg_var(a->cg, &a->k, LLVMArrayType2(a->cg->f32, (uint64_t)(n * a->W)), NULL);
    LLVMSetAlignment(t, 64);
    return t;
}

static void tile_zero(ax *a, LLVMValueRef t, int64_t n) {
    moac_cg *cg = a->cg;
    moac_loop d = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, n), 1);
    moac_cg_store(cg, LLVMConstNull(a->V), t, moac_cg_mulc(cg, d.iv, a->W));
    moac_cg_end(cg, &d);
}

/* llvm.masked.load / llvm.masked.store of a <W x float> at p: lanes off in mask are neither
 * read (zero instead) nor written, so partial blocks never touch memory past their rows. */
static LLVMValueRef masked_mem(ax *a, LLVMValueRef p, LLVMValueRef mask, LLVMValueRef store) {
    moac_cg *cg = a->cg;
    const char *name = store ? "llvm.masked.store" : "llvm.masked.load";
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef over[2] = {a->V, cg->ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, over, 2);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, over, 2);
    if (store) return LLVMBuildCall2(cg->b, fty, fn, (LLVMValueRef[]){store, p, moac_cg_i32(cg, 4), mask}, 4, "");
    return LLVMBuildCall2(cg->b, fty, fn, (LLVMValueRef[]){p, moac_cg_i32(cg, 4), mask, LLVMConstNull(a->V)}, 4, "");
}

/* Transposes W vectors in place: log2(W) butterfly stages, each swapping the off-diagonal
 * s x s blocks of every 2s x 2s block with two-source shuffles (W log2 W shuffles in all). */
static void transpose(ax *a, LLVMValueRef *v) {
    LLVMValueRef lo[MAX_W], hi[MAX_W];
    for (int s = 1; s < a->W; s *= 2) {
        for (int l = 0; l < a->W; l++) {
            lo[l] = moac_cg_i32(a->cg, (l & s) ? a->W + l - s : l);
            hi[l] = moac_cg_i32(a->cg, (l & s) ? a->W + l : l + s);
        }
        LLVMValueRef mlo = LLVMConstVector(lo, (unsigned)a->W), mhi = LLVMConstVector(hi, (unsigned)a->W);
        for (int i = 0; i < a->W; i++) {
            if (i & s) continue;
            LLVMValueRef x = v[i], y = v[i + s];
            v[i] = LLVMBuildShuffleVector(a->cg->b, x, y, mlo, "");
            v[i + s] = LLVMBuildShuffleVector(a->cg->b, x, y, mhi, "");
        }
    }
}

/* splat(r < nrows) for each row r of a block. */
static void row_masks(ax *a, LLVMValueRef nrows, LLVMValueRef *m) {
    for (int r = 0; r < a->W; r++) {
        LLVMValueRef in = LLVMBuildICmp(a->cg->b, LLVMIntSLT, moac_cg_i64(a->cg, r), nrows, "");
        m[r] = moac_cg_splat(a->cg, in, a->W);
    }
}

/* t[d][r] = src[row0 + r*n + d] * mul for r < nrows; lanes r >= nrows are zero. W columns at a
 * time through an in-register transpose; the last n % W columns one by one. */
static void tile_load_T(ax *a, LLVMValueRef t, int64_t n, LLVMValueRef src, LLVMValueRef row0, LLVMValueRef nrows,
                        double mul) {
    moac_cg *cg = a->cg;
    int64_t full = n / a->W * a->W;
    LLVMValueRef m[MAX_W], v[MAX_W];
    row_masks(a, nrows, m);
    moac_loop c = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, full), a->W);
    for (int r = 0; r < a->W; r++)
        v[r] = masked_mem(a, moac_cg_gep(cg, cg->f32, src, moac_cg_add(cg, row0, moac_cg_addc(cg, c.iv, r * n))), m[r],
                          NULL);
    transpose(a, v);
    for (int d = 0; d < a->W; d++) {
        if (mul != 1.0) v[d] = LLVMBuildFMul(cg->b, v[d], vconst(a, mul), "");
        moac_cg_store(cg, v[d], t, moac_cg_mulc(cg, moac_cg_addc(cg, c.iv, d), a->W));
    }
    moac_cg_end(cg, &c);
    if (full == n) return;
    for (int64_t d = full; d < n; d++) moac_cg_store(cg, LLVMConstNull(a->V), t, moac_cg_i64(cg, d * a->W));
    moac_loop r = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), nrows, 1);
    LLVMValueRef base = moac_cg_add(cg, row0, moac_cg_mulc(cg, r.iv, n));
    moac_loop d = moac_cg_for(cg, &a->k, moac_cg_i64(cg, full), moac_cg_i64(cg, n), 1);
    LLVMValueRef x = moac_cg_load(cg, cg->f32, src, moac_cg_add(cg, base, d.iv));
    if (mul != 1.0) x = LLVMBuildFMul(cg->b, x, moac_cg_f32(cg, mul), "");
    moac_cg_store(cg, x, t, moac_cg_add(cg, moac_cg_mulc(cg, d.iv, a->W), r.iv));
    moac_cg_end(cg, &d);
    moac_cg_end(cg, &r);
}

/* Per lane, the dot product over Dv of two transposed tiles: lane r gets sum_d X[d][r] Y[d][r]
 * (D_i = dout_i . out_i in the gradients). */
static LLVMValueRef lane_dots(ax *a, LLVMValueRef X, LLVMValueRef Y) {
    moac_cg *cg = a->cg;
    LLVMValueRef acc = moac_cg_var(cg, &a->k, a->V, LLVMConstNull(a->V));
    moac_loop d = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->Dv), 1);
    LLVMValueRef at = moac_cg_mulc(cg, d.iv, a->W);
    moac_cg_set(cg, acc, moac_cg_fma(cg, moac_cg_load(cg, a->V, X, at), moac_cg_load(cg, a->V, Y, at),
                                     moac_cg_get(cg, a->V, acc)));
    moac_cg_end(cg, &d);
    return moac_cg_get(cg, a->V, acc);
}

/* dst[row0 + r*n + d] = t[d][r] * f[r] * mul for r < nrows (f a vector, or NULL for 1), where
 * vector t[d] lies at t + d*ts (ts = W for a stack tile). */
static void tile_store_T_ts(ax *a, LLVMValueRef t, int64_t ts, int64_t n, LLVMValueRef dst, LLVMValueRef row0,
                            LLVMValueRef nrows, LLVMValueRef f, double mul) {
    moac_cg *cg = a->cg;
    LLVMValueRef fm = f ? f : vconst(a, 1.0);
    if (mul != 1.0) fm = LLVMBuildFMul(cg->b, fm, vconst(a, mul), "");
    int64_t full = n / a->W * a->W;
    LLVMValueRef m[MAX_W], v[MAX_W];
    row_masks(a, nrows, m);
    moac_loop c = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, full), a->W);
    for (int d = 0; d < a->W; d++)
        v[d] = LLVMBuildFMul(cg->b, moac_cg_load(cg, a->V, t, moac_cg_mulc(cg, moac_cg_addc(cg, c.iv, d), ts)), fm, "");
    transpose(a, v);
    for (int r = 0; r < a->W; r++)
        masked_mem(a, moac_cg_gep(cg, cg->f32, dst, moac_cg_add(cg, row0, moac_cg_addc(cg, c.iv, r * n))), m[r], v[r]);
    moac_cg_end(cg, &c);
    if (full == n) return;
    moac_loop r = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), nrows, 1);
    LLVMValueRef fr = LLVMBuildExtractElement(cg->b, fm, r.iv, "");
    LLVMValueRef base = moac_cg_add(cg, row0, moac_cg_mulc(cg, r.iv, n));
    moac_loop d = moac_cg_for(cg, &a->k, moac_cg_i64(cg, full), moac_cg_i64(cg, n), 1);
    LLVMValueRef x = moac_cg_load(cg, cg->f32, t, moac_cg_add(cg, moac_cg_mulc(cg, d.iv, ts), r.iv));
    moac_cg_store(cg, LLVMBuildFMul(cg->b, x, fr, ""), dst, moac_cg_add(cg, base, d.iv));
    moac_cg_end(cg, &d);
    moac_cg_end(cg, &r);
}

static void tile_store_T(ax *a, LLVMValueRef t, int64_t n, LLVMValueRef dst, LLVMValueRef row0, LLVMValueRef nrows,
                         LLVMValueRef f, double mul) {
    tile_store_T_ts(a, t, a->W, n, dst, row0, nrows, f, mul);
}

/* s[r] = sum_d t[d] * y[row0 + r*n + d] for r < R (R static). */
static void tile_dots(ax *a, LLVMValueRef t, int64_t n, LLVMValueRef y, LLVMValueRef row0, int R, LLVMValueRef *s) {
    moac_cg *cg = a->cg;
    LLVMValueRef acc[MAX_W];
    for (int r = 0; r < R; r++) acc[r] = moac_cg_var(cg, &a->k, a->V, LLVMConstNull(a->V));
    moac_loop d = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, n), 1);
    LLVMValueRef tv = moac_cg_load(cg, a->V, t, moac_cg_mulc(cg, d.iv, a->W));
    LLVMValueRef base = moac_cg_add(cg, row0, d.iv);
    for (int r = 0; r < R; r++) {
        LLVMValueRef yr = moac_cg_splat(cg, moac_cg_load(cg, cg->f32, y, moac_cg_addc(cg, base, r * n)), a->W);
        moac_cg_set(cg, acc[r], moac_cg_fma(cg, tv, yr, moac_cg_get(cg, a->V, acc[r])));
    }
    moac_cg_end(cg, &d);
    for (int r = 0; r < R; r++) s[r] = moac_cg_get(cg, a->V, acc[r]);
}

/* t[d] = t[d] * alpha + sum_r c[r] * z[row0 + r*n + d] for d in [d0, d1), U values of d per
 * step: U independent FMA chains, as one chain of R dependent FMAs would run at the FMA latency
 * rather than its throughput. Vector t[d] lies at t + d*ts (ts = W for a stack tile). */
static void accum_steps(ax *a, LLVMValueRef t, int64_t ts, int64_t n, int64_t d0, int64_t d1, int U,
                        LLVMValueRef alpha, LLVMValueRef z, LLVMValueRef row0, int R, const LLVMValueRef *c) {
    moac_cg *cg = a->cg;
    if (d1 <= d0) return;
    LLVMValueRef at[ACCUM_UNROLL], acc[ACCUM_UNROLL];
    moac_loop d = moac_cg_for(cg, &a->k, moac_cg_i64(cg, d0), moac_cg_i64(cg, d1), U);
    for (int u = 0; u < U; u++) {
        at[u] = moac_cg_mulc(cg, moac_cg_addc(cg, d.iv, u), ts);
        acc[u] = moac_cg_load(cg, a->V, t, at[u]);
        if (alpha) acc[u] = LLVMBuildFMul(cg->b, acc[u], alpha, "");
    }
    LLVMValueRef base = moac_cg_add(cg, row0, d.iv);
    for (int r = 0; r < R; r++)
        for (int u = 0; u < U; u++) {
            LLVMValueRef zr = moac_cg_load(cg, cg->f32, z, moac_cg_addc(cg, base, r * n + u));
            acc[u] = moac_cg_fma(cg, c[r], moac_cg_splat(cg, zr, a->W), acc[u]);
        }
    for (int u = 0; u < U; u++) moac_cg_store(cg, acc[u], t, at[u]);
    moac_cg_end(cg, &d);
}

static void tile_accum_ts(ax *a, LLVMValueRef t, int64_t ts, int64_t n, LLVMValueRef alpha, LLVMValueRef z,
                          LLVMValueRef row0, int R, const LLVMValueRef *c) {
    int64_t main = n / ACCUM_UNROLL * ACCUM_UNROLL;
    accum_steps(a, t, ts, n, 0, main, ACCUM_UNROLL, alpha, z, row0, R, c);
    accum_steps(a, t, ts, n, main, n, 1, alpha, z, row0, R, c);
}

static void tile_accum(ax *a, LLVMValueRef t, int64_t n, LLVMValueRef alpha, LLVMValueRef z, LLVMValueRef row0, int R,
                       const LLVMValueRef *c) {
    tile_accum_ts(a, t, a->W, n, alpha, z, row0, R, c);
}

/* ---- Blocks: W lanes (rows of the tile) against R rows read in place. ----
 *
 * Most blocks are plain: R = W rows, all valid. The others — the causal diagonal block and the
 * block running past the last row — are masked: their R = min(W, rows) rows start at
 * at = min(start, rows - R), shifted back so that every row read is in bounds, and row at + r
 * counts only if at + r >= start (not already done by the previous block) and, when causal,
 * its key is not after its query. So each block body exists in two copies, not one per shape. */

typedef struct rows {
    LLVMValueRef at;               /* first row read */
    int R;                         /* rows read */
    LLVMValueRef mask[MAX_W];      /* per row, the lanes it counts for; NULL: all */
} rows;

/* lanes_q: lanes are queries lane0 + l and rows keys (forward, dq), else lanes are keys and
 * rows queries (dk, dv). nrows: the rows' extent (S or T). */
static rows block_rows(ax *a, LLVMValueRef start, int masked, int64_t nrows, LLVMValueRef lane0, int lanes_q) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    rows w = {.at = start, .R = a->W};
    if (!masked) return w;
    w.R = (int)(nrows < a->W ? nrows : a->W);
    w.at = i64min(a, start, moac_cg_i64(cg, nrows - w.R));
    LLVMValueRef iota[MAX_W];
    for (int l = 0; l < a->W; l++) iota[l] = moac_cg_i32(cg, l);
    LLVMValueRef lanes = LLVMConstVector(iota, (unsigned)a->W);
    for (int r = 0; r < w.R; r++) {
        LLVMValueRef row = moac_cg_addc(cg, w.at, r);
        LLVMValueRef m = LLVMConstAllOnes(LLVMVectorType(cg->i1, (unsigned)a->W));
        if (a->causal) { /* key <= query: lane >= row - lane0 (lanes queries), lane <= row - lane0 (keys) */
            LLVMValueRef off = LLVMBuildTrunc(b, LLVMBuildSub(b, row, lane0, ""), cg->i32, "");
            m = LLVMBuildICmp(b, lanes_q ? LLVMIntSGE : LLVMIntSLE, lanes, moac_cg_splat(cg, off, a->W), "");
        }
        LLVMValueRef fresh = LLVMBuildICmp(b, LLVMIntSGE, row, start, "");
        w.mask[r] = LLVMBuildSelect(b, fresh, m, LLVMConstNull(LLVMTypeOf(m)), "valid");
    }
    return w;
}

/* Lanes = query rows (XT = q*scale), rows = keys: the online softmax step (and OT += p v). */
static void block_softmax(ax *a, LLVMValueRef j0, int masked) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef s[MAX_W], p[MAX_W];
    rows w = block_rows(a, j0, masked, a->S, a->i0, 1);
    tile_dots(a, a->XT, a->D, a->kk, moac_cg_add(cg, a->koff, moac_cg_mulc(cg, w.at, a->D)), w.R, s);
    LLVMValueRef mx = NULL;
    for (int r = 0; r < w.R; r++) {
        if (w.mask[r]) s[r] = LLVMBuildSelect(b, w.mask[r], s[r], vconst(a, -INFINITY), "");
        mx = mx ? vmax(a, mx, s[r]) : s[r];
    }
    LLVMValueRef m_old = moac_cg_get(cg, a->V, a->mvar), m_new = vmax(a, m_old, mx);
    LLVMValueRef alpha = softmax_exp(a, LLVMBuildFSub(b, m_old, m_new, ""));
    LLVMValueRef sum = NULL;
    for (int r = 0; r < w.R; r++) {
        p[r] = softmax_exp(a, LLVMBuildFSub(b, s[r], m_new, ""));
        sum = sum ? LLVMBuildFAdd(b, sum, p[r], "") : p[r];
    }
    moac_cg_set(cg, a->lvar, moac_cg_fma(cg, moac_cg_get(cg, a->V, a->lvar), alpha, sum));
    moac_cg_set(cg, a->mvar, m_new);
    if (a->m != M_STATS_L)
        tile_accum(a, a->AT, a->Dv, alpha, a->v, moac_cg_add(cg, a->voff, moac_cg_mulc(cg, w.at, a->Dv)), w.R, p);
}

/* Lanes = query rows (XT = q*scale, YT = dout), rows = keys: dqT += dS k. */
static void block_dq(ax *a, LLVMValueRef j0, int masked) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef s[MAX_W], dp[MAX_W];
    rows w = block_rows(a, j0, masked, a->S, a->i0, 1);
    LLVMValueRef krow = moac_cg_add(cg, a->koff, moac_cg_mulc(cg, w.at, a->D));
    tile_dots(a, a->XT, a->D, a->kk, krow, w.R, s);
    for (int r = 0; r < w.R; r++) {
        s[r] = softmax_exp(a, LLVMBuildFSub(b, s[r], a->lse, ""));
        if (w.mask[r]) s[r] = LLVMBuildSelect(b, w.mask[r], s[r], LLVMConstNull(a->V), "");
    }
    tile_dots(a, a->YT, a->Dv, a->v, moac_cg_add(cg, a->voff, moac_cg_mulc(cg, w.at, a->Dv)), w.R, dp);
    for (int r = 0; r < w.R; r++) s[r] = LLVMBuildFMul(b, s[r], LLVMBuildFSub(b, dp[r], a->dd, ""), "");
    tile_accum(a, a->AT, a->D, NULL, a->kk, krow, w.R, s);
}

/* Lanes = keys (XT = k*scale, YT = v), rows = queries of one head: dvT += P^T dout or
 * dkT += dS^T q. */
/* The key-major blocks' common start: the query rows of block i0 (their q, dout and statistics
 * offsets) and the recomputed probabilities p[r] = exp(q_r . k * scale - lse_r), masked. */
typedef struct kblock {
    rows w;
    LLVMValueRef qrow, drow, srow;
} kblock;

static kblock block_probs(ax *a, LLVMValueRef i0, int masked, LLVMValueRef *p) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    kblock k;
    k.w = block_rows(a, i0, masked, a->T, a->j0, 0);
    k.qrow = moac_cg_add(cg, a->qoff, moac_cg_mulc(cg, k.w.at, a->D));
    k.drow = moac_cg_add(cg, a->doff, moac_cg_mulc(cg, k.w.at, a->Dv));
    k.srow = moac_cg_add(cg, a->soff, k.w.at);
    tile_dots(a, a->XT, a->D, a->q, k.qrow, k.w.R, p);
    for (int r = 0; r < k.w.R; r++) {
        LLVMValueRef lse =
            moac_cg_splat(cg, moac_cg_load(cg, cg->f32, a->lsep, moac_cg_addc(cg, k.srow, r)), a->W);
        p[r] = softmax_exp(a, LLVMBuildFSub(b, p[r], lse, ""));
        if (k.w.mask[r]) p[r] = LLVMBuildSelect(b, k.w.mask[r], p[r], LLVMConstNull(a->V), "");
    }
    return k;
}

/* ds[r] = p[r] * (dout_r . v - D_r): the softmax gradient of a key-major block. */
static void block_ds(ax *a, const kblock *k, const LLVMValueRef *p, LLVMValueRef *ds) {
    moac_cg *cg = a->cg;
    tile_dots(a, a->YT, a->Dv, a->dout, k->drow, k->w.R, ds);
    for (int r = 0; r < k->w.R; r++) {
        LLVMValueRef dd = moac_cg_load(cg, cg->f32, a->ddp, moac_cg_addc(cg, k->srow, r));
        ds[r] = LLVMBuildFMul(cg->b, p[r], LLVMBuildFSub(cg->b, ds[r], moac_cg_splat(cg, dd, a->W), ""), "");
    }
}

static void block_dkv(ax *a, LLVMValueRef i0, int masked) {
    LLVMValueRef p[MAX_W], ds[MAX_W];
    kblock k = block_probs(a, i0, masked, p);
    if (a->m == M_DV) {
        tile_accum(a, a->AT, a->Dv, NULL, a->dout, k.drow, k.w.R, p);
        return;
    }
    block_ds(a, &k, p, ds);
    tile_accum(a, a->AT, a->D, NULL, a->q, k.qrow, k.w.R, ds);
}

typedef void (*block_fn)(ax *a, LLVMValueRef start, int masked);

/* fn on the blocks [x, x + W) for x = start, start + W, ... < end; a block is masked when it
 * starts at diag (NULL: none) or runs past nrows. Only the variants that can occur are emitted. */
static void blocks(ax *a, block_fn fn, LLVMValueRef start, LLVMValueRef end, LLVMValueRef diag, int64_t nrows) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    int some_plain = nrows >= a->W, some_masked = diag || nrows % a->W;
    moac_loop l = moac_cg_for(cg, &a->k, start, end, a->W);
    if (!some_masked || !some_plain) {
        fn(a, l.iv, some_masked);
    } else {
        LLVMValueRef masked = LLVMBuildICmp(b, LLVMIntSGT, moac_cg_addc(cg, l.iv, a->W), moac_cg_i64(cg, nrows), "");
        if (diag) masked = LLVMBuildOr(b, masked, LLVMBuildICmp(b, LLVMIntEQ, l.iv, diag, ""), "");
        LLVMBasicBlockRef merge = moac_cg_if(cg, masked);
        fn(a, l.iv, 1);
        moac_cg_endif(cg, merge);
        merge = moac_cg_if(cg, LLVMBuildNot(b, masked, ""));
        fn(a, l.iv, 0);
        moac_cg_endif(cg, merge);
    }
    moac_cg_end(cg, &l);
}

/* All key blocks the query block at a->i0 sees. */
static void over_keys(ax *a, block_fn fn) {
    moac_cg *cg = a->cg;
    LLVMValueRef end = moac_cg_i64(cg, a->S);
    if (a->causal) end = i64min(a, moac_cg_addc(cg, a->i0, a->W), end);
    blocks(a, fn, moac_cg_i64(cg, 0), end, a->causal ? a->i0 : NULL, a->S);
}

/* All query blocks (of one head) that see the key block at a->j0. */
static void over_queries(ax *a, block_fn fn) {
    moac_cg *cg = a->cg;
    blocks(a, fn, a->causal ? a->j0 : moac_cg_i64(cg, 0), moac_cg_i64(cg, a->T), a->causal ? a->j0 : NULL, a->T);
}

/* ---- Kernels. ---- */

/* Opens kernel `suffix` with items = outer * pairs of `nblocks` blocks; calls body(a, outer
 * index, block index) for each of the item's one or two blocks. */
static void kernel(ax *a, const char *suffix, int64_t outer, int64_t nblocks, int nslots, const int *slots,
                   void (*body)(ax *a, LLVMValueRef o, LLVMValueRef blk), double flops, double bytes) {
    moac_cg *cg = a->cg;
    char name[96];
    snprintf(name, sizeof name, "%s_%s", a->e->prefix, suffix);
    int64_t pairs = (nblocks + 1) / 2;
    a->k = moac_cg_kernel_begin(cg, name, outer * pairs, nslots, slots);
    moac_loop it = moac_cg_for(cg, &a->k, a->k.lo, a->k.hi, 1);
    LLVMBuilderRef b = cg->b;
    LLVMValueRef o = LLVMBuildSDiv(b, it.iv, moac_cg_i64(cg, pairs), "");
    LLVMValueRef p = LLVMBuildSRem(b, it.iv, moac_cg_i64(cg, pairs), "");
    LLVMValueRef mirror = LLVMBuildSub(b, moac_cg_i64(cg, nblocks - 1), p, "");
    LLVMValueRef two = LLVMBuildICmp(b, LLVMIntNE, mirror, p, "");
    LLVMValueRef cnt = LLVMBuildSelect(b, two, moac_cg_i64(cg, 2), moac_cg_i64(cg, 1), "");
    moac_loop t = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), cnt, 1);
    LLVMValueRef first = LLVMBuildICmp(b, LLVMIntEQ, t.iv, moac_cg_i64(cg, 0), "");
    body(a, o, LLVMBuildSelect(b, first, p, mirror, "blk"));
    moac_cg_end(cg, &t);
    moac_cg_end(cg, &it);
    moac_cg_kernel_end(cg, &a->k);
    moac_emit_cost(a->e, &a->k, flops, bytes);
}

/* One query block of head bh (forward, statistics, dq). */
static void query_block(ax *a, LLVMValueRef bh, LLVMValueRef qb) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef bidx = LLVMBuildSDiv(b, bh, moac_cg_i64(cg, a->H), "");
    LLVMValueRef g = LLVMBuildSDiv(b, LLVMBuildSRem(b, bh, moac_cg_i64(cg, a->H), ""), moac_cg_i64(cg, a->per_group), "");
    LLVMValueRef bg = moac_cg_add(cg, moac_cg_mulc(cg, bidx, a->G), g);
    LLVMValueRef i0 = moac_cg_mulc(cg, qb, a->W);
    LLVMValueRef nrows = i64min(a, moac_cg_i64(cg, a->W), LLVMBuildSub(b, moac_cg_i64(cg, a->T), i0, ""));
    LLVMValueRef qrow = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, bh, a->T), i0), a->D);
    LLVMValueRef orow = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, bh, a->T), i0), a->Dv);
    a->koff = moac_cg_mulc(cg, bg, a->S * a->D);
    a->voff = moac_cg_mulc(cg, bg, a->S * a->Dv);

    tile_load_T(a, a->XT, a->D, a->q, qrow, nrows, a->scale);
    if (a->m != M_STATS_L) tile_zero(a, a->AT, a->Dv);
    moac_cg_set(cg, a->mvar, vconst(a, -INFINITY));
    moac_cg_set(cg, a->lvar, LLVMConstNull(a->V));
    a->i0 = i0;
    over_keys(a, block_softmax);
    LLVMValueRef l = moac_cg_get(cg, a->V, a->lvar);
    LLVMValueRef inv = LLVMBuildFDiv(b, vconst(a, 1.0), l, "");
    /* lse = m + log l, computed exactly as in the statistics kernel (same blocks, same order). */
    LLVMValueRef lse = LLVMBuildFAdd(b, moac_cg_get(cg, a->V, a->mvar), moac_cg_log(cg, l), "lse");
    if (a->m == M_FWD) {
        tile_store_T(a, a->AT, a->Dv, a->out, orow, nrows, inv, 1.0);
        if (a->lsep) /* for the joint backward */
            masked_mem(a, moac_cg_gep(cg, cg->f32, a->lsep, moac_cg_add(cg, moac_cg_mulc(cg, bh, a->T), i0)),
                       lane_mask(a, nrows), lse);
        return;
    }
    /* Statistics: D = dout . out (out = OT / l). */
    LLVMValueRef dd = NULL;
    if (a->m != M_STATS_L) {
        tile_load_T(a, a->YT, a->Dv, a->dout, orow, nrows, 1.0);
        dd = LLVMBuildFMul(b, lane_dots(a, a->AT, a->YT), inv, "D");
    }
    if (a->m != M_DQ) {
        LLVMValueRef srow = moac_cg_add(cg, moac_cg_mulc(cg, bh, 2 * a->Tp), i0);
        moac_cg_store(cg, lse, a->stats, srow);
        if (dd) moac_cg_store(cg, dd, a->stats, moac_cg_addc(cg, srow, a->Tp));
        return;
    }
    a->lse = lse;
    a->dd = dd;
    tile_zero(a, a->AT, a->D);
    over_keys(a, block_dq);
    tile_store_T(a, a->AT, a->D, a->out, qrow, nrows, NULL, a->scale);
}

/* One key block of KV head bg (dk, dv): sums over the group's query heads. */
static void key_block(ax *a, LLVMValueRef bg, LLVMValueRef kb) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef j0 = moac_cg_mulc(cg, kb, a->W);
    LLVMValueRef nkeys = i64min(a, moac_cg_i64(cg, a->W), LLVMBuildSub(b, moac_cg_i64(cg, a->S), j0, ""));
    LLVMValueRef krow = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, bg, a->S), j0), a->D);
    LLVMValueRef vrow = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, bg, a->S), j0), a->Dv);
    int64_t n = a->m == M_DK ? a->D : a->Dv;
    a->j0 = j0;
    tile_load_T(a, a->XT, a->D, a->kk, krow, nkeys, a->scale);
    if (a->m == M_DK) tile_load_T(a, a->YT, a->Dv, a->v, vrow, nkeys, 1.0);
    tile_zero(a, a->AT, n);
    LLVMValueRef bidx = LLVMBuildSDiv(b, bg, moac_cg_i64(cg, a->G), "");
    LLVMValueRef g = LLVMBuildSRem(b, bg, moac_cg_i64(cg, a->G), "");
    LLVMValueRef h0 = moac_cg_add(cg, moac_cg_mulc(cg, bidx, a->H), moac_cg_mulc(cg, g, a->per_group));
    moac_loop hh = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->per_group), 1);
    LLVMValueRef bh = moac_cg_add(cg, h0, hh.iv);
    a->qoff = moac_cg_mulc(cg, bh, a->T * a->D);
    a->doff = moac_cg_mulc(cg, bh, a->T * a->Dv);
    a->soff = moac_cg_mulc(cg, bh, a->sst);
    over_queries(a, block_dkv);
    moac_cg_end(cg, &hh);
    tile_store_T(a, a->AT, n, a->out, a->m == M_DK ? krow : vrow, nkeys, NULL, a->m == M_DK ? a->scale : 1.0);
}

int moac_cpu_attention_ok(const moac_node *n) {
    const moac_type *q = &n->args[0]->type, *k = &n->args[1]->type, *v = &n->args[2]->type;
    int64_t H = q->dims[1], T = q->dims[2], D = q->dims[3], G = k->dims[1], S = k->dims[2], Dv = v->dims[3];
    return G >= 1 && H % G == 0 && !(n->i[0] && S != T) && D <= MAX_DIM && Dv <= MAX_DIM;
}

int moac_cpu_attention_grad_ok(const moac_node *n) {
    return moac_cpu_attention_ok(n) && n->i[1] >= 0 && n->i[1] <= 2;
}

static int dims_of(ax *a, const moac_emit_ctx *e) {
    const moac_node *n = e->node;
    const moac_type *q = &n->args[0]->type, *k = &n->args[1]->type, *v = &n->args[2]->type;
    /* W: the target's lanes, a power of two (the transposes need one) up to MAX_W. */
    *a = (ax){.cg = e->cg, .e = e, .W = 1};
    while (a->W * 2 <= e->cg->vec && a->W * 2 <= MAX_W) a->W *= 2;
    a->V = LLVMVectorType(a->cg->f32, (unsigned)a->W);
    a->B = q->dims[0], a->H = q->dims[1], a->T = q->dims[2], a->D = q->dims[3];
    a->G = k->dims[1], a->S = k->dims[2], a->Dv = v->dims[3];
    a->causal = (int)n->i[0];
    a->scale = n->f[0];
    if (!moac_cpu_attention_ok(n)) return -1;
    a->per_group = a->H / a->G;
    a->Tp = (a->T + a->W - 1) / a->W * a->W;
    return 0;
}

/* Binds the current kernel's operands (slot order: out/stats, q, k, v[, dout][, stats]). */
static LLVMValueRef arg(ax *a, int j) { return moac_cg_arg(a->cg, &a->k, j); }

static void fwd_body(ax *a, LLVMValueRef bh, LLVMValueRef qb) {
    a->out = arg(a, 0), a->q = arg(a, 1), a->kk = arg(a, 2), a->v = arg(a, 3);
    a->lsep = a->e->lse >= 0 ? arg(a, 4) : NULL;
    a->XT = tile_new(a, a->D), a->AT = tile_new(a, a->Dv);
    a->mvar = moac_cg_var(a->cg, &a->k, a->V, NULL), a->lvar = moac_cg_var(a->cg, &a->k, a->V, NULL);
    query_block(a, bh, qb);
}

static void grad_query_body(ax *a, LLVMValueRef bh, LLVMValueRef qb) {
    int dq = a->m == M_DQ;
    a->out = dq ? arg(a, 0) : NULL, a->stats = dq ? NULL : arg(a, 0);
    a->q = arg(a, 1), a->kk = arg(a, 2), a->v = arg(a, 3), a->dout = arg(a, 4);
    a->XT = tile_new(a, a->D), a->YT = tile_new(a, a->Dv);
    a->AT = tile_new(a, a->D > a->Dv ? a->D : a->Dv);
    a->mvar = moac_cg_var(a->cg, &a->k, a->V, NULL), a->lvar = moac_cg_var(a->cg, &a->k, a->V, NULL);
    query_block(a, bh, qb);
}

static void grad_key_body(ax *a, LLVMValueRef bg, LLVMValueRef kb) {
    a->out = arg(a, 0), a->q = arg(a, 1), a->kk = arg(a, 2), a->v = arg(a, 3), a->dout = arg(a, 4);
    a->stats = arg(a, 5);
    a->lsep = a->stats, a->ddp = moac_cg_gep(a->cg, a->cg->f32, a->stats, moac_cg_i64(a->cg, a->Tp)), a->sst = 2 * a->Tp;
    a->XT = tile_new(a, a->D), a->YT = tile_new(a, a->Dv);
    a->AT = tile_new(a, a->m == M_DK ? a->D : a->Dv);
    key_block(a, bg, kb);
}

/* Pairs (q, k) of the causal or full score matrix, all heads. */
static double pairs(const ax *a) {
    double per = a->causal ? (double)a->T * (double)(a->T + 1) / 2 : (double)a->T * (double)a->S;
    return per * (double)(a->B * a->H);
}

static double bytes_of(const ax *a) {
    return 4.0 * (double)(a->B * (a->H * a->T * (a->D + 2 * a->Dv) + a->G * a->S * (a->D + a->Dv)));
}

int moac_emit_attention(const moac_emit_ctx *e) {
    ax a;
    if (dims_of(&a, e)) return -1;
    a.m = M_FWD;
    int slots[5] = {e->out, e->in[0], e->in[1], e->in[2], e->lse};
    kernel(&a, "attn", a.B * a.H, a.Tp / a.W, e->lse >= 0 ? 5 : 4, slots, fwd_body, 2.0 * pairs(&a) * (double)(a.D + a.Dv),
           bytes_of(&a));
    return 0;
}

int moac_emit_attention_grad(const moac_emit_ctx *e) {
    ax a;
    if (dims_of(&a, e)) return -1;
    int which = (int)e->node->i[1];
    if (!moac_cpu_attention_grad_ok(e->node)) return -1;
    double pr = pairs(&a), bytes = bytes_of(&a);
    if (which == 0) {
        a.m = M_DQ;
        int slots[5] = {e->out, e->in[0], e->in[1], e->in[2], e->in[3]};
        kernel(&a, "attn_dq", a.B * a.H, a.Tp / a.W, 5, slots, grad_query_body,
               2.0 * pr * (double)(2 * a.D + 3 * a.Dv), bytes);
        return 0;
    }
    int stats = moac_cg_scratch(e->cg, 4 * 2 * a.B * a.H * a.Tp);
    a.m = which == 1 ? M_STATS_LD : M_STATS_L;
    int sslots[5] = {stats, e->in[0], e->in[1], e->in[2], e->in[3]};
    kernel(&a, "attn_stats", a.B * a.H, a.Tp / a.W, 5, sslots, grad_query_body,
           2.0 * pr * (double)(a.D + (which == 1 ? 2 * a.Dv : 0)), bytes);
    a.m = which == 1 ? M_DK : M_DV;
    int slots[6] = {e->out, e->in[0], e->in[1], e->in[2], e->in[3], stats};
    int64_t nkb = (a.S + a.W - 1) / a.W;
    kernel(&a, which == 1 ? "attn_dk" : "attn_dv", a.B * a.G, nkb, 6, slots, grad_key_body,
           2.0 * pr * (double)(which == 1 ? 2 * a.D + a.Dv : a.D + a.Dv), bytes);
    return 0;
}

/* ---- All three gradients at once (attention_grads). ----
 *
 * Counted in D FMAs per (query, key) pair, the three kernels above cost 5 (dq) + 5 (dk) + 3 (dv)
 * = 13. Here: the statistics kernel (lse_i and D_i, 2), then one key-major pass per (b, g)
 * with s = q.k, dp = dout.v, dv += p dout, dk += ds q and dq += ds k (5): 7 in all.
 *
 * dq in a key-major pass. A block's ds has lanes = keys; transposed in registers (W log2 W
 * shuffles per W x W block) its vectors have lanes = query rows, and dq accumulates as
 * dqT[h][d][i] += sum_l dsT[l][i] * k[j0 + l][d] into scratch with row stride Tp, so a masked
 * block shifted back to `at` simply starts at an unaligned lane (its stale rows add zero). An
 * item is a whole (b, g): it owns the dq of the group's query heads (every key block adds to
 * them), so no two items write the same memory and the sums run in one fixed order whatever the
 * thread count. Its key blocks run outside the query heads, so dk and dv stay in stack tiles;
 * the last key block, when S % W keys remain, is emitted with that static count (the dq update
 * then reads only those keys' rows, and the lanes past them are never stored). */

/* Lanes = keys (XT = k*scale, YT = v), rows = queries of one head. */
static void block_joint(ax *a, LLVMValueRef i0, int masked) {
    moac_cg *cg = a->cg;
    LLVMValueRef p[MAX_W], ds[MAX_W];
    kblock k = block_probs(a, i0, masked, p);
    tile_accum(a, a->BT, a->Dv, NULL, a->dout, k.drow, k.w.R, p);
    block_ds(a, &k, p, ds);
    tile_accum(a, a->AT, a->D, NULL, a->q, k.qrow, k.w.R, ds);
    for (int r = k.w.R; r < a->W; r++) ds[r] = LLVMConstNull(a->V);
    transpose(a, ds);
    tile_accum_ts(a, moac_cg_gep(cg, cg->f32, a->dqt, k.w.at), a->Tp, a->D, NULL, a->kk,
                  moac_cg_add(cg, a->koff, moac_cg_mulc(cg, a->j0, a->D)), a->nk, ds);
}

/* Key block j0 (nk keys) of KV head bg: dk, dv of its keys over the group's query heads h0 + hh,
 * adding their dq contributions to dqt (per_group heads of D x Tp). */
static void joint_key_block(ax *a, LLVMValueRef bg, LLVMValueRef h0, LLVMValueRef dqt, LLVMValueRef j0, int nk) {
    moac_cg *cg = a->cg;
    LLVMValueRef nkeys = moac_cg_i64(cg, nk);
    LLVMValueRef krow = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, bg, a->S), j0), a->D);
    LLVMValueRef vrow = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, bg, a->S), j0), a->Dv);
    a->j0 = j0, a->nk = nk;
    tile_load_T(a, a->XT, a->D, a->kk, krow, nkeys, a->scale);
    tile_load_T(a, a->YT, a->Dv, a->v, vrow, nkeys, 1.0);
    tile_zero(a, a->AT, a->D);
    tile_zero(a, a->BT, a->Dv);
    moac_loop hh = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->per_group), 1);
    LLVMValueRef bh = moac_cg_add(cg, h0, hh.iv);
    a->qoff = moac_cg_mulc(cg, bh, a->T * a->D);
    a->doff = moac_cg_mulc(cg, bh, a->T * a->Dv);
    a->soff = moac_cg_mulc(cg, bh, a->sst);
    a->dqt = moac_cg_gep(cg, cg->f32, dqt, moac_cg_mulc(cg, hh.iv, a->D * a->Tp));
    over_queries(a, block_joint);
    moac_cg_end(cg, &hh);
    tile_store_T(a, a->AT, a->D, a->dk, krow, nkeys, NULL, a->scale);
    tile_store_T(a, a->BT, a->Dv, a->dv, vrow, nkeys, NULL, 1.0);
}

/* D_i = dout_i . out_i for the query rows of heads h0 .. h0 + per_group - 1 (into ddp, stride T),
 * W rows at a time through the transposed tiles (free before the key blocks use them). */
static void joint_row_dots(ax *a, LLVMValueRef h0) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    moac_loop hh = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->per_group), 1);
    LLVMValueRef row0 = moac_cg_mulc(cg, moac_cg_add(cg, h0, hh.iv), a->T);
    moac_loop i = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->T), a->W);
    LLVMValueRef nrows = i64min(a, moac_cg_i64(cg, a->W), LLVMBuildSub(b, moac_cg_i64(cg, a->T), i.iv, ""));
    LLVMValueRef drow = moac_cg_mulc(cg, moac_cg_add(cg, row0, i.iv), a->Dv);
    tile_load_T(a, a->YT, a->Dv, a->dout, drow, nrows, 1.0);
    tile_load_T(a, a->BT, a->Dv, a->out, drow, nrows, 1.0);
    masked_mem(a, moac_cg_gep(cg, cg->f32, a->ddp, moac_cg_add(cg, row0, i.iv)), lane_mask(a, nrows),
               lane_dots(a, a->BT, a->YT));
    moac_cg_end(cg, &i);
    moac_cg_end(cg, &hh);
}

/* Item bg = b * G + g: [D of its query rows,] zero the group's dqT, every key block, then
 * dq = scale * dqT^T. */
static void joint_item(ax *a, LLVMValueRef bg, LLVMValueRef dqt_all) {
    moac_cg *cg = a->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef bidx = LLVMBuildSDiv(b, bg, moac_cg_i64(cg, a->G), "");
    LLVMValueRef g = LLVMBuildSRem(b, bg, moac_cg_i64(cg, a->G), "");
    LLVMValueRef h0 = moac_cg_add(cg, moac_cg_mulc(cg, bidx, a->H), moac_cg_mulc(cg, g, a->per_group));
    LLVMValueRef dqt = moac_cg_gep(cg, cg->f32, dqt_all, moac_cg_mulc(cg, bg, a->per_group * a->D * a->Tp));
    a->koff = moac_cg_mulc(cg, bg, a->S * a->D);
    a->voff = moac_cg_mulc(cg, bg, a->S * a->Dv);
    if (a->out) joint_row_dots(a, h0);
    moac_loop z = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->per_group * a->D * a->Tp), a->W);
    moac_cg_store(cg, LLVMConstNull(a->V), dqt, z.iv);
    moac_cg_end(cg, &z);
    int64_t full = a->S / a->W * a->W;
    if (full) {
        moac_loop j = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, full), a->W);
        joint_key_block(a, bg, h0, dqt, j.iv, a->W);
        moac_cg_end(cg, &j);
    }
    if (full < a->S) joint_key_block(a, bg, h0, dqt, moac_cg_i64(cg, full), (int)(a->S - full));
    moac_loop hh = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->per_group), 1);
    LLVMValueRef qrow0 = moac_cg_mulc(cg, moac_cg_add(cg, h0, hh.iv), a->T * a->D);
    LLVMValueRef t0 = moac_cg_gep(cg, cg->f32, dqt, moac_cg_mulc(cg, hh.iv, a->D * a->Tp));
    moac_loop i = moac_cg_for(cg, &a->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, a->T), a->W);
    LLVMValueRef nrows = i64min(a, moac_cg_i64(cg, a->W), LLVMBuildSub(b, moac_cg_i64(cg, a->T), i.iv, ""));
    tile_store_T_ts(a, moac_cg_gep(cg, cg->f32, t0, i.iv), a->Tp, a->D, a->dq,
                    moac_cg_add(cg, qrow0, moac_cg_mulc(cg, i.iv, a->D)), nrows, NULL, a->scale);
    moac_cg_end(cg, &i);
    moac_cg_end(cg, &hh);
}

/* With the forward's lse and output (e->lse, e->fwd_out), no statistics kernel: lse is read as
 * the forward wrote it and D_i = dout_i . out_i is a row dot at the start of each item (T * Dv
 * FMAs per head against the statistics kernel's recomputation of the forward, T * S * (D + 2 Dv)). */
int moac_emit_attention_grads(const moac_emit_ctx *e) {
    ax a;
    if (dims_of(&a, e) || e->outs[0] < 0 || e->outs[1] < 0 || e->outs[2] < 0) return -1;
    double pr = pairs(&a), bytes = bytes_of(&a);
    int fwd = e->lse >= 0 && e->fwd_out >= 0;
    int dqt = moac_cg_scratch(e->cg, 4 * a.B * a.H * a.D * a.Tp);
    int stats, dd = -1;
    if (fwd) {
        stats = e->lse;
        dd = moac_cg_scratch(e->cg, 4 * a.B * a.H * a.T);
    } else {
        stats = moac_cg_scratch(e->cg, 4 * 2 * a.B * a.H * a.Tp);
        a.m = M_STATS_LD;
        int sslots[5] = {stats, e->in[0], e->in[1], e->in[2], e->in[3]};
        kernel(&a, "attn_stats", a.B * a.H, a.Tp / a.W, 5, sslots, grad_query_body,
               2.0 * pr * (double)(a.D + 2 * a.Dv), bytes);
    }

    a.m = M_JOINT;
    moac_cg *cg = e->cg;
    char name[96];
    snprintf(name, sizeof name, "%s_attn_grads", e->prefix);
    int slots[11] = {e->outs[0], e->outs[1], e->outs[2], e->in[0], e->in[1], e->in[2], e->in[3], stats, dqt,
                     dd, e->fwd_out};
    a.k = moac_cg_kernel_begin(cg, name, a.B * a.G, fwd ? 11 : 9, slots);
    a.dq = arg(&a, 0), a.dk = arg(&a, 1), a.dv = arg(&a, 2);
    a.q = arg(&a, 3), a.kk = arg(&a, 4), a.v = arg(&a, 5), a.dout = arg(&a, 6), a.stats = arg(&a, 7);
    LLVMValueRef dqt_all = arg(&a, 8);
    if (fwd) {
        a.lsep = a.stats, a.ddp = arg(&a, 9), a.out = arg(&a, 10), a.sst = a.T;
    } else {
        a.lsep = a.stats, a.ddp = moac_cg_gep(cg, cg->f32, a.stats, moac_cg_i64(cg, a.Tp)), a.sst = 2 * a.Tp;
    }
    a.XT = tile_new(&a, a.D), a.YT = tile_new(&a, a.Dv), a.AT = tile_new(&a, a.D), a.BT = tile_new(&a, a.Dv);
    moac_loop it = moac_cg_for(cg, &a.k, a.k.lo, a.k.hi, 1);
    joint_item(&a, it.iv, dqt_all);
    moac_cg_end(cg, &it);
    moac_cg_kernel_end(cg, &a.k);
    double extra = fwd ? 2.0 * (double)(a.B * a.H * a.T * a.Dv) : 0.0;
    moac_emit_cost(e, &a.k, 2.0 * pr * (double)(3 * a.D + 2 * a.Dv) + extra,
                   bytes + 8.0 * (double)(a.B * a.H * a.D * a.Tp) + (fwd ? 4.0 * (double)(a.B * a.H * a.T * a.Dv) : 0.0));
    return 0;
}
