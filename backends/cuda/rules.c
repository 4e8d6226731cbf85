/* What the CUDA backend renders (cuda.h): the CPU's emitters for NVPTX, so the schedule's rules
 * are the CPU's but for the joins and the routing kernels not yet run on a GPU; its own emitters, asked first, replace those whose algorithm a
 * GPU thread cannot run (matmul's per-thread packed blocks, attention's stack tiles). Pass 'plan'
 * lays out the device arena. */
#include "backends/cpu/internal.h"
#include "backends/cuda/cuda.h"

moac_emit_fn moac_gpu_emitter(moac_op op) {
    switch (op) {
    case MOAC_OP_MATMUL: return moac_gpu_emit_matmul;
    case MOAC_OP_ATTENTION: return moac_gpu_emit_attention;
    case MOAC_OP_ATTENTION_GRAD: return moac_gpu_emit_attention_grad;
    default: return NULL;
    }
}

/* The forward writes its attention_lse (any configuration: the CPU's kernel does too); the three
 * gradients join where the GPU's kernels render them (kernels_attention.c: delta, dq, dk and dv
 * kernels of thousands of threads reading the forward's statistics). Not elsewhere: the CPU's
 * joint backward has only B x G work items, one GPU thread each. */
static int cuda_joins(const moac_node *const *group, int count) {
    if (count == 2)
        return group[0]->op == MOAC_OP_ATTENTION && group[1]->op == MOAC_OP_ATTENTION_LSE &&
               moac_cpu_attention_ok(group[0]);
    return count == 3 && group[0]->op == MOAC_OP_ATTENTION_GRAD && moac_cpu_attention_grad_ok(group[0]) &&
           moac_gpu_attention_ok(group[0]);
}

/* The CPU's, less the routing kernels (kernels_routing.c) that have not run on a GPU yet: those
 * stay on the reference kernel there (host copies) until a GPU session verifies them. */
static int cuda_supports(const moac_node *n) {
    switch (n->op) {
    case MOAC_OP_ONEHOT_ARGMAX:
    case MOAC_OP_TOPK:
    case MOAC_OP_CAPACITY_ROUTE:
    case MOAC_OP_TAKE:
    case MOAC_OP_TAKE_GRAD: return 0;
    default: return moac_cpu_supports(n);
    }
}

static int cuda_plan(const moac_graph *g, moac_plan *out, moac_diag *d) {
    moac_target t;
    moac_target_nvptx(&t, 90);
    return moac_build_plan_of(g, &t, moac_gpu_emitter, "cuda", out, d);
}

const moac_sched_rules moac_cuda_sched_rules = {
    .backend = "cuda",
    .supports = cuda_supports,
    .fuses = moac_fuse_node,
    .joins = cuda_joins,
    .plan = cuda_plan,
};
