/* Runs a compiled graph on a backend for the training and evaluation loops: binds tokens,
 * targets and parameters, runs, and hands back outputs and gradients. The backend is any entry
 * of the backend table (backends/backend.h): the LLVM CPU backend (the default: native code,
 * f32) or the reference interpreter (f64, the oracle). */
#ifndef MOAC_EXEC_H
#define MOAC_EXEC_H
#include <stdint.h>

#include "backends/backend.h"
#include "runtime/state.h"
#include "runtime/trainer.h"

typedef struct moac_exec moac_exec;

/* NULL (after reporting) if the backend cannot take the graph. be NULL: the default backend;
 * o NULL: the default options (backends/backend.h). The backend compiles the graph here (the
 * CPU: or loads it from the compile cache), and what it says about that goes to o->log unless
 * quiet (with a debugging log, the compile phases too). */
moac_exec *moac_exec_new(const moac_graph *g, const moac_backend_ops *be, const moac_compile_opts *o, int quiet,
                         moac_diag *d);
void moac_exec_free(moac_exec *e);
/* One run on batch (x, y) of [B, T] tokens with the state's current weights. Returns 0, or -1
 * with a message in err (bad data, e.g. a token outside the vocabulary). */
int moac_exec_run(moac_exec *e, moac_state *s, const int32_t *x, const int32_t *y, const moac_run_opts *o,
                  char *err, size_t errlen);
/* Copies the graph's grad.<name> outputs into s->g. */
void moac_exec_grads(const moac_exec *e, moac_state *s);
/* An output by name: its values and element count; NULL if the graph has no such output. */
const double *moac_exec_output(const moac_exec *e, const char *name, int64_t *numel);
/* The graph's outputs that are metrics (not grad.*), in graph order: names and sizes. */
int moac_exec_metric_count(const moac_exec *e);
const char *moac_exec_metric_name(const moac_exec *e, int i, int64_t *numel);

/* Makes s's host copies of the weights and moments current where a backend keeps them on its
 * device (before a checkpoint is written): 0, or -1 with a message in err. */
int moac_exec_sync_state(moac_state *s, char *err, size_t errlen);

/* One optimizer step of e's training graph on batch (x, y) for s under sched (its clip,
 * optimizer and schedule), dropout drawn from seed (runtime/trainer.c). 0; -1 with a message in
 * err when the run refused the data (a token outside the vocabulary); 1 with a message in err
 * when the loss is not finite (the weights are then not updated) or the device's optimizer
 * failed. r may be NULL. */
int moac_train_step(moac_exec *e, moac_state *s, const moac_train_spec *sched, uint64_t seed, const int32_t *x,
                    const int32_t *y, moac_step_result *r, char *err, size_t errlen);
/* Whether e's backend takes its training steps on its device (the gradients, clip and AdamW
 * never leaving it; backends/backend.h optim_*), unless its compile options ask for the host. */
int moac_exec_device_optimizer(const moac_exec *e);
/* After a run of e on s: clip and AdamW on e's device (s handed to it on the first call, its
 * host copies stale from then on: moac_exec_sync_state), the norm before clipping in norm. */
int moac_exec_device_step(moac_exec *e, moac_state *s, const moac_optim_hyper *h, double *norm, char *err,
                          size_t errlen);

#endif
