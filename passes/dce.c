/* Dead-code elimination: keeps what an output (or any MOAC_OPF_KEEP op) depends on. */
#include <stdlib.h>

#include "passes/pass.h"

int moac_pass_dce(moac_graph **gp, moac_diag *d) {
    (void)d;
    moac_graph *g = *gp;
    char *live = calloc(g->count ? g->count : 1, 1);
    if (!live) abort();
    for (size_t i = g->count; i-- > 0;) {
        moac_node *n = g->nodes[i];
        if (moac_op_info_get(n->op)->flags & MOAC_OPF_KEEP) live[i] = 1;
        if (!live[i]) continue;
        for (int a = 0; a < n->nargs; a++) live[n->args[a]->id] = 1;
    }
    for (size_t i = 0; i < g->count; i++) g->nodes[i]->dead = !live[i];
    free(live);
    moac_graph_compact(g);
    return 0;
}
