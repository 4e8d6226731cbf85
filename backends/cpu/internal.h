/* What the CPU backend's stages share while compiling one graph (not part of the public API). */
#ifndef MOAC_CPU_INTERNAL_H
#define MOAC_CPU_INTERNAL_H
#include "backends/cpu/cpu.h"
#include "backends/cpu/emit.h"
#include "backends/llvm/cg.h"
#include "passes/plan.h"
#include "support/arena.h"

/* Slot 0 of every plan holds the run's parameters, read by kernels that need them (dropout). */
typedef struct moac_run_params {
    uint64_t seed, step, training;
} moac_run_params;
enum { MOAC_SLOT_PARAMS = 0 };

typedef struct moac_slot {
    int64_t bytes;
    int external;       /* input/param/run-params: memory outside the arena */
    void *ext;          /* its memory (owned unless bound) */
    int owned;
    int keep;           /* an output: alive until the end */
    int first, last;    /* steps that touch it (input of pass 'plan', passes/plan.h) */
    size_t offset;      /* in the arena (decided by pass 'plan') */
    const moac_node *node;
} moac_slot;

typedef enum moac_step_kind { MOAC_STEP_KERNEL, MOAC_STEP_FALLBACK } moac_step_kind;

typedef struct moac_step {
    moac_step_kind kind;
    int kernel;               /* index into cg kernels (KERNEL) */
    const moac_node *node;    /* FALLBACK: the node run on the reference kernel */
} moac_step;

typedef struct moac_build {
    const moac_graph *g;
    moac_cg *cg;              /* while emitting; NULL when the plan came from the cache */
    moac_kernel_desc *kernels;/* the emitted kernels (owned copy), in execution order */
    int nkernels;
    int *slot_of;             /* per node id: its value's slot, -1 when inlined into a consumer */
    int *inlined;             /* per node id: computed in registers inside another kernel (from the schedule) */
    const moac_node **join;   /* per kernel id, 3 entries: the attention_grads it joins (by which), or
                                 an attention's kernel: entry 0 its attention_lse root, if joined */
    moac_slot *slots;
    int nslots, capslots;
    moac_step *steps;
    int nsteps, capsteps;
    int fused, fallbacks;
    void *emitted;            /* what each emitted node's kernels were, for reuse (cpu.c) */
    moac_emit_fn (*emitter)(moac_op); /* a target's own emitter for op, before the CPU's (NULL: none) */
    int nemitted, capemitted;
} moac_build;

int moac_build_slot(moac_build *b, int64_t bytes, const moac_node *n);

/* The build as other LLVM targets use it (the CUDA backend renders the same emitters for NVPTX):
 * the graph scheduled with rules (g itself when it carries a schedule, checked; else a copy in a;
 * NULL after reporting), its kernels emitted into a fresh module b->cg for target t (emitter:
 * the target's own emitters, asked first; NULL: the CPU's only), pass 'plan' over its slots
 * (returns the arena bytes), and the buffers of that plan (slot[i] is buffer i's slot; the caller
 * frees both). */
const moac_graph *moac_build_scheduled(const moac_graph *g, const moac_sched_rules *rules, moac_arena *a,
                                       moac_diag *d);
int moac_build_emit(moac_build *b, const moac_graph *g, const moac_target *t, moac_emit_fn (*emitter)(moac_op),
                    moac_diag *d);
size_t moac_build_plan(moac_build *b);
moac_plan moac_build_buffers(const moac_build *b, int **slot);
size_t moac_build_arena_bytes(const moac_build *b);
/* Pass 'plan' for scheduled g as built for t (a backend's `plan` rule): 0 with *out (caller frees
 * out->buffers), or -1 with d; backend names it in messages. */
int moac_build_plan_of(const moac_graph *g, const moac_target *t, moac_emit_fn (*emitter)(moac_op),
                       const char *backend, moac_plan *out, moac_diag *d);
void moac_build_describe_peak(const moac_build *b, moac_strbuf *out);
/* MOAC_PROFILE=1: prof[s] (seconds of step s, summed over runs) by op kind (the kernel name
 * without its n<id>_ prefix), per run, on the log, largest first; level 2 (MOAC_PROFILE=2) adds
 * the costliest steps one by one with their nodes' types. */
void moac_build_print_profile(const moac_log *log, const char *backend, const moac_build *b,
                              const moac_kernel_desc *kernels, const double *prof, int runs, int level);
/* Distinct kernel functions among n kernels (an alias keeps its first node's name). */
int moac_build_functions(const moac_kernel_desc *k, int n);
/* Token ids and targets in the i32 inputs (their slots' ext) against their tables: 0, or -1
 * with the first bad one in err. Kernels do not check indices. */
int moac_build_check_indices(const moac_build *b, char *err, size_t errlen);
/* `moac emit --kernel PREFIX`: deletes every kernel function of cg but those named PREFIX* (or
 * whose node would name them so); -1, reported, when none matches. */
int moac_build_filter_kernels(moac_cg *cg, const moac_graph *g, const char *prefix, moac_diag *d);
void moac_build_free(moac_build *b);
/* Emits the fused elementwise/layout kernel computing `root` (fuse.c). */
int moac_fuse_emit(moac_build *b, const moac_node *root);
/* Whether n can be computed inside a fused elementwise kernel (fuse.c). */
int moac_fuse_node(const moac_node *n);
/* Leaves (materialised values) the fused kernel of root reads, deduplicated; returns the count. */
int moac_fuse_leaves(const moac_build *b, const moac_node *root, int *slots, int max);
/* Philox4x32-10 uniform draw in IR, identical to moac_rng_uniform's keep test (cg_rng.c). */
LLVMValueRef moac_cg_dropout_keep(moac_cg *cg, LLVMValueRef seed, LLVMValueRef stream, LLVMValueRef index, double p);

/* The schedule and memory plan as a cache file next to the compiled object (plan_cache.c), so a
 * cache hit needs no emission at all. Load returns -1 (nothing changed) when the file is absent,
 * damaged, or not for this graph. */
void moac_plan_save(const moac_build *b, const char *path);
int moac_plan_load(moac_build *b, const char *path, const moac_log *log);

/* The reference-kernel path for ops without an emitter (fallback.c). */
int moac_fallback_run(const moac_node *n, void *const *in, void *out, const moac_interp_opts *o, char *err,
                      size_t errlen);

#endif
