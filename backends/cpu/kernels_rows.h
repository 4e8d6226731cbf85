/* Helpers shared by the row-wise emitters (kernels_rows.c) and the embedding, rope, group_mean
 * and reduction emitters (kernels_embed.c): explicit <W x float> passes over a row of any length,
 * a masked chunk for the tail, and vector accumulators. Internal to backends/cpu. */
#ifndef MOAC_CPU_KERNELS_ROWS_H
#define MOAC_CPU_KERNELS_ROWS_H
#include "backends/cpu/emit.h"

/* The state of a kernel being emitted. The per-chunk bodies read their operands from here. */
typedef struct moac_rowc {
    moac_cg *cg;
    const moac_kfn *k;
    int W;                  /* lanes */
    LLVMTypeRef vt, dt;     /* <W x float>, <W x double> */
    LLVMValueRef mask;      /* lanes of the chunk being emitted; NULL: all */
    LLVMValueRef p[4], out; /* operand pointers, result pointer */
    LLVMValueRef off, off2; /* i64 element offsets of the current row (result, second operand) */
    LLVMValueRef cond;      /* an i1 the body may use (embed: the id is valid) */
    int64_t n2;             /* a size the body may use (rope: half the rotated dims; group_mean: heads) */
    LLVMValueRef s[4];      /* per-row values for the bodies (mostly f32 scalars splat to vt) */
    LLVMValueRef acc[2];    /* vector accumulators (moac_cg_var) */
    LLVMValueRef lane;      /* a GPU's row kernels (kernels_rows.c): this thread's lane (i64) of the warp
                               sharing the row; chunks are then dealt out to the lanes in turn and
                               row sums are the warp's. NULL: the thread has the row to itself */
} moac_rowc;

/* Emits the body of one chunk of W lanes starting at column j (i64). */
typedef void (*moac_rows_body)(moac_rowc *c, LLVMValueRef j);

/* Starts kernel "<prefix>_<what>" and resets c for it (c->k is left to the caller). */
moac_kfn moac_rows_kernel(const moac_emit_ctx *e, moac_rowc *c, const char *what, int64_t items, int nslots,
                          const int *slots);
/* for (j = 0; j < n; j += W) fn(c, j), with c->mask set for the last, partial chunk (with
 * c->lane: only the chunks j / W = lane, lane + 32, ...). */
void moac_rows_chunks(moac_rowc *c, int64_t n, moac_rows_body fn);
/* The mask of the lanes i with j0 + i < n (j0 an i64 value). */
LLVMValueRef moac_rows_lane_mask(moac_rowc *c, LLVMValueRef j0, int64_t n);
/* A vector load / store of type vt at base[idx], masked by c->mask when set (masked-off lanes
 * read as 0 and are not written, so a tail never touches memory past the row). */
LLVMValueRef moac_rows_load(moac_rowc *c, LLVMTypeRef vt, LLVMValueRef base, LLVMValueRef idx);
void moac_rows_store(moac_rowc *c, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
/* A vector accumulator of type vt set to init, and var += v on the lanes of c->mask. */
LLVMValueRef moac_rows_acc(moac_rowc *c, LLVMTypeRef vt, double init);
void moac_rows_acc_add(moac_rowc *c, LLVMValueRef var, LLVMValueRef v);
/* A scalar f32 splat to <W x float>. */
LLVMValueRef moac_rows_fsplat(moac_rowc *c, LLVMValueRef s);
/* The last dimension of t (1 for a scalar). */
int64_t moac_rows_last(const moac_type *t);

#endif
