/* The fusion passes (passes/fuse_projections.c: fuse_projections, concat_pads) against the
 * graph without them: for each spec, the training graph built with and without the fusions runs
 * on the reference interpreter (f64) from the same inputs and parameters, and every output — the
 * loss, the metrics, every gradient — must agree to 1e-9 relative (only sums run in another
 * order). The fused graph on the CPU backend must match the interpreter as every graph does.
 * Structure: the fused graphs have fewer matmuls, their concats, and fewer pads in the gradients
 * (the fusion's rule joins only where the batch makes it pay: the two tiny specs at theirs);
 * and moac_pipeline.passes's list (MOAC_PASSES) turns them on and off, the last mention winning. */
#include "cpu_check.h"

#include "frontend/spec.h"
#include "passes/pass.h"

static const char *const specs[] = {"tests/specs/tiny-moas.moa", "tests/specs/tiny-mha.moa",
                                    "tests/specs/export-routing.moa", "tests/specs/export-variants.moa"};

static const char *const fusions = "+fuse_projections,+concat_pads";

static moac_graph *build(moac_arena *a, const char *path, int train, const char *passes) {
    moac_diag d;
    moac_diag_init(&d);
    moac_spec *spec = moac_spec_load(a, path, &d);
    moac_graph *g = spec ? moac_pipeline_spec(a, spec, 0, &(moac_pipeline){.train = train, .passes = passes}, &d) : NULL;
    if (!g) print_error("%s: %s", path, moac_strbuf_cstr(&d.out));
    assert_non_null(g);
    moac_diag_free(&d);
    return g;
}

static int count_op(const moac_graph *g, moac_op op) {
    int n = 0;
    for (size_t i = 0; i < g->count; i++) n += g->nodes[i]->op == op;
    return n;
}

/* Runs g on the interpreter: inputs and params drawn by name (so two graphs get the same ones). */
static moac_interp *run(const moac_graph *g) {
    moac_interp *ip = moac_interp_new(g);
    assert_non_null(ip);
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_INPUT && n->op != MOAC_OP_PARAM) continue;
        uint64_t site = 0;
        for (const char *c = n->s; *c; c++) site = site * 131 + (unsigned char)*c;
        double *buf = moac_interp_buffer(ip, n->s);
        int64_t bound = n->type.dtype == MOAC_I32 ? moac_verify_index_bound(g, n) : 0;
        for (int64_t j = 0; j < moac_type_numel(&n->type); j++)
            buf[j] = n->type.dtype == MOAC_I32 ? (double)moac_rng_below(5, site, (uint64_t)j, (uint64_t)bound)
                     : n->op == MOAC_OP_PARAM ? n->f[0] + 0.3 * moac_rng_normal(5, site, (uint64_t)j)
                                              : moac_rng_normal(5, site, (uint64_t)j);
    }
    char err[512] = "";
    int rc = moac_interp_run(ip, &(moac_interp_opts){.seed = 3, .step = 1, .training = 1}, err, sizeof err);
    if (rc) print_error("interp: %s\n", err);
    assert_int_equal(rc, 0);
    return ip;
}

static void test_fused_equals_unfused(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        moac_arena a;
        moac_arena_init(&a);
        moac_graph *fused = build(&a, specs[s], 1, fusions), *plain = build(&a, specs[s], 1, NULL);
        moac_interp *f = run(fused), *p = run(plain);
        int outputs = 0;
        for (size_t i = 0; i < plain->count; i++) {
            const moac_node *n = plain->nodes[i];
            if (n->op != MOAC_OP_OUTPUT) continue;
            const double *want = moac_interp_result(p, n->s), *got = moac_interp_result(f, n->s);
            if (!got) print_error("%s: the fused graph lacks output '%s'\n", specs[s], n->s);
            assert_non_null(got);
            double scale = 1e-12, diff = 0;
            for (int64_t j = 0; j < moac_type_numel(&n->type); j++) {
                if (fabs(want[j]) > scale) scale = fabs(want[j]);
                if (!(fabs(got[j] - want[j]) <= diff)) diff = isnan(got[j]) ? INFINITY : fabs(got[j] - want[j]);
            }
            if (!(diff <= 1e-9 * scale)) print_error("%s: output '%s' differs by %g (scale %g)\n", specs[s], n->s, diff, scale);
            assert_true(diff <= 1e-9 * scale);
            outputs++;
        }
        assert_true(outputs > 2);
        moac_interp_free(f);
        moac_interp_free(p);
        /* The fused graph's own kernels against the interpreter, as accurate as the unfused
         * graph's (the harness's params, fill + 0.5 N(0,1), leave some of export-routing's
         * sparse-head gradients small beside f32 rounding in both). */
        double e = moac_cpu_check_graph(fused, NULL), e0 = moac_cpu_check_graph(plain, NULL);
        print_message("%s: CPU against the interpreter: fused %.3g, unfused %.3g\n", specs[s], e, e0);
        assert_true(e <= 1.5 * e0 + 1e-5);
        moac_arena_free(&a);
    }
}

/* The passes did something where they should: tiny-moas's layer has ten projections of its
 * normalised input (three Q, the branches' K and V, the router's first layer), joined into one,
 * in the forward graph at the spec's batch. */
static void test_structure(void **state) {
    (void)state;
    for (size_t s = 0; s < 2; s++) { /* tiny-moas and tiny-mha: the others' batches are too small */
        moac_arena a;
        moac_arena_init(&a);
        moac_graph *fused = build(&a, specs[s], 1, fusions), *plain = build(&a, specs[s], 1, NULL);
        moac_graph *only_fwd = build(&a, specs[s], 1, "+fuse_projections");
        int fm = count_op(fused, MOAC_OP_MATMUL), pm = count_op(plain, MOAC_OP_MATMUL);
        if (!(fm < pm)) print_error("%s: %d matmuls fused, %d unfused\n", specs[s], fm, pm);
        assert_true(fm < pm);
        assert_true(count_op(fused, MOAC_OP_CONCAT) > 0);
        assert_int_equal(count_op(plain, MOAC_OP_CONCAT), 0);
        /* The joined slices' gradient pads were folded into concats; without concat_pads they
         * stay (the lowering's own slices keep theirs either way). */
        assert_true(count_op(fused, MOAC_OP_PAD) < count_op(only_fwd, MOAC_OP_PAD));
        moac_arena_free(&a);
    }
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = build(&a, "tests/specs/tiny-moas.moa", 0, fusions), *u = build(&a, "tests/specs/tiny-moas.moa", 0, NULL);
    assert_int_equal(count_op(u, MOAC_OP_MATMUL) - count_op(g, MOAC_OP_MATMUL), 2 * 9);
    moac_arena_free(&a);
}

static void test_optional_names(void **state) {
    (void)state;
    char why[512];
    assert_int_equal(moac_pass_list_check("+fuse_projections,-concat_pads,concat_pads", why, sizeof why), 0);
    assert_int_equal(moac_pass_list_check("+cse", why, sizeof why), -1);
    assert_non_null(strstr(why, "'cse' is not a pass that can be turned on or off"));
    assert_non_null(strstr(why, "fuse_projections (off by default)"));
    assert_int_equal(moac_pass_list_check("-fuse_projectionsX", why, sizeof why), -1);
    /* The last mention wins; off by default. */
    moac_arena a;
    moac_arena_init(&a);
    const char *spec = "tests/specs/tiny-moas.moa";
    int base = count_op(build(&a, spec, 0, NULL), MOAC_OP_CONCAT);
    assert_int_equal(base, 0);
    assert_true(count_op(build(&a, spec, 0, "-fuse_projections,+fuse_projections"), MOAC_OP_CONCAT) > 0);
    assert_int_equal(count_op(build(&a, spec, 0, "+fuse_projections,-fuse_projections"), MOAC_OP_CONCAT), 0);
    moac_arena_free(&a);
    assert_true(moac_pass_optional("fuse_projections"));
    assert_true(moac_pass_optional("concat_pads"));
    assert_false(moac_pass_optional("autodiff"));
    assert_false(moac_pass_optional("cse"));
    assert_false(moac_pass_optional("nonsense"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_equals_unfused),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_optional_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
