/* Every model in models/ on the CPU backend against the reference interpreter: the training
 * graph (loss and the gradient of every parameter) with dropout on, at two sizes — tiny (head
 * dim 4, as the gradient checks) and small (head dim 16, so the vector paths of the attention
 * and matmul kernels run, with tails) — within 1e-4 relative (f32 against f64). */
#include "cpu_check.h"
#include "gradcheck.h"

/* After gc_shrink_scheme: head dims of 16 and sparse heads picking 7 of 24 tokens. */
static void widen_heads(moac_scheme *sc) {
    if (sc->kind == MOAC_SCHEME_DENSE || sc->kind == MOAC_SCHEME_SPARSE) sc->head_dim = 16;
    if (sc->kind == MOAC_SCHEME_SPARSE) sc->k = 7;
    if (sc->kind == MOAC_SCHEME_DENSE && sc->kv) widen_heads(sc->kv);
    if (sc->kind == MOAC_SCHEME_MIX)
        for (int i = 0; i < sc->nbranches; i++) widen_heads(sc->branches[i]);
}

static double check_model(const char *path, int small) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_spec *spec = gc_tiny_spec(&arena, &diag, path, 2);
    spec->dropout = 0.1;
    if (small) {
        spec->vocab = 37;
        spec->context = 24;
        spec->width = 48;
        spec->mlp_hidden = 96;
        widen_heads(spec->attention);
    }
    moac_graph *train = moac_pipeline_spec(&arena, spec, 2, &(moac_pipeline){.train = 1}, &diag);
    if (!train) {
        fprintf(stderr, "%s", moac_strbuf_cstr(&diag.out));
        abort();
    }
    double e = moac_cpu_check_graph(train, NULL);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return e;
}

static void run_models(int small) {
    char *paths[64];
    int models = gc_model_files(paths, 64);
    assert_true(models >= 9);
    double worst = 0;
    int bad = 0;
    for (int i = 0; i < models; i++) {
        double e = check_model(paths[i], small);
        printf("  %-28s max rel err %.2e\n", paths[i], e);
        if (!(e < 1e-4)) bad++;
        if (e > worst) worst = e;
        free(paths[i]);
    }
    printf("%d models (%s): max rel err %.2e\n", models, small ? "small" : "tiny", worst);
    assert_int_equal(bad, 0);
}

static void test_models_tiny(void **state) {
    (void)state;
    run_models(0);
}

static void test_models_small(void **state) {
    (void)state;
    run_models(1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_tiny),
        cmocka_unit_test(test_models_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
