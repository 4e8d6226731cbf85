/* Semantic analysis and counts: the acceptance figures of the seed models, FLOP-matched sparse
 * head counts, KV-cache ratios, and parameter counts cross-checked against the lowered IR. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "moac.h"

typedef struct loaded {
    moac_arena arena;
    moac_diag diag;
    moac_spec *spec;
} loaded;

static void load_file(loaded *l, const char *path) {
    moac_arena_init(&l->arena);
    moac_diag_init(&l->diag);
    l->spec = moac_spec_load(&l->arena, path, &l->diag);
    if (!l->spec) fprintf(stderr, "%s", moac_strbuf_cstr(&l->diag.out));
}

static void load_text(loaded *l, const char *text) {
    moac_arena_init(&l->arena);
    moac_diag_init(&l->diag);
    moac_ast_unit *u = moac_parse_unit_text(&l->arena, "test.moa", text, &l->diag);
    l->spec = u && !l->diag.errors ? moac_sema(&l->arena, u, &l->diag) : NULL;
}

static void unload(loaded *l) {
    moac_diag_free(&l->diag);
    moac_arena_free(&l->arena);
}

static moac_spec_stats stats_of(const char *path) {
    loaded l;
    load_file(&l, path);
    assert_non_null(l.spec);
    moac_spec_stats st = moac_spec_stats_compute(l.spec);
    unload(&l);
    return st;
}

static void test_moas_params(void **state) {
    (void)state;
    assert_int_equal(stats_of("models/mha.moa").params_nonembedding, 7190016);
    assert_int_equal(stats_of("models/moas-static.moa").params_nonembedding, 10139136);
    assert_int_equal(stats_of("models/moas.moa").params_nonembedding, 10287744);
    /* params adds the learned position embeddings: 256 x 384 */
    assert_int_equal(stats_of("models/mha.moa").params, 7190016 + 256 * 384);
}

static void test_mosa_flops(void **state) {
    (void)state;
    assert_int_equal(stats_of("models/mosa-tiny-dense.moa").flops_forward, 54760833024LL);
}

static const char *hybrid_spec =
    "model m { vocab = 256  context = 1024  width = 512  layers = 6  heads = 4  head_dim = 64\n"
    "  mlp = mlp(hidden = 2048)  positions = rope\n"
    "  attention = sum(mha(), sparse(heads = flop_match(9 - heads), sparsity = %d)) }\n";

static void test_flop_matched_heads(void **state) {
    (void)state;
    const int sparsity[8] = {2, 4, 8, 16, 32, 64, 128, 256};
    const int expected[8] = {13, 31, 69, 142, 276, 505, 848, 1277};
    for (int i = 0; i < 8; i++) {
        char text[512];
        snprintf(text, sizeof text, hybrid_spec, sparsity[i]);
        loaded l;
        load_text(&l, text);
        assert_non_null(l.spec);
        const moac_scheme *mix = l.spec->attention;
        assert_int_equal(mix->kind, MOAC_SCHEME_MIX);
        assert_int_equal(mix->branches[1]->kind, MOAC_SCHEME_SPARSE);
        assert_int_equal(mix->branches[1]->k, 1024 / sparsity[i]);
        assert_int_equal(mix->branches[1]->heads, expected[i]);
        unload(&l);
    }
    /* The hybrid in models/ matches the budget of the 5 dense heads it drops. */
    loaded l;
    load_file(&l, "models/mosa-tiny.moa");
    assert_non_null(l.spec);
    assert_int_equal(l.spec->attention->branches[1]->heads, 69);
    unload(&l);
}

static void test_kv_cache_ratios(void **state) {
    (void)state;
    long long mha = stats_of("models/mha.moa").kv_bytes_per_token;
    assert_int_equal(mha, 2 * 384 * 4 * 4); /* K+V, width floats, fp32, 4 layers */
    assert_int_equal(stats_of("models/mqa.moa").kv_bytes_per_token * 6, mha);
    assert_int_equal(stats_of("models/gqa.moa").kv_bytes_per_token * 6, mha * 2);
    /* mixSGA 3:1:6 over groups of 1, 2, 4: half of an MHA model of the same width and layers. */
    assert_int_equal(stats_of("models/mixsga.moa").kv_bytes_per_token * 2, mha);
}

/* The counts in `moac check` are derived from the spec; the IR declares the parameters that
 * will actually be trained. They must agree for every model. */
static void test_params_match_ir(void **state) {
    (void)state;
    const char *models[] = {"mha", "gqa", "mqa", "moas-static", "moas", "moas-hard", "mixsga",
                            "mosa-tiny-dense", "mosa-tiny", "moas-sparse", "mixsga4"};
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        char path[128];
        snprintf(path, sizeof path, "models/%s.moa", models[m]);
        loaded l;
        load_file(&l, path);
        assert_non_null(l.spec);
        moac_graph *g = moac_pipeline_spec(&l.arena, l.spec, 1, NULL, &l.diag);
        if (!g) fprintf(stderr, "%s", moac_strbuf_cstr(&l.diag.out));
        assert_non_null(g);
        long long params = 0;
        for (size_t i = 0; i < g->count; i++)
            if (g->nodes[i]->op == MOAC_OP_PARAM) params += moac_type_numel(&g->nodes[i]->type);
        if (params != moac_spec_stats_compute(l.spec).params) fprintf(stderr, "%s: IR %lld\n", path, params);
        assert_int_equal(params, moac_spec_stats_compute(l.spec).params);
        unload(&l);
    }
}

static void test_defaults_and_arithmetic(void **state) {
    (void)state;
    loaded l;
    load_text(&l, "let w = 96 * 4\nmodel { vocab = 100  context = 64  width = w  layers = 2  heads = w / 64 }\n");
    assert_non_null(l.spec);
    assert_int_equal(l.spec->width, 384);
    assert_int_equal(l.spec->heads, 6);
    assert_int_equal(l.spec->head_dim, 64);
    assert_int_equal(l.spec->mlp_hidden, 4 * 384);
    assert_int_equal(l.spec->attention->kind, MOAC_SCHEME_DENSE);
    assert_int_equal(l.spec->attention->kv_heads, 6);
    assert_int_equal(l.spec->tied, 1);
    assert_int_equal(l.spec->train.batch, 12);
    assert_null(l.spec->train.data);
    unload(&l);
}

static void test_errors_are_collected(void **state) {
    (void)state;
    loaded l;
    load_text(&l, "model { vocab = 100  context = 64  width = 384  layers = 2  heads = 7\n"
                  "  attention = route(mha(), gqa(kv_heads = 4), mqa()) }\n"
                  "train { batch = 0  stesp = 3 }\n");
    assert_null(l.spec);
    const char *out = moac_strbuf_cstr(&l.diag.out);
    assert_non_null(strstr(out, "test.moa:1:61: error: 7 heads do not divide the width 384"));
    assert_non_null(strstr(out, "unknown train field 'stesp'; did you mean 'steps'?"));
    assert_non_null(strstr(out, "batch must be between 1 and"));
    assert_true(l.diag.errors >= 3);
    unload(&l);
}

static void test_mixture_structure(void **state) {
    (void)state;
    loaded l;
    load_file(&l, "models/mixsga.moa");
    assert_non_null(l.spec);
    const moac_scheme *a = l.spec->attention;
    assert_int_equal(a->kind, MOAC_SCHEME_DENSE);
    assert_non_null(a->kv);
    assert_int_equal(a->kv->rule, MOAC_MIX_CAPACITY);
    assert_int_equal(a->kv->nbranches, 3);
    assert_string_equal(a->kv->branches[2]->label, "g4");
    assert_true(a->kv->ratios[0] > 0.299 && a->kv->ratios[0] < 0.301);
    assert_int_equal(a->kv->aux, MOAC_AUX_CONSISTENCY);
    unload(&l);
    load_file(&l, "models/moas-hard.moa");
    assert_non_null(l.spec);
    assert_int_equal(l.spec->attention->hard, 1);
    assert_string_equal(l.spec->attention->branches[1]->label, "gqa");
    assert_int_equal(l.spec->attention->branches[1]->kv_heads, 2);
    assert_int_equal(l.spec->attention->router.hidden, 96);
    unload(&l);
}

/* Branch labels: unique among siblings, the first use of a name plain, later ones numbered
 * from 2 in source order, a let's name kept as written and never taken by a numbered one. */
static void expect_labels(const char *lets, const char *attention, const char *want) {
    char text[1024];
    snprintf(text, sizeof text,
             "%s\nmodel m { vocab = 64  context = 16  width = 32  layers = 1  heads = 4  positions = rope\n"
             "  attention = %s }\n", lets, attention);
    loaded l;
    load_text(&l, text);
    if (!l.spec) fprintf(stderr, "%s", moac_strbuf_cstr(&l.diag.out));
    assert_non_null(l.spec);
    const moac_scheme *mix = l.spec->attention;
    if (mix->kind == MOAC_SCHEME_DENSE) mix = mix->kv;
    char got[512] = "";
    for (int i = 0; i < mix->nbranches; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? " " : "", mix->branches[i]->label);
    if (strcmp(got, want)) fprintf(stderr, "%s: labels '%s', expected '%s'\n", attention, got, want);
    assert_string_equal(got, want);
    unload(&l);
}

static void test_branch_labels(void **state) {
    (void)state;
    expect_labels("", "route(mha, sparse(heads = 2, k = 4), sparse(heads = 2, k = 8))", "mha sparse sparse2");
    expect_labels("let mha1 = mha()", "route(mha1, mha, mha)", "mha1 mha mha2");
    expect_labels("let mha2 = mqa()", "route(mha, mha, mha2, mha)", "mha mha3 mha2 mha4");
    expect_labels("let fast = mqa()", "mean(fast, fast, mqa)", "fast fast2 mqa");
    expect_labels("let mha = gqa(kv_heads = 2)", "mean(mha(), mha)", "mha2 mha");
    expect_labels("let mha1 = mha()", "mean(mha1, mha1)", "mha1 mha1_2");
    expect_labels("let g2 = group(4)", "attn(kv = capacity(group(2), g2, group(2), ratio = 1:1:1))", "g2_2 g2 g2_3");
    expect_labels("", "sum(mean(mha, mqa), mean(mha, mha))", "mean mean2");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_moas_params),
        cmocka_unit_test(test_mosa_flops),
        cmocka_unit_test(test_flop_matched_heads),
        cmocka_unit_test(test_kv_cache_ratios),
        cmocka_unit_test(test_params_match_ir),
        cmocka_unit_test(test_defaults_and_arithmetic),
        cmocka_unit_test(test_errors_are_collected),
        cmocka_unit_test(test_mixture_structure),
        cmocka_unit_test(test_branch_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
