/* Small NVVM building blocks the GPU emitters share: the thread index, the block barrier,
 * shared-memory arrays, and the special-function unit's exp2/log2. */
#ifndef MOAC_CUDA_NVVM_H
#define MOAC_CUDA_NVVM_H
#include "backends/llvm/cg.h"

/* threadIdx.x as i64. */
LLVMValueRef moac_nvvm_tid(moac_cg *cg);
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
