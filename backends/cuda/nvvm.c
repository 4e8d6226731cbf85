/* NVVM building blocks (nvvm.h). */
#include <string.h>

#include "backends/cuda/nvvm.h"

/* A call of a non-overloaded intrinsic. */
static LLVMValueRef call(moac_cg *cg, const char *name, LLVMValueRef *args, unsigned nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    return LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, NULL, 0), LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0),
                          args, nargs, "");
}

LLVMValueRef moac_nvvm_tid(moac_cg *cg) {
    return LLVMBuildZExt(cg->b, call(cg, "llvm.nvvm.read.ptx.sreg.tid.x", NULL, 0), cg->i64, "");
}

void moac_nvvm_barrier(moac_cg *cg) { call(cg, "llvm.nvvm.barrier0", NULL, 0); }

LLVMValueRef moac_nvvm_shared(moac_cg *cg, const char *name, int64_t n) {
    LLVMValueRef g = LLVMGetNamedGlobal(cg->mod, name);
    if (g) return g;
    LLVMTypeRef t = LLVMArrayType2(cg->f32, (uint64_t)n);
    g = LLVMAddGlobalInAddressSpace(cg->mod, t, name, 3);
    LLVMSetInitializer(g, LLVMGetUndef(t));
    LLVMSetLinkage(g, LLVMInternalLinkage);
    LLVMSetAlignment(g, 16);
    return g;
}

LLVMValueRef moac_nvvm_ex2(moac_cg *cg, LLVMValueRef x) { return call(cg, "llvm.nvvm.ex2.approx.ftz.f", &x, 1); }
LLVMValueRef moac_nvvm_lg2(moac_cg *cg, LLVMValueRef x) { return call(cg, "llvm.nvvm.lg2.approx.ftz.f", &x, 1); }

LLVMValueRef moac_nvvm_ult(moac_cg *cg, LLVMValueRef a, int64_t b) {
    return LLVMBuildICmp(cg->b, LLVMIntULT, a, moac_cg_i64(cg, b), "");
}

LLVMValueRef moac_nvvm_umin(moac_cg *cg, LLVMValueRef a, int64_t b) {
    return LLVMBuildSelect(cg->b, moac_nvvm_ult(cg, a, b), a, moac_cg_i64(cg, b), "");
}
