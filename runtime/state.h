/* The trainable state of a compiled model: parameters, gradients and AdamW moments, all fp32, in
 * one allocation (params | grads | m | v), plus the step counter. Parameters are found in the
 * training graph (param nodes, by their name attribute) in graph order. */
#ifndef MOAC_STATE_H
#define MOAC_STATE_H
#include <stddef.h>
#include <stdint.h>

#include "frontend/spec.h"
#include "ir/ir.h"

typedef struct moac_param {
    const char *name;
    int rank;
    int64_t dims[MOAC_MAX_RANK];
    size_t offset, numel;  /* in floats, within each of w, g, m, v */
    double fill, std;      /* initial value: fill + std * N(0, 1) */
    int decay;             /* AdamW weight decay applies (weights of rank >= 2 only) */
} moac_param;

typedef struct moac_state {
    moac_param *params;
    int nparams;
    size_t total;          /* floats per section */
    float *w, *g, *m, *v;  /* four sections of one allocation */
    uint64_t step;         /* optimizer steps taken */
    /* Where the newest weights and moments are when a backend keeps them on its device
     * (runtime/exec.c): that exec, and whether w, m and v here are older than its copy (g is
     * then unused). NULL: here. */
    struct moac_exec *resident;
    int stale;
} moac_state;

/* Collects the params of g. Returns 0, or -1 if memory runs out. */
int moac_state_init(moac_state *s, const moac_graph *g);
void moac_state_free(moac_state *s);
/* GPT-2 style initialisation from the counter-based generator: element i of param p is
 * fill + std * moac_rng_normal(seed, stream(INIT, p, 0), i); moments and step zeroed. */
void moac_state_init_weights(moac_state *s, uint64_t seed);
const moac_param *moac_state_find(const moac_state *s, const char *name);

/* The learning rate at step (0-based) under the spec's schedule. */
double moac_lr_at(const moac_train_spec *t, uint64_t step);
/* Scales the gradients so that their global L2 norm is at most clip (clip <= 0: no clipping).
 * Returns the norm before clipping. */
double moac_clip_grads(moac_state *s, double clip);
/* One AdamW step with decoupled weight decay (PyTorch's AdamW), then step += 1. */
void moac_adamw_step(moac_state *s, const moac_train_spec *t, double lr);

#endif
