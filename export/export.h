/* `moac export`: a checkpoint of a spec as files another framework loads (docs/export.md). The
 * stage after runtime/: it reads what training wrote, as plot/ does.
 *
 * --pytorch DIR writes
 *   model.py           a self-contained torch module generated from the evaluation graph
 *                      (export/pytorch.h), with a safetensors reader and a self-check;
 *   model.safetensors  the checkpoint's parameters (not its Adam moments), moac's names;
 *   model.ir           the IR that model.py translates (at batch 2);
 *   check.safetensors  moac's outputs (logits, losses, statistics) on random tokens, computed by
 *                      a backend here, so that `python3 DIR/model.py` compares the module with
 *                      moac (left out with check_batch = 0). */
#ifndef MOAC_EXPORT_H
#define MOAC_EXPORT_H
#include "backends/backend.h"
#include "frontend/spec.h"

typedef struct moac_export_opts {
    const char *spec_path;      /* the spec's file, for model.py's header and messages */
    const char *ckpt;           /* the checkpoint to export */
    const char *dir;            /* where the files go: a new or empty directory, or an earlier export */
    int check_batch;            /* sequences of the check's random tokens; 0: no check.safetensors */
    const moac_backend_ops *backend; /* the check's backend; NULL: the default (cpu) */
    const moac_compile_opts *compile; /* NULL: the defaults; its log gets the compile line */
    int quiet;                  /* no compile line */
} moac_export_opts;

typedef struct moac_export_result {
    long long params;           /* parameters written */
    uint64_t step;              /* the checkpoint's step */
    int checked;                /* check.safetensors was written */
} moac_export_result;

/* Writes the export of o->ckpt (a checkpoint of spec) into o->dir. Refuses, before writing
 * anything, a dir that holds files an export does not write, a checkpoint that is not the
 * spec's, and a graph model.py cannot express; every error names its file. 0, or -1 after
 * reporting to d. */
int moac_export_pytorch(const moac_spec *spec, const moac_export_opts *o, moac_export_result *r, moac_diag *d);

#endif
