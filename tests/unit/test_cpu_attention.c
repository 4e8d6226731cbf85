/* The CPU backend's attention kernels (backends/cpu/kernels_attention.c) against the reference
 * interpreter: attention and attention_grad (dq, dk, dv) for MHA, GQA and MQA, causal and not,
 * sequence lengths below, at and around the vector width (1, 5, 7, 16, 17, 33), head sizes that
 * are and are not multiples of it (8, 12, 20, 64), a value size other than the key size, S != T
 * without the mask, and a sharp softmax; each run by its own emitter (no reference fallback).
 * One graph per configuration holds all four ops, as compiling dominates the run time. */
#include "cpu_check.h"

#include "backends/cpu/emit.h"

typedef struct attn_case {
    int B, H, G, T, S, D, Dv, causal;
    double scale; /* 0: 1/sqrt(D) */
} attn_case;

/* One graph holding the forward and the three gradients of one configuration. */
static void check_case(const attn_case *c) {
    double scale = c->scale > 0 ? c->scale : 1.0 / sqrt((double)c->D);
    char q[64], k[64], v[64], o[64], ir[4096];
    snprintf(q, sizeof q, "f32[%d,%d,%d,%d]", c->B, c->H, c->T, c->D);
    snprintf(k, sizeof k, "f32[%d,%d,%d,%d]", c->B, c->G, c->S, c->D);
    snprintf(v, sizeof v, "f32[%d,%d,%d,%d]", c->B, c->G, c->S, c->Dv);
    snprintf(o, sizeof o, "f32[%d,%d,%d,%d]", c->B, c->H, c->T, c->Dv);
    snprintf(ir, sizeof ir,
             "graph \"t\" {\n"
             "  %%q = input() name=\"q\" : %s\n"
             "  %%k = input() name=\"k\" : %s\n"
             "  %%v = input() name=\"v\" : %s\n"
             "  %%dy = input() name=\"dy\" : %s\n"
             "  %%y = attention(%%q, %%k, %%v) causal=%d scale=%.17g : %s\n"
             "  %%dq = attention_grad(%%q, %%k, %%v, %%dy) causal=%d scale=%.17g which=0 : %s\n"
             "  %%dk = attention_grad(%%q, %%k, %%v, %%dy) causal=%d scale=%.17g which=1 : %s\n"
             "  %%dv = attention_grad(%%q, %%k, %%v, %%dy) causal=%d scale=%.17g which=2 : %s\n"
             "  %%o0 = output(%%y) name=\"y\" : %s\n"
             "  %%o1 = output(%%dq) name=\"dq\" : %s\n"
             "  %%o2 = output(%%dk) name=\"dk\" : %s\n"
             "  %%o3 = output(%%dv) name=\"dv\" : %s\n"
             "}\n",
             q, k, v, o, c->causal, scale, o, c->causal, scale, q, c->causal, scale, k, c->causal, scale, v, o, q, k,
             v);
    /* The table names these emitters (a direct reference also links them in). */
    assert_true(moac_cpu_emitter(MOAC_OP_ATTENTION) == moac_emit_attention);
    assert_true(moac_cpu_emitter(MOAC_OP_ATTENTION_GRAD) == moac_emit_attention_grad);
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "check.ir", ir), &d);
    if (!g) print_error("%s", d.out.data ? d.out.data : "bad IR\n");
    assert_non_null(g);
    moac_cpu *cpu = moac_cpu_new(g, NULL, &d);
    assert_non_null(cpu);
    int fallback = moac_cpu_get_stats(cpu).fallback_nodes;
    moac_cpu_free(cpu);
    if (fallback) print_error("%d node(s) ran on the reference kernel:\n%s\n", fallback, ir);
    assert_int_equal(fallback, 0);
    double e = moac_cpu_check_graph(g, NULL);
    if (getenv("ATTN_VERBOSE")) print_message("%.3g  %s %s %s causal=%d\n", e, q, k, v, c->causal);
    if (!(e < 1e-4)) print_error("relative error %g for\n%s\n", e, ir);
    assert_true(e < 1e-4);
    moac_diag_free(&d);
    moac_arena_free(&arena);
}

static void run_cases(const attn_case *cases, int n) {
    for (int i = 0; i < n; i++)
        for (int causal = 0; causal <= 1; causal++) {
            attn_case c = cases[i];
            c.causal = causal;
            if (!causal || c.S == c.T) check_case(&c);
        }
}

/* B, H, G, T, S, D, Dv */
static void test_mha(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 2, 2, 5, 5, 8, 8, 0, 0},
        {1, 3, 3, 7, 7, 12, 12, 0, 0},
        {1, 2, 2, 33, 33, 64, 64, 0, 0},
        {1, 2, 2, 1, 1, 8, 8, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

static void test_gqa(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 6, 2, 7, 7, 12, 12, 0, 0},
        {1, 6, 2, 33, 33, 64, 64, 0, 0},
        {1, 6, 3, 17, 17, 8, 8, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

static void test_mqa(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 6, 1, 16, 16, 8, 8, 0, 0},
        {1, 4, 1, 33, 33, 64, 64, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

/* Value size other than the key size; keys more or fewer than queries (no mask). */
static void test_shapes(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 4, 2, 17, 17, 20, 8, 0, 0},
        {1, 4, 2, 7, 33, 12, 12, 0, 0},
        {2, 2, 1, 20, 3, 16, 16, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

/* Large logits (scale 1 with D = 64: scores of tens): the running max must be exact. */
static void test_sharp(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {1, 2, 1, 33, 33, 64, 64, 0, 1.0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mha),    cmocka_unit_test(test_gqa),   cmocka_unit_test(test_mqa),
        cmocka_unit_test(test_shapes), cmocka_unit_test(test_sharp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
