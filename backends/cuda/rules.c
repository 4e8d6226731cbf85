/* What the CUDA backend renders (cuda.h): the CPU's emitters for NVPTX, so the schedule's rules
 * are the CPU's but for the joins; its own emitters, asked first, replace those whose algorithm a GPU thread
 * cannot run (matmul's per-thread packed blocks). Pass 'plan' lays out the device arena. */
#include <stdlib.h>
#include <string.h>

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
    memset(out, 0, sizeof *out);
    if (!moac_graph_scheduled(g)) {
        moac_diag_file_error(d, NULL, "internal error: the cuda memory plan of graph '%s' wants its schedule", g->name);
        return -1;
    }
    moac_target t;
    moac_target_nvptx(&t, 90);
    moac_build b = {0};
    int rc = moac_build_emit(&b, g, &t, moac_gpu_emitter, d) ? -1 : 0;
    if (!rc) {
        moac_build_plan(&b);
        int *slot;
        *out = moac_build_buffers(&b, &slot);
        free(slot);
    }
    moac_build_free(&b);
    return rc;
}

const moac_sched_rules moac_cuda_sched_rules = {
    .backend = "cuda",
    .supports = moac_cpu_supports,
    .fuses = moac_fuse_node,
    .joins = cuda_joins,
    .plan = cuda_plan,
};
