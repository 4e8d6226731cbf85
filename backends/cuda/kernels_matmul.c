/* matmul(a, b) ta tb on the GPU: C[..., M, N] = op(A)[..., M, K] op(B)[..., K, N], batch dims
 * broadcast (semantics: backends/interp/kernels_linalg.c), on the tensor cores, as accurate as
 * f32 FMAs: one cooperative kernel (cg.h `block`) per 64 x 64 tile of C, 4 warps of 32 x 32.
 *
 *   Per K step of 32 the block copies A's 64 x 32 and B's 32 x 64 slices into shared memory (in
 *   the order that keeps the global reads contiguous for the given transposes, zero past the
 *   edges; the next step's slices are loaded into registers while the tensor cores work on this
 *   one). Each warp multiplies its 2 x 4 grid of 16 x 8 accumulator tiles (fragment layouts: PTX
 *   ISA, "Matrix Fragments for mma.m16n8k8": lane 4g + t holds A's (g, t), (g + 8, t),
 *   (g, t + 4), (g + 8, t + 4) and B's (t, g), (t + 4, g) of each k8 slice), each fragment
 *   element split as x = hi + lo with hi = tf32(x) and lo = tf32(x - hi): 3xTF32, so that
 *   lo*hi + hi*lo + hi*hi (three mma.sync.m16n8k8.tf32 per tile) keeps about f32's 24 bits where
 *   one TF32 product keeps 11.
 *
 *   Shared memory holds the slices m-major (A) and n-major (B), a row of 32 k values LDK = 34
 *   floats long, with k permuted within the row so that the two values a lane needs of each k8
 *   slice, k = 8s + t and 8s + t + 4, are neighbours: k sits at pos(k) = 8 (k % 4) + 2 (k / 8) +
 *   (k / 4) % 2. A fragment pair is then one 8-byte load, and the 16 lanes of a half-warp
 *   (rows g = 0..3 at 34 g, columns 8t) hit 32 distinct banks. Only x is stored; hi and lo are
 *   made in registers after the load, which halves the shared-memory traffic of storing both.
 *
 * With MOAC_TF32=1 (target tf32) only hi is kept: one product, TF32's ~1e-3, as PyTorch's
 * allow_tf32. The tensor core sums in f32, so results differ from the CPU's FMA order by rounding (and the
 * dropped lo*lo term, 2^-22 relative): moac verify compares them with the CPU backend. */
#include <stdio.h>
#include <string.h>

#include "backends/cuda/cuda.h"
#include "backends/cuda/nvvm.h"
#include "backends/interp/kernels.h"

enum { TM = 64, TN = 64, TK = 32, THREADS = 128, LDK = TK + 2 /* shared row stride */, PER = TK * TM / THREADS };

/* Split-K: a product of few output tiles and a long K (the weight gradients: [C, C'] outputs
 * summed over B x T = 3,072 rows at the paper's size, 36 tiles of 96 K steps) would keep most of
 * the GPU idle, so its K range is split across blocks until there are about two blocks per SM
 * of an H100/H200 (132 SMs), each split keeping at least MIN_STEPS K steps. Each split writes
 * its partial tile to scratch and a second kernel sums the splits in order: deterministic. */
enum { SPLIT_BLOCKS = 264, MIN_STEPS = 4 };

static int64_t k_splits(int64_t tiles, int64_t K) {
    int64_t s = 1;
    while (tiles * s < SPLIT_BLOCKS && K / (2 * s) >= MIN_STEPS * TK) s *= 2;
    return s;
}

/* x[(r, c .. c + w - 1)] of a rows x cols matrix at base (row-major, so c is contiguous) as one
 * f32 (w 1) or <4 x float> (w 4: cols and c multiples of 4, so a vector is wholly inside or
 * outside, and 16-byte aligned as every buffer of the plan is), or 0 outside it: the load reads a
 * clamped (valid) address and the select drops it. */
static LLVMValueRef load_or_zero(moac_cg *cg, LLVMValueRef x, LLVMValueRef base, LLVMValueRef r, LLVMValueRef c,
                                 int64_t rows, int64_t cols, int w) {
    LLVMTypeRef t = w == 1 ? cg->f32 : LLVMVectorType(cg->f32, (unsigned)w);
    LLVMValueRef in = LLVMBuildAnd(cg->b, moac_nvvm_ult(cg, r, rows), moac_nvvm_ult(cg, c, cols), "");
    LLVMValueRef at = moac_cg_add(cg, base, moac_cg_add(cg, moac_cg_mulc(cg, moac_nvvm_umin(cg, r, rows - 1), cols),
                                                       moac_nvvm_umin(cg, c, cols - w)));
    LLVMValueRef v = moac_cg_load(cg, t, x, at);
    LLVMSetAlignment(v, (unsigned)(4 * w));
    return LLVMBuildSelect(cg->b, in, v, LLVMConstNull(t), "");
}

/* tf32(x) as its f32 bit pattern (round to nearest, ties away: cvt.rna.tf32.f32). */
static LLVMValueRef to_tf32(moac_cg *cg, LLVMValueRef x) {
    unsigned id = LLVMLookupIntrinsicID("llvm.nvvm.f2tf32.rna", 20);
    LLVMValueRef bits = LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, NULL, 0),
                                       LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0), &x, 1, "");
    return LLVMBuildBitCast(cg->b, bits, cg->f32, "");
}

/* One operand's slices: stored k-major (kmajor: element (k, i) at k * idim + i) or i-major ((i, k)
 * at i * kdim + k), read w (1 or 4) contiguous elements at a time, into this thread's PER / w
 * registers v. */
typedef struct slice {
    LLVMValueRef x, base, v[PER];
    int kmajor, w;
    int64_t kdim, idim;
} slice;

static void slice_init(moac_cg *cg, const moac_kfn *k, slice *sl, LLVMValueRef x, LLVMValueRef base, int kmajor,
                       int64_t kdim, int64_t idim) {
    *sl = (slice){.x = x, .base = base, .kmajor = kmajor, .kdim = kdim, .idim = idim};
    sl->w = (kmajor ? idim : kdim) % 4 == 0 ? 4 : 1;
    LLVMTypeRef t = sl->w == 1 ? cg->f32 : LLVMVectorType(cg->f32, 4);
    for (int r = 0; r < PER / sl->w; r++) sl->v[r] = moac_cg_var(cg, k, t, LLVMConstNull(t));
}

/* Item r of this thread's share of a K step's slice: its (k, i) in the slice, the first of w
 * contiguous ones; threads walk the stored order so neighbours read neighbouring addresses. */
static void share(moac_cg *cg, const slice *sl, LLVMValueRef tid, int r, LLVMValueRef *kk, LLVMValueRef *ii) {
    LLVMValueRef e = moac_cg_addc(cg, tid, r * THREADS);
    int64_t inner = (sl->kmajor ? TM : TK) / sl->w;
    LLVMValueRef lo = moac_cg_mulc(cg, LLVMBuildURem(cg->b, e, moac_cg_i64(cg, inner), ""), sl->w);
    LLVMValueRef hi = LLVMBuildUDiv(cg->b, e, moac_cg_i64(cg, inner), "");
    *kk = sl->kmajor ? hi : lo;
    *ii = sl->kmajor ? lo : hi;
}

/* Loads this thread's share of the slice at K offset k0 (rows or columns from i0) into its
 * registers (zero past the edges), so that it is in flight while the tensor cores work on the
 * previous slice. */
static void fetch(moac_cg *cg, slice *sl, LLVMValueRef tid, LLVMValueRef k0, LLVMValueRef i0) {
    for (int r = 0; r < PER / sl->w; r++) {
        LLVMValueRef kk, ii;
        share(cg, sl, tid, r, &kk, &ii);
        LLVMValueRef gk = moac_cg_add(cg, k0, kk), gi = moac_cg_add(cg, i0, ii);
        moac_cg_set(cg, sl->v[r], sl->kmajor ? load_or_zero(cg, sl->x, sl->base, gk, gi, sl->kdim, sl->idim, sl->w)
                                             : load_or_zero(cg, sl->x, sl->base, gi, gk, sl->idim, sl->kdim, sl->w));
    }
}

/* Writes the fetched elements into the shared slice: (k, i) at i * LDK + pos(k) (see above). */
static void put(moac_cg *cg, const slice *sl, LLVMValueRef sh, LLVMValueRef tid) {
    LLVMTypeRef t = sl->w == 1 ? cg->f32 : LLVMVectorType(cg->f32, 4);
    for (int r = 0; r < PER / sl->w; r++) {
        LLVMValueRef kk0, ii0, v = moac_cg_get(cg, t, sl->v[r]);
        share(cg, sl, tid, r, &kk0, &ii0);
        for (int q = 0; q < sl->w; q++) {
            LLVMValueRef kk = kk0, ii = ii0;
            if (sl->w > 1) {
                if (sl->kmajor)
                    ii = moac_cg_addc(cg, ii0, q);
                else
                    kk = moac_cg_addc(cg, kk0, q);
            }
            LLVMValueRef pos = moac_cg_add(cg, moac_cg_mulc(cg, LLVMBuildAnd(cg->b, kk, moac_cg_i64(cg, 3), ""), 8),
                                           moac_cg_add(cg, moac_cg_mulc(cg, LLVMBuildLShr(cg->b, kk, moac_cg_i64(cg, 3), ""), 2),
                                                       LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, kk, moac_cg_i64(cg, 2), ""),
                                                                    moac_cg_i64(cg, 1), "")));
            LLVMValueRef x = sl->w > 1 ? LLVMBuildExtractElement(cg->b, v, moac_cg_i32(cg, q), "") : v;
            moac_cg_store(cg, x, sh, moac_cg_add(cg, moac_cg_mulc(cg, ii, LDK), pos));
        }
    }
}

/* The pair (k = 8s + t, 8s + t + 4) of shared row `row`: one 8-byte load, split into the tf32
 * halves hi[0..1] and lo[0..1] (lo unused with one TF32 product). */
static void pair(moac_cg *cg, LLVMValueRef sh, LLVMValueRef row, LLVMValueRef t, int s, LLVMValueRef *hi, LLVMValueRef *lo) {
    /* ld.shared.v2 as inline PTX: LLVM splits a <2 x float> (or i64) load whose halves are
     * used apart into two scalar loads; side effects keep it between the block's barriers */
    LLVMValueRef at = moac_cg_add(cg, moac_cg_mulc(cg, row, LDK), moac_cg_addc(cg, moac_cg_mulc(cg, t, 8), 2 * s));
    LLVMValueRef addr = LLVMBuildPtrToInt(cg->b, moac_cg_gep(cg, cg->f32, sh, at), cg->i64, "");
    LLVMTypeRef pair_t = LLVMStructTypeInContext(cg->ctx, (LLVMTypeRef[]){cg->f32, cg->f32}, 2, 0);
    LLVMTypeRef fty = LLVMFunctionType(pair_t, (LLVMTypeRef[]){cg->i64}, 1, 0);
    static const char text[] = "ld.shared.v2.f32 {$0, $1}, [$2];", cons[] = "=f,=f,l";
    LLVMValueRef fn = LLVMGetInlineAsm(fty, (char *)text, sizeof text - 1, (char *)cons, sizeof cons - 1, 1, 0,
                                       LLVMInlineAsmDialectATT, 0);
    LLVMValueRef v = LLVMBuildCall2(cg->b, fty, fn, &addr, 1, "");
    for (int q = 0; q < 2; q++) {
        LLVMValueRef x = LLVMBuildExtractValue(cg->b, v, (unsigned)q, "");
        hi[q] = to_tf32(cg, x);
        if (!cg->target->tf32) lo[q] = to_tf32(cg, LLVMBuildFSub(cg->b, x, hi[q], ""));
    }
}

/* acc += a * b on one 16 x 8 tile: mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32. */
static void mma(moac_cg *cg, LLVMValueRef *acc, LLVMValueRef *a, LLVMValueRef *b) {
    static const char name[] = "llvm.nvvm.mma.m16n8k8.row.col.tf32";
    unsigned id = LLVMLookupIntrinsicID(name, sizeof name - 1);
    LLVMValueRef args[10];
    for (int i = 0; i < 4; i++) args[i] = LLVMBuildBitCast(cg->b, a[i], cg->i32, "");
    for (int i = 0; i < 2; i++) args[4 + i] = LLVMBuildBitCast(cg->b, b[i], cg->i32, "");
    for (int i = 0; i < 4; i++) args[6 + i] = acc[i];
    LLVMValueRef r = LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, NULL, 0),
                                    LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0), args, 10, "");
    for (int i = 0; i < 4; i++) acc[i] = LLVMBuildExtractValue(cg->b, r, (unsigned)i, "");
}

int moac_gpu_emit_matmul(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_node *n = e->node;
    const moac_type *at = &n->args[0]->type, *bt = &n->args[1]->type, *ot = &n->type;
    int ta = (int)n->i[0], tb = (int)n->i[1];
    int64_t M = ot->dims[ot->rank - 2], N = ot->dims[ot->rank - 1], K = at->dims[at->rank - 1 - ta];
    if (M <= 0 || N <= 0 || K <= 0) return -1;
    int nbd = ot->rank - 2;
    int64_t batches = 1, bdims[MOAC_MAX_RANK], sa[MOAC_MAX_RANK], sb[MOAC_MAX_RANK];
    for (int d = 0; d < nbd; d++) batches *= (bdims[d] = ot->dims[d]);
    moac_type ab = *at, bb = *bt;
    ab.rank -= 2;
    bb.rank -= 2;
    moac_broadcast_strides(&ab, nbd, sa);
    moac_broadcast_strides(&bb, nbd, sb);
    int64_t mt = (M + TM - 1) / TM, nt = (N + TN - 1) / TN, tiles = batches * mt * nt;
    int64_t splits = k_splits(tiles, K), steps = (K + TK - 1) / TK, ks_len = (steps + splits - 1) / splits * TK;
    int64_t total = batches * M * N;
    int dst = splits > 1 ? moac_cg_scratch(cg, 4 * splits * total) : e->out;

    char name[64];
    snprintf(name, sizeof name, "%s_gemm", e->prefix);
    moac_kfn k = moac_cg_kernel_begin(cg, name, splits * tiles, 3, (int[]){dst, e->in[0], e->in[1]});
    cg->kernels[k.index].block = THREADS;
    LLVMValueRef c = moac_cg_arg(cg, &k, 0), a = moac_cg_arg(cg, &k, 1), b = moac_cg_arg(cg, &k, 2);
    int tf32 = cg->target->tf32; /* hi alone: one TF32 product */
    LLVMValueRef as = moac_nvvm_shared(cg, "moac_gemm_a", TM * LDK), bs = moac_nvvm_shared(cg, "moac_gemm_b", TN * LDK);
    /* Block = (split, batch, M tile, N tile), N tile fastest; split s sums K in [kb, ke). */
    LLVMValueRef split = LLVMBuildUDiv(cg->b, k.lo, moac_cg_i64(cg, tiles), "");
    LLVMValueRef blk = LLVMBuildURem(cg->b, k.lo, moac_cg_i64(cg, tiles), ""), tid = moac_nvvm_tid(cg);
    LLVMValueRef kb = moac_cg_mulc(cg, split, ks_len), ke = moac_nvvm_umin(cg, moac_cg_addc(cg, kb, ks_len), K);
    LLVMValueRef tn = LLVMBuildURem(cg->b, blk, moac_cg_i64(cg, nt), ""), rest = LLVMBuildUDiv(cg->b, blk, moac_cg_i64(cg, nt), "");
    LLVMValueRef tm = LLVMBuildURem(cg->b, rest, moac_cg_i64(cg, mt), ""), r = LLVMBuildUDiv(cg->b, rest, moac_cg_i64(cg, mt), "");
    LLVMValueRef cbase = moac_cg_add(cg, moac_cg_mulc(cg, split, total), moac_cg_mulc(cg, r, M * N)), abase = moac_cg_i64(cg, 0), bbase = moac_cg_i64(cg, 0);
    for (int d = nbd - 1; d >= 0; d--) {
        LLVMValueRef dim = moac_cg_i64(cg, bdims[d]);
        LLVMValueRef idx = LLVMBuildURem(cg->b, r, dim, "");
        r = LLVMBuildUDiv(cg->b, r, dim, "");
        abase = moac_cg_add(cg, abase, moac_cg_mulc(cg, idx, sa[d] * M * K));
        bbase = moac_cg_add(cg, bbase, moac_cg_mulc(cg, idx, sb[d] * K * N));
    }
    LLVMValueRef m0 = moac_cg_mulc(cg, tm, TM), n0 = moac_cg_mulc(cg, tn, TN);
    /* Warp w owns rows 32 (w / 2) and columns 32 (w % 2) of the tile; lane = 4 g + t. */
    LLVMValueRef warp = LLVMBuildUDiv(cg->b, tid, moac_cg_i64(cg, 32), ""), lane = LLVMBuildURem(cg->b, tid, moac_cg_i64(cg, 32), "");
    LLVMValueRef wm = moac_cg_mulc(cg, LLVMBuildUDiv(cg->b, warp, moac_cg_i64(cg, 2), ""), 32);
    LLVMValueRef wn = moac_cg_mulc(cg, LLVMBuildURem(cg->b, warp, moac_cg_i64(cg, 2), ""), 32);
    LLVMValueRef g = LLVMBuildUDiv(cg->b, lane, moac_cg_i64(cg, 4), ""), t = LLVMBuildURem(cg->b, lane, moac_cg_i64(cg, 4), "");
    LLVMValueRef ga = moac_cg_add(cg, wm, g), gb = moac_cg_add(cg, wn, g);
    LLVMValueRef acc[2][4][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int q = 0; q < 4; q++) acc[i][j][q] = moac_cg_var(cg, &k, cg->f32, moac_cg_f32(cg, 0));

    /* A: (i, k) with i < M; stored k-major when ta (A is [K, M]). B: (k, j) stored k-major unless tb.
     * The first slice is fetched before the loop; each step stores the fetched slice, fetches the
     * next (zeros past K) and multiplies the stored one. */
    slice sla, slb;
    slice_init(cg, &k, &sla, a, abase, ta, K, M);
    slice_init(cg, &k, &slb, b, bbase, !tb, K, N);
    fetch(cg, &sla, tid, kb, m0);
    fetch(cg, &slb, tid, kb, n0);
    moac_loop kt = moac_cg_for(cg, &k, kb, ke, TK);
    put(cg, &sla, as, tid);
    put(cg, &slb, bs, tid);
    moac_nvvm_barrier(cg);
    LLVMValueRef next = moac_cg_addc(cg, kt.iv, TK);
    fetch(cg, &sla, tid, next, m0);
    fetch(cg, &slb, tid, next, n0);
    for (int s8 = 0; s8 < TK / 8; s8++) {
        LLVMValueRef af[2][2][4], bf[2][4][2]; /* [hi, lo][tile][register] */
        for (int i = 0; i < 2; i++) {
            LLVMValueRef hi[2], lo[2] = {NULL, NULL}, row = moac_cg_addc(cg, ga, 16 * i);
            pair(cg, as, row, t, s8, hi, lo); /* a0, a2: row g */
            af[0][i][0] = hi[0], af[0][i][2] = hi[1], af[1][i][0] = lo[0], af[1][i][2] = lo[1];
            pair(cg, as, moac_cg_addc(cg, row, 8), t, s8, hi, lo); /* a1, a3: row g + 8 */
            af[0][i][1] = hi[0], af[0][i][3] = hi[1], af[1][i][1] = lo[0], af[1][i][3] = lo[1];
        }
        for (int j = 0; j < 4; j++) {
            LLVMValueRef hi[2], lo[2] = {NULL, NULL};
            pair(cg, bs, moac_cg_addc(cg, gb, 8 * j), t, s8, hi, lo);
            bf[0][j][0] = hi[0], bf[0][j][1] = hi[1], bf[1][j][0] = lo[0], bf[1][j][1] = lo[1];
        }
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) {
                LLVMValueRef v[4];
                for (int q = 0; q < 4; q++) v[q] = moac_cg_get(cg, cg->f32, acc[i][j][q]);
                if (!tf32) { /* the small terms first, then the large one */
                    mma(cg, v, af[1][i], bf[0][j]);
                    mma(cg, v, af[0][i], bf[1][j]);
                }
                mma(cg, v, af[0][i], bf[0][j]);
                for (int q = 0; q < 4; q++) moac_cg_set(cg, acc[i][j][q], v[q]);
            }
    }
    moac_nvvm_barrier(cg); /* before the next step overwrites the tiles */
    moac_cg_end(cg, &kt);

    /* Register q of a tile: row g (+ 8 for q >= 2), column 2t + q % 2. */
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            for (int q = 0; q < 4; q++) {
                LLVMValueRef row = moac_cg_add(cg, m0, moac_cg_addc(cg, ga, 16 * i + 8 * (q / 2)));
                LLVMValueRef col = moac_cg_add(cg, n0, moac_cg_add(cg, moac_cg_addc(cg, wn, 8 * j + q % 2), moac_cg_mulc(cg, t, 2)));
                LLVMBasicBlockRef merge = moac_cg_if(cg, LLVMBuildAnd(cg->b, moac_nvvm_ult(cg, row, M), moac_nvvm_ult(cg, col, N), ""));
                moac_cg_store(cg, moac_cg_get(cg, cg->f32, acc[i][j][q]), c,
                              moac_cg_add(cg, cbase, moac_cg_add(cg, moac_cg_mulc(cg, row, N), col)));
                moac_cg_endif(cg, merge);
            }
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 2.0 * (double)batches * (double)M * (double)N * (double)K,
                   4.0 * (double)batches * (double)(M * K + K * N + M * N));
    if (splits == 1) return 0;
    /* C = the splits' partial products summed in split order, one element per thread. */
    snprintf(name, sizeof name, "%s_gemm_sum", e->prefix);
    moac_kfn ks = moac_cg_kernel_begin(cg, name, total, 2, (int[]){e->out, dst});
    LLVMValueRef out = moac_cg_arg(cg, &ks, 0), part = moac_cg_arg(cg, &ks, 1);
    moac_loop l = moac_cg_for(cg, &ks, ks.lo, ks.hi, 1);
    LLVMValueRef sum = moac_cg_load(cg, cg->f32, part, l.iv);
    for (int64_t sp = 1; sp < splits; sp++)
        sum = LLVMBuildFAdd(cg->b, sum, moac_cg_load(cg, cg->f32, part, moac_cg_addc(cg, l.iv, sp * total)), "");
    moac_cg_store(cg, sum, out, l.iv);
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &ks);
    moac_emit_cost(e, &ks, (double)(total * splits), 4.0 * (double)(total * (splits + 1)));
    return 0;
}
