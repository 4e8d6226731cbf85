/* PTX from an emitted module (cuda.h): the grid entries, then LLVM's O3 and the NVPTX printer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda.h"
#include "backends/llvm/jit.h"

/* A special register of the thread (llvm.nvvm.read.ptx.sreg.*), widened to i64. */
static LLVMValueRef sreg(moac_cg *cg, const char *name) {
    char full[64];
    snprintf(full, sizeof full, "llvm.nvvm.read.ptx.sreg.%s", name);
    unsigned id = LLVMLookupIntrinsicID(full, strlen(full));
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, NULL, 0);
    LLVMValueRef v = LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, NULL, 0), fn, NULL, 0, "");
    return LLVMBuildZExt(cg->b, v, cg->i64, "");
}

/* `<name>_grid(ptr bufs, i64 items)`: thread t of the grid runs item t of kernel d (or, serial,
 * thread 0 runs them all; or, a cooperative kernel, every thread of block b runs item b). */
static void grid_entry(moac_cg *cg, const moac_kernel_desc *d, LLVMValueRef body) {
    char name[80];
    snprintf(name, sizeof name, "%s_grid", d->name);
    LLVMTypeRef params[2] = {cg->ptr, cg->i64};
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->void_t, params, 2, 0));
    LLVMSetFunctionCallConv(fn, LLVMPTXKernelCallConv);
    LLVMMetadataRef md[3] = {LLVMValueAsMetadata(fn), LLVMMDStringInContext2(cg->ctx, "kernel", 6),
                             LLVMValueAsMetadata(LLVMConstInt(cg->i32, 1, 0))};
    LLVMAddNamedMetadataOperand(cg->mod, "nvvm.annotations", LLVMMetadataAsValue(cg->ctx, LLVMMDNodeInContext2(cg->ctx, md, 3)));
    LLVMValueRef bufs = LLVMGetParam(fn, 0), items = LLVMGetParam(fn, 1);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMBasicBlockRef run = LLVMAppendBasicBlockInContext(cg->ctx, fn, "run");
    LLVMBasicBlockRef done = LLVMAppendBasicBlockInContext(cg->ctx, fn, "done");
    LLVMPositionBuilderAtEnd(cg->b, entry);
    LLVMValueRef t = LLVMBuildAdd(cg->b, LLVMBuildMul(cg->b, sreg(cg, "ctaid.x"), sreg(cg, "ntid.x"), ""),
                                  sreg(cg, "tid.x"), "t");
    LLVMValueRef zero = LLVMConstInt(cg->i64, 0, 0);
    if (d->block) t = sreg(cg, "ctaid.x"); /* the grid is exactly `items` blocks */
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
