/* One graph on two backends with the same inputs: how far apart are their outputs? What `moac
 * verify` prints, and how a new backend (cuda) is held against the CPU and the CPU against the
 * reference interpreter, on every output of a training graph (the loss and every gradient).
 *
 * Inputs are drawn from seed: token ids and other indices uniformly within the table the first
 * op reading them indexes; f32 inputs standard normal; params as training initialises them
 * (their fill plus std times a normal draw). The error of an output is max|a - b| / max(max|b|, 1e-6), b the reference. */
#ifndef MOAC_RUNTIME_VERIFY_H
#define MOAC_RUNTIME_VERIFY_H
#include "backends/backend.h"

typedef struct moac_verify_output {
    const char *name;
    int64_t numel;
    double rel_err;         /* as above; INFINITY where one side is NaN and the other is not */
    int64_t worst_at;       /* the element of the largest difference */
    double got, want;       /* the two values there */
} moac_verify_output;

typedef struct moac_verify_result {
    moac_verify_output *outputs; /* in graph order; caller frees */
    int count;
    double worst;
} moac_verify_result;

/* The valid values of i32 input `in` of g: the size of the table the first op reading it
 * indexes (4 when nothing indexes with it). */
int64_t moac_verify_index_bound(const moac_graph *g, const moac_node *in);

/* Compiles g (verified) for be and ref with o, writes the same inputs to both, runs each once
 * with run (training: dropout on), compares every output. 0 with *r, or -1 after reporting to d
 * (a backend failed to compile or run). */
int moac_verify(const moac_graph *g, const moac_backend_ops *be, const moac_backend_ops *ref,
                const moac_compile_opts *o, const moac_run_opts *run, uint64_t seed, moac_verify_result *r,
                moac_diag *d);

#endif
