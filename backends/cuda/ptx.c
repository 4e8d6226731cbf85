/* PTX from an emitted module (cuda.h): the grid entries, then LLVM's O3 and the NVPTX printer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda.h"
#include "backends/cuda/nvvm.h"
#include "backends/llvm/jit.h"

/* `<name>_grid(ptr bufs, i64 items)`: thread t of the grid runs item t of kernel d (or, serial,
 * thread 0 runs them all; or, a cooperative kernel, every thread of block b runs item b). */
static void grid_entry(moac_cg *cg, const moac_kernel_desc *d, LLVMValueRef body) {
    char name[80];
    snprintf(name, sizeof name, "%s_grid", d->name);
    LLVMValueRef fn = moac_nvvm_kernel(cg, name, 2, (LLVMTypeRef[]){cg->ptr, cg->i64});
    LLVMValueRef bufs = LLVMGetParam(fn, 0), items = LLVMGetParam(fn, 1);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(cg->ctx, fn, "run");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, fn, "done");
    LLVMPositionBuilderAtEnd(cg->b, entry);
    LLVMValueRef t = LLVMBuildAdd(cg->b, LLVMBuildMul(cg->b, moac_nvvm_sreg(cg, "ctaid.x"), moac_nvvm_sreg(cg, "ntid.x"), ""),
                                  moac_nvvm_sreg(cg, "tid.x"), "t");
    LLVMValueRef zero = LLVMConstInt(cg->i64, 0, 0);
    if (d->block) t = moac_nvvm_sreg(cg, "ctaid.x"); /* the grid is exactly `items` blocks */
    LLVMValueRef go = d->serial  ? LLVMBuildICmp(cg->b, LLVMIntEQ, t, zero, "")
                      : d->block ? LLVMConstInt(cg->i1, 1, 0)
                                 : LLVMBuildICmp(cg->b, LLVMIntULT, t, items, "");
    LLVMBuildCondBr(cg->b, go, run, done);
    LLVMPositionBuilderAtEnd(cg->b, run);
    LLVMValueRef args[3] = {bufs, d->serial ? zero : t,
                            d->serial ? items : LLVMBuildAdd(cg->b, t, LLVMConstInt(cg->i64, 1, 0), "")};
    LLVMBuildCall2(cg->b, cg->kernel_t, body, args, 3, "");
    LLVMBuildBr(cg->b, done);
    LLVMPositionBuilderAtEnd(cg->b, done);
    LLVMBuildRetVoid(cg->b);
}

char *moac_ptx_render(moac_cg *cg, int ptx, char *err, size_t errlen) {
    for (int k = 0; k < cg->nkernels; k++) {
        const moac_kernel_desc *d = &cg->kernels[k];
        char name[80];
        snprintf(name, sizeof name, "%s_grid", d->name);
        LLVMValueRef body = LLVMGetNamedFunction(cg->mod, d->name);
        if (!body || LLVMGetNamedFunction(cg->mod, name)) continue; /* filtered out, or an alias */
        grid_entry(cg, d, body);
        /* the body is the entry's alone: internal and always inlined (the inliner's size limit
         * would keep a flash-attention body a .func, whose call ABI costs registers and spills) */
        LLVMSetLinkage(body, LLVMInternalLinkage);
        unsigned kind = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
        LLVMAddAttributeAtIndex(body, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, kind, 0));
    }
    return moac_jit_emit_text(cg, ptx, err, errlen);
}
