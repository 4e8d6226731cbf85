/* The CPU backend's fused elementwise and layout kernels against the reference interpreter:
 * every elementwise op, broadcasting, layout chains folded into one loop nest, dropout's mask
 * (the same Philox draws as the interpreter), the memory plan reusing buffers, and denormals
 * flushed to zero inside a run with the caller's floating-point mode restored after it. */
#include "cpu_check.h"

#include <float.h>

#include "support/fpenv.h"

static void check(const char *ir) {
    double e = moac_cpu_check_ir(ir);
    if (!(e < 1e-5)) print_error("relative error %g for\n%s\n", e, ir);
    assert_true(e < 1e-5);
}

static void test_unary(void **state) {
    (void)state;
    const char *ops[] = {"neg", "square", "exp", "relu", "gelu", "sigmoid", "scale(%a) by=2.5"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        char ir[1024], call[64];
        if (strchr(ops[i], '('))
            snprintf(call, sizeof call, "%s", ops[i]);
        else
            snprintf(call, sizeof call, "%s(%%a)", ops[i]);
        snprintf(ir, sizeof ir,
                 "graph \"t\" {\n  %%a = input() name=\"a\" : f32[3,37]\n  %%y = %s : f32[3,37]\n"
                 "  %%o = output(%%y) name=\"y\" : f32[3,37]\n}\n",
                 call);
        check(ir);
    }
}

static void test_log_and_binary(void **state) {
    (void)state;
    check("graph \"t\" {\n  %a = input() name=\"a\" : f32[4,19]\n  %s = square(%a) : f32[4,19]\n"
          "  %l = log(%s) : f32[4,19]\n  %o = output(%l) name=\"y\" : f32[4,19]\n}\n");
    const char *ops[] = {"add", "sub", "mul", "div", "bce_logits", "gelu_grad", "relu_grad"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        char ir[1024];
        snprintf(ir, sizeof ir,
                 "graph \"t\" {\n  %%a = input() name=\"a\" : f32[2,5,33]\n  %%b = input() name=\"b\" : f32[2,5,33]\n"
                 "  %%y = %s(%%a, %%b) : f32[2,5,33]\n  %%o = output(%%y) name=\"y\" : f32[2,5,33]\n}\n",
                 ops[i]);
        check(ir);
    }
}

static void test_broadcast(void **state) {
    (void)state;
    check("graph \"t\" {\n  %a = input() name=\"a\" : f32[2,5,33]\n  %b = param() name=\"b\" fill=0.0 std=1.0 : f32[33]\n"
          "  %c = input() name=\"c\" : f32[2,1,33]\n"
          "  %y = add(%a, %b) : f32[2,5,33]\n  %z = mul(%y, %c) : f32[2,5,33]\n"
          "  %o = output(%z) name=\"y\" : f32[2,5,33]\n}\n");
    check("graph \"t\" {\n  %a = input() name=\"a\" : f32[3]\n  %y = broadcast(%a) shape=[4,2,3] : f32[4,2,3]\n"
          "  %z = exp(%y) : f32[4,2,3]\n  %o = output(%z) name=\"y\" : f32[4,2,3]\n}\n");
}

static void test_layout_chain(void **state) {
    (void)state;
    /* The split-heads chain: bias add, reshape, transpose, all in one kernel. */
    check("graph \"t\" {\n  %x = input() name=\"x\" : f32[2,7,24]\n  %b = param() name=\"b\" fill=0.0 std=1.0 : f32[24]\n"
          "  %y = add(%x, %b) : f32[2,7,24]\n  %r = reshape(%y) shape=[2,7,3,8] : f32[2,7,3,8]\n"
          "  %t = transpose(%r) perm=[0,2,1,3] : f32[2,3,7,8]\n  %o = output(%t) name=\"y\" : f32[2,3,7,8]\n}\n");
    check("graph \"t\" {\n  %x = input() name=\"x\" : f32[2,7,24]\n  %s = slice(%x) axis=2 start=8 len=8 : f32[2,7,8]\n"
          "  %p = pad(%s) axis=2 start=16 size=24 : f32[2,7,24]\n  %q = gelu(%p) : f32[2,7,24]\n"
          "  %o = output(%q) name=\"y\" : f32[2,7,24]\n}\n");
    check("graph \"t\" {\n  %x = input() name=\"x\" : f32[2,2,5,4]\n  %r = repeat_heads(%x) times=3 : f32[2,6,5,4]\n"
          "  %o = output(%r) name=\"y\" : f32[2,6,5,4]\n}\n");
    check("graph \"t\" {\n  %x = input() name=\"x\" : f32[6,10]\n  %f = full() value=0.5 : f32[6,10]\n"
          "  %y = sub(%x, %f) : f32[6,10]\n  %r = reshape(%y) shape=[60] : f32[60]\n  %o = output(%r) name=\"y\" : f32[60]\n}\n");
}

/* concat in its three renderings: along the rows (a copy loop per operand, here reading a
 * transposed operand and a fused sum), along an outer axis (one operand chosen per row), and
 * inlined under another op (a branch per element); and the GPU's one element per work item. */
static const char *const concat_graphs[] = {
    "graph \"t\" {\n  %a = input() name=\"a\" : f32[2,3,5,4]\n  %b = input() name=\"b\" : f32[2,5,7]\n"
    "  %c = input() name=\"c\" : f32[2,5,7]\n  %t = transpose(%a) perm=[0,2,1,3] : f32[2,5,3,4]\n"
    "  %r = reshape(%t) shape=[2,5,12] : f32[2,5,12]\n  %s = add(%b, %c) : f32[2,5,7]\n"
    "  %y = concat(%r, %s, %c) axis=2 : f32[2,5,26]\n  %o = output(%y) name=\"y\" : f32[2,5,26]\n}\n",
    "graph \"t\" {\n  %a = param() name=\"a\" fill=0.0 std=1.0 : f32[3,4,33]\n"
    "  %b = param() name=\"b\" fill=0.0 std=1.0 : f32[3,2,33]\n  %y = concat(%a, %b, %a) axis=1 : f32[3,10,33]\n"
    "  %o = output(%y) name=\"y\" : f32[3,10,33]\n}\n",
    "graph \"t\" {\n  %a = input() name=\"a\" : f32[4,6]\n  %b = input() name=\"b\" : f32[4,9]\n"
    "  %y = concat(%a, %b) axis=1 : f32[4,15]\n  %s = slice(%y) axis=1 start=3 len=8 : f32[4,8]\n"
    "  %g = gelu(%s) : f32[4,8]\n  %o = output(%g) name=\"y\" : f32[4,8]\n}\n",
};

static void test_concat(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof concat_graphs / sizeof *concat_graphs; i++) check(concat_graphs[i]);
    moac_target t = *moac_target_host();
    t.fine_items = 1;
    moac_check_target = &t;
    for (size_t i = 0; i < sizeof concat_graphs / sizeof *concat_graphs; i++) check(concat_graphs[i]);
    moac_check_target = NULL;
}

static void test_dropout_matches_interpreter(void **state) {
    (void)state;
    check("graph \"t\" {\n  %x = input() name=\"x\" : f32[4,300]\n  %d = dropout(%x) p=0.1 stream=3 : f32[4,300]\n"
          "  %e = dropout(%d) p=0.5 stream=4 : f32[4,300]\n  %o = output(%e) name=\"y\" : f32[4,300]\n}\n");
}

static void test_multiple_uses_materialise(void **state) {
    (void)state;
    check("graph \"t\" {\n  %x = input() name=\"x\" : f32[8,16]\n  %a = exp(%x) : f32[8,16]\n"
          "  %b = add(%a, %a) : f32[8,16]\n  %c = mul(%b, %a) : f32[8,16]\n  %o = output(%c) name=\"y\" : f32[8,16]\n"
          "  %o2 = output(%a) name=\"a\" : f32[8,16]\n}\n");
}

/* 1e-20 squared is 1e-40, a denormal: the kernels flush it to 0 (support/fpenv.h), while 1e-15
 * squared (1e-30) is a normal float and comes out as computed. The caller's mode survives. */
static void test_denormals_flushed(void **state) {
    (void)state;
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "t.ir",
        "graph \"t\" {\n  %a = input() name=\"a\" : f32[2,32]\n  %y = mul(%a, %a) : f32[2,32]\n"
        "  %o = output(%y) name=\"y\" : f32[2,32]\n}\n"), &d);
    assert_non_null(g);
    moac_cpu *c = moac_cpu_new(g, NULL, &d);
    assert_non_null(c);
    float *a = moac_cpu_buffer(c, "a");
    for (int i = 0; i < 64; i++) a[i] = i < 32 ? 1e-20f : 1e-15f;
    unsigned before = moac_fpenv_enter();
    moac_fpenv_leave(before); /* read the mode without changing it */
    char err[128];
    assert_int_equal(moac_cpu_run(c, NULL, err, sizeof err), 0);
    unsigned after = moac_fpenv_enter();
    moac_fpenv_leave(after);
    assert_int_equal(after, before);
    const float *y = moac_cpu_result(c, "y");
    volatile float tiny = 1e-20f; /* volatile: squared here, under the caller's mode */
    assert_true(tiny * tiny > 0 && tiny * tiny < FLT_MIN); /* the premise: this process keeps denormals */
    for (int i = 0; i < 64; i++) {
#if defined(__x86_64__) || defined(__i386__)
        if (i < 32) assert_true(y[i] == 0.0f);
#endif
        if (i >= 32) assert_float_equal(y[i], 1e-30, 1e-36);
    }
    moac_cpu_free(c);
    moac_diag_free(&d);
    moac_arena_free(&arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary),
        cmocka_unit_test(test_log_and_binary),
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_layout_chain),
        cmocka_unit_test(test_concat),
        cmocka_unit_test(test_dropout_matches_interpreter),
        cmocka_unit_test(test_multiple_uses_materialise),
        cmocka_unit_test(test_denormals_flushed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
