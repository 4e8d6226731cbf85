/* The training and evaluation loops behind `moac train` and `moac eval`. */
#ifndef MOAC_TRAIN_H
#define MOAC_TRAIN_H
#include <signal.h>

#include "frontend/spec.h"
#include "runtime/exec.h"

typedef struct moac_train_opts {
    const char *data;          /* overrides the spec's train data (NULL: the spec's) */
    long steps;                /* overrides the spec's steps (< 0: the checkpoint's when resuming, else the spec's) */
    long until;                /* > 0: stop after this step with a checkpoint, as Ctrl-C would */
    int batch;                 /* > 0: overrides the spec's batch size */
    const char *out_dir;       /* where the checkpoint and metrics go */
    const char *resume;        /* checkpoint to continue from, or NULL */
    const moac_backend_ops *backend; /* NULL: the default (cpu) */
    const moac_compile_opts *compile; /* NULL: the defaults; its log also gets the passes' debugging lines */
    int progress;              /* 1: a one-line progress bar (a terminal); 0: plain lines */
    int quiet;                 /* only errors and the final line */
    volatile sig_atomic_t *stop; /* set asynchronously (Ctrl-C): checkpoint and stop */
} moac_train_opts;

/* Trains spec. Returns 0 on success, 1 on a user error (reported to d), 130 when stopped by
 * *stop (after writing a checkpoint). */
int moac_train(const moac_spec *spec, const moac_train_opts *o, moac_diag *d);

typedef struct moac_eval_opts {
    const char *ckpt;
    const char *data;          /* NULL: the spec's */
    int batches;               /* <= 0: the spec's eval_batches */
    int batch;                 /* > 0: overrides the spec's batch size */
    const moac_backend_ops *backend; /* NULL: the default (cpu) */
    const moac_compile_opts *compile; /* NULL: the defaults; its log also gets the passes' debugging lines */
} moac_eval_opts;

/* Loads a checkpoint and prints the validation loss (and answer accuracy on the synthetic task).
 * Returns 0 or 1. */
int moac_eval(const moac_spec *spec, const moac_eval_opts *o, moac_diag *d);

#endif
