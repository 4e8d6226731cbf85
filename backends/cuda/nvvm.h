/* Small NVVM building blocks the GPU emitters share: the thread index, the block barrier,
 * shared-memory arrays, and the special-function unit's exp2/log2. */
#ifndef MOAC_CUDA_NVVM_H
#define MOAC_CUDA_NVVM_H
#include "backends/llvm/cg.h"

/* threadIdx.x as i64. */
LLVMValueRef moac_nvvm_tid(moac_cg *cg);
/* The special register %<name> (tid.x, ctaid.x, ntid.x, ...) as i64. */
LLVMValueRef moac_nvvm_sreg(moac_cg *cg, const char *name);
/* Adds `void name(params)` as a ptx_kernel (calling convention and nvvm.annotations). */
LLVMValueRef moac_nvvm_kernel(moac_cg *cg, const char *name, int nparams, LLVMTypeRef *params);
/* x of this lane combined (sum; max = 1: max, NaN-blind as a compare and select) with the lanes
 * lane ^ m for m = from, from / 2, ..., 1: shfl.sync.bfly over the whole warp, so every lane of
 * a group of 2 from has the result. All 32 lanes must reach it. */
LLVMValueRef moac_nvvm_butterfly(moac_cg *cg, LLVMValueRef x, int from, int max);
/* __syncthreads(). */
void moac_nvvm_barrier(moac_cg *cg);
/* The module's shared-memory (addrspace 3) array `name` of n floats, 16-byte aligned: one per
 * block of every kernel that uses it. */
LLVMValueRef moac_nvvm_shared(moac_cg *cg, const char *name, int64_t n);
/* 2^x and log2(x) of an f32 on the SFU (ex2/lg2.approx.ftz: about 2 ulp; ex2(-inf) = 0). */
LLVMValueRef moac_nvvm_ex2(moac_cg *cg, LLVMValueRef x);
LLVMValueRef moac_nvvm_lg2(moac_cg *cg, LLVMValueRef x);
/* Unsigned compares and min of an i64 against a constant. */
LLVMValueRef moac_nvvm_ult(moac_cg *cg, LLVMValueRef a, int64_t b);
LLVMValueRef moac_nvvm_umin(moac_cg *cg, LLVMValueRef a, int64_t b);

#endif
