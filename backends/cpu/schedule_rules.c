/* What the CPU backend renders, for pass 'schedule' (passes/schedule.h): fused elementwise and
 * layout code (fuse.c), the configurations of its emitters (emitters.def), and the joint
 * attention backward that computes dq, dk and dv in one kernel (kernels_attention.c). */
#include "backends/cpu/cpu.h"
#include "backends/cpu/emit.h"
#include "backends/cpu/internal.h"

/* The joint emitter needs all three gradients. */
static int cpu_joins(const moac_node *const *group, int count) {
    return count == 3 && moac_cpu_attention_grad_ok(group[0]);
}

const moac_sched_rules moac_cpu_sched_rules = {
    .backend = "cpu",
    .supports = moac_cpu_supports,
    .fuses = moac_fuse_node,
    .joins = cpu_joins,
};
