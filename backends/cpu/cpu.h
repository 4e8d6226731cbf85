/* The LLVM CPU backend: compiles an IR graph to native kernels and runs them on a thread pool.
 *
 *   moac_cpu *c = moac_cpu_new(graph, NULL, diag);     // schedule, emit LLVM IR, memory plan, JIT
 *   moac_cpu_bind(c, "h0.mlp.w1", weights);            // params/inputs: bind caller memory, or
 *   float *tok = moac_cpu_buffer(c, "tokens");         // use the backend's own (i32 data as int32_t)
 *   moac_cpu_run(c, &(moac_interp_opts){.seed = 1, .step = 0, .training = 1}, err, sizeof err);
 *   const float *loss = moac_cpu_result(c, "loss");
 *
 * Pipeline (docs/architecture.md): pass 'schedule' (passes/schedule.c, with the rules below)
 * groups the graph's nodes and writes the kernels into the IR; cpu.c renders them — a fused
 * elementwise/layout kernel per stored value (fuse.c), every other kernel by its emitter
 * (emitters.def), @r nodes on the reference kernel (fallback.c); pass 'plan' (passes/plan.c)
 * assigns every materialised value an offset in one arena by liveness; the module is compiled
 * once by backends/llvm/jit.c (with its cache); run.c executes the kernel list on pool.c. */
#ifndef MOAC_CPU_H
#define MOAC_CPU_H
#include <stddef.h>
#include <stdint.h>

#include "backends/interp/interp.h"
#include "backends/llvm/jit.h"
#include "ir/ir.h"
#include "passes/schedule.h"
#include "support/diag.h"

typedef struct moac_cpu moac_cpu;

typedef struct moac_cpu_opts {
    int threads;           /* 0: the target's */
    const moac_target *target; /* NULL: the host (moac_target_host) */
    const char *cache_dir; /* the compile cache (backends/llvm/jit.h); NULL or "": none */
    const moac_log *log;   /* debugging lines, cache warnings, the profile; must outlive the moac_cpu */
    int profile;           /* time every kernel; moac_cpu_free writes the time per kind to log */
} moac_cpu_opts;

typedef struct moac_cpu_stats {
    moac_jit_stats jit;
    double schedule_s;  /* scheduling + emitting LLVM IR */
    int kernels;        /* LLVM kernels */
    int fused_nodes;    /* elementwise/layout nodes folded into another kernel */
    int fallback_nodes; /* nodes run on the reference kernel */
    int functions;      /* distinct compiled functions (identical nodes share one: kernels - reuses) */
    size_t arena_bytes; /* activations + scratch, after liveness planning */
} moac_cpu_stats;

/* What the CPU backend renders, for pass 'schedule' (schedule_rules.c). */
extern const moac_sched_rules moac_cpu_sched_rules;

/* g: verified; unscheduled (the CPU schedules a copy with moac_cpu_sched_rules), or scheduled
 * (IR text after pass 'schedule'), then rendered as it is if the CPU can. Every entry point
 * below takes g the same way. */
moac_cpu *moac_cpu_new(const moac_graph *g, const moac_cpu_opts *opts, moac_diag *d);
void moac_cpu_free(moac_cpu *c);
/* The buffer of an input or param by name attribute (numel elements, float or int32_t), or NULL. */
void *moac_cpu_buffer(moac_cpu *c, const char *name);
/* Makes the input or param `name` read from caller memory instead (kept until rebound). */
int moac_cpu_bind(moac_cpu *c, const char *name, void *data);
int moac_cpu_run(moac_cpu *c, const moac_interp_opts *opts, char *err, size_t errlen);
/* An output's values (float, or int32_t for i32 outputs), valid until the next run; NULL if none. */
const void *moac_cpu_result(const moac_cpu *c, const char *name);
moac_cpu_stats moac_cpu_get_stats(const moac_cpu *c);

/* For `moac emit`: the graph's LLVM module (optimised for t; NULL: the host) as IR text or
 * assembly; with `kernel` set, only the functions whose name starts with it. Returns a malloc'd
 * string or NULL. */
char *moac_cpu_emit(const moac_graph *g, const moac_target *t, int assembly, const char *kernel, moac_diag *d);
/* Everything of moac_cpu_new that depends on the graph — scheduling, fusion, every kernel's
 * emitter, the memory plan, LLVM's verifier on the module — without LLVM's optimisation and
 * code generation (seconds for a large graph) or allocating the activations: 0, or -1 with d. */
int moac_cpu_verify(const moac_graph *g, moac_diag *d);
/* The schedule moac_cpu_new would run g with on target t (NULL: the host), as counts: kernels,
 * distinct functions, fused and fallback nodes, and the arena bytes of the memory plan (the jit
 * and schedule_s fields stay 0). Like moac_cpu_verify but without LLVM's module verifier, and
 * nothing is allocated for the activations, so a large batch costs nothing: 0 with *out set, or
 * -1 with d (out zeroed). The matmul work split and the scratch sizes follow t's vector width
 * and thread count, so a caller wanting the same numbers on every machine passes a fixed t. The
 * kernel-count goldens (tests/unit/test_kernel_counts.c) hold these for every model. */
int moac_cpu_schedule_stats(const moac_graph *g, const moac_target *t, moac_cpu_stats *out, moac_diag *d);
/* The memory plan (pass 'plan', passes/plan.h) moac_cpu_new makes for scheduled g on this machine:
 * every stored value and kernel scratch buffer, with its steps and arena offset. 0 with *out
 * (free out->buffers), or -1 with d. For `moac ir --print-after=plan`. */
int moac_cpu_plan(const moac_graph *g, moac_plan *out, moac_diag *d);

#endif
