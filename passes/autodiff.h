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

/* ---- Between autodiff.c (the walk) and grad_rules.c (the rules); not for other callers. ---- */

typedef struct moac_grad_ctx {
    moac_graph *g;
    moac_diag *d;
    moac_node **grad;  /* per forward node id: the sum of its gradient contributions so far */
    const char *needs; /* per forward node id: does some param's gradient flow through it? */
    size_t nforward;   /* nodes with id < nforward are the forward graph */
    int failed;        /* a rule reported an error */
} moac_grad_ctx;

/* Does operand k of n receive a gradient from n's rule at all? 0 for i32 operands and where the
 * op is piecewise constant in it (topk, onehot_argmax, capacity_route, bce_logits' targets). */
int moac_grad_reaches(const moac_node *n, int k);
/* Applies n's gradient rule: dy is d(loss)/d(n); adds d(loss)/d(operand) for every operand that
 * needs one through moac_grad_accumulate. */
void moac_grad_apply(moac_grad_ctx *c, moac_node *n, moac_node *dy);
/* Adds a contribution (of exactly x's type) to x's gradient. */
void moac_grad_accumulate(moac_grad_ctx *c, moac_node *x, moac_node *contribution);

#endif
