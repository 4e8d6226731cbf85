/* The backend table: what the rest of moac needs of a backend, as one struct of operations
 * (ggml-backend's interface, reduced to what moac uses), and the registry of backends by name.
 * runtime/exec.c, `--backend` and `moac emit` go through it and nothing else, so a new backend
 * (PTX) is a new table here, not a new branch in each of them.
 *
 *   const moac_backend_ops *be = moac_backend_find("cpu");       // NULL: unknown name
 *   moac_compiled *c = moac_compile(g, be, NULL, diag);          // NULL after reporting
 *   moac_write(c, "tokens", x, n);                               // inputs and params, by name
 *   moac_run(c, &(moac_run_opts){.seed = 1, .training = 1}, err, sizeof err);
 *   moac_read(c, "loss", &loss, 1);                              // outputs, as f32 (or f64)
 *   moac_compiled_free(c);
 *
 * How a backend splits a kernel's work (the CPU: `lo/hi` shares of independent items on a
 * thread pool; a GPU: a grid) and its kernel ABI are its own business, behind `compile`/`run`.
 * Element types at this interface: f32 values are float, i32 values int32_t; a backend that
 * computes in another precision (the interpreter: double) converts in `write` and `read`. */
#ifndef MOAC_BACKEND_H
#define MOAC_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "backends/interp/interp.h"
#include "ir/ir.h"
#include "passes/schedule.h"
#include "support/diag.h"
#include "support/log.h"
#include "support/strbuf.h"

/* The options of one run: seed and step of the dropout masks, training or evaluation. */
typedef moac_interp_opts moac_run_opts;

struct moac_target; /* backends/llvm/target.h: kept out of this header, which needs no LLVM */

/* What a compile may depend on besides the graph. The library reads no environment variable:
 * the `moac` command fills these from MOAC_THREADS, MOAC_CPU, MOAC_CPU_FEATURES, MOAC_CACHE,
 * MOAC_CACHE_DIR, MOAC_PROFILE, MOAC_DEBUG, MOAC_TF32 and MOAC_HOST_OPTIMIZER (cli/env.c). All
 * zero (or NULL opts): the host, all its cores, no compile cache, silent. */
typedef struct moac_compile_opts {
    int threads;                      /* worker threads; 0: the target's (all cores) */
    const struct moac_target *target; /* NULL: the host (moac_target_override makes another) */
    const char *cache_dir;            /* the compile cache's directory; NULL or "": no cache */
    const moac_log *log;              /* what the backend has to say (describe's lines are the
                                         caller's to log); must outlive the compiled graph */
    int profile;                      /* time every kernel; the table goes to log at free */
    int device;                       /* the GPU of a GPU backend (cuda: its ordinal) */
    int tf32;                         /* cuda: matmuls in TF32 (one tensor-core product, 10-bit
                                         mantissas, ~1e-3) instead of the f32-accurate 3xTF32 */
    int host_optimizer;               /* training: clip and AdamW on the host even where the
                                         backend could keep the state on its device */
    const char *passes;               /* optional passes (the fusions) turned on or off on the
                                         graphs built from specs: moac_pipeline.passes's list */
} moac_compile_opts;

/* The training state a backend may keep on its device (moac_backend_ops.optim_*): the host's
 * parameters, AdamW moments (runtime/state.h: w, m and v, `total` floats each, parameter p at
 * `offset`), so that a step's gradients, clip and update never leave the device. */
typedef struct moac_optim_param {
    const char *name; /* the param node's name; its gradient is the output grad.<name> */
    size_t offset, numel;
    int decay;        /* AdamW's weight decay applies */
} moac_optim_param;

typedef struct moac_optim_state {
    const moac_optim_param *params;
    int nparams;
    size_t total;
    float *w, *m, *v; /* the host copies: read by attach, written by download */
} moac_optim_state;

/* One step's clip and AdamW (runtime/state.c's moac_clip_grads and moac_adamw_step, the same
 * f32 arithmetic): step is the 1-based step being taken (bias corrections). */
typedef struct moac_optim_hyper {
    double lr, beta1, beta2, eps, weight_decay, clip;
    uint64_t step;
} moac_optim_hyper;

/* A backend's operations. `impl` is the backend's own handle, made by compile. The graph-level
 * entry points (moac_write and the others below) look the name up in the graph, check that it is
 * an input/param/output of the right size, and only then call the backend, so the operations
 * are given a node of the graph they compiled and need not check it again. */
typedef struct moac_backend_ops {
    const char *name; /* "cpu", "interp": what --backend takes */
    /* What the backend renders as kernels, and its buffers for pass 'plan': supports / fuses /
     * joins / plan (passes/schedule.h). */
    const moac_sched_rules *rules;
    /* g verified, scheduled or not (a backend schedules a copy with its rules when it needs
     * one); g must outlive the handle. NULL after reporting to d. */
    void *(*compile)(const moac_graph *g, const moac_compile_opts *o, moac_diag *d);
    /* Makes input/param n read data (f32 or int32_t, numel(n) elements) in place from now on,
     * with no copy per run; NULL when the backend cannot (the interpreter holds doubles). */
    int (*bind)(void *impl, const moac_node *n, void *data);
    /* Copies data (as for bind) into input/param n; kept across runs. */
    int (*write)(void *impl, const moac_node *n, const void *data);
    /* Runs the graph: 0, or -1 with a message in err (bad data: a token outside the vocabulary). */
    int (*run)(void *impl, const moac_run_opts *o, char *err, size_t errlen);
    /* Output n of the last run, numel(n) elements (i32 values converted exactly): 0, or -1. */
    int (*read)(const void *impl, const moac_node *n, float *dst);
    /* The same in double, so the interpreter's f64 results (the oracle) reach the caller whole. */
    int (*read_f64)(const void *impl, const moac_node *n, double *dst);
    /* What compile did, in words, appended to out as whole lines (nothing to say: nothing).
     * detail 0: the one line `moac train` prints unless --quiet; 1: the compile phases' times
     * (MOAC_DEBUG=1). */
    void (*describe)(const void *impl, int detail, moac_strbuf *out);
    /* `moac emit`: g's generated code as text in `format` ("llvm": LLVM IR, "asm": assembly),
     * only the kernels whose name starts with kernel (NULL: all); malloc'd, or NULL after
     * reporting. NULL for a backend that generates no code. */
    char *(*emit)(const moac_graph *g, const moac_compile_opts *o, const char *format, const char *kernel,
                  moac_diag *d);
    void (*free)(void *impl);
    /* Optional (NULL: the caller reads the gradients and updates its weights on the host): the
     * training state on the device. attach copies st's weights and moments to the device; from
     * then on the params' device copies are the weights (write no longer needed), optim_step
     * after a run clips the gradients to norm h->clip and applies AdamW there, giving the norm
     * before clipping, and download copies the weights and moments back into st's arrays. st
     * must outlive the handle. 0, or -1 with a message in err. */
    int (*optim_attach)(void *impl, const moac_optim_state *st, char *err, size_t errlen);
    int (*optim_step)(void *impl, const moac_optim_hyper *h, double *norm, char *err, size_t errlen);
    int (*optim_download)(void *impl, char *err, size_t errlen);
} moac_backend_ops;

/* The registry (backends/backend.c): the backend named name, or NULL. */
const moac_backend_ops *moac_backend_find(const char *name);
/* The registered backends' names, for messages: "cpu, interp". */
void moac_backend_names(moac_strbuf *out);
/* The default backend (cpu). */
const moac_backend_ops *moac_backend_default(void);

extern const moac_backend_ops moac_cpu_backend;    /* backends/cpu/backend.c */
extern const moac_backend_ops moac_interp_backend; /* backends/interp/backend.c */
extern const moac_backend_ops moac_cuda_backend;   /* backends/cuda/backend.c */

/* A graph compiled for a backend. */
typedef struct moac_compiled moac_compiled;

/* be NULL: the default backend. NULL after reporting to d. g must outlive the result. */
moac_compiled *moac_compile(const moac_graph *g, const moac_backend_ops *be, const moac_compile_opts *o,
                            moac_diag *d);
void moac_compiled_free(moac_compiled *c);
const moac_backend_ops *moac_compiled_backend(const moac_compiled *c);
/* Inputs and params by name attribute: data is numel f32 (float) or i32 (int32_t) values as
 * the node's type says. moac_bind reads it in place from now on where the backend can (else
 * returns -1 and the caller uses moac_write before each run). -1 if there is no such input or
 * param, or numel is not its size. */
int moac_write(moac_compiled *c, const char *name, const void *data, int64_t numel);
int moac_bind(moac_compiled *c, const char *name, void *data, int64_t numel);
int moac_run(moac_compiled *c, const moac_run_opts *o, char *err, size_t errlen);
/* An output of the last run by name attribute, numel elements: 0, or -1 if there is no such
 * output, numel is not its size, or no run has succeeded since compile. */
int moac_read(const moac_compiled *c, const char *name, float *dst, int64_t numel);
int moac_read_f64(const moac_compiled *c, const char *name, double *dst, int64_t numel);
/* The training state on the backend's device (moac_backend_ops.optim_*): whether it can, and the
 * three operations; each -1 with a message in err where it cannot or fails. */
int moac_optim_supported(const moac_compiled *c);
int moac_optim_attach(moac_compiled *c, const moac_optim_state *st, char *err, size_t errlen);
int moac_optim_step(moac_compiled *c, const moac_optim_hyper *h, double *norm, char *err, size_t errlen);
int moac_optim_download(moac_compiled *c, char *err, size_t errlen);
/* The backend's description of the compile (moac_backend_ops.describe). */
void moac_compiled_describe(const moac_compiled *c, int detail, moac_strbuf *out);

#endif
