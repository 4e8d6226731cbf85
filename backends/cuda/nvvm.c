/* NVVM building blocks (nvvm.h). */
#include <stdio.h>
#include <string.h>

#include "backends/cuda/nvvm.h"

/* A call of a non-overloaded intrinsic. */
static LLVMValueRef call(moac_cg *cg, const char *name, LLVMValueRef *args, unsigned nargs) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    return LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, NULL, 0), LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0),
                          args, nargs, "");
}

LLVMValueRef moac_nvvm_tid(moac_cg *cg) { return moac_nvvm_sreg(cg, "tid.x"); }

LLVMValueRef moac_nvvm_sreg(moac_cg *cg, const char *name) {
    char full[64];
    snprintf(full, sizeof full, "llvm.nvvm.read.ptx.sreg.%s", name);
    return LLVMBuildZExt(cg->b, call(cg, full, NULL, 0), cg->i64, "");
}

LLVMValueRef moac_nvvm_kernel(moac_cg *cg, const char *name, int nparams, LLVMTypeRef *params) {
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->void_t, params, (unsigned)nparams, 0));
    LLVMSetFunctionCallConv(fn, LLVMPTXKernelCallConv);
    LLVMMetadataRef md[3] = {LLVMValueAsMetadata(fn), LLVMMDStringInContext2(cg->ctx, "kernel", 6),
                             LLVMValueAsMetadata(LLVMConstInt(cg->i32, 1, 0))};
    LLVMAddNamedMetadataOperand(cg->mod, "nvvm.annotations", LLVMMetadataAsValue(cg->ctx, LLVMMDNodeInContext2(cg->ctx, md, 3)));
    return fn;
}

LLVMValueRef moac_nvvm_butterfly(moac_cg *cg, LLVMValueRef x, int from, int max) {
    for (int m = from; m > 0; m /= 2) {
        LLVMValueRef args[4] = {moac_cg_i32(cg, -1), x, moac_cg_i32(cg, m), moac_cg_i32(cg, 31)};
        LLVMValueRef o = call(cg, "llvm.nvvm.shfl.sync.bfly.f32", args, 4);
        x = max ? LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOGT, x, o, ""), x, o, "") : LLVMBuildFAdd(cg->b, x, o, "");
    }
    return x;
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
