#include "backends/cpu/emit.h"

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

