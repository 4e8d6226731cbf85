/* What the CUDA backend renders (cuda.h): the CPU's emitters for NVPTX, so the schedule's rules
 * are the CPU's but for the joins; its own emitters, asked first, replace those whose algorithm a GPU thread
 * cannot run (matmul's per-thread packed blocks). Pass 'plan' lays out the device arena. */
#include "backends/cpu/internal.h"
#include "backends/cuda/cuda.h"

moac_emit_fn moac_gpu_emitter(moac_op op) { return op == MOAC_OP_MATMUL ? moac_gpu_emit_matmul : NULL; }

/* No joins yet. The CPU's joint attention backward has B x G work items (one thread each here:
 * 72 threads for mha, 74% of its GPU step); apart, dq has (b, h, query block) items and dk, dv
 * (b, g, key block) items, thousands of threads. A GPU flash backward will join them again. */
static int cuda_joins(const moac_node *const *group, int count) {
    (void)group, (void)count;
    return 0;
}

static int cuda_plan(const moac_graph *g, moac_plan *out, moac_diag *d) {
    moac_target t;
    moac_target_nvptx(&t, 90);
    return moac_build_plan_of(g, &t, moac_gpu_emitter, "cuda", out, d);
}

const moac_sched_rules moac_cuda_sched_rules = {
    .backend = "cuda",
    .supports = moac_cpu_supports,
    .fuses = moac_fuse_node,
    .joins = cuda_joins,
    .plan = cuda_plan,
};
