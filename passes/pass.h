/* The pass driver: named passes run in order, the verifier after each one, and the IR printed
 * after the passes the user asks for (`moac ir --print-after=NAME`, `--print-after-all`).
 * With a debugging log (moac_pipeline.log; the `moac` command's with MOAC_DEBUG=1) each pass's
 * name and node count go there. */
#ifndef MOAC_PASS_H
#define MOAC_PASS_H
#include <stddef.h>

#include "frontend/spec.h"
#include "ir/ir.h"
#include "support/log.h"

typedef struct moac_pass {
    const char *name;
    const char *doc;
    /* Transforms the graph in place (or replaces *g). Returns 0, or -1 after reporting. */
    int (*run)(moac_graph **g, moac_diag *d);
    int train_only;             /* runs only when the pipeline builds a training graph */
    int optional;               /* a rewrite for speed that moac_pipeline.passes may turn on or off */
    int on_by_default;          /* optional passes: runs unless turned off */
} moac_pass;

/* The passes run on every graph after lowering, in order (those marked train_only only when
 * training). */
const moac_pass *moac_passes(int *count);

typedef struct moac_pipeline {
    const char *print_after;    /* a pass name (or "lower"), NULL for none */
    int print_after_all;
    moac_strbuf *dump;          /* where the printed IR goes */
    int dot;                    /* dump DOT instead of text */
    int train;                  /* build the training graph: run autodiff after lowering, which
                                   adds an output grad.<param> per param (docs/ir.md) */
    int logits;                 /* the forward graph also outputs "logits" [B,T,V] (evaluation,
                                   generation); specs only */
    const struct moac_sched_rules *schedule; /* run pass 'schedule' last, for this backend's rules
                                   (e.g. &moac_cpu_sched_rules); NULL: stop after remat, since a
                                   backend schedules a copy of the graph itself */
    const moac_log *log;        /* with debug set: "moac: pass NAME N nodes" after each pass */
    const char *passes;         /* optional passes (moac_pass_optional) turned on or off: a comma
                                   list of +NAME / -NAME (NAME alone: +NAME), the last mention
                                   winning; NULL: each as its default */
} moac_pipeline;

/* May the pass be turned on or off (moac_pipeline.passes)? The fusions may; the others are
 * needed. */
int moac_pass_optional(const char *name);
/* Checks a moac_pipeline.passes list: 0, or -1 with why (naming the entry, listing the optional
 * passes) in why. */
int moac_pass_list_check(const char *list, char *why, size_t len);

/* Is name a pass (including "lower")? For flag checking, with a suggestion list. */
int moac_pass_exists(const char *name);
const char *const *moac_pass_names(int *count);

/* Checks the model's size for batch, lowers spec (pass "lower") and runs the passes: lower ->
 * fuse_projections -> cse -> dce -> remat, or with p->train lower -> fuse_projections -> autodiff
 * -> concat_pads -> cse -> dce -> remat; then attention_stats and schedule when p->schedule is
 * set. p may be NULL (no dumps, forward graph without logits). Returns NULL if the size check, a pass or a verifier
 * failed (reported in d). */
moac_graph *moac_pipeline_spec(moac_arena *a, const moac_spec *spec, int64_t batch, const moac_pipeline *p,
                               moac_diag *d);
/* Runs the passes on a graph that was read from IR text (it is verified first); with p->train
 * a forward graph gets its backward graph too. A scheduled graph (annotated, docs/ir.md) is
 * returned as it is; with p->train or a dump requested that is an error. */
moac_graph *moac_pipeline_graph(moac_graph *g, const moac_pipeline *p, moac_diag *d);

/* The backend's stages of the pipeline, for rules r: passes 'attention_stats' and 'schedule'
 * (passes/schedule.h), each verified and printed as p asks (p may be NULL). g: unscheduled. 0, or
 * -1 with d. Backends call it on their copy of a graph that comes unscheduled. */
int moac_pipeline_schedule(moac_graph *g, const struct moac_sched_rules *r, const moac_pipeline *p, moac_diag *d);

/* The passes themselves. */
int moac_pass_autodiff(moac_graph **g, moac_diag *d); /* moac_autodiff (passes/autodiff.h) */
int moac_pass_cse(moac_graph **g, moac_diag *d);
int moac_pass_dce(moac_graph **g, moac_diag *d);
int moac_pass_remat(moac_graph **g, moac_diag *d);
int moac_pass_fuse_projections(moac_graph **g, moac_diag *d); /* passes/fuse_projections.c */
int moac_pass_concat_pads(moac_graph **g, moac_diag *d);

#endif
