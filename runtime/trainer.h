/* Training a spec through the library (include/moac.h): moac_trainer holds the training graph,
 * the weights and optimizer moments, and the compiled code; each moac_trainer_step is forward +
 * backward on the backend, the gradients into the weights' state, global-norm clipping, the
 * schedule's learning rate and AdamW — one step of `moac train` minus data, run directory,
 * checkpoints and metrics (runtime/train.c keeps those, and takes its steps with the same
 * moac_train_step, runtime/exec.h). */
#ifndef MOAC_TRAINER_H
#define MOAC_TRAINER_H
#include <stdint.h>

#include "backends/backend.h"
#include "frontend/spec.h"

typedef struct moac_step_result {
    uint64_t step;    /* the step just taken (0-based) */
    double loss;      /* the batch's loss before the update */
    double lr;        /* the learning rate it was taken with */
    double grad_norm; /* the global gradient norm before clipping */
} moac_step_result;

typedef struct moac_trainer moac_trainer;

typedef struct moac_trainer_opts {
    int batch;                        /* sequences per step; 0: the spec's train batch */
    const moac_compile_opts *compile; /* NULL: the defaults (backends/backend.h) */
} moac_trainer_opts;

/* The spec's training graph at the batch size, compiled for be (NULL: cpu), with the weights
 * initialised from the spec's seed. o may be NULL. NULL after reporting to d. */
moac_trainer *moac_trainer_new(const moac_spec *spec, const moac_backend_ops *be, const moac_trainer_opts *o,
                               moac_diag *d);
/* The shape of a batch: x and y of moac_trainer_step hold batch * context tokens, row-major. */
int moac_trainer_batch(const moac_trainer *t);
int moac_trainer_context(const moac_trainer *t);
/* One step on tokens x and their targets y (y[i]: the token after x[i]); r may be NULL. 0, or
 * -1 after reporting to d (bad data, a non-finite loss). */
int moac_trainer_step(moac_trainer *t, const int32_t *x, const int32_t *y, moac_step_result *r, moac_diag *d);
void moac_trainer_free(moac_trainer *t);

#endif
