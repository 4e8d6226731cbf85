/* A model's evaluation graph as a PyTorch module: the text of the model.py that `moac export
 * --pytorch` writes (docs/export.md). The module is generated, not hand-written per scheme: one
 * line of torch per IR value, in the graph's order, from one translation per op of ir/ops.def,
 * around a fixed part (export/model_template.py: the safetensors reader, the ops that take more
 * than a line, the nn.Module, the self-check against moac's outputs).
 *
 * The batch is a variable of the module (B = idx.shape[0]), not the graph's number: the caller
 * lowers the graph at two batch sizes, and every size that differs between the two, in
 * proportion to the batch, is written as B or B * m. The context stays the graph's (routing over
 * a window — capacities, top-k — is defined for that length). */
#ifndef MOAC_EXPORT_PYTORCH_H
#define MOAC_EXPORT_PYTORCH_H
#include <stdint.h>

#include "ir/ir.h"

typedef struct moac_pytorch_info {
    const char *spec_path;      /* named in the header and in errors about the graph */
    const char *ckpt_path;      /* named in the header; NULL: none */
    uint64_t step, steps;       /* the checkpoint's step and its run's planned steps */
    const char *check;          /* the header's line about check.safetensors; NULL: there is none */
} moac_pytorch_info;

/* g[0], g[1]: one spec's evaluation graph (with its "logits" output) lowered at batch[0] and
 * batch[1] (different, both >= 2), unscheduled. Appends model.py to out. 0, or -1 after
 * reporting to d: an op with no PyTorch form (backward ops), an input other than tokens and
 * targets, a parameter name nn.Module cannot hold, graphs that differ other than in the batch. */
int moac_pytorch_source(const moac_graph *const g[2], const int64_t batch[2], const moac_pytorch_info *info,
                        moac_strbuf *out, moac_diag *d);

#endif
