/* Reverse-mode automatic differentiation as a pass over the IR. */
#ifndef MOAC_AUTODIFF_H
#define MOAC_AUTODIFF_H
#include "ir/ir.h"

/* Extends a forward graph with its backward graph: seeds d(loss)/d(loss) = 1 at the output named
 * "loss", walks the nodes in reverse applying each op's gradient rule (passes/grad_rules.c, one
 * per op in ir/ops.def, dispatched by X-macro so a missing rule is a compile error), sums the
 * contributions to each value, and adds an output "grad.<param name>" for every param (zeros
 * for a param the loss does not reach). Returns 0, or -1 after reporting (no "loss" output). */
int moac_autodiff(moac_graph *g, moac_diag *d);

#endif
