/* Checkpoints: the training state in a safetensors file (docs/training.md, "Checkpoint
 * contents"): every parameter under its IR name, the AdamW moments as adam.m.<name> and
 * adam.v.<name>, and metadata — format, model, step, seed, the data's vocabulary and the spec. */
#ifndef MOAC_CHECKPOINT_H
#define MOAC_CHECKPOINT_H
#include <stdint.h>

#include "runtime/data.h"
#include "runtime/state.h"

#define MOAC_CHECKPOINT_FORMAT "moac-checkpoint-1"

typedef struct moac_ckpt_info {
    uint64_t step, seed;
    uint64_t total;            /* the run's planned steps (its schedule spans them) */
    moac_data_kind data_kind;
    unsigned char chars[256];  /* CHAR data: the vocabulary */
    int nchars;
    char model[128];
} moac_ckpt_info;

/* Writes atomically (a failure leaves any previous file untouched). Returns 0 or -1. */
int moac_checkpoint_save(const char *path, const moac_spec *spec, const moac_state *s, const moac_dataset *ds,
                         uint64_t seed, uint64_t total, moac_diag *d);
/* Reads path into s (which must already hold the model's params): every param and moment must be
 * present with the model's shape, nothing else may be; reports what does not match, naming the
 * file ("written for model 'mha', not 'moas'", "lacks h0.attn.router.w1", ...). On error s is
 * left unchanged. Returns 0 or -1. */
int moac_checkpoint_load(const char *path, const moac_spec *spec, moac_state *s, moac_ckpt_info *info, moac_diag *d);

#endif
