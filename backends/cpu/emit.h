/* The CPU backend's op emitters: each turns one IR node into one or more LLVM kernels (ABI in
 * backends/llvm/cg.h). The scheduler (backends/cpu/schedule.c) decides which nodes become
 * kernels of their own (pass 'schedule', passes/schedule.c, asking moac_cpu_supports); the
 * driver (cpu.c) renders fused elementwise and layout chains with backends/cpu/fuse.c and hands
 * every other kernel to the emitter named in backends/cpu/emitters.def.
 *
 * Contract for an emitter:
 *  - its operands are materialised, contiguous, row-major buffers of exactly the IR types of
 *    node->args[i] (f32, or i32 for index tensors), in slots e->in[i]; its result is the
 *    contiguous buffer in slot e->out, of node->type;
 *  - the result buffer is NOT zeroed beforehand (memory is reused): write every element;
 *  - kernels run one after another, in the order emitted; inside one kernel the runtime calls
 *    fn(bufs, lo, hi) on each thread with a disjoint share of [0, items), so items must write
 *    disjoint memory (or mark the kernel serial);
 *  - extra memory comes from moac_cg_scratch (valid for this node's kernels only);
 *  - kernel names start with e->prefix (unique per node), e.g. "n42_matmul_pack";
 *  - return 0; a configuration the emitter cannot render is refused beforehand by its predicate
 *    in emitters.def (the schedule pass then puts the node on the reference kernel, @r), so -1
 *    from an emitter is an internal error.
 * Numerics: f32 storage, f32 arithmetic with f32 or wider accumulation; results must match the
 * reference interpreter (backends/interp/kernels_*.c, the exact semantics) within 1e-4 relative. */
#ifndef MOAC_CPU_EMIT_H
#define MOAC_CPU_EMIT_H
#include "backends/llvm/cg.h"
#include "ir/ir.h"

typedef struct moac_emit_ctx {
    moac_cg *cg;
    const moac_node *node;
    int out;          /* slot of the result */
    int outs[3];      /* multi-output emitters (attention_grads): slots of each result */
    int lse;          /* attention: slot of the attention_lse [B,H,T] its kernel joins, which it writes; the joint
                         backward: its operand 5 (the forward's statistics), which it reads; else -1 */
    int fwd_out;      /* the joint backward: its operand 4 (the forward attention's output [B,H,T,Dv]), or -1 */
    int in[6];        /* slot of each operand (node->nargs of them) */
    char prefix[32];  /* unique kernel-name prefix for this node */
} moac_emit_ctx;

typedef int (*moac_emit_fn)(const moac_emit_ctx *e);

#define E(op, fn, supported) int fn(const moac_emit_ctx *e);
#include "backends/cpu/emitters.def"
#undef E

/* The configurations the emitters render (emitters.def's third column). */
int moac_cpu_attention_ok(const moac_node *n);      /* G | H, causal only with S = T, D, Dv small enough */
int moac_cpu_attention_grad_ok(const moac_node *n); /* the same, and which in 0..2 */
int moac_cpu_rows_by_topk_ok(const moac_node *n);   /* gather/scatter_rows indexed by a top-k over the rows */
int moac_cpu_take_by_topk_ok(const moac_node *n);   /* take/take_grad indexed by a top-k over the same axis */
int moac_cpu_rope_ok(const moac_node *n);           /* rank 4, an even rotated width 2..D, at most 8192 */
int moac_cpu_group_mean_ok(const moac_node *n);     /* rank 4 */
/* Whether the CPU backend renders n as a kernel: fused code, or an emitter that supports it. */
int moac_cpu_supports(const moac_node *n);

/* Multi-output emitters (called by the scheduler). */
int moac_emit_attention_grads(const moac_emit_ctx *e);

/* The emitter of op, or NULL when the op has none (fused by the scheduler, or reference-only). */
moac_emit_fn moac_cpu_emitter(moac_op op);

/* Sets the cost and scheduling hints of the kernel just emitted (cg->kernels[k->index]). */
void moac_emit_cost(const moac_emit_ctx *e, const moac_kfn *k, double flops, double bytes);

#endif
