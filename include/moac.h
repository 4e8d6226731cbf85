/* moac — a compiler for mixtures of attention schemes. The public interface of the library.
 *
 * The `moac` command is a thin driver over these calls; another program (or, later, a Python
 * binding) can compile specs the same way:
 *
 *     moac_arena arena;  moac_arena_init(&arena);
 *     moac_diag diag;    moac_diag_init(&diag);
 *     moac_spec *spec = moac_spec_load(&arena, "models/moas.moa", &diag);  // parse + check
 *     if (!spec) fputs(moac_strbuf_cstr(&diag.out), stderr);              // located errors
 *     moac_spec_stats st = moac_spec_stats_compute(spec);                  // params, FLOPs, KV
 *     moac_graph *g = moac_pipeline_spec(&arena, spec, 0, NULL, &diag);    // lowered + passes
 *     moac_strbuf text; moac_strbuf_init(&text); moac_ir_print(g, &text);  // IR text form
 *     moac_strbuf_free(&text); moac_diag_free(&diag); moac_arena_free(&arena);
 *
 * Running a graph: choose a backend, compile, bind or write the inputs and params, run, read:
 *
 *     const moac_backend_ops *be = moac_backend_find("cpu");             // or "interp"; NULL: unknown
 *     moac_compiled *c = moac_compile(g, be, NULL, &diag);                // NULL after reporting
 *     moac_write(c, "tokens", tokens, n);                                  // f32 / int32_t, by name
 *     moac_bind(c, "wte", weights, numel);                                 // in place, where the backend can
 *     char err[256];
 *     if (moac_run(c, &(moac_run_opts){.seed = 1, .training = 0}, err, sizeof err)) ...  // bad data
 *     float loss;  moac_read(c, "loss", &loss, 1);                         // outputs (moac_read_f64: f64)
 *     moac_compiled_free(c);
 *
 * Training: moac_trainer compiles the spec's training graph and takes AdamW steps on batches the
 * caller provides (examples/train_steps.c does this using only this header):
 *
 *     moac_trainer *t = moac_trainer_new(spec, be, &(moac_trainer_opts){.batch = 8}, &diag);
 *     moac_step_result r;
 *     moac_trainer_step(t, x, y, &r, &diag);   // x, y: batch * context tokens; r.loss, r.lr, ...
 *     moac_trainer_free(t);
 *
 * The library prints nothing and reads no environment variable: what it has to say goes to a
 * moac_log the caller passes (moac_compile_opts.log, moac_pipeline.log), and what the `moac`
 * command takes from the environment (MOAC_THREADS, MOAC_CPU, MOAC_CACHE_DIR, ...) are fields
 * of moac_compile_opts. All-zero options mean: this machine, all cores, no compile cache, silent.
 *
 * Ownership: everything a compilation makes lives in the arena you pass; one moac_arena_free
 * releases it (a compiled graph or a trainer has its own _free). Functions that can fail on
 * user input report to a moac_diag and return NULL (or -1).
 *
 * Stages (each header documents its part):
 *   support/diag.h      diagnostics, sources, "did you mean"
 *   support/log.h       the caller's log
 *   frontend/ast.h      parsing spec files, includes
 *   frontend/spec.h     the checked model description, its parameter / FLOP / KV counts
 *   ir/ir.h             the IR graph, its text form (print/read), verifier, DOT export
 *   passes/pass.h       lowering and the named passes, with --print-after support
 *   backends/backend.h  the backend table and registry: compile, bind, write, run, read
 *   runtime/trainer.h   training steps on a spec */
#ifndef MOAC_H
#define MOAC_H
#include "backends/backend.h"
#include "frontend/ast.h"
#include "frontend/spec.h"
#include "ir/ir.h"
#include "passes/lower.h"
#include "passes/pass.h"
#include "runtime/trainer.h"
#include "support/arena.h"
#include "support/diag.h"
#include "support/log.h"
#include "support/strbuf.h"

/* "0.1.0" */
const char *moac_version(void);
/* The LLVM version moac was built against, e.g. "19.1.7". */
const char *moac_llvm_version(void);

/* A human-readable summary of a checked spec (`moac check`), and the same as one JSON object
 * (`moac check --json`); `path` is echoed in both. */
void moac_spec_summary(const moac_spec *s, const char *path, moac_strbuf *out);
void moac_spec_json(const moac_spec *s, const char *path, moac_strbuf *out);

#endif
