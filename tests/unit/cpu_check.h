/* The CPU backend against the reference interpreter: one graph, the same random inputs and
 * parameters on both, every output compared. Header-only (static functions) so each test stays
 * one executable.
 *
 *   double err = moac_cpu_check_ir("graph \"t\" { ... }");   // fails the test on any error
 *   assert_true(err < 1e-4);
 *
 * The error is, for each output, max|cpu - ref| / max(max|ref|, 1e-6), maximised over outputs. */
#ifndef MOAC_CPU_CHECK_H
#define MOAC_CPU_CHECK_H
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/cpu/cpu.h"
#include "backends/interp/interp.h"
#include "ir/ir.h"
#include "runtime/verify.h"
#include "support/rng.h"

/* The target the checks compile for (NULL: the host). A test may point it elsewhere: at the host
 * with a GPU's work split (fine_items), to run the GPU's generic kernel forms here. */
static const moac_target *moac_check_target;

static inline moac_cpu *moac_check_cpu_new(const moac_graph *g, moac_diag *d) {
    moac_cpu_opts o = {.target = moac_check_target};
    return moac_cpu_new(g, moac_check_target ? &o : NULL, d);
}

/* Runs g on both backends with inputs drawn from seed; returns the largest relative error. */
static inline double moac_cpu_check_graph(const moac_graph *g, const moac_interp_opts *opts) {
    moac_interp_opts o = opts ? *opts : (moac_interp_opts){.seed = 7, .step = 3, .training = 1};
    moac_diag d;
    moac_diag_init(&d);
    moac_cpu *c = moac_check_cpu_new(g, &d);
    if (!c) print_error("%s", d.out.data ? d.out.data : "moac_cpu_new failed\n");
    assert_non_null(c);
    moac_interp *ip = moac_interp_new(g);
    assert_non_null(ip);
    uint64_t site = 0;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_INPUT && n->op != MOAC_OP_PARAM) continue;
        int64_t count = moac_type_numel(&n->type);
        double *ref = moac_interp_buffer(ip, n->s);
        void *cpu = moac_cpu_buffer(c, n->s);
        assert_non_null(ref);
        assert_non_null(cpu);
        int64_t bound = n->type.dtype == MOAC_I32 ? moac_verify_index_bound(g, n) : 0;
        for (int64_t j = 0; j < count; j++) {
            if (n->type.dtype == MOAC_I32) {
                int32_t v = (int32_t)moac_rng_below(99, site, (uint64_t)j, (uint64_t)bound);
                ((int32_t *)cpu)[j] = v;
                ref[j] = v;
            } else {
                /* Params around their fill (LayerNorm weights near 1), so activations stay sane. */
                double z = moac_rng_normal(99, site, (uint64_t)j);
                float v = (float)(n->op == MOAC_OP_PARAM ? n->f[0] + 0.5 * z : z);
                ((float *)cpu)[j] = v;
                ref[j] = v;
            }
        }
        site++;
    }
    char err[512] = "";
    int rc = moac_cpu_run(c, &o, err, sizeof err);
    if (rc) print_error("cpu run: %s\n", err);
    assert_int_equal(rc, 0);
    rc = moac_interp_run(ip, &o, err, sizeof err);
    if (rc) print_error("interp run: %s\n", err);
    assert_int_equal(rc, 0);
    double worst = 0;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_OUTPUT) continue;
        const double *ref = moac_interp_result(ip, n->s);
        const void *cpu = moac_cpu_result(c, n->s);
        assert_non_null(ref);
        assert_non_null(cpu);
        int64_t count = moac_type_numel(&n->type);
        double scale = 1e-6, diff = 0;
        int64_t at = 0;
        for (int64_t j = 0; j < count; j++) {
            double v = n->type.dtype == MOAC_I32 ? ((const int32_t *)cpu)[j] : ((const float *)cpu)[j];
            if (fabs(ref[j]) > scale) scale = fabs(ref[j]);
            if (!(fabs(v - ref[j]) <= diff)) {
                diff = isnan(v) != isnan(ref[j]) ? INFINITY : fabs(v - ref[j]);
                if (isnan(diff)) diff = 0;
                at = j;
            }
        }
        double rel = diff / scale;
        if (rel > 1e-4)
            print_message("  output '%s': max |cpu - ref| = %g at element %lld (cpu %g, ref %g), scale %g\n", n->s,
                          diff, (long long)at,
                          n->type.dtype == MOAC_I32 ? (double)((const int32_t *)cpu)[at] : (double)((const float *)cpu)[at],
                          ref[at], scale);
        if (rel > worst) worst = rel;
    }
    moac_interp_free(ip);
    moac_cpu_free(c);
    moac_diag_free(&d);
    return worst;
}

/* Like moac_cpu_check_ir, and fails the test when any node ran on the reference kernel instead
 * of generated code (what the per-emitter tests need to know). kernels (if not NULL) receives
 * how many kernels the graph compiled to. */
static inline double moac_cpu_check_ir_native(const char *ir_text, int *kernels) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "check.ir", ir_text), &d);
    if (!g) print_error("%s", d.out.data ? d.out.data : "bad IR\n");
    assert_non_null(g);
    moac_cpu *c = moac_check_cpu_new(g, &d);
    if (!c) print_error("%s", d.out.data ? d.out.data : "moac_cpu_new failed\n");
    assert_non_null(c);
    int fallback = moac_cpu_get_stats(c).fallback_nodes;
    if (kernels) *kernels = moac_cpu_get_stats(c).kernels;
    moac_cpu_free(c);
    if (fallback) print_error("%d node(s) ran on the reference kernel:\n%s\n", fallback, ir_text);
    assert_int_equal(fallback, 0);
    double e = moac_cpu_check_graph(g, NULL);
    moac_diag_free(&d);
    moac_arena_free(&arena);
    return e;
}

/* The same, for a graph in the IR text form. */
static inline double moac_cpu_check_ir(const char *ir_text) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_arena *a = &arena;
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(a, moac_source_from_text(a, "check.ir", ir_text), &d);
    if (!g) print_error("%s", d.out.data ? d.out.data : "bad IR\n");
    assert_non_null(g);
    double e = moac_cpu_check_graph(g, NULL);
    moac_diag_free(&d);
    moac_arena_free(a);
    return e;
}

#endif
