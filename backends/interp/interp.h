/* The reference interpreter: executes any IR graph with plain, obviously correct C loops over
 * double-precision buffers (i32 tensors are held as exact doubles too). It is the oracle every
 * other backend is checked against, and it runs the gradient checks in double precision: simple,
 * not fast.
 *
 *   moac_interp *ip = moac_interp_new(graph);
 *   double *tok = moac_interp_buffer(ip, "tokens");   // inputs and params, by name attribute
 *   ... fill tok, every param ...
 *   moac_interp_run(ip, &(moac_interp_opts){.seed = 1337, .step = 0, .training = 1});
 *   const double *loss = moac_interp_result(ip, "loss");  // outputs, by name attribute
 *   moac_interp_free(ip);
 *
 * Buffers of intermediate values are freed after their last use (liveness), so a training graph
 * needs memory for what the backward pass reads, not for every value at once. */
#ifndef MOAC_INTERP_H
#define MOAC_INTERP_H
#include <stdint.h>

#include "ir/ir.h"

typedef struct moac_interp moac_interp;

typedef struct moac_interp_opts {
    uint64_t seed;  /* of the run: dropout masks are moac_rng_uniform(seed, stream(DROPOUT, attr, step), i) */
    uint64_t step;  /* training step: a new dropout mask each step, the same in forward and backward */
    int training;   /* 0: dropout is the identity (evaluation) */
} moac_interp_opts;

/* Plans the graph (the graph must stay alive and unchanged while the interpreter exists). */
moac_interp *moac_interp_new(const moac_graph *g);
void moac_interp_free(moac_interp *ip);
/* The buffer of an input or param node, by its name attribute (numel doubles, zero at first,
 * kept across runs), or NULL if there is none. */
double *moac_interp_buffer(moac_interp *ip, const char *name);
/* Executes every node in order. Returns 0, or -1 with a message in err when the data is invalid
 * (an index out of range: a token >= vocab, say) — never crashes on bad data. */
int moac_interp_run(moac_interp *ip, const moac_interp_opts *opts, char *err, size_t errlen);
/* The value of an output node by its name attribute, valid until the next run; NULL if none
 * (or when the last run failed). */
const double *moac_interp_result(const moac_interp *ip, const char *name);

/* Memory accounting of the liveness plan, for tests and reports. Counts the buffers of computed
 * values (every node but input and param, whose buffers are always there): how many are
 * allocated now (after a run: the outputs), and the most that were allocated at once during the
 * last run. */
typedef struct moac_interp_stats {
    size_t live_buffers, peak_buffers;
    size_t live_bytes, peak_bytes;
} moac_interp_stats;
moac_interp_stats moac_interp_get_stats(const moac_interp *ip);

/* One op's reference kernel: out = op(args). Exposed so tests can check kernels one by one. */
typedef struct moac_kernel_ctx {
    const moac_node *node;
    const double *const *in;   /* one buffer per operand, laid out row-major per operand type */
    double *out;               /* numel(node->type), zeroed before the call */
    const moac_interp_opts *opts;
    char *err;                 /* where a data error is described; the kernel returns -1 */
    size_t errlen;
} moac_kernel_ctx;

int moac_kernel_run(const moac_kernel_ctx *k);

#endif
