/* safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [a, b]},
 * ..., "__metadata__": {"key": "value", ...}}, then the tensor bytes. PyTorch, JAX and HF read
 * them; moac writes its checkpoints in this format. */
#ifndef MOAC_SAFETENSORS_H
#define MOAC_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "support/diag.h"

enum { MOAC_ST_MAX_RANK = 8 };

typedef struct moac_st_tensor {
    const char *name;
    const char *dtype;          /* "F32", "F64", "I32", "I64", "U8", ... as written */
    int rank;
    int64_t dims[MOAC_ST_MAX_RANK];
    const void *data;           /* little-endian bytes */
    size_t nbytes;
} moac_st_tensor;

typedef struct moac_st_meta {
    const char *key, *value;
} moac_st_meta;

/* Writes atomically: to "<path>.tmp-<pid>", fsync, then rename over path, so a crash or a full
 * disk never leaves a half-written file under path (or destroys the one that was there).
 * Tensors are laid out in the order given. Returns 0, or -1 after reporting. */
int moac_safetensors_write(const char *path, const moac_st_tensor *tensors, int ntensors, const moac_st_meta *meta,
                           int nmeta, moac_diag *d);

typedef struct moac_safetensors moac_safetensors;

/* Reads and validates a whole file: header length within the file, well-formed JSON, known
 * dtypes, shapes matching byte counts, offsets in bounds and not overlapping. Reports the file
 * and what is wrong (truncated, a header length that lies, ...) and returns NULL on any problem. */
moac_safetensors *moac_safetensors_read(const char *path, moac_diag *d);
void moac_safetensors_free(moac_safetensors *st);
int moac_safetensors_count(const moac_safetensors *st);
const moac_st_tensor *moac_safetensors_at(const moac_safetensors *st, int i);
const moac_st_tensor *moac_safetensors_find(const moac_safetensors *st, const char *name);
/* The metadata entries, in file order (keys are unique: the JSON reader refuses duplicates). */
int moac_safetensors_meta_count(const moac_safetensors *st);
const char *moac_safetensors_meta_key(const moac_safetensors *st, int i);
/* The metadata value of key, or NULL. */
const char *moac_safetensors_meta(const moac_safetensors *st, const char *key);

#endif
