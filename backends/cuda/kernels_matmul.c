/* matmul(a, b) ta tb on the GPU: C[..., M, N] = op(A)[..., M, K] op(B)[..., K, N], batch dims
 * broadcast (semantics: backends/interp/kernels_linalg.c). The CPU's register-tiled GEMM packs
 * panels into per-thread stack blocks, which a GPU thread cannot afford; this is the classic
 * shared-memory SGEMM instead, one cooperative kernel (cg.h `block`):
 *
 *   a block of 256 threads computes a 64 x 64 tile of C; per K step of 16 the block copies A's
 *   64 x 16 and B's 16 x 64 slices into shared memory (each thread 4 + 4 elements, in the order
 *   that keeps the global reads contiguous for the given transposes, zero past the edges), waits
 *   at a barrier, and each thread accumulates its 4 x 4 outputs (rows ty + 16r, columns tx + 16c:
 *   a warp reads consecutive B columns and writes consecutive C columns).
 *
 * f32 FMAs accumulate in k order, as the CPU's micro-kernel does within a K block. It is the
 * step before tensor cores (mma.sync TF32/bf16 tiles, issue 12). */
#include <stdio.h>
#include <string.h>

#include "backends/cuda/cuda.h"
#include "backends/interp/kernels.h"

enum { TM = 64, TN = 64, TK = 16, THREADS = 256, PER = 4 /* outputs per thread in each direction */ };

/* The module's shared-memory array `name` of n floats (one per kernel that uses it, per block). */
static LLVMValueRef shared_array(moac_cg *cg, const char *name, int n) {
    LLVMValueRef g = LLVMGetNamedGlobal(cg->mod, name);
    if (g) return g;
    LLVMTypeRef t = LLVMArrayType2(cg->f32, (uint64_t)n);
    g = LLVMAddGlobalInAddressSpace(cg->mod, t, name, 3);
    LLVMSetInitializer(g, LLVMGetUndef(t));
    LLVMSetLinkage(g, LLVMInternalLinkage);
    LLVMSetAlignment(g, 16);
    return g;
}

static LLVMValueRef tid_x(moac_cg *cg) {
    unsigned id = LLVMLookupIntrinsicID("llvm.nvvm.read.ptx.sreg.tid.x", 29);
    LLVMValueRef v = LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, NULL, 0),
                                    LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0), NULL, 0, "");
    return LLVMBuildZExt(cg->b, v, cg->i64, "");
}

static void barrier(moac_cg *cg) {
    unsigned id = LLVMLookupIntrinsicID("llvm.nvvm.barrier0", 18);
    LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, NULL, 0), LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0),
                   NULL, 0, "");
}

static LLVMValueRef ult(moac_cg *cg, LLVMValueRef a, int64_t b) {
    return LLVMBuildICmp(cg->b, LLVMIntULT, a, moac_cg_i64(cg, b), "");
}

static LLVMValueRef umin(moac_cg *cg, LLVMValueRef a, int64_t b) {
    return LLVMBuildSelect(cg->b, ult(cg, a, b), a, moac_cg_i64(cg, b), "");
}

/* x[(r, c)] of a rows x cols matrix at base (row-major, so c is contiguous), or 0 outside it:
 * the load reads a clamped (valid) address and the select drops it. */
static LLVMValueRef load_or_zero(moac_cg *cg, LLVMValueRef x, LLVMValueRef base, LLVMValueRef r, LLVMValueRef c,
                                 int64_t rows, int64_t cols) {
    LLVMValueRef in = LLVMBuildAnd(cg->b, ult(cg, r, rows), ult(cg, c, cols), "");
    LLVMValueRef at = moac_cg_add(cg, base, moac_cg_add(cg, moac_cg_mulc(cg, umin(cg, r, rows - 1), cols),
                                                       umin(cg, c, cols - 1)));
    return LLVMBuildSelect(cg->b, in, moac_cg_load(cg, cg->f32, x, at), moac_cg_f32(cg, 0), "");
}

/* One K step's copy of a 16 x 64 slice into shared s[k][64]: the matrix is stored k-major
 * (kmajor: element (k, i) at k * ld + i) or i-major ((i, k) at i * ld + k); threads walk the
 * stored order so neighbouring threads read neighbouring addresses. */
static void stage(moac_cg *cg, LLVMValueRef x, LLVMValueRef base, LLVMValueRef s, LLVMValueRef tid, LLVMValueRef k0,
                  LLVMValueRef i0, int kmajor, int64_t kdim, int64_t idim) {
    for (int r = 0; r < TK * TM / THREADS; r++) {
        LLVMValueRef e = moac_cg_addc(cg, tid, r * THREADS);
        LLVMValueRef kk, ii;
        if (kmajor) {
            ii = LLVMBuildURem(cg->b, e, moac_cg_i64(cg, TM), "");
            kk = LLVMBuildUDiv(cg->b, e, moac_cg_i64(cg, TM), "");
        } else {
            kk = LLVMBuildURem(cg->b, e, moac_cg_i64(cg, TK), "");
            ii = LLVMBuildUDiv(cg->b, e, moac_cg_i64(cg, TK), "");
        }
        LLVMValueRef gk = moac_cg_add(cg, k0, kk), gi = moac_cg_add(cg, i0, ii);
        LLVMValueRef v = kmajor ? load_or_zero(cg, x, base, gk, gi, kdim, idim) : load_or_zero(cg, x, base, gi, gk, idim, kdim);
        moac_cg_store(cg, v, s, moac_cg_add(cg, moac_cg_mulc(cg, kk, TM), ii));
    }
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
    int64_t mt = (M + TM - 1) / TM, nt = (N + TN - 1) / TN;

    char name[64];
    snprintf(name, sizeof name, "%s_gemm", e->prefix);
    moac_kfn k = moac_cg_kernel_begin(cg, name, batches * mt * nt, 3, (int[]){e->out, e->in[0], e->in[1]});
    cg->kernels[k.index].block = THREADS;
    LLVMValueRef c = moac_cg_arg(cg, &k, 0), a = moac_cg_arg(cg, &k, 1), b = moac_cg_arg(cg, &k, 2);
    LLVMValueRef as = shared_array(cg, "moac_gemm_a", TK * TM), bs = shared_array(cg, "moac_gemm_b", TK * TN);
    /* Block = (batch, M tile, N tile), N tile fastest. */
    LLVMValueRef blk = k.lo, tid = tid_x(cg);
    LLVMValueRef tn = LLVMBuildURem(cg->b, blk, moac_cg_i64(cg, nt), ""), rest = LLVMBuildUDiv(cg->b, blk, moac_cg_i64(cg, nt), "");
    LLVMValueRef tm = LLVMBuildURem(cg->b, rest, moac_cg_i64(cg, mt), ""), r = LLVMBuildUDiv(cg->b, rest, moac_cg_i64(cg, mt), "");
    LLVMValueRef cbase = moac_cg_mulc(cg, r, M * N), abase = moac_cg_i64(cg, 0), bbase = moac_cg_i64(cg, 0);
    for (int d = nbd - 1; d >= 0; d--) {
        LLVMValueRef dim = moac_cg_i64(cg, bdims[d]);
        LLVMValueRef idx = LLVMBuildURem(cg->b, r, dim, "");
        r = LLVMBuildUDiv(cg->b, r, dim, "");
        abase = moac_cg_add(cg, abase, moac_cg_mulc(cg, idx, sa[d] * M * K));
        bbase = moac_cg_add(cg, bbase, moac_cg_mulc(cg, idx, sb[d] * K * N));
    }
    LLVMValueRef m0 = moac_cg_mulc(cg, tm, TM), n0 = moac_cg_mulc(cg, tn, TN);
    LLVMValueRef tx = LLVMBuildURem(cg->b, tid, moac_cg_i64(cg, 16), ""), ty = LLVMBuildUDiv(cg->b, tid, moac_cg_i64(cg, 16), "");
    LLVMValueRef acc[PER][PER];
    for (int i = 0; i < PER; i++)
        for (int j = 0; j < PER; j++) acc[i][j] = moac_cg_var(cg, &k, cg->f32, moac_cg_f32(cg, 0));

    moac_loop kt = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, K), TK);
    /* A: (i, k) with i < M; stored k-major when ta (A is [K, M]). B: (k, j) stored k-major unless tb. */
    stage(cg, a, abase, as, tid, kt.iv, m0, ta, K, M);
    stage(cg, b, bbase, bs, tid, kt.iv, n0, !tb, K, N);
    barrier(cg);
    for (int kk = 0; kk < TK; kk++) {
        LLVMValueRef av[PER], bv[PER];
        for (int i = 0; i < PER; i++)
            av[i] = moac_cg_load(cg, cg->f32, as, moac_cg_addc(cg, ty, kk * TM + 16 * i));
        for (int j = 0; j < PER; j++)
            bv[j] = moac_cg_load(cg, cg->f32, bs, moac_cg_addc(cg, tx, kk * TN + 16 * j));
        for (int i = 0; i < PER; i++)
            for (int j = 0; j < PER; j++)
                moac_cg_set(cg, acc[i][j], moac_cg_fma(cg, av[i], bv[j], moac_cg_get(cg, cg->f32, acc[i][j])));
    }
    barrier(cg); /* before the next step overwrites the tiles */
    moac_cg_end(cg, &kt);

    for (int i = 0; i < PER; i++) {
        LLVMValueRef row = moac_cg_add(cg, m0, moac_cg_addc(cg, ty, 16 * i));
        for (int j = 0; j < PER; j++) {
            LLVMValueRef col = moac_cg_add(cg, n0, moac_cg_addc(cg, tx, 16 * j));
            LLVMBasicBlockRef merge = moac_cg_if(cg, LLVMBuildAnd(cg->b, ult(cg, row, M), ult(cg, col, N), ""));
            moac_cg_store(cg, moac_cg_get(cg, cg->f32, acc[i][j]), c,
                          moac_cg_add(cg, cbase, moac_cg_add(cg, moac_cg_mulc(cg, row, N), col)));
            moac_cg_endif(cg, merge);
        }
    }
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 2.0 * (double)batches * (double)M * (double)N * (double)K,
                   4.0 * (double)batches * (double)(M * K + K * N + M * N));
    return 0;
}
