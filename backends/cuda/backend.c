/* The CUDA backend's table (backends/backend.h): compile, device memory, launches (cuda.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/internal.h"
#include "backends/cuda/cuda.h"
#include "backends/cuda/driver.h"
#include "support/clock.h"

typedef struct cuda_impl {
    const moac_graph *g;        /* the scheduled graph it renders (a copy, or the caller's) */
    moac_arena graph_arena;
    moac_build b;               /* schedule, kernels, slots and their plan */
    moac_target target;
    moac_cuda *cu;
    moac_cu_module mod;
    moac_cu_function *fns;      /* per kernel: its grid entry */
    moac_cu_ptr arena;          /* the memory plan's activations */
    size_t arena_bytes;
    moac_cu_ptr *ext;           /* per slot: the device copy of an external slot (0: in the arena) */
    unsigned char *dirty;       /* per slot: the host copy (slot ext) is newer than the device's */
    moac_cu_ptr tables;         /* every kernel's bufs[], back to back */
    size_t *table_at;           /* per kernel: its bufs[] offset in tables, in pointers */
    char *staging;              /* host copy of the arena for reference kernels (allocated on first use) */
    moac_run_params params;
    double schedule_s, codegen_s, load_s;
    size_t ptx_bytes;
    int functions;
    const moac_log *log;
    int profile;
    double *prof;               /* profile: seconds per step, summed over runs */
    int runs;
    moac_cuda_optim *optim;     /* the training state on the device, once attached */
    moac_cu_ptr *optim_w, *optim_g; /* per param of the attached state: weights, gradient (0: none) */
} cuda_impl;

static int ptx_target_sm(int sm) { return sm > 90 ? 90 : sm; /* PTX for sm_90 runs on later GPUs through the driver's JIT */ }

static moac_cu_ptr dev_ptr(const cuda_impl *c, int s) {
    const moac_slot *sl = &c->b.slots[s];
    return sl->external ? c->ext[s] : c->arena + sl->offset;
}

static void free_impl(void *impl) {
    cuda_impl *c = impl;
    if (!c) return;
    if (c->prof && c->log) moac_build_print_profile(c->log, "cuda, synchronised after each kernel", &c->b, c->b.kernels, c->prof, c->runs, c->profile);
    if (c->cu) {
        moac_cuda_optim_free(c->optim);
        if (c->arena) c->cu->cuMemFree(c->arena);
        if (c->tables) c->cu->cuMemFree(c->tables);
        for (int s = 0; c->ext && s < c->b.nslots; s++)
            if (c->ext[s]) c->cu->cuMemFree(c->ext[s]);
        if (c->mod) c->cu->cuModuleUnload(c->mod);
        moac_cuda_close(c->cu);
    }
    free(c->fns);
    free(c->optim_w);
    free(c->optim_g);
    free(c->ext);
    free(c->dirty);
    free(c->table_at);
    free(c->staging);
    free(c->prof);
    moac_build_free(&c->b);
    moac_arena_free(&c->graph_arena);
    free(c);
}

static void *fail(cuda_impl *c, moac_diag *d, const char *err) {
    if (err) moac_diag_file_error(d, NULL, "%s", err);
    free_impl(c);
    return NULL;
}

/* Device memory: the arena, every external slot, the kernels' pointer tables (fixed for the life
 * of the handle, so uploaded once). */
static int allocate(cuda_impl *c, char *err, size_t errlen) {
    moac_cuda *cu = c->cu;
    moac_build *b = &c->b;
    size_t free_bytes = 0, total = 0;
    cu->cuMemGetInfo(&free_bytes, &total);
    if (c->arena_bytes > free_bytes) {
        moac_strbuf why;
        moac_strbuf_init(&why);
        moac_build_describe_peak(b, &why);
        snprintf(err, errlen, "graph '%s' needs %.2f GiB of activations on GPU %d (%s) at its peak, but only %.2f GiB "
                 "is free; lower the batch (--batch N) or the context in the spec\n%s", c->g->name,
                 (double)c->arena_bytes / 1073741824.0, cu->device, cu->name, (double)free_bytes / 1073741824.0,
                 moac_strbuf_cstr(&why));
        moac_strbuf_free(&why);
        return -1;
    }
    if (moac_cuda_failed(cu, cu->cuMemAlloc(&c->arena, c->arena_bytes ? c->arena_bytes : 256), "cannot allocate the "
                         "activations on the GPU", err, errlen))
        return -1;
    c->ext = calloc((size_t)b->nslots + 1, sizeof *c->ext);
    c->dirty = calloc((size_t)b->nslots + 1, 1);
    c->table_at = calloc((size_t)b->nkernels + 1, sizeof *c->table_at);
    if (!c->ext || !c->dirty || !c->table_at) abort();
    for (int s = 0; s < b->nslots; s++) {
        if (!b->slots[s].external) continue;
        size_t bytes = b->slots[s].bytes ? (size_t)b->slots[s].bytes : 4;
        if (moac_cuda_failed(cu, cu->cuMemAlloc(&c->ext[s], bytes), "cannot allocate an input on the GPU", err, errlen))
            return -1;
        cu->cuMemsetD8(c->ext[s], 0, bytes);
        c->dirty[s] = 1;
    }
    size_t count = 0;
    for (int k = 0; k < b->nkernels; k++) {
        c->table_at[k] = count;
        count += (size_t)b->kernels[k].nslots;
    }
    moac_cu_ptr *host = calloc(count + 1, sizeof *host);
    if (!host) abort();
    for (int k = 0; k < b->nkernels; k++)
        for (int j = 0; j < b->kernels[k].nslots; j++) host[c->table_at[k] + (size_t)j] = dev_ptr(c, b->kernels[k].slots[j]);
    int rc = moac_cuda_failed(cu, cu->cuMemAlloc(&c->tables, (count + 1) * sizeof *host), "cannot allocate the "
                              "kernel tables on the GPU", err, errlen) ||
             moac_cuda_failed(cu, cu->cuMemcpyHtoD(c->tables, host, (count + 1) * sizeof *host), "cannot copy the "
                              "kernel tables to the GPU", err, errlen);
    free(host);
    return rc ? -1 : 0;
}

/* Whether g is a training graph (it has gradient outputs): its module gets the optimizer's kernels. */
static int has_gradients(const moac_graph *g) {
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->op == MOAC_OP_OUTPUT && !strncmp(g->nodes[i]->s, "grad.", 5)) return 1;
    return 0;
}

static void *compile(const moac_graph *g, const moac_compile_opts *o, moac_diag *d) {
    static char err[20000];
    cuda_impl *c = calloc(1, sizeof *c);
    if (!c) abort();
    moac_arena_init(&c->graph_arena);
    c->log = o ? o->log : NULL;
    c->profile = o ? o->profile : 0;
    /* The device first: no GPU is the common failure, and it costs no compile. */
    if (!(c->cu = moac_cuda_open(o ? o->device : 0, err, sizeof err))) return fail(c, d, err);
    double t0 = moac_seconds();
    if (!(c->g = moac_build_scheduled(g, &moac_cuda_sched_rules, &c->graph_arena, d))) return fail(c, d, NULL);
    moac_target_nvptx(&c->target, ptx_target_sm(c->cu->sm));
    c->target.tf32 = o && o->tf32;
    if (moac_build_emit(&c->b, c->g, &c->target, moac_gpu_emitter, d)) return fail(c, d, NULL);
    if (has_gradients(c->g)) moac_cuda_emit_optim(c->b.cg);
    c->arena_bytes = moac_build_plan(&c->b);
    c->b.slots[MOAC_SLOT_PARAMS].ext = &c->params;
    double t1 = moac_seconds();
    char *ptx = moac_ptx_render(c->b.cg, 1, err, sizeof err);
    moac_cg_free(c->b.cg);
    c->b.cg = NULL;
    if (!ptx) {
        char msg[sizeof err + 128];
        snprintf(msg, sizeof msg, "compiling graph '%s' for the GPU failed: %s", c->g->name, err);
        return fail(c, d, msg);
    }
    c->ptx_bytes = strlen(ptx);
    double t2 = moac_seconds();
    c->mod = moac_cuda_load_ptx(c->cu, ptx, err, sizeof err);
    free(ptx);
    if (!c->mod) return fail(c, d, err);
    c->fns = calloc((size_t)c->b.nkernels + 1, sizeof *c->fns);
    if (!c->fns) abort();
    for (int k = 0; k < c->b.nkernels; k++) {
        char name[80];
        snprintf(name, sizeof name, "%s_grid", c->b.kernels[k].name);
        moac_cu_result rc = c->cu->cuModuleGetFunction(&c->fns[k], c->mod, name);
        if (rc) {
            snprintf(err, sizeof err, "internal error: kernel '%s' missing from the loaded PTX: %s", name,
                     moac_cuda_error(c->cu, rc));
            return fail(c, d, err);
        }
    }
    if (allocate(c, err, sizeof err)) return fail(c, d, err);
    c->schedule_s = t1 - t0;
    c->codegen_s = t2 - t1;
    c->load_s = moac_seconds() - t2;
    c->functions = moac_build_functions(c->b.kernels, c->b.nkernels);
    if (c->profile) {
        c->prof = calloc((size_t)c->b.nsteps + 1, sizeof *c->prof);
        if (!c->prof) abort();
    }
    return c;
}

/* The slot of the node of op `op` named name in the scheduled graph: by name, since the
 * schedule's passes (attention_stats) add nodes and so renumber the caller's. -1: none. */
static int find_slot(const cuda_impl *c, moac_op op, const char *name) {
    for (size_t i = 0; i < c->g->count; i++) {
        const moac_node *n = c->g->nodes[i];
        if (n->op == op && n->s && !strcmp(n->s, name)) return c->b.slot_of[i];
    }
    return -1;
}

static int write(void *impl, const moac_node *n, const void *data) {
    cuda_impl *c = impl;
    int s = find_slot(c, n->op, n->s);
    if (s < 0 || !c->b.slots[s].external) return -1;
    memcpy(c->b.slots[s].ext, data, (size_t)c->b.slots[s].bytes);
    c->dirty[s] = 1;
    return 0;
}

/* A reference kernel on the host: its operands copied from the device, its result back. */
static int run_fallback(cuda_impl *c, const moac_node *n, const moac_run_opts *o, char *err, size_t errlen) {
    moac_cuda *cu = c->cu;
    const moac_build *b = &c->b;
    if (!c->staging && !(c->staging = malloc(c->arena_bytes ? c->arena_bytes : 64))) {
        snprintf(err, errlen, "out of host memory for the GPU's reference kernels (%.2f GiB)", c->arena_bytes / 1073741824.0);
        return -1;
    }
    void *in[8];
    for (int a = 0; a < n->nargs; a++) {
        const moac_slot *sl = &b->slots[b->slot_of[n->args[a]->id]];
        if (sl->external) {
            in[a] = sl->ext;
            continue;
        }
        in[a] = c->staging + sl->offset;
        if (moac_cuda_failed(cu, cu->cuMemcpyDtoH(in[a], c->arena + sl->offset, (size_t)sl->bytes),
                             "copying a reference kernel's operand from the GPU failed", err, errlen))
            return -1;
    }
    const moac_slot *out = &b->slots[b->slot_of[n->id]];
    void *host = c->staging + out->offset;
    if (moac_fallback_run(n, in, host, o, err, errlen)) return -1;
    return moac_cuda_failed(cu, cu->cuMemcpyHtoD(c->arena + out->offset, host, (size_t)out->bytes),
                            "copying a reference kernel's result to the GPU failed", err, errlen) ? -1 : 0;
}

static int launch(cuda_impl *c, int k, char *err, size_t errlen) {
    const moac_kernel_desc *kd = &c->b.kernels[k];
    if (kd->items <= 0) return 0;
    long long items = kd->items;
    unsigned grid = kd->serial ? 1u : kd->block ? (unsigned)items : (unsigned)((items + MOAC_CUDA_BLOCK - 1) / MOAC_CUDA_BLOCK);
    unsigned block = kd->serial ? 1u : kd->block ? (unsigned)kd->block : MOAC_CUDA_BLOCK;
    moac_cu_ptr table = c->tables + c->table_at[k] * sizeof(moac_cu_ptr);
    void *args[2] = {&table, &items};
    char what[128];
    snprintf(what, sizeof what, "launching kernel %s on the GPU failed", kd->name);
    return moac_cuda_failed(c->cu, c->cu->cuLaunchKernel(c->fns[k], grid, 1, 1, block, 1, 1, 0, NULL, args, NULL),
                            what, err, errlen) ? -1 : 0;
}

static int run(void *impl, const moac_run_opts *opts, char *err, size_t errlen) {
    cuda_impl *c = impl;
    moac_cuda *cu = c->cu;
    moac_run_opts o = opts ? *opts : (moac_run_opts){0};
    c->params = (moac_run_params){o.seed, o.step, (uint64_t)o.training};
    c->dirty[MOAC_SLOT_PARAMS] = 1;
    if (moac_build_check_indices(&c->b, err, errlen)) return -1;
    for (int s = 0; s < c->b.nslots; s++) {
        if (!c->dirty[s]) continue;
        if (moac_cuda_failed(cu, cu->cuMemcpyHtoD(c->ext[s], c->b.slots[s].ext, (size_t)c->b.slots[s].bytes),
                             "copying an input to the GPU failed", err, errlen))
            return -1;
        c->dirty[s] = 0;
    }
    for (int s = 0; s < c->b.nsteps; s++) {
        const moac_step *st = &c->b.steps[s];
        double t0 = c->prof ? moac_seconds() : 0;
        int rc = st->kind == MOAC_STEP_FALLBACK ? run_fallback(c, st->node, &o, err, errlen) : launch(c, st->kernel, err, errlen);
        if (rc) return -1;
        if (c->prof) {
            if (moac_cuda_failed(cu, cu->cuCtxSynchronize(), "a GPU kernel failed", err, errlen)) return -1;
            c->prof[s] += moac_seconds() - t0;
        }
    }
    if (moac_cuda_failed(cu, cu->cuCtxSynchronize(), "a GPU kernel failed", err, errlen)) return -1;
    c->runs++;
    return 0;
}

/* Output n's bytes from the device into dst (f32 or i32, as n's type). */
static int fetch(const cuda_impl *c, const moac_node *n, void *dst) {
    int s = find_slot(c, MOAC_OP_OUTPUT, n->s);
    if (s < 0) return -1;
    return c->cu->cuMemcpyDtoH(dst, dev_ptr(c, s), (size_t)moac_type_numel(&n->type) * 4) ? -1 : 0;
}

static int read(const void *impl, const moac_node *n, float *dst) {
    if (fetch(impl, n, dst)) return -1;
    if (n->type.dtype == MOAC_I32)
        for (int64_t j = 0; j < moac_type_numel(&n->type); j++) dst[j] = (float)((const int32_t *)dst)[j];
    return 0;
}

static int read_f64(const void *impl, const moac_node *n, double *dst) {
    int64_t count = moac_type_numel(&n->type);
    float *tmp = malloc((size_t)(count ? count : 1) * 4);
    if (!tmp) abort();
    int rc = fetch(impl, n, tmp);
    for (int64_t j = 0; !rc && j < count; j++)
        dst[j] = n->type.dtype == MOAC_I32 ? ((const int32_t *)tmp)[j] : tmp[j];
    free(tmp);
    return rc;
}

static void describe(const void *impl, int detail, moac_strbuf *out) {
    const cuda_impl *c = impl;
    if (detail)
        moac_strbuf_printf(out, "moac: cuda compile of '%s': schedule+emit %.3f s, optimise+PTX %.3f s (%zu bytes), "
                           "driver load %.3f s; activations %.3f GiB\n", c->g->name, c->schedule_s, c->codegen_s,
                           c->ptx_bytes, c->load_s, (double)c->arena_bytes / 1073741824.0);
    else
        moac_strbuf_printf(out, "compiled '%s' for GPU %d (%s, sm_%d) in %.2f s (%d kernels, %d ops fused, %d on the "
                           "host)\n", c->g->name, c->cu->device, c->cu->name, c->cu->sm,
                           c->schedule_s + c->codegen_s + c->load_s, c->b.nkernels, c->b.fused, c->b.fallbacks);
}

/* ---- the training state on the device (backend.h optim_*) ---- */

static int optim_attach(void *impl, const moac_optim_state *st, char *err, size_t errlen) {
    cuda_impl *c = impl;
    moac_cuda_optim_free(c->optim);
    c->optim = NULL;
    free(c->optim_w);
    free(c->optim_g);
    c->optim_w = calloc((size_t)st->nparams + 1, sizeof *c->optim_w);
    c->optim_g = calloc((size_t)st->nparams + 1, sizeof *c->optim_g);
    if (!c->optim_w || !c->optim_g) abort();
    char name[512];
    for (int p = 0; p < st->nparams; p++) {
        int s = find_slot(c, MOAC_OP_PARAM, st->params[p].name);
        if (s < 0 || !c->b.slots[s].external || (size_t)c->b.slots[s].bytes < st->params[p].numel * sizeof(float)) {
            snprintf(err, errlen, "internal error: graph '%s' has no parameter '%s' of %zu values to keep on the GPU",
                     c->g->name, st->params[p].name, st->params[p].numel);
            return -1;
        }
        c->optim_w[p] = c->ext[s];
        c->dirty[s] = 0; /* the device's copy is the weights from now on */
        snprintf(name, sizeof name, "grad.%s", st->params[p].name);
        int gs = find_slot(c, MOAC_OP_OUTPUT, name);
        c->optim_g[p] = gs < 0 ? 0 : dev_ptr(c, gs);
    }
    c->optim = moac_cuda_optim_new(c->cu, c->mod, st, c->optim_w, c->optim_g, err, errlen);
    return c->optim ? 0 : -1;
}

static int optim_step(void *impl, const moac_optim_hyper *h, double *norm, char *err, size_t errlen) {
    cuda_impl *c = impl;
    if (!c->optim) {
        snprintf(err, errlen, "internal error: an optimizer step with no training state on the GPU");
        return -1;
    }
    return moac_cuda_optim_step(c->optim, h, norm, err, errlen);
}

static int optim_download(void *impl, char *err, size_t errlen) {
    cuda_impl *c = impl;
    if (!c->optim) {
        snprintf(err, errlen, "internal error: no training state on the GPU to copy back");
        return -1;
    }
    return moac_cuda_optim_download(c->optim, err, errlen);
}

/* `moac emit --backend cuda`: the PTX (or the optimised NVPTX LLVM IR) for sm_90; no GPU needed. */
static char *emit(const moac_graph *g, const moac_compile_opts *o, const char *format, const char *kernel,
                  moac_diag *d) {
    int ptx = !strcmp(format, "asm") || !strcmp(format, "ptx");
    if (!ptx && strcmp(format, "llvm")) {
        moac_diag_file_error(d, NULL, "the cuda backend emits ptx or llvm, not '%s'", format);
        return NULL;
    }
    moac_arena a;
    moac_arena_init(&a);
    moac_build b = {0};
    moac_target t;
    moac_target_nvptx(&t, 90);
    t.tf32 = o && o->tf32;
    char *text = NULL;
    static char err[8192];
    if (!(g = moac_build_scheduled(g, &moac_cuda_sched_rules, &a, d)) || moac_build_emit(&b, g, &t, moac_gpu_emitter, d))
        goto done;
    /* --kernel moac_optim: the optimizer's kernels alone (a training graph's) */
    int optim_only = kernel && !strncmp(kernel, "moac_", 5) && has_gradients(g);
    for (int k = 0; optim_only && k < b.cg->nkernels; k++) {
        LLVMValueRef fn = LLVMGetNamedFunction(b.cg->mod, b.cg->kernels[k].name);
        if (fn) LLVMDeleteFunction(fn);
    }
    if (!optim_only && kernel && *kernel && moac_build_filter_kernels(b.cg, g, kernel, d)) goto done;
    if (has_gradients(g) && (!kernel || !*kernel || optim_only)) moac_cuda_emit_optim(b.cg);
    text = moac_ptx_render(b.cg, ptx, err, sizeof err);
    if (!text) moac_diag_file_error(d, NULL, "compiling graph '%s' for the GPU failed: %s", g->name, err);
done:
    moac_build_free(&b);
    moac_arena_free(&a);
    return text;
}

const moac_backend_ops moac_cuda_backend = {
    .name = "cuda",
    .rules = &moac_cuda_sched_rules,
    .compile = compile,
    .bind = NULL, /* weights are copied to the device before each run */
    .write = write,
    .run = run,
    .read = read,
    .read_f64 = read_f64,
    .describe = describe,
    .emit = emit,
    .free = free_impl,
    .optim_attach = optim_attach,
    .optim_step = optim_step,
    .optim_download = optim_download,
};
