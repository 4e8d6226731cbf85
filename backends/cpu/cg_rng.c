/* The dropout mask in generated code: Philox4x32-10 exactly as support/rng.c computes it, so the
 * CPU backend drops the same elements as the interpreter (and any later backend). Straight-line
 * integer code: LLVM vectorises it with 32x32->64 multiplies. */
#include <math.h>

#include "backends/cpu/internal.h"

LLVMValueRef moac_cg_dropout_keep(moac_cg *cg, LLVMValueRef seed, LLVMValueRef stream, LLVMValueRef index, double p) {
    LLVMBuilderRef b = cg->b;
    LLVMValueRef c32 = moac_cg_i64(cg, 32);
    LLVMValueRef k0 = LLVMBuildTrunc(b, seed, cg->i32, "");
    LLVMValueRef k1 = LLVMBuildTrunc(b, LLVMBuildLShr(b, seed, c32, ""), cg->i32, "");
    LLVMValueRef c0 = LLVMBuildTrunc(b, index, cg->i32, "");
    LLVMValueRef c1 = LLVMBuildTrunc(b, LLVMBuildLShr(b, index, c32, ""), cg->i32, "");
    LLVMValueRef c2 = LLVMBuildTrunc(b, stream, cg->i32, "");
    LLVMValueRef c3 = LLVMBuildTrunc(b, LLVMBuildLShr(b, stream, c32, ""), cg->i32, "");
    LLVMValueRef m0 = LLVMConstInt(cg->i64, 0xD2511F53u, 0), m1 = LLVMConstInt(cg->i64, 0xCD9E8D57u, 0);
    for (int round = 0; round < 10; round++) {
        LLVMValueRef p0 = LLVMBuildMul(b, m0, LLVMBuildZExt(b, c0, cg->i64, ""), "");
        LLVMValueRef p1 = LLVMBuildMul(b, m1, LLVMBuildZExt(b, c2, cg->i64, ""), "");
        LLVMValueRef p0hi = LLVMBuildTrunc(b, LLVMBuildLShr(b, p0, c32, ""), cg->i32, "");
        LLVMValueRef p1hi = LLVMBuildTrunc(b, LLVMBuildLShr(b, p1, c32, ""), cg->i32, "");
        LLVMValueRef n0 = LLVMBuildXor(b, LLVMBuildXor(b, p1hi, c1, ""), k0, "");
        LLVMValueRef n2 = LLVMBuildXor(b, LLVMBuildXor(b, p0hi, c3, ""), k1, "");
        c1 = LLVMBuildTrunc(b, p1, cg->i32, "");
        c3 = LLVMBuildTrunc(b, p0, cg->i32, "");
        c0 = n0;
        c2 = n2;
        k0 = LLVMBuildAdd(b, k0, LLVMConstInt(cg->i32, 0x9E3779B9u, 0), "");
        k1 = LLVMBuildAdd(b, k1, LLVMConstInt(cg->i32, 0xBB67AE85u, 0), "");
    }
    /* uniform = (w0 >> 8) / 2^24 is exact, so "uniform >= p" is "(w0 >> 8) >= ceil(p * 2^24)". */
    double t = ceil(p * 16777216.0);
    if (t > 16777216.0) t = 16777216.0;
    LLVMValueRef u = LLVMBuildLShr(b, c0, moac_cg_i32(cg, 8), "");
    return LLVMBuildICmp(b, LLVMIntUGE, u, LLVMConstInt(cg->i32, (unsigned long long)t, 0), "keep");
}
