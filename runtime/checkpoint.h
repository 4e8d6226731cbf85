/* Checkpoints: the training state in a safetensors file (docs/training.md, "Checkpoint
 * contents"): every parameter under its IR name, the AdamW moments as adam.m.<name> and
 * adam.v.<name>, and metadata — format, model, step, seed, the spec, and the data it was
 * trained on (file, size, sha256, tokenizer, vocabulary and split; token files with their dtype;
 * or the synthetic task). */
#ifndef MOAC_CHECKPOINT_H
#define MOAC_CHECKPOINT_H
#include <stdint.h>

#include "runtime/data.h"
#include "runtime/state.h"

#define MOAC_CHECKPOINT_FORMAT "moac-checkpoint-2"
#define MOAC_CHECKPOINT_FORMAT_V1 "moac-checkpoint-1" /* older: records the data's kind, not its source */
/* Limits on metadata numbers: the spec's (steps < 2^30, seed < 2^31), so a damaged or edited
 * checkpoint cannot plan a run that never ends. */
#define MOAC_CKPT_MAX_STEPS (1L << 30)
#define MOAC_CKPT_MAX_SEED 2147483647L
enum { MOAC_CKPT_PATH_MAX = 4096 };

typedef struct moac_ckpt_info {
    int version;               /* 2, or 1 for an older checkpoint (no data source recorded) */
    uint64_t step, seed;
    uint64_t total;            /* the run's planned steps (its schedule spans them) */
    char model[128];
    /* the data it was trained on */
    moac_data_kind data_kind;  /* CHAR/BYTE: a text file with that tokenizer */
    int vocab;                 /* tokens the data uses (version 2) */
    unsigned char chars[256];  /* CHAR data: the vocabulary */
    int nchars;
    /* version 2, text data */
    char data_path[MOAC_CKPT_PATH_MAX];    /* as the user gave it */
    char data_abspath[MOAC_CKPT_PATH_MAX]; /* absolute */
    uint64_t data_bytes;
    char data_sha256[65];
    double split;              /* text and one token file; 1 with a validation token file */
    uint64_t train_tokens, val_tokens;
    /* version 2, token files (data_kind TOKENS; data_* above describe the training file) */
    int token_bytes;           /* 2 (u16) or 4 (u32) */
    int has_val;               /* a validation file, described by val_* */
    char val_path[MOAC_CKPT_PATH_MAX];
    char val_abspath[MOAC_CKPT_PATH_MAX];
    uint64_t val_bytes;
    char val_sha256[65];
    /* version 2, the synthetic task */
    int synth_pairs;
    moac_synth_layout synth_layout;
} moac_ckpt_info;

/* Writes atomically (a failure leaves any previous file untouched). ds is the data the run
 * trains on (recorded in the metadata). Returns 0 or -1. */
int moac_checkpoint_save(const char *path, const moac_spec *spec, const moac_state *s, const moac_dataset *ds,
                         uint64_t seed, uint64_t total, moac_diag *d);
/* Reads path into s (which must already hold the model's params): every param and moment must be
 * present with the model's shape, nothing else may be; every metadata field must be present (as
 * its format version has it), well-formed and within its limits, and no other field may be;
 * reports what does not match, naming the file and the field ("written for model 'mha', not
 * 'moas'", "lacks h0.attn.router.w1", "metadata field 'steps' is '3e9', not ..."). On error s is
 * left unchanged. Returns 0 or -1. */
int moac_checkpoint_load(const char *path, const moac_spec *spec, moac_state *s, moac_ckpt_info *info, moac_diag *d);

/* "synthetic(pairs = 3, layout = separate)" */
void moac_ckpt_synthetic_name(char *buf, size_t n, int pairs, moac_synth_layout layout);

#endif
