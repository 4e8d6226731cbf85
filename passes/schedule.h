/* Pass 'schedule': decides which nodes form one kernel, which are views, which run on the
 * reference kernel, and writes it into the graph as annotations (docs/ir.md, "Schedule"). The
 * decisions are made here, once, for every backend; a backend only says what it can render
 * (moac_sched_rules) and then renders the kernels the annotations name. */
#ifndef MOAC_SCHEDULE_H
#define MOAC_SCHEDULE_H
#include "ir/ir.h"
#include "passes/plan.h"
#include "support/diag.h"

typedef struct moac_sched_rules {
    const char *backend;                                  /* for messages: "cpu" */
    /* Whether the backend renders n as a kernel (a root): else n runs on the reference kernel. */
    int (*supports)(const moac_node *n);
    /* Whether n may be computed in registers inside its consumer's kernel; never more than
     * moac_sched_fusable allows. */
    int (*fuses)(const moac_node *n);
    /* Whether the backend renders the declared join `group` (count nodes, all pairwise
     * moac_sched_joinable, in node order) as one kernel; NULL: no joins. The first node is the
     * kernel's own (supports), the others are rendered with it. */
    int (*joins)(const moac_node *const *group, int count);
    /* Pass 'plan' for the backend's buffers of scheduled g, on this machine: 0 with *out (the
     * caller frees out->buffers), or -1 with d; NULL: the backend keeps no arena. */
    int (*plan)(const moac_graph *g, moac_plan *out, moac_diag *d);
} moac_sched_rules;

/* Pass 'attention_stats' (passes/attention_stats.c), run right before 'schedule': for each
 * attention whose three attention_grads r joins into one kernel, and which r renders together
 * with its attention_lse, adds that attention_lse right after the attention and gives the
 * gradients the operands (q, k, v, dout, out, lse), so the backward reads the forward's softmax
 * statistics instead of recomputing them. g: unscheduled, verified. Returns 0. */
int moac_attention_stats(moac_graph *g, const moac_sched_rules *r, moac_diag *d);

/* Annotates g (unscheduled, verified) with the schedule for r: kernels in node order of their
 * first roots; an elementwise/layout node is computed inside its consumer when every consumer
 * fuses it and it is a constant (@inline) or read once; a reshape of stored bytes is a @view; a
 * join the backend renders is one kernel; an op the backend does not support is @r. Returns 0,
 * or -1 with d if g is scheduled already. The result passes moac_sched_check and
 * moac_sched_check_rules(g, r). */
int moac_schedule(moac_graph *g, const moac_sched_rules *r, moac_diag *d);

/* Checks that r's backend can render g's schedule (from the pass, or from IR text): every root
 * of a @k kernel is supported, every member computed in registers is fused, every kernel with
 * several roots is a join it renders. Each problem is an error naming the value; returns the
 * count. g must pass moac_sched_check first. */
int moac_sched_check_rules(const moac_graph *g, const moac_sched_rules *r, moac_diag *d);

#endif
