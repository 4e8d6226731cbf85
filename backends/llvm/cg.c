#include "backends/llvm/cg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

moac_cg *moac_cg_new(const char *module_name, const moac_target *target) {
    moac_cg *cg = calloc(1, sizeof *cg);
    if (!cg) abort();
    cg->target = target ? target : moac_target_host();
    cg->ctx = LLVMContextCreate();
    cg->mod = LLVMModuleCreateWithNameInContext(module_name, cg->ctx);
    LLVMSetTarget(cg->mod, cg->target->triple);
    cg->b = LLVMCreateBuilderInContext(cg->ctx);
    cg->f32 = LLVMFloatTypeInContext(cg->ctx);
    cg->f64 = LLVMDoubleTypeInContext(cg->ctx);
    cg->i1 = LLVMInt1TypeInContext(cg->ctx);
    cg->i8 = LLVMInt8TypeInContext(cg->ctx);
    cg->i32 = LLVMInt32TypeInContext(cg->ctx);
    cg->i64 = LLVMInt64TypeInContext(cg->ctx);
    cg->ptr = LLVMPointerTypeInContext(cg->ctx, 0);
    cg->void_t = LLVMVoidTypeInContext(cg->ctx);
    LLVMTypeRef params[3] = {cg->ptr, cg->i64, cg->i64};
    cg->kernel_t = LLVMFunctionType(cg->void_t, params, 3, 0);
    cg->vec = cg->target->vec;
    return cg;
}

void moac_cg_free(moac_cg *cg) {
    if (!cg) return;
    LLVMDisposeBuilder(cg->b);
    if (cg->mod) LLVMDisposeModule(cg->mod);
    LLVMContextDispose(cg->ctx);
    free(cg->kernels);
    free(cg);
}

static moac_kernel_desc *new_desc(moac_cg *cg) {
    if (cg->nkernels == cg->capkernels) {
        cg->capkernels = cg->capkernels ? 2 * cg->capkernels : 64;
        cg->kernels = realloc(cg->kernels, (size_t)cg->capkernels * sizeof *cg->kernels);
        if (!cg->kernels) abort();
    }
    return &cg->kernels[cg->nkernels++];
}

void moac_cg_kernel_alias(moac_cg *cg, const moac_kernel_desc *d) { *new_desc(cg) = *d; }

moac_kfn moac_cg_kernel_begin(moac_cg *cg, const char *name, int64_t items, int nslots, const int *slots) {
    if (nslots > MOAC_KERNEL_MAX_SLOTS) abort();
    moac_kernel_desc *d = new_desc(cg);
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->items = items;
    d->nslots = nslots;
    d->node = -1;
    memcpy(d->slots, slots, (size_t)nslots * sizeof *slots);
    moac_kfn k = {0};
    k.index = cg->nkernels - 1;
    k.fn = LLVMAddFunction(cg->mod, d->name, cg->kernel_t);
    k.bufs = LLVMGetParam(k.fn, 0);
    k.lo = LLVMGetParam(k.fn, 1);
    k.hi = LLVMGetParam(k.fn, 2);
    LLVMSetValueName2(k.bufs, "bufs", 4);
    LLVMSetValueName2(k.lo, "lo", 2);
    LLVMSetValueName2(k.hi, "hi", 2);
    if (cg->vec >= 16) {
        /* LLVM defaults to 256-bit vectors on AVX-512 server parts (frequency licences); our
         * kernels are FMA-bound loops where the full 512 bits pay. */
        LLVMAttributeRef a = LLVMCreateStringAttribute(cg->ctx, "prefer-vector-width", 19, "512", 3);
        LLVMAddAttributeAtIndex(k.fn, LLVMAttributeFunctionIndex, a);
    }
    k.entry = LLVMAppendBasicBlockInContext(cg->ctx, k.fn, "entry");
    LLVMBasicBlockRef body = LLVMAppendBasicBlockInContext(cg->ctx, k.fn, "body");
    LLVMPositionBuilderAtEnd(cg->b, body);
    return k;
}

LLVMValueRef moac_cg_arg(moac_cg *cg, const moac_kfn *k, int j) {
    /* Loaded in the entry block so every loop sees a loop-invariant base. */
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    LLVMPositionBuilderAtEnd(cg->b, k->entry);
    LLVMValueRef idx = moac_cg_i64(cg, j);
    LLVMValueRef slot = LLVMBuildGEP2(cg->b, cg->ptr, k->bufs, &idx, 1, "slot");
    LLVMValueRef p = LLVMBuildLoad2(cg->b, cg->ptr, slot, "arg");
    LLVMPositionBuilderAtEnd(cg->b, here);
    return p;
}

void moac_cg_kernel_end(moac_cg *cg, moac_kfn *k) {
    LLVMBuildRetVoid(cg->b);
    LLVMBasicBlockRef body = LLVMGetNextBasicBlock(k->entry);
    LLVMPositionBuilderAtEnd(cg->b, k->entry);
    LLVMBuildBr(cg->b, body);
}

int moac_cg_scratch(moac_cg *cg, int64_t bytes) {
    if (!cg->scratch) abort();
    return cg->scratch(cg->planner, bytes);
}

moac_loop moac_cg_for(moac_cg *cg, const moac_kfn *k, LLVMValueRef begin, LLVMValueRef end, int64_t step) {
    moac_loop l = {0};
    l.iv_var = moac_cg_var(cg, k, cg->i64, begin);
    l.end = end;
    l.step = moac_cg_i64(cg, step);
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
    l.cond = LLVMAppendBasicBlockInContext(cg->ctx, fn, "for.cond");
    l.body = LLVMAppendBasicBlockInContext(cg->ctx, fn, "for.body");
    l.exit = LLVMAppendBasicBlockInContext(cg->ctx, fn, "for.exit");
    LLVMBuildBr(cg->b, l.cond);
    LLVMPositionBuilderAtEnd(cg->b, l.cond);
    LLVMValueRef iv = LLVMBuildLoad2(cg->b, cg->i64, l.iv_var, "iv");
    LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, iv, end, "more"), l.body, l.exit);
    LLVMPositionBuilderAtEnd(cg->b, l.body);
    l.iv = LLVMBuildLoad2(cg->b, cg->i64, l.iv_var, "i");
    return l;
}

void moac_cg_end(moac_cg *cg, moac_loop *l) {
    LLVMValueRef iv = LLVMBuildLoad2(cg->b, cg->i64, l->iv_var, "iv");
    LLVMBuildStore(cg->b, LLVMBuildNSWAdd(cg->b, iv, l->step, "next"), l->iv_var);
    LLVMBuildBr(cg->b, l->cond);
    LLVMPositionBuilderAtEnd(cg->b, l->exit);
}

LLVMBasicBlockRef moac_cg_if(moac_cg *cg, LLVMValueRef cond) {
    LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(cg->ctx, fn, "if.then");
    LLVMBasicBlockRef merge = LLVMAppendBasicBlockInContext(cg->ctx, fn, "if.end");
    LLVMBuildCondBr(cg->b, cond, then, merge);
    LLVMPositionBuilderAtEnd(cg->b, then);
    return merge;
}

void moac_cg_endif(moac_cg *cg, LLVMBasicBlockRef merge) {
    LLVMBuildBr(cg->b, merge);
    LLVMPositionBuilderAtEnd(cg->b, merge);
}

LLVMValueRef moac_cg_var(moac_cg *cg, const moac_kfn *k, LLVMTypeRef t, LLVMValueRef init) {
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    LLVMValueRef first = LLVMGetFirstInstruction(k->entry);
    if (first)
        LLVMPositionBuilderBefore(cg->b, first);
    else
        LLVMPositionBuilderAtEnd(cg->b, k->entry);
    LLVMValueRef v = LLVMBuildAlloca(cg->b, t, "var");
    LLVMPositionBuilderAtEnd(cg->b, here);
    if (init) LLVMBuildStore(cg->b, init, v);
    return v;
}

LLVMValueRef moac_cg_get(moac_cg *cg, LLVMTypeRef t, LLVMValueRef var) { return LLVMBuildLoad2(cg->b, t, var, ""); }
void moac_cg_set(moac_cg *cg, LLVMValueRef var, LLVMValueRef v) { LLVMBuildStore(cg->b, v, var); }

LLVMValueRef moac_cg_i64(moac_cg *cg, int64_t v) { return LLVMConstInt(cg->i64, (unsigned long long)v, 1); }
LLVMValueRef moac_cg_i32(moac_cg *cg, int32_t v) { return LLVMConstInt(cg->i32, (unsigned long long)(int64_t)v, 1); }
LLVMValueRef moac_cg_f32(moac_cg *cg, double v) { return LLVMConstReal(cg->f32, v); }

LLVMValueRef moac_cg_gep(moac_cg *cg, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx) {
    /* Vector accesses index in elements of the vector's element type. */
    LLVMTypeRef elem = LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetElementType(t) : t;
    return LLVMBuildInBoundsGEP2(cg->b, elem, base, &idx, 1, "");
}

LLVMValueRef moac_cg_load(moac_cg *cg, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx) {
    LLVMValueRef v = LLVMBuildLoad2(cg->b, t, moac_cg_gep(cg, t, base, idx), "");
    LLVMSetAlignment(v, 4);
    return v;
}

void moac_cg_store(moac_cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
    LLVMValueRef s = LLVMBuildStore(cg->b, v, moac_cg_gep(cg, LLVMTypeOf(v), base, idx));
    LLVMSetAlignment(s, 4);
}

static int const_int(LLVMValueRef v, int64_t *out) {
    if (!LLVMIsAConstantInt(v)) return 0;
    *out = LLVMConstIntGetSExtValue(v);
    return 1;
}

LLVMValueRef moac_cg_add(moac_cg *cg, LLVMValueRef a, LLVMValueRef b) {
    int64_t x, y;
    if (const_int(a, &x) && const_int(b, &y)) return moac_cg_i64(cg, x + y);
    if (const_int(a, &x) && x == 0) return b;
    if (const_int(b, &y) && y == 0) return a;
    return LLVMBuildNSWAdd(cg->b, a, b, "");
}

LLVMValueRef moac_cg_mul(moac_cg *cg, LLVMValueRef a, LLVMValueRef b) {
    int64_t x, y;
    if (const_int(a, &x) && const_int(b, &y)) return moac_cg_i64(cg, x * y);
    if (const_int(a, &x) && x == 1) return b;
    if (const_int(b, &y) && y == 1) return a;
    if ((const_int(a, &x) && x == 0) || (const_int(b, &y) && y == 0)) return moac_cg_i64(cg, 0);
    return LLVMBuildNSWMul(cg->b, a, b, "");
}

LLVMValueRef moac_cg_addc(moac_cg *cg, LLVMValueRef a, int64_t c) { return moac_cg_add(cg, a, moac_cg_i64(cg, c)); }
LLVMValueRef moac_cg_mulc(moac_cg *cg, LLVMValueRef a, int64_t c) { return moac_cg_mul(cg, a, moac_cg_i64(cg, c)); }

/* ---- math ---------------------------------------------------------------------------------- */

LLVMValueRef moac_cg_intrinsic(moac_cg *cg, const char *name, LLVMTypeRef t, int nargs, LLVMValueRef *args) {
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    if (!id) abort();
    LLVMTypeRef over[1] = {t};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, over, 1);
    LLVMTypeRef fty = LLVMIntrinsicGetType(cg->ctx, id, over, 1);
    return LLVMBuildCall2(cg->b, fty, fn, args, (unsigned)nargs, "");
}

LLVMValueRef moac_cg_fma(moac_cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
    LLVMValueRef args[3] = {a, b, c};
    return moac_cg_intrinsic(cg, "llvm.fma", LLVMTypeOf(a), 3, args);
}
LLVMValueRef moac_cg_sqrt(moac_cg *cg, LLVMValueRef x) { return moac_cg_intrinsic(cg, "llvm.sqrt", LLVMTypeOf(x), 1, &x); }
LLVMValueRef moac_cg_fabs(moac_cg *cg, LLVMValueRef x) { return moac_cg_intrinsic(cg, "llvm.fabs", LLVMTypeOf(x), 1, &x); }
LLVMValueRef moac_cg_fmax(moac_cg *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef args[2] = {a, b};
    return moac_cg_intrinsic(cg, "llvm.maxnum", LLVMTypeOf(a), 2, args);
}
LLVMValueRef moac_cg_fmin(moac_cg *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef args[2] = {a, b};
    return moac_cg_intrinsic(cg, "llvm.minnum", LLVMTypeOf(a), 2, args);
}

LLVMValueRef moac_cg_fconst(moac_cg *cg, LLVMValueRef like, double v) {
    LLVMTypeRef t = LLVMTypeOf(like);
    LLVMValueRef s = LLVMConstReal(LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMGetElementType(t) : t, v);
    if (LLVMGetTypeKind(t) != LLVMVectorTypeKind) return s;
    unsigned n = LLVMGetVectorSize(t);
    LLVMValueRef e[64];
    for (unsigned i = 0; i < n; i++) e[i] = s;
    (void)cg;
    return LLVMConstVector(e, n);
}

/* The integer type with x's shape (i32 or <n x i32>). */
static LLVMTypeRef int_like(moac_cg *cg, LLVMValueRef x) {
    LLVMTypeRef t = LLVMTypeOf(x);
    return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? LLVMVectorType(cg->i32, LLVMGetVectorSize(t)) : cg->i32;
}

static LLVMValueRef iconst_like(moac_cg *cg, LLVMTypeRef it, int64_t v) {
    LLVMValueRef s = moac_cg_i32(cg, (int32_t)v);
    if (LLVMGetTypeKind(it) != LLVMVectorTypeKind) return s;
    unsigned n = LLVMGetVectorSize(it);
    LLVMValueRef e[64];
    for (unsigned i = 0; i < n; i++) e[i] = s;
    return LLVMConstVector(e, n);
}

static LLVMValueRef poly(moac_cg *cg, LLVMValueRef x, const double *c, int n) {
    LLVMValueRef y = moac_cg_fconst(cg, x, c[0]);
    for (int i = 1; i < n; i++) y = moac_cg_fma(cg, y, x, moac_cg_fconst(cg, x, c[i]));
    return y;
}

/* expf after Cephes: 2^n * e^r with |r| <= ln2/2, degree-6 polynomial; 0 below -87.3, inf above 88.7. */
LLVMValueRef moac_cg_exp(moac_cg *cg, LLVMValueRef x) {
    LLVMBuilderRef b = cg->b;
    LLVMValueRef xc = moac_cg_fmin(cg, moac_cg_fmax(cg, x, moac_cg_fconst(cg, x, -87.3)), moac_cg_fconst(cg, x, 88.3));
    LLVMValueRef t = moac_cg_fma(cg, xc, moac_cg_fconst(cg, x, 1.44269504088896341), moac_cg_fconst(cg, x, 0.5));
    LLVMValueRef fx = moac_cg_intrinsic(cg, "llvm.floor", LLVMTypeOf(x), 1, &t);
    LLVMValueRef r = moac_cg_fma(cg, fx, moac_cg_fconst(cg, x, -0.693359375), xc);
    r = moac_cg_fma(cg, fx, moac_cg_fconst(cg, x, 2.12194440e-4), r);
    static const double c[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                               4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
    LLVMValueRef p = poly(cg, r, c, 6);
    LLVMValueRef r2 = LLVMBuildFMul(b, r, r, "");
    LLVMValueRef y = moac_cg_fma(cg, p, r2, LLVMBuildFAdd(b, r, moac_cg_fconst(cg, x, 1.0), ""));
    LLVMTypeRef it = int_like(cg, x);
    LLVMValueRef n = LLVMBuildFPToSI(b, fx, it, "");
    LLVMValueRef bits = LLVMBuildShl(b, LLVMBuildAdd(b, n, iconst_like(cg, it, 127), ""), iconst_like(cg, it, 23), "");
    LLVMValueRef scale = LLVMBuildBitCast(b, bits, LLVMTypeOf(x), "");
    y = LLVMBuildFMul(b, y, scale, "");
    LLVMValueRef under = LLVMBuildFCmp(b, LLVMRealOLT, x, moac_cg_fconst(cg, x, -87.3), "");
    LLVMValueRef over = LLVMBuildFCmp(b, LLVMRealOGT, x, moac_cg_fconst(cg, x, 88.3), "");
    y = LLVMBuildSelect(b, under, moac_cg_fconst(cg, x, 0.0), y, "");
    y = LLVMBuildSelect(b, over, moac_cg_fconst(cg, x, INFINITY), y, "");
    /* NaN in, NaN out. */
    LLVMValueRef nan = LLVMBuildFCmp(b, LLVMRealUNO, x, x, "");
    return LLVMBuildSelect(b, nan, x, y, "exp");
}

/* logf after Cephes: x = m * 2^e, m in [sqrt(1/2), sqrt(2)), log(m) by a degree-9 polynomial. */
LLVMValueRef moac_cg_log(moac_cg *cg, LLVMValueRef x) {
    LLVMBuilderRef b = cg->b;
    LLVMTypeRef it = int_like(cg, x);
    LLVMValueRef xc = moac_cg_fmax(cg, x, moac_cg_fconst(cg, x, 1.17549435e-38));
    LLVMValueRef bits = LLVMBuildBitCast(b, xc, it, "");
    LLVMValueRef e = LLVMBuildSub(b, LLVMBuildLShr(b, bits, iconst_like(cg, it, 23), ""), iconst_like(cg, it, 126), "");
    LLVMValueRef mbits = LLVMBuildOr(b, LLVMBuildAnd(b, bits, iconst_like(cg, it, 0x007fffff), ""),
                                     iconst_like(cg, it, 0x3f000000), "");
    LLVMValueRef m = LLVMBuildBitCast(b, mbits, LLVMTypeOf(x), ""); /* [0.5, 1) */
    LLVMValueRef fe = LLVMBuildSIToFP(b, e, LLVMTypeOf(x), "");
    LLVMValueRef small = LLVMBuildFCmp(b, LLVMRealOLT, m, moac_cg_fconst(cg, x, 0.707106781186547524), "");
    fe = LLVMBuildSelect(b, small, LLVMBuildFSub(b, fe, moac_cg_fconst(cg, x, 1.0), ""), fe, "");
    m = LLVMBuildSelect(b, small, LLVMBuildFAdd(b, m, m, ""), m, "");
    m = LLVMBuildFSub(b, m, moac_cg_fconst(cg, x, 1.0), "");
    static const double c[] = {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                               -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1};
    LLVMValueRef z = LLVMBuildFMul(b, m, m, "");
    LLVMValueRef y = LLVMBuildFMul(b, LLVMBuildFMul(b, poly(cg, m, c, 9), m, ""), z, "");
    y = moac_cg_fma(cg, fe, moac_cg_fconst(cg, x, -2.12194440e-4), y);
    y = moac_cg_fma(cg, z, moac_cg_fconst(cg, x, -0.5), y);
    y = LLVMBuildFAdd(b, m, y, "");
    y = moac_cg_fma(cg, fe, moac_cg_fconst(cg, x, 0.693359375), y);
    LLVMValueRef zero = LLVMBuildFCmp(b, LLVMRealOEQ, x, moac_cg_fconst(cg, x, 0.0), "");
    LLVMValueRef neg = LLVMBuildFCmp(b, LLVMRealULT, x, moac_cg_fconst(cg, x, 0.0), "");
    LLVMValueRef inf = LLVMBuildFCmp(b, LLVMRealOEQ, x, moac_cg_fconst(cg, x, INFINITY), "");
    y = LLVMBuildSelect(b, zero, moac_cg_fconst(cg, x, -INFINITY), y, "");
    y = LLVMBuildSelect(b, inf, x, y, "");
    return LLVMBuildSelect(b, neg, moac_cg_fconst(cg, x, NAN), y, "log");
}

/* erf: for |x| < 0.84 the odd Taylor polynomial (relative accuracy near 0), else Abramowitz &
 * Stegun 7.1.28, 1 - (1 + a1 x + ... + a6 x^6)^-16 (absolute error 3e-7), which needs no exp. */
LLVMValueRef moac_cg_erf(moac_cg *cg, LLVMValueRef x) {
    LLVMBuilderRef b = cg->b;
    LLVMValueRef ax = moac_cg_fabs(cg, x);
    LLVMValueRef x2 = LLVMBuildFMul(b, x, x, "");
    static const double cs[] = {1.0 / 9360, -1.0 / 1320, 1.0 / 216, -1.0 / 42, 1.0 / 10, -1.0 / 3, 1.0};
    LLVMValueRef ps = LLVMBuildFMul(b, poly(cg, x2, cs, 7), x, "");
    ps = LLVMBuildFMul(b, ps, moac_cg_fconst(cg, x, 1.12837916709551257), "");
    /* Horner on |x|: ((((a6 x + a5) x + a4) x + a3) x + a2) x + a1) x + 1 */
    static const double c28[] = {0.0000430638, 0.0002765672, 0.0001520143, 0.0092705272, 0.0422820123, 0.0705230784, 1.0};
    LLVMValueRef p = poly(cg, ax, c28, 7);
    LLVMValueRef p2 = LLVMBuildFMul(b, p, p, ""), p4 = LLVMBuildFMul(b, p2, p2, "");
    LLVMValueRef p8 = LLVMBuildFMul(b, p4, p4, ""), p16 = LLVMBuildFMul(b, p8, p8, "");
    LLVMValueRef big = LLVMBuildFSub(b, moac_cg_fconst(cg, x, 1.0),
                                     LLVMBuildFDiv(b, moac_cg_fconst(cg, x, 1.0), p16, ""), "");
    big = moac_cg_intrinsic(cg, "llvm.copysign", LLVMTypeOf(x), 2, (LLVMValueRef[]){big, x});
    LLVMValueRef is_small = LLVMBuildFCmp(b, LLVMRealOLT, ax, moac_cg_fconst(cg, x, 0.84), "");
    return LLVMBuildSelect(b, is_small, ps, big, "erf");
}

LLVMValueRef moac_cg_splat(moac_cg *cg, LLVMValueRef s, int n) {
    LLVMTypeRef vt = LLVMVectorType(LLVMTypeOf(s), (unsigned)n);
    LLVMValueRef v = LLVMBuildInsertElement(cg->b, LLVMGetUndef(vt), s, moac_cg_i32(cg, 0), "");
    LLVMValueRef zeros = LLVMConstNull(LLVMVectorType(cg->i32, (unsigned)n));
    return LLVMBuildShuffleVector(cg->b, v, LLVMGetUndef(vt), zeros, "splat");
}

/* Tree reduction by halving shuffles. */
static LLVMValueRef hreduce(moac_cg *cg, LLVMValueRef v, int is_max) {
    unsigned n = LLVMGetVectorSize(LLVMTypeOf(v));
    while (n > 1) {
        unsigned h = n / 2;
        LLVMValueRef lo_idx[32], hi_idx[32];
        for (unsigned i = 0; i < h; i++) {
            lo_idx[i] = moac_cg_i32(cg, (int32_t)i);
            hi_idx[i] = moac_cg_i32(cg, (int32_t)(i + h));
        }
        LLVMValueRef lo = LLVMBuildShuffleVector(cg->b, v, v, LLVMConstVector(lo_idx, h), "");
        LLVMValueRef hi = LLVMBuildShuffleVector(cg->b, v, v, LLVMConstVector(hi_idx, h), "");
        v = is_max ? moac_cg_fmax(cg, lo, hi) : LLVMBuildFAdd(cg->b, lo, hi, "");
        n = h;
    }
    return LLVMBuildExtractElement(cg->b, v, moac_cg_i32(cg, 0), "");
}

LLVMValueRef moac_cg_hsum(moac_cg *cg, LLVMValueRef v) { return hreduce(cg, v, 0); }
LLVMValueRef moac_cg_hmax(moac_cg *cg, LLVMValueRef v) { return hreduce(cg, v, 1); }
