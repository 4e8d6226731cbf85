/* What the CPU backend renders, for pass 'schedule' (passes/schedule.h): fused elementwise and
 * layout code (fuse.c), the configurations of its emitters (emitters.def), and the joint
 * attention backward that computes dq, dk and dv in one kernel (kernels_attention.c). */
#include "backends/cpu/cpu.h"
#include "backends/cpu/emit.h"
#include "backends/cpu/internal.h"

/* The forward attention kernel writes its attention_lse on the way (kernels_attention.c,
 * query_block); the joint backward needs all three gradients. */
static int cpu_joins(const moac_node *const *group, int count) {
    if (count == 2)
        return group[0]->op == MOAC_OP_ATTENTION && group[1]->op == MOAC_OP_ATTENTION_LSE &&
               moac_cpu_attention_ok(group[0]);
    return count == 3 && group[0]->op == MOAC_OP_ATTENTION_GRAD && moac_cpu_attention_grad_ok(group[0]);
}

const moac_sched_rules moac_cpu_sched_rules = {
    .backend = "cpu",
    .supports = moac_cpu_supports,
    .fuses = moac_fuse_node,
    .joins = cpu_joins,
    .plan = moac_cpu_plan,
};
