#include "backends/cpu/emit.h"

#include "backends/cpu/internal.h"

moac_emit_fn moac_cpu_emitter(moac_op op) {
    switch (op) {
#define E(o, fn, supported) \
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


int moac_cpu_supports(const moac_node *n) {
    if (moac_fuse_node(n)) return 1;
    switch (n->op) {
#define E(o, fn, supported)                          \
    case o: {                                  \
        int (*check)(const moac_node *) = supported; \
        return check ? check(n) : 1;             \
    }
#include "backends/cpu/emitters.def"
#undef E
    default: return 0;
    }
}
