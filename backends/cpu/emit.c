#include "backends/cpu/emit.h"

/* TEMPORARY while the emitters land: weak so a missing one falls back to the reference kernel. */
#define E(op, fn) __attribute__((weak)) int fn(const moac_emit_ctx *e);
#include "backends/cpu/emitters.def"
#undef E

moac_emit_fn moac_cpu_emitter(moac_op op) {
    switch (op) {
#define E(o, fn) \
    case o: return fn;
#include "backends/cpu/emitters.def"
#undef E
    default: return 0;
    }
}

void moac_emit_cost(const moac_emit_ctx *e, const moac_kfn *k, double flops, double bytes) {
    e->cg->kernels[k->index].cost = flops + bytes;
    e->cg->kernels[k->index].node = (int)e->node->id;
}
