/* The optimizer on the device (cuda.h, backend.h moac_backend_ops.optim_*): the global-norm clip
 * and AdamW of runtime/state.c as three kernels over the weights, gradients and moments resident
 * on the GPU, so that a training step moves only its batch in and its loss and metrics out.
 *
 * The parameters are cut into chunks of at most CHUNK elements, one block of THREADS threads
 * each, described by a table on the device (per chunk: w, g, m and v pointers, its length, and
 * whether weight decay applies; g 0 where the graph has no gradient for the parameter, which
 * then counts as zeros, as the host's memset does):
 *
 *   moac_optim_sumsq(chunks, partial)      per chunk, sum of g^2 in f64 (a fixed tree per block)
 *   moac_optim_norm(partial, count, args)  one block: the partials summed in chunk order, the
 *                                          norm and the clip's scale written to args
 *   moac_optim_adamw(chunks, args)         per element, g * scale then PyTorch's AdamW in f32
 *
 * Every sum has a fixed order, so a step is deterministic; the norm's f64 sum differs from the
 * host's lane order only in the last bits of a double. The update is the host's arithmetic
 * operation for operation (no contraction into FMAs: NVPTX fuses only under fast-math), with
 * IEEE sqrt and division (sqrt.rn, div.rn), so the weights equal the CPU backend's given equal
 * gradients, but for denormal moments (the host flushes them). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda.h"
#include "backends/cuda/nvvm.h"

enum { THREADS = 256, CHUNK = THREADS * 32, FIELDS = 6 /* i64s per chunk: w g m v n decay */ };

/* The args block (device memory, written by the host before each step but for norm and scale,
 * which moac_optim_norm writes): byte offsets. */
enum {
    ARG_NORM = 0,     /* f64: the gradients' global L2 norm */
    ARG_CLIP = 8,     /* f64: clip to this norm (<= 0: no clip) */
    ARG_SCALE = 16,   /* f32: the clip's factor, 1 without clipping */
    ARG_B1 = 20,      /* f32 from here on: beta1, beta2, 1 - beta1, 1 - beta2 */
    ARG_B2 = 24,
    ARG_A1 = 28,
    ARG_A2 = 32,
    ARG_STEP = 36,    /* lr / (1 - beta1^t) */
    ARG_INV_C2 = 40,  /* 1 / sqrt(1 - beta2^t) */
    ARG_EPS = 44,
    ARG_KEEP = 48,    /* 1 - lr * weight_decay, for the parameters that decay */
    ARG_BYTES = 64
};

/* ---- the kernels (LLVM IR for NVPTX) ------------------------------------------------------- */

/* A ptx_kernel `name(params...)` with its entry block; the builder is left in it. */
static moac_kfn kernel(moac_cg *cg, const char *name, int nparams, LLVMTypeRef *params) {
    moac_kfn k = {.fn = moac_nvvm_kernel(cg, name, nparams, params), .index = -1};
    k.entry = LLVMAppendBasicBlockInContext(cg->ctx, k.fn, "entry");
    LLVMPositionBuilderAtEnd(cg->b, k.entry);
    return k;
}

/* A value of type t at byte offset `at` of the args block. */
static LLVMValueRef arg_load(moac_cg *cg, LLVMTypeRef t, LLVMValueRef args, int at) {
    LLVMValueRef p = LLVMBuildGEP2(cg->b, cg->i8, args, (LLVMValueRef[]){moac_cg_i64(cg, at)}, 1, "");
    return LLVMBuildLoad2(cg->b, t, p, "");
}

static void arg_store(moac_cg *cg, LLVMValueRef v, LLVMValueRef args, int at) {
    LLVMBuildStore(cg->b, v, LLVMBuildGEP2(cg->b, cg->i8, args, (LLVMValueRef[]){moac_cg_i64(cg, at)}, 1, ""));
}

/* Field f of chunk c of the table, as i64. */
static LLVMValueRef field(moac_cg *cg, LLVMValueRef chunks, LLVMValueRef c, int f) {
    return moac_cg_load(cg, cg->i64, chunks, moac_cg_addc(cg, moac_cg_mulc(cg, c, FIELDS), f));
}

/* The block's sum of each thread's f64 `acc`, in shared memory `sh` by a fixed tree; valid in
 * thread 0 (returned there; other threads get their partial). */
static LLVMValueRef block_sum(moac_cg *cg, LLVMValueRef sh, LLVMValueRef tid, LLVMValueRef acc) {
    moac_cg_store(cg, acc, sh, tid);
    moac_nvvm_barrier(cg);
    for (int s = THREADS / 2; s > 0; s /= 2) {
        LLVMBasicBlockRef merge = moac_cg_if(cg, moac_nvvm_ult(cg, tid, s));
        LLVMValueRef sum = LLVMBuildFAdd(cg->b, moac_cg_load(cg, cg->f64, sh, tid),
                                         moac_cg_load(cg, cg->f64, sh, moac_cg_addc(cg, tid, s)), "");
        moac_cg_store(cg, sum, sh, tid);
        moac_cg_endif(cg, merge);
        moac_nvvm_barrier(cg);
    }
    return moac_cg_load(cg, cg->f64, sh, moac_cg_i64(cg, 0));
}

/* The blocks' shared scratch for block_sum. */
static LLVMValueRef shared_f64(moac_cg *cg) {
    /* THREADS doubles, as 2 * THREADS floats (the shared arrays of nvvm.h are f32) */
    return moac_nvvm_shared(cg, "moac_optim_sums", 2 * THREADS);
}

static void emit_sumsq(moac_cg *cg) {
    moac_kfn k = kernel(cg, "moac_optim_sumsq", 2, (LLVMTypeRef[]){cg->ptr, cg->ptr});
    LLVMValueRef chunks = LLVMGetParam(k.fn, 0), partial = LLVMGetParam(k.fn, 1);
    LLVMValueRef c = moac_nvvm_sreg(cg, "ctaid.x"), tid = moac_nvvm_tid(cg);
    LLVMValueRef gi = field(cg, chunks, c, 1), n = field(cg, chunks, c, 4);
    LLVMValueRef g = LLVMBuildIntToPtr(cg->b, gi, cg->ptr, "");
    LLVMValueRef acc = moac_cg_var(cg, &k, cg->f64, LLVMConstReal(cg->f64, 0));
    LLVMBasicBlockRef has = moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntNE, gi, moac_cg_i64(cg, 0), ""));
    moac_loop l = moac_cg_for(cg, &k, tid, n, THREADS);
    LLVMValueRef x = LLVMBuildFPExt(cg->b, moac_cg_load(cg, cg->f32, g, l.iv), cg->f64, "");
    moac_cg_set(cg, acc, LLVMBuildFAdd(cg->b, moac_cg_get(cg, cg->f64, acc), LLVMBuildFMul(cg->b, x, x, ""), ""));
    moac_cg_end(cg, &l);
    moac_cg_endif(cg, has);
    LLVMValueRef sum = block_sum(cg, shared_f64(cg), tid, moac_cg_get(cg, cg->f64, acc));
    LLVMBasicBlockRef first = moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, tid, moac_cg_i64(cg, 0), ""));
    moac_cg_store(cg, sum, partial, c);
    moac_cg_endif(cg, first);
    LLVMBuildRetVoid(cg->b);
}

static void emit_norm(moac_cg *cg) {
    moac_kfn k = kernel(cg, "moac_optim_norm", 3, (LLVMTypeRef[]){cg->ptr, cg->i64, cg->ptr});
    LLVMValueRef partial = LLVMGetParam(k.fn, 0), count = LLVMGetParam(k.fn, 1), args = LLVMGetParam(k.fn, 2);
    LLVMValueRef tid = moac_nvvm_tid(cg);
    LLVMValueRef acc = moac_cg_var(cg, &k, cg->f64, LLVMConstReal(cg->f64, 0));
    moac_loop l = moac_cg_for(cg, &k, tid, count, THREADS);
    moac_cg_set(cg, acc, LLVMBuildFAdd(cg->b, moac_cg_get(cg, cg->f64, acc), moac_cg_load(cg, cg->f64, partial, l.iv), ""));
    moac_cg_end(cg, &l);
    LLVMValueRef sum = block_sum(cg, shared_f64(cg), tid, moac_cg_get(cg, cg->f64, acc));
    LLVMBasicBlockRef first = moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, tid, moac_cg_i64(cg, 0), ""));
    LLVMValueRef norm = moac_cg_intrinsic(cg, "llvm.sqrt", cg->f64, 1, &sum);
    arg_store(cg, norm, args, ARG_NORM);
    /* clip > 0 && norm > clip: scale = (float)(clip / (norm + 1e-6)), as moac_clip_grads */
    LLVMValueRef clip = arg_load(cg, cg->f64, args, ARG_CLIP);
    LLVMValueRef on = LLVMBuildAnd(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOGT, clip, LLVMConstReal(cg->f64, 0), ""),
                                   LLVMBuildFCmp(cg->b, LLVMRealOGT, norm, clip, ""), "");
    LLVMValueRef factor = LLVMBuildFPTrunc(
        cg->b, LLVMBuildFDiv(cg->b, clip, LLVMBuildFAdd(cg->b, norm, LLVMConstReal(cg->f64, 1e-6), ""), ""), cg->f32, "");
    arg_store(cg, LLVMBuildSelect(cg->b, on, factor, moac_cg_f32(cg, 1), ""), args, ARG_SCALE);
    moac_cg_endif(cg, first);
    LLVMBuildRetVoid(cg->b);
}

static void emit_adamw(moac_cg *cg) {
    moac_kfn k = kernel(cg, "moac_optim_adamw", 2, (LLVMTypeRef[]){cg->ptr, cg->ptr});
    LLVMValueRef chunks = LLVMGetParam(k.fn, 0), args = LLVMGetParam(k.fn, 1);
    LLVMValueRef c = moac_nvvm_sreg(cg, "ctaid.x"), tid = moac_nvvm_tid(cg);
    LLVMValueRef w = LLVMBuildIntToPtr(cg->b, field(cg, chunks, c, 0), cg->ptr, "");
    LLVMValueRef gi = field(cg, chunks, c, 1);
    LLVMValueRef g = LLVMBuildIntToPtr(cg->b, gi, cg->ptr, "");
    LLVMValueRef m = LLVMBuildIntToPtr(cg->b, field(cg, chunks, c, 2), cg->ptr, "");
    LLVMValueRef v = LLVMBuildIntToPtr(cg->b, field(cg, chunks, c, 3), cg->ptr, "");
    LLVMValueRef n = field(cg, chunks, c, 4);
    LLVMValueRef decay = LLVMBuildICmp(cg->b, LLVMIntNE, field(cg, chunks, c, 5), moac_cg_i64(cg, 0), "");
    LLVMValueRef has_g = LLVMBuildICmp(cg->b, LLVMIntNE, gi, moac_cg_i64(cg, 0), "");
    LLVMValueRef scale = arg_load(cg, cg->f32, args, ARG_SCALE), b1 = arg_load(cg, cg->f32, args, ARG_B1),
                 b2 = arg_load(cg, cg->f32, args, ARG_B2), a1 = arg_load(cg, cg->f32, args, ARG_A1),
                 a2 = arg_load(cg, cg->f32, args, ARG_A2), step = arg_load(cg, cg->f32, args, ARG_STEP),
                 inv_c2 = arg_load(cg, cg->f32, args, ARG_INV_C2), eps = arg_load(cg, cg->f32, args, ARG_EPS);
    LLVMValueRef keep = LLVMBuildSelect(cg->b, decay, arg_load(cg, cg->f32, args, ARG_KEEP), moac_cg_f32(cg, 1), "");
    moac_loop l = moac_cg_for(cg, &k, tid, n, THREADS);
    LLVMValueRef i = l.iv;
    /* a parameter without a gradient reads none: the load's address is clamped to its own w */
    LLVMValueRef graw = moac_cg_load(cg, cg->f32, LLVMBuildSelect(cg->b, has_g, g, w, ""), i);
    LLVMValueRef gv = LLVMBuildSelect(cg->b, has_g, LLVMBuildFMul(cg->b, graw, scale, ""), moac_cg_f32(cg, 0), "");
    LLVMValueRef mi = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, b1, moac_cg_load(cg, cg->f32, m, i), ""),
                                    LLVMBuildFMul(cg->b, a1, gv, ""), "");
    LLVMValueRef vi = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, b2, moac_cg_load(cg, cg->f32, v, i), ""),
                                    LLVMBuildFMul(cg->b, a2, LLVMBuildFMul(cg->b, gv, gv, ""), ""), "");
    moac_cg_store(cg, mi, m, i);
    moac_cg_store(cg, vi, v, i);
    LLVMValueRef den = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, moac_cg_intrinsic(cg, "llvm.sqrt", cg->f32, 1, &vi), inv_c2, ""),
                                     eps, "");
    LLVMValueRef upd = LLVMBuildFDiv(cg->b, LLVMBuildFMul(cg->b, step, mi, ""), den, "");
    LLVMValueRef wi = LLVMBuildFSub(cg->b, LLVMBuildFMul(cg->b, moac_cg_load(cg, cg->f32, w, i), keep, ""), upd, "");
    moac_cg_store(cg, wi, w, i);
    moac_cg_end(cg, &l);
    LLVMBuildRetVoid(cg->b);
}

void moac_cuda_emit_optim(moac_cg *cg) {
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    emit_sumsq(cg);
    emit_norm(cg);
    emit_adamw(cg);
    if (here) LLVMPositionBuilderAtEnd(cg->b, here);
}

/* ---- the host side --------------------------------------------------------------------------- */

struct moac_cuda_optim {
    moac_cuda *cu;
    const moac_optim_state *st;
    const moac_cu_ptr *w;         /* per param: its device weights (the backend's slots) */
    moac_cu_ptr mv;               /* m then v, st->total floats each, at the host's offsets */
    moac_cu_ptr chunks, partial, args;
    long long nchunks;
    moac_cu_function sumsq, norm, adamw;
};

void moac_cuda_optim_free(moac_cuda_optim *o) {
    if (!o) return;
    moac_cu_ptr bufs[4] = {o->mv, o->chunks, o->partial, o->args};
    for (int i = 0; i < 4; i++)
        if (bufs[i]) o->cu->cuMemFree(bufs[i]);
    free(o);
}

static int copy_in(moac_cuda *cu, moac_cu_ptr dst, const void *src, size_t bytes, const char *what, char *err, size_t errlen) {
    return moac_cuda_failed(cu, cu->cuMemcpyHtoD(dst, src, bytes), what, err, errlen) ? -1 : 0;
}

static int copy_out(moac_cuda *cu, void *dst, moac_cu_ptr src, size_t bytes, const char *what, char *err, size_t errlen) {
    return moac_cuda_failed(cu, cu->cuMemcpyDtoH(dst, src, bytes), what, err, errlen) ? -1 : 0;
}

moac_cuda_optim *moac_cuda_optim_new(moac_cuda *cu, moac_cu_module mod, const moac_optim_state *st,
                                     const moac_cu_ptr *w, const moac_cu_ptr *g, char *err, size_t errlen) {
    moac_cuda_optim *o = calloc(1, sizeof *o);
    if (!o) abort();
    o->cu = cu;
    o->st = st;
    o->w = w;
    const char *names[3] = {"moac_optim_sumsq", "moac_optim_norm", "moac_optim_adamw"};
    moac_cu_function *fns[3] = {&o->sumsq, &o->norm, &o->adamw};
    for (int i = 0; i < 3; i++) {
        moac_cu_result rc = cu->cuModuleGetFunction(fns[i], mod, names[i]);
        if (rc) {
            snprintf(err, errlen, "internal error: kernel '%s' missing from the loaded PTX: %s", names[i], moac_cuda_error(cu, rc));
            goto fail;
        }
    }
    for (int p = 0; p < st->nparams; p++) o->nchunks += ((long long)st->params[p].numel + CHUNK - 1) / CHUNK;
    long long *table = calloc((size_t)(o->nchunks + 1) * FIELDS, sizeof *table);
    if (!table) abort();
    size_t mv_bytes = 2 * (st->total ? st->total : 1) * sizeof(float);
    int bad = moac_cuda_failed(cu, cu->cuMemAlloc(&o->mv, mv_bytes), "cannot allocate the AdamW moments on the GPU", err, errlen) ||
              moac_cuda_failed(cu, cu->cuMemAlloc(&o->chunks, (size_t)(o->nchunks + 1) * FIELDS * sizeof *table),
                               "cannot allocate the optimizer's table on the GPU", err, errlen) ||
              moac_cuda_failed(cu, cu->cuMemAlloc(&o->partial, (size_t)(o->nchunks + 1) * sizeof(double)),
                               "cannot allocate the optimizer's sums on the GPU", err, errlen) ||
              moac_cuda_failed(cu, cu->cuMemAlloc(&o->args, ARG_BYTES), "cannot allocate the optimizer's arguments on the GPU",
                               err, errlen);
    long long c = 0;
    moac_cu_ptr m = o->mv, v = o->mv + st->total * sizeof(float);
    for (int p = 0; !bad && p < st->nparams; p++) {
        const moac_optim_param *pa = &st->params[p];
        for (size_t at = 0; at < pa->numel; at += CHUNK, c++) {
            long long *f = table + c * FIELDS;
            size_t byte = at * sizeof(float), moment = (pa->offset + at) * sizeof(float);
            f[0] = (long long)(w[p] + byte);
            f[1] = g[p] ? (long long)(g[p] + byte) : 0;
            f[2] = (long long)(m + moment);
            f[3] = (long long)(v + moment);
            f[4] = (long long)(pa->numel - at < CHUNK ? pa->numel - at : CHUNK);
            f[5] = pa->decay;
        }
    }
    if (!bad)
        bad = copy_in(cu, o->chunks, table, (size_t)o->nchunks * FIELDS * sizeof *table, "copying the optimizer's table to "
                      "the GPU failed", err, errlen);
    free(table);
    if (bad || moac_cuda_optim_upload(o, err, errlen)) goto fail;
    return o;
fail:
    moac_cuda_optim_free(o);
    return NULL;
}

int moac_cuda_optim_upload(moac_cuda_optim *o, char *err, size_t errlen) {
    const moac_optim_state *st = o->st;
    const char *what = "copying the weights and AdamW moments to the GPU failed";
    for (int p = 0; p < st->nparams; p++)
        if (copy_in(o->cu, o->w[p], st->w + st->params[p].offset, st->params[p].numel * sizeof(float), what, err, errlen))
            return -1;
    size_t bytes = st->total * sizeof(float);
    return copy_in(o->cu, o->mv, st->m, bytes, what, err, errlen) || copy_in(o->cu, o->mv + bytes, st->v, bytes, what, err, errlen)
               ? -1 : 0;
}

int moac_cuda_optim_download(moac_cuda_optim *o, char *err, size_t errlen) {
    const moac_optim_state *st = o->st;
    const char *what = "copying the weights and AdamW moments from the GPU failed";
    for (int p = 0; p < st->nparams; p++)
        if (copy_out(o->cu, st->w + st->params[p].offset, o->w[p], st->params[p].numel * sizeof(float), what, err, errlen))
            return -1;
    size_t bytes = st->total * sizeof(float);
    return copy_out(o->cu, st->m, o->mv, bytes, what, err, errlen) || copy_out(o->cu, st->v, o->mv + bytes, bytes, what, err, errlen)
               ? -1 : 0;
}

static int launch(moac_cuda *cu, moac_cu_function f, unsigned grid, void **args, const char *name, char *err, size_t errlen) {
    char what[96];
    snprintf(what, sizeof what, "launching kernel %s on the GPU failed", name);
    return moac_cuda_failed(cu, cu->cuLaunchKernel(f, grid, 1, 1, THREADS, 1, 1, 0, NULL, args, NULL), what, err, errlen);
}

int moac_cuda_optim_step(moac_cuda_optim *o, const moac_optim_hyper *h, double *norm, char *err, size_t errlen) {
    moac_cuda *cu = o->cu;
    /* the host's arithmetic (runtime/state.c): f64 bias corrections, then f32 factors */
    double c1 = 1.0 - pow(h->beta1, (double)h->step), c2 = 1.0 - pow(h->beta2, (double)h->step);
    unsigned char args[ARG_BYTES] = {0};
    double clip = h->clip;
    float b1 = (float)h->beta1, b2 = (float)h->beta2;
    float f[9] = {0, b1, b2, 1.0f - b1, 1.0f - b2, (float)(h->lr / c1), (float)(1.0 / sqrt(c2)), (float)h->eps,
                  (float)(1.0 - h->lr * h->weight_decay)};
    memcpy(args + ARG_CLIP, &clip, sizeof clip);
    memcpy(args + ARG_SCALE, f, sizeof f);
    if (copy_in(cu, o->args, args, sizeof args, "copying the optimizer's arguments to the GPU failed", err, errlen)) return -1;
    if (o->nchunks == 0) {
        *norm = 0;
        return 0;
    }
    long long count = o->nchunks;
    void *a_sum[2] = {&o->chunks, &o->partial}, *a_norm[3] = {&o->partial, &count, &o->args}, *a_adamw[2] = {&o->chunks, &o->args};
    if (launch(cu, o->sumsq, (unsigned)count, a_sum, "moac_optim_sumsq", err, errlen) ||
        launch(cu, o->norm, 1, a_norm, "moac_optim_norm", err, errlen) ||
        launch(cu, o->adamw, (unsigned)count, a_adamw, "moac_optim_adamw", err, errlen) ||
        moac_cuda_failed(cu, cu->cuCtxSynchronize(), "the optimizer's kernels failed on the GPU", err, errlen))
        return -1;
    return copy_out(cu, norm, o->args + ARG_NORM, sizeof *norm, "reading the gradient norm from the GPU failed", err, errlen);
}
