/* Unit tests of model.py's generator (export/pytorch.c) on hand-written IR: sizes that follow the
 * batch become B / B * m, the values that need the targets come after the early return, a value
 * is deleted on its last reader's line; and the refusals a spec cannot reach (tests/cli/
 * test_export.sh runs the generated modules of real specs under torch): an op with no PyTorch
 * form, an input other than tokens and targets, sizes not in proportion to the batch, parameter
 * names nn.Module cannot hold, two graphs that are not one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "export/pytorch.h"

static void expect_contains(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle)) {
        print_error("expected to find\n  %s\nin\n%s\n", needle, haystack);
        fail();
    }
}

/* A tiny evaluation graph at batch B: `extra` (statements using %3 and the names above) goes
 * before the logits. Every %B in the text is the batch, %C twice the batch. */
static const char *const base =
    "graph \"t\" {\n"
    "  %tokens = input() name=\"tokens\" : i32[%B,4]\n"
    "  %targets = input() name=\"targets\" : i32[%B,4]\n"
    "  %wte = param() name=\"%W\" fill=0.0 std=0.02 : f32[8,6]\n"
    "  %3 = embed(%wte, %tokens) : f32[%B,4,6]\n"
    "  %4 = reshape(%3) shape=[%C,2,6] : f32[%C,2,6]\n"
    "  %5 = reshape(%4) shape=[%B,4,6] : f32[%B,4,6]\n"
    "%X"
    "  %6 = matmul(%5, %wte) ta=0 tb=1 : f32[%B,4,8]\n"
    "  %logits = output(%6) name=\"logits\" : f32[%B,4,8]\n"
    "  %8 = cross_entropy(%6, %targets) : f32[]\n"
    "  %loss = output(%8) name=\"loss\" : f32[]\n"
    "}\n";

/* base with %B, %C, %W (the parameter's name) and %X (extra statements, where %D is B + 1). */
static moac_graph *graph_at(moac_arena *a, moac_diag *d, int64_t B, const char *param, const char *extra) {
    moac_strbuf b;
    moac_strbuf_init(&b);
    for (const char *p = base; *p; p++) {
        if (*p != '%' || !strchr("BCWX", p[1])) {
            moac_strbuf_putc(&b, *p);
            continue;
        }
        switch (*++p) {
        case 'B': moac_strbuf_printf(&b, "%lld", (long long)B); break;
        case 'C': moac_strbuf_printf(&b, "%lld", (long long)(2 * B)); break;
        case 'W': moac_strbuf_puts(&b, param); break;
        case 'X':
            for (const char *q = extra; *q; q++)
                if (q[0] == '%' && q[1] == 'D') {
                    moac_strbuf_printf(&b, "%lld", (long long)(B + 1));
                    q++;
                } else {
                    moac_strbuf_putc(&b, *q);
                }
            break;
        }
    }
    moac_graph *g = moac_ir_read(a, moac_source_from_text(a, "t.ir", moac_strbuf_cstr(&b)), d);
    if (!g) print_error("%s\n%s", moac_strbuf_cstr(&b), moac_strbuf_cstr(&d->out));
    moac_strbuf_free(&b);
    assert_non_null(g);
    return g;
}

/* Generates from the graph at batch 2 and 3; returns the generator's result, the text in out. */
static int generate(moac_arena *a, moac_diag *d, const char *param, const char *extra2, const char *extra3,
                    moac_strbuf *out) {
    const moac_graph *g[2] = {graph_at(a, d, 2, param, extra2), graph_at(a, d, 3, param, extra3)};
    const int64_t batch[2] = {2, 3};
    moac_pytorch_info info = {.spec_path = "t.moa", .ckpt_path = "ck.safetensors", .step = 5, .steps = 9,
                              .check = "moac's outputs"};
    return moac_pytorch_source(g, batch, &info, out, d);
}

typedef struct ctx {
    moac_arena a;
    moac_diag d;
    moac_strbuf out;
} ctx;

static int setup(void **state) {
    ctx *c = calloc(1, sizeof *c);
    moac_arena_init(&c->a);
    moac_diag_init(&c->d);
    moac_strbuf_init(&c->out);
    *state = c;
    return 0;
}

static int teardown(void **state) {
    ctx *c = *state;
    moac_strbuf_free(&c->out);
    moac_diag_free(&c->d);
    moac_arena_free(&c->a);
    free(c);
    return 0;
}

static void test_generated_text(void **state) {
    ctx *c = *state;
    assert_int_equal(generate(&c->a, &c->d, "wte", "", "", &c->out), 0);
    const char *s = moac_strbuf_cstr(&c->out);
    expect_contains(s, "# model.py: model 't' as a PyTorch module, written by moac ");
    expect_contains(s, "#   checkpoint  ck.safetensors, step 5 of 9\n");
    expect_contains(s, "VOCAB = 8\nBLOCK_SIZE = 4  #");
    expect_contains(s, "OUTPUTS = (\"logits\", \"loss\")\n");
    expect_contains(s, "    (\"wte\", (8, 6), 0.0, 0.02),\n");
    expect_contains(s, "    B = idx.shape[0]\n    out = {}\n    t3 = F.embedding(idx, P[\"wte\"])  # (B, 4, 6)\n");
    expect_contains(s, "    t4 = t3.reshape(B * 2, 2, 6); del t3  # (B * 2, 2, 6)\n");
    expect_contains(s, "    t5 = t4.reshape(B, 4, 6); del t4  # (B, 4, 6)\n");
    expect_contains(s, "    t6 = F.linear(t5, P[\"wte\"]); del t5  # (B, 4, 8)\n");
    expect_contains(s, "    out[\"logits\"] = t6\n    if targets is None:\n        return out\n"
                       "    t8 = F.cross_entropy(t6.reshape(-1, 8), targets.reshape(-1)); del t6  # ()\n"
                       "    out[\"loss\"] = t8; del t8\n    return out\n");
    /* the template around it: its leading comment left out, the markers replaced */
    expect_contains(s, "\nimport argparse\n");
    expect_contains(s, "class Model(torch.nn.Module):");
    assert_null(strstr(s, "#@"));
    assert_null(strstr(s, "The fixed part of every model.py"));
    assert_int_equal(c->d.errors, 0);
}

static void test_refuses_backward_ops(void **state) {
    ctx *c = *state;
    const char *x2 = "  %9 = exp(%5) : f32[2,4,6]\n", *x3 = "  %9 = exp(%5) : f32[3,4,6]\n";
    assert_int_equal(generate(&c->a, &c->d, "wte", x2, x3, &c->out), -1);
    expect_contains(moac_strbuf_cstr(&c->d.out), "t.moa: error: export: op 'exp' (value %6) has no PyTorch form");
}

static void test_refuses_other_inputs(void **state) {
    ctx *c = *state;
    const char *x2 = "  %pos = input() name=\"pos\" : i32[2,4]\n", *x3 = "  %pos = input() name=\"pos\" : i32[3,4]\n";
    assert_int_equal(generate(&c->a, &c->d, "wte", x2, x3, &c->out), -1);
    expect_contains(moac_strbuf_cstr(&c->d.out), "reads an input 'pos', which model.py has no way to compute");
}

static void test_refuses_sizes_not_in_proportion(void **state) {
    ctx *c = *state;
    const char *x = "  %9 = full() value=1.0 : f32[%D]\n"; /* 3 at batch 2, 4 at batch 3 */
    assert_int_equal(generate(&c->a, &c->d, "wte", x, x, &c->out), -1);
    expect_contains(moac_strbuf_cstr(&c->d.out),
                    "value %6 (full) has a size of 3 at batch 2 but 4 at batch 3, which model.py cannot compute");
}

static void test_refuses_module_names(void **state) {
    ctx *c = *state;
    const char *x2 = "  %9 = full() value=0.5 : f32[]\n";
    assert_int_equal(generate(&c->a, &c->d, "h0.to.w", x2, x2, &c->out), -1);
    expect_contains(moac_strbuf_cstr(&c->d.out), "parameter 'h0.to.w': 'to' is a name torch.nn.Module keeps for "
                                                 "itself");
    moac_diag_free(&c->d);
    moac_diag_init(&c->d);
    const char *y2 = "  %w2 = param() name=\"wte.b\" fill=0.0 std=0.0 : f32[6]\n  %10 = add(%5, %w2) : f32[2,4,6]\n";
    const char *y3 = "  %w2 = param() name=\"wte.b\" fill=0.0 std=0.0 : f32[6]\n  %10 = add(%5, %w2) : f32[3,4,6]\n";
    assert_int_equal(generate(&c->a, &c->d, "wte", y2, y3, &c->out), -1);
    expect_contains(moac_strbuf_cstr(&c->d.out), "parameter 'wte' is also the module holding parameter 'wte.b'");
}

static void test_refuses_different_graphs(void **state) {
    ctx *c = *state;
    assert_int_equal(generate(&c->a, &c->d, "wte", "", "  %9 = full() value=0.5 : f32[]\n", &c->out), -1);
    expect_contains(moac_strbuf_cstr(&c->d.out), "the evaluation graph has 10 values at batch 2 but 11 at batch 3");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_generated_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_backward_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_other_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_sizes_not_in_proportion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_module_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_different_graphs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
