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
 * Ownership: everything a compilation makes lives in the arena you pass; one moac_arena_free
 * releases it. Functions that can fail on user input report to a moac_diag and return NULL.
 *
 * Stages (each header documents its part):
 *   support/diag.h    diagnostics, sources, "did you mean"
 *   frontend/ast.h    parsing spec files, includes
 *   frontend/spec.h   the checked model description, its parameter / FLOP / KV counts
 *   ir/ir.h           the IR graph, its text form (print/read), verifier, DOT export
 *   passes/pass.h     lowering and the named passes, with --print-after support */
#ifndef MOAC_H
#define MOAC_H
#include "frontend/ast.h"
#include "frontend/spec.h"
#include "ir/ir.h"
#include "passes/lower.h"
#include "passes/pass.h"
#include "support/arena.h"
#include "support/diag.h"
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
