/* matmul(a, b) ta tb on the GPU: C[..., M, N] = op(A)[..., M, K] op(B)[..., K, N], batch dims
 * broadcast (semantics: backends/interp/kernels_linalg.c). The CPU's register-tiled GEMM packs
 * panels into per-thread stack blocks, which a GPU thread cannot afford; this is the plain form
 * every GPU can run: one item (one thread) per element of C, j fastest, so a warp reads B's row k
 * (tb=0) and writes C's row coalesced, and A(i, k) is one broadcast load per warp. It is the
 * correct baseline the tensor-core kernel (issue 12, mma.sync tiles in shared memory) replaces. */
#include <stdio.h>

#include "backends/cuda/cuda.h"
#include "backends/interp/kernels.h"

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

    char name[64];
    snprintf(name, sizeof name, "%s_gemm", e->prefix);
    moac_kfn k = moac_cg_kernel_begin(cg, name, batches * M * N, 3, (int[]){e->out, e->in[0], e->in[1]});
    LLVMValueRef c = moac_cg_arg(cg, &k, 0), a = moac_cg_arg(cg, &k, 1), b = moac_cg_arg(cg, &k, 2);
    moac_loop it = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef nn = moac_cg_i64(cg, N), mm = moac_cg_i64(cg, M);
    LLVMValueRef j = LLVMBuildURem(cg->b, it.iv, nn, ""), rest = LLVMBuildUDiv(cg->b, it.iv, nn, "");
    LLVMValueRef i = LLVMBuildURem(cg->b, rest, mm, ""), r = LLVMBuildUDiv(cg->b, rest, mm, "");
    LLVMValueRef oa = moac_cg_i64(cg, 0), ob = moac_cg_i64(cg, 0);
    for (int d = nbd - 1; d >= 0; d--) {
        LLVMValueRef dim = moac_cg_i64(cg, bdims[d]);
        LLVMValueRef idx = LLVMBuildURem(cg->b, r, dim, "");
        r = LLVMBuildUDiv(cg->b, r, dim, "");
        oa = moac_cg_add(cg, oa, moac_cg_mulc(cg, idx, sa[d] * M * K));
        ob = moac_cg_add(cg, ob, moac_cg_mulc(cg, idx, sb[d] * K * N));
    }
    /* A(i, k) at i*K + k (ta=0) or k*M + i; B(k, j) at k*N + j (tb=0) or j*K + k */
    LLVMValueRef a0 = moac_cg_add(cg, oa, ta ? i : moac_cg_mulc(cg, i, K));
    LLVMValueRef b0 = moac_cg_add(cg, ob, tb ? moac_cg_mulc(cg, j, K) : j);
    int64_t astep = ta ? M : 1, bstep = tb ? 1 : N;
    LLVMValueRef acc = moac_cg_var(cg, &k, cg->f32, moac_cg_f32(cg, 0));
    moac_loop kk = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, K), 1);
    LLVMValueRef x = moac_cg_load(cg, cg->f32, a, moac_cg_add(cg, a0, moac_cg_mulc(cg, kk.iv, astep)));
    LLVMValueRef y = moac_cg_load(cg, cg->f32, b, moac_cg_add(cg, b0, moac_cg_mulc(cg, kk.iv, bstep)));
    moac_cg_set(cg, acc, moac_cg_fma(cg, x, y, moac_cg_get(cg, cg->f32, acc)));
    moac_cg_end(cg, &kk);
    moac_cg_store(cg, moac_cg_get(cg, cg->f32, acc), c, it.iv);
    moac_cg_end(cg, &it);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 2.0 * (double)batches * (double)M * (double)N * (double)K,
                   4.0 * (double)batches * (double)(M * K + K * N + M * N));
    return 0;
}
