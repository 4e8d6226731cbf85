/* The LLVM emitter's shared context: one LLVM module per compiled graph, a builder, the common
 * types, and small helpers (loops, loads/stores, math) that every kernel emitter uses. The target
 * hook (backends/llvm/target.h) says what the module is compiled for: the host CPU through ORC
 * LLJIT today, NVPTX for the GPU backend through the same emitters.
 *
 * Kernel ABI. Every kernel is a function
 *
 *     void <name>(ptr bufs, i64 lo, i64 hi)
 *
 * where bufs is an array of pointers, one per operand slot the kernel was declared with (the
 * runtime fills it from its memory plan), and [lo, hi) is this thread's share of the kernel's
 * `items` independent work items (the runtime splits [0, items) across its threads; items must
 * write disjoint memory). Shapes are static, so emitters bake every size in as a constant.
 *
 *   moac_kfn k = moac_cg_kernel_begin(cg, "k12_softmax", rows, 2, (int[]){out_slot, in_slot});
 *   LLVMValueRef out = moac_cg_arg(cg, &k, 0), in = moac_cg_arg(cg, &k, 1);
 *   moac_loop r = moac_cg_for(cg, k.lo, k.hi, 1);
 *   ... moac_cg_end(cg, &r);
 *   moac_cg_kernel_end(cg, &k);
 *
 * Loop-carried scalars are easiest as moac_cg_var (an alloca in the entry block): the O3 pipeline
 * turns them into registers (SROA/mem2reg) before the vectoriser runs. */
#ifndef MOAC_LLVM_CG_H
#define MOAC_LLVM_CG_H
#include <llvm-c/Core.h>
#include <stdint.h>

#include "backends/llvm/target.h"

enum { MOAC_KERNEL_MAX_SLOTS = 32 };

/* One emitted kernel, as the runtime sees it. */
typedef struct moac_kernel_desc {
    char name[64];
    int64_t items;                     /* work items split across threads */
    double cost;                       /* rough flops + bytes moved, to decide whether threading pays */
    int serial;                        /* 1: run [0, items) on one thread (items not independent) */
    int block;                         /* GPU only: a cooperative kernel of this many threads per block,
                                          items counting blocks (the body reads its thread index and
                                          synchronises the block itself); 0: one item per thread */
    int nslots;
    int slots[MOAC_KERNEL_MAX_SLOTS];  /* value slots (moac_cpu_plan buffer ids) passed in bufs[] */
    int node;                          /* the IR node id it implements (-1 if none) */
} moac_kernel_desc;

typedef struct moac_cg {
    LLVMContextRef ctx;
    LLVMModuleRef mod;
    LLVMBuilderRef b;
    const moac_target *target;
    LLVMTypeRef f32, f64, i1, i8, i32, i64, ptr, void_t, kernel_t;
    int vec;                           /* f32 lanes of the target's widest vector (16 for AVX-512) */

    moac_kernel_desc *kernels;         /* in execution order */
    int nkernels, capkernels;

    /* Scratch requests of the emitters (moac_cg_scratch), resolved by the memory planner. */
    int (*scratch)(void *planner, int64_t bytes);
    void *planner;
} moac_cg;

/* A kernel under construction. */
typedef struct moac_kfn {
    LLVMValueRef fn, bufs, lo, hi;
    LLVMBasicBlockRef entry;           /* allocas go here */
    int index;                         /* into cg->kernels */
} moac_kfn;

typedef struct moac_loop {
    LLVMValueRef iv;                   /* i64 induction variable, valid inside the body */
    LLVMValueRef iv_var;
    LLVMValueRef end, step;
    LLVMBasicBlockRef cond, body, exit;
} moac_loop;

/* Creates the context and an empty module for target (NULL: the host). */
moac_cg *moac_cg_new(const char *module_name, const moac_target *target);
void moac_cg_free(moac_cg *cg);

/* Starts kernel `name` with `items` work items over the given operand slots; the builder is then
 * positioned in its body. Appends a moac_kernel_desc (cost 0, not serial) the emitter may adjust
 * through cg->kernels[k.index]. */
moac_kfn moac_cg_kernel_begin(moac_cg *cg, const char *name, int64_t items, int nslots, const int *slots);
/* Appends a kernel that runs an already emitted function (d->name) on other operands: identical
 * nodes share one compiled kernel. */
void moac_cg_kernel_alias(moac_cg *cg, const moac_kernel_desc *d);
/* The pointer of operand j (0 <= j < nslots). */
LLVMValueRef moac_cg_arg(moac_cg *cg, const moac_kfn *k, int j);
void moac_cg_kernel_end(moac_cg *cg, moac_kfn *k);
/* A scratch buffer of `bytes` for the kernels of the node being emitted; returns its slot. */
int moac_cg_scratch(moac_cg *cg, int64_t bytes);

/* Loops: for (iv = begin; iv < end; iv += step). begin/end are i64 values. */
moac_loop moac_cg_for(moac_cg *cg, const moac_kfn *k, LLVMValueRef begin, LLVMValueRef end, int64_t step);
void moac_cg_end(moac_cg *cg, moac_loop *l);
/* if (cond) { then } — moac_cg_if returns the merge block; call moac_cg_endif with it. */
LLVMBasicBlockRef moac_cg_if(moac_cg *cg, LLVMValueRef cond);
void moac_cg_endif(moac_cg *cg, LLVMBasicBlockRef merge);

/* A mutable local of type t (alloca in the kernel's entry block), initialised to init. */
LLVMValueRef moac_cg_var(moac_cg *cg, const moac_kfn *k, LLVMTypeRef t, LLVMValueRef init);
LLVMValueRef moac_cg_get(moac_cg *cg, LLVMTypeRef t, LLVMValueRef var);
void moac_cg_set(moac_cg *cg, LLVMValueRef var, LLVMValueRef v);

/* Constants. */
LLVMValueRef moac_cg_i64(moac_cg *cg, int64_t v);
LLVMValueRef moac_cg_i32(moac_cg *cg, int32_t v);
LLVMValueRef moac_cg_f32(moac_cg *cg, double v);

/* Element access: base is a ptr, idx an i64 element index; t the element type (f32 or i32, or a
 * vector type for a contiguous vector load/store). */
LLVMValueRef moac_cg_gep(moac_cg *cg, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef moac_cg_load(moac_cg *cg, LLVMTypeRef t, LLVMValueRef base, LLVMValueRef idx);
void moac_cg_store(moac_cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);

/* Integer arithmetic on i64 with constants folded. */
LLVMValueRef moac_cg_add(moac_cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef moac_cg_mul(moac_cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef moac_cg_addc(moac_cg *cg, LLVMValueRef a, int64_t c);
LLVMValueRef moac_cg_mulc(moac_cg *cg, LLVMValueRef a, int64_t c);

/* Float math on f32 scalars or <n x float> vectors (the type of x). Every one is straight-line
 * IR (no libm calls), so loops using them vectorise. Accuracy: a few ulp of float. */
LLVMValueRef moac_cg_intrinsic(moac_cg *cg, const char *name, LLVMTypeRef t, int nargs, LLVMValueRef *args);
LLVMValueRef moac_cg_fma(moac_cg *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
LLVMValueRef moac_cg_sqrt(moac_cg *cg, LLVMValueRef x);
LLVMValueRef moac_cg_fabs(moac_cg *cg, LLVMValueRef x);
LLVMValueRef moac_cg_fmax(moac_cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef moac_cg_fmin(moac_cg *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef moac_cg_exp(moac_cg *cg, LLVMValueRef x);
LLVMValueRef moac_cg_log(moac_cg *cg, LLVMValueRef x);
LLVMValueRef moac_cg_erf(moac_cg *cg, LLVMValueRef x);
/* A constant of x's type (splat for vectors). */
LLVMValueRef moac_cg_fconst(moac_cg *cg, LLVMValueRef like, double v);
/* Horizontal sum of a float vector. */
LLVMValueRef moac_cg_hsum(moac_cg *cg, LLVMValueRef v);
LLVMValueRef moac_cg_hmax(moac_cg *cg, LLVMValueRef v);
/* Splat a scalar to <n x float>. */
LLVMValueRef moac_cg_splat(moac_cg *cg, LLVMValueRef s, int n);

#endif
