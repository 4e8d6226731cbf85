/* The CPU backend's attention kernels (backends/cpu/kernels_attention.c) against the reference
 * interpreter: attention, the joint gradient kernel (dq, dk and dv of one attention at once) and
 * the three separate attention_grad kernels, for MHA, GQA and MQA, causal and not, sequence
 * lengths below, at and around the vector width (1, 5, 7, 16, 17, 33), head sizes that are and
 * are not multiples of it (8, 12, 20, 64), a value size other than the key size, S != T without
 * the mask, and a sharp softmax; each run by its own emitter (no reference fallback). The joint
 * kernel runs both ways: reading the logsumexp the forward attention wrote (and D_i from its output)
 * when the graph holds that forward, else after a statistics kernel of its own. Its results must
 * not depend on the thread count (bitwise).
 * One graph per configuration holds all the ops, as compiling dominates the run time. */
#include "cpu_check.h"

#include "backends/cpu/emit.h"

typedef struct attn_case {
    int B, H, G, T, S, D, Dv, causal;
    double scale; /* 0: 1/sqrt(D) */
    int no_fwd;   /* leave the forward attention out of the graph */
} attn_case;

/* Kernels of the graph below when the scheduler takes the joint path. With the forward: the
 * forward (1, also writing lse), the joint gradients (one pass, no statistics kernel: 1), dq alone
 * (1), dk and dv (statistics + pass: 2 each) = 7; 8 if the statistics kernel still ran. Without:
 * the joint gradients (statistics + pass: 2) and the same 5 = 7. The three separate ones instead
 * of the joint would make 11 (10). */
enum { KERNELS_WITH_JOINT = 7, KERNELS_WITH_JOINT_NO_FWD = 7 };

/* One graph for one configuration: the forward; dq, dk and dv of the same (q, k, v, dy), which the
 * scheduler hands to the joint emitter; and dq of dy2, dk and dv of dy3, which have no full set of
 * siblings and so exercise the separate emitters. */
static void graph_text(const attn_case *c, char *ir, size_t len) {
    double scale = c->scale > 0 ? c->scale : 1.0 / sqrt((double)c->D);
    char q[64], k[64], v[64], o[64];
    snprintf(q, sizeof q, "f32[%d,%d,%d,%d]", c->B, c->H, c->T, c->D);
    snprintf(k, sizeof k, "f32[%d,%d,%d,%d]", c->B, c->G, c->S, c->D);
    snprintf(v, sizeof v, "f32[%d,%d,%d,%d]", c->B, c->G, c->S, c->Dv);
    snprintf(o, sizeof o, "f32[%d,%d,%d,%d]", c->B, c->H, c->T, c->Dv);
    int n = snprintf(ir, len,
                     "graph \"t\" {\n"
                     "  %%q = input() name=\"q\" : %s\n"
                     "  %%k = input() name=\"k\" : %s\n"
                     "  %%v = input() name=\"v\" : %s\n",
                     q, k, v);
    if (!c->no_fwd)
        n += snprintf(ir + n, len - (size_t)n,
                      "  %%y = attention(%%q, %%k, %%v) causal=%d scale=%.17g : %s\n"
                      "  %%o = output(%%y) name=\"y\" : %s\n",
                      c->causal, scale, o, o);
    static const char *dys[] = {"dy", "dy2", "dy3"};
    static const struct { const char *name, *dy; int which; } grads[] = {
        {"dq", "dy", 0}, {"dk", "dy", 1}, {"dv", "dy", 2}, {"dq2", "dy2", 0}, {"dk3", "dy3", 1}, {"dv3", "dy3", 2},
    };
    for (int i = 0; i < 3; i++) n += snprintf(ir + n, len - (size_t)n, "  %%%s = input() name=\"%s\" : %s\n", dys[i], dys[i], o);
    for (size_t i = 0; i < sizeof grads / sizeof *grads; i++) {
        const char *t = grads[i].which == 0 ? q : grads[i].which == 1 ? k : v;
        n += snprintf(ir + n, len - (size_t)n,
                      "  %%%s = attention_grad(%%q, %%k, %%v, %%%s) causal=%d scale=%.17g which=%d : %s\n"
                      "  %%o_%s = output(%%%s) name=\"%s\" : %s\n",
                      grads[i].name, grads[i].dy, c->causal, scale, grads[i].which, t, grads[i].name, grads[i].name,
                      grads[i].name, t);
    }
    snprintf(ir + n, len - (size_t)n, "}\n");
}

static void check_case(const attn_case *c) {
    char ir[4096];
    graph_text(c, ir, sizeof ir);
    /* The table names these emitters (a direct reference also links them in). */
    assert_true(moac_cpu_emitter(MOAC_OP_ATTENTION) == moac_emit_attention);
    assert_true(moac_cpu_emitter(MOAC_OP_ATTENTION_GRAD) == moac_emit_attention_grad);
    int kernels = 0;
    double e = moac_cpu_check_ir_native(ir, &kernels);
    int want = c->no_fwd ? KERNELS_WITH_JOINT_NO_FWD : KERNELS_WITH_JOINT;
    if (kernels != want)
        print_error("%d kernels, not %d: the joint gradients (without statistics kernel) did not run?\n%s\n", kernels,
                    want, ir);
    assert_int_equal(kernels, want);
    if (getenv("ATTN_VERBOSE"))
        print_message("%.3g  B=%d H=%d G=%d T=%d S=%d D=%d Dv=%d causal=%d fwd=%d\n", e, c->B, c->H, c->G, c->T, c->S,
                      c->D, c->Dv, c->causal, !c->no_fwd);
    if (!(e < 1e-4)) print_error("relative error %g for\n%s\n", e, ir);
    assert_true(e < 1e-4);
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
        {2, 2, 2, 5, 5, 8, 8, 0, 0, 0},
        {1, 3, 3, 7, 7, 12, 12, 0, 0, 0},
        {1, 2, 2, 33, 33, 64, 64, 0, 0, 0},
        {1, 2, 2, 1, 1, 8, 8, 0, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

static void test_gqa(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 6, 2, 7, 7, 12, 12, 0, 0, 0},
        {1, 6, 2, 33, 33, 64, 64, 0, 0, 0},
        {1, 6, 3, 17, 17, 8, 8, 0, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

static void test_mqa(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 6, 1, 16, 16, 8, 8, 0, 0, 0},
        {1, 4, 1, 33, 33, 64, 64, 0, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

/* Value size other than the key size; keys more or fewer than queries (no mask). */
static void test_shapes(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 4, 2, 17, 17, 20, 8, 0, 0, 0},
        {1, 4, 2, 7, 33, 12, 12, 0, 0, 0},
        {2, 2, 1, 20, 3, 16, 16, 0, 0, 0},
        {2, 4, 1, 17, 17, 8, 12, 0, 0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

/* The joint gradients with their own statistics kernel (no forward in the graph to take lse
 * from): MHA, GQA, MQA, odd lengths, D = 8, 12, 64. */
static void test_no_forward(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 2, 2, 5, 5, 8, 8, 0, 0, 1},
        {2, 6, 2, 7, 7, 12, 12, 0, 0, 1},
        {1, 4, 1, 33, 33, 64, 64, 0, 0, 1},
        {2, 4, 2, 17, 17, 20, 8, 0, 0, 1},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

/* Large logits (scale 1 with D = 64: scores of tens): the running max must be exact. */
static void test_sharp(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {1, 2, 1, 33, 33, 64, 64, 0, 1.0, 0},
    };
    run_cases(cases, sizeof cases / sizeof *cases);
}

/* The joint kernel's results, bitwise, on 1, 2 and 3 threads (items own their dq: no sums whose
 * order depends on the split). */
static void test_threads(void **state) {
    (void)state;
    static const attn_case cases[] = {
        {2, 6, 2, 37, 37, 64, 64, 1, 0, 0},
        {3, 4, 1, 21, 21, 12, 20, 0, 0, 0},
        {2, 6, 2, 37, 37, 64, 64, 1, 0, 1},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        char ir[4096];
        graph_text(&cases[ci], ir, sizeof ir);
        moac_arena arena;
        moac_arena_init(&arena);
        moac_diag d;
        moac_diag_init(&d);
        moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "check.ir", ir), &d);
        assert_non_null(g);
        static const char *ins[] = {"q", "k", "v", "dy", "dy2", "dy3"}, *outs[] = {"dq", "dk", "dv"};
        float *first[3] = {NULL, NULL, NULL};
        for (int threads = 1; threads <= 3; threads++) {
            moac_cpu *cpu = moac_cpu_new(g, &(moac_cpu_opts){.threads = threads}, &d);
            assert_non_null(cpu);
            for (int i = 0; i < 6; i++) {
                float *x = moac_cpu_buffer(cpu, ins[i]);
                assert_non_null(x);
                const moac_node *n = NULL;
                for (size_t j = 0; j < g->count && !n; j++)
                    if (g->nodes[j]->op == MOAC_OP_INPUT && !strcmp(g->nodes[j]->s, ins[i])) n = g->nodes[j];
                assert_non_null(n);
                for (int64_t j = 0; j < moac_type_numel(&n->type); j++)
                    x[j] = (float)moac_rng_normal(5, (uint64_t)i, (uint64_t)j);
            }
            char err[256];
            assert_int_equal(moac_cpu_run(cpu, &(moac_interp_opts){.seed = 1}, err, sizeof err), 0);
            for (int o = 0; o < 3; o++) {
                const moac_node *n = NULL;
                for (size_t j = 0; j < g->count && !n; j++)
                    if (g->nodes[j]->op == MOAC_OP_OUTPUT && !strcmp(g->nodes[j]->s, outs[o])) n = g->nodes[j];
                assert_non_null(n);
                size_t bytes = (size_t)moac_type_numel(&n->type) * sizeof(float);
                const float *r = moac_cpu_result(cpu, outs[o]);
                assert_non_null(r);
                if (threads == 1) {
                    first[o] = malloc(bytes);
                    memcpy(first[o], r, bytes);
                } else if (memcmp(first[o], r, bytes)) {
                    print_error("%s differs between 1 and %d threads\n", outs[o], threads);
                    fail();
                }
            }
            moac_cpu_free(cpu);
        }
        for (int o = 0; o < 3; o++) free(first[o]);
        moac_diag_free(&d);
        moac_arena_free(&arena);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mha),    cmocka_unit_test(test_gqa),   cmocka_unit_test(test_mqa),
        cmocka_unit_test(test_shapes), cmocka_unit_test(test_no_forward), cmocka_unit_test(test_sharp),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
