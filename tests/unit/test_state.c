/* The training state: parameter collection, initialisation, schedules, clipping and AdamW,
 * checked against direct computations of the formulas (PyTorch's AdamW). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "moac.h"
#include "runtime/state.h"

static const char *graph_text =
    "graph \"g\" {\n"
    "  %w = param() name=\"w\" fill=0.0 std=0.02 : f32[4,3]\n"
    "  %b = param() name=\"b\" fill=1.0 std=0.0 : f32[3]\n"
    "  %o = output(%b) name=\"out\" : f32[3]\n"
    "}\n";

typedef struct fixture {
    moac_arena arena;
    moac_diag diag;
    moac_graph *g;
    moac_state s;
} fixture;

static void setup(fixture *f) {
    moac_arena_init(&f->arena);
    moac_diag_init(&f->diag);
    f->g = moac_ir_read(&f->arena, moac_source_from_text(&f->arena, "g.ir", graph_text), &f->diag);
    assert_non_null(f->g);
    assert_int_equal(moac_state_init(&f->s, f->g), 0);
}

static void teardown(fixture *f) {
    moac_state_free(&f->s);
    moac_diag_free(&f->diag);
    moac_arena_free(&f->arena);
}

static void test_collect_and_init(void **state) {
    (void)state;
    fixture f;
    setup(&f);
    assert_int_equal(f.s.nparams, 2);
    const moac_param *w = moac_state_find(&f.s, "w"), *b = moac_state_find(&f.s, "b");
    assert_non_null(w);
    assert_non_null(b);
    assert_int_equal(w->numel, 12);
    assert_true(w->decay);
    assert_false(b->decay); /* 1-D: no weight decay */
    assert_int_equal(b->offset % 16, 0);
    moac_state_init_weights(&f.s, 42);
    for (int i = 0; i < 3; i++) assert_true(f.s.w[b->offset + i] == 1.0f);
    double sum = 0;
    for (int i = 0; i < 12; i++) sum += fabs(f.s.w[w->offset + i]);
    assert_true(sum > 0 && sum / 12 < 0.1);
    float first = f.s.w[w->offset];
    moac_state_init_weights(&f.s, 42);
    assert_true(f.s.w[w->offset] == first); /* same seed, same weights */
    moac_state_init_weights(&f.s, 43);
    assert_true(f.s.w[w->offset] != first);
    teardown(&f);
}

static void test_schedule(void **state) {
    (void)state;
    moac_train_spec t = {.lr = 1e-3, .min_lr = 1e-4, .steps = 110, .warmup = 10, .schedule = MOAC_LR_COSINE};
    assert_true(fabs(moac_lr_at(&t, 0) - 1e-3 / 11) < 1e-15);
    assert_true(fabs(moac_lr_at(&t, 9) - 1e-3 * 10 / 11) < 1e-15);
    assert_true(fabs(moac_lr_at(&t, 10) - 1e-3) < 1e-15);
    assert_true(fabs(moac_lr_at(&t, 60) - 5.5e-4) < 1e-12); /* half way: the mean of lr and min_lr */
    assert_true(fabs(moac_lr_at(&t, 110) - 1e-4) < 1e-15);
    t.schedule = MOAC_LR_CONSTANT;
    assert_true(moac_lr_at(&t, 57) == 1e-3);
}

static void test_clip(void **state) {
    (void)state;
    fixture f;
    setup(&f);
    const moac_param *w = moac_state_find(&f.s, "w");
    f.s.g[w->offset] = 3;
    f.s.g[w->offset + 1] = 4;
    assert_true(fabs(moac_clip_grads(&f.s, 10) - 5) < 1e-12); /* under the bound: unchanged */
    assert_true(f.s.g[w->offset] == 3);
    assert_true(fabs(moac_clip_grads(&f.s, 1) - 5) < 1e-12);
    assert_true(fabs(f.s.g[w->offset] - 0.6f) < 1e-6 && fabs(f.s.g[w->offset + 1] - 0.8f) < 1e-6);
    teardown(&f);
}

static void test_adamw_matches_formula(void **state) {
    (void)state;
    fixture f;
    setup(&f);
    moac_state_init_weights(&f.s, 7);
    moac_train_spec t = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = 0.1, .eps = 1e-8};
    const moac_param *w = moac_state_find(&f.s, "w"), *b = moac_state_find(&f.s, "b");
    double pw = f.s.w[w->offset], pb = f.s.w[b->offset], m1 = 0, v1 = 0, m2 = 0, v2 = 0;
    for (int step = 1; step <= 3; step++) {
        double gw = 0.5 * step, gb = -0.25 * step;
        f.s.g[w->offset] = (float)gw;
        f.s.g[b->offset] = (float)gb;
        moac_adamw_step(&f.s, &t, t.lr);
        double c1 = 1 - pow(0.9, step), c2 = 1 - pow(0.99, step);
        m1 = 0.9 * m1 + 0.1 * gw;
        v1 = 0.99 * v1 + 0.01 * gw * gw;
        pw = pw * (1 - t.lr * 0.1) - t.lr * (m1 / c1) / (sqrt(v1 / c2) + 1e-8);
        m2 = 0.9 * m2 + 0.1 * gb;
        v2 = 0.99 * v2 + 0.01 * gb * gb;
        pb = pb - t.lr * (m2 / c1) / (sqrt(v2 / c2) + 1e-8); /* no decay on 1-D params */
        assert_true(fabs(f.s.w[w->offset] - pw) < 1e-6);
        assert_true(fabs(f.s.w[b->offset] - pb) < 1e-6);
    }
    assert_int_equal(f.s.step, 3);
    teardown(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect_and_init),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_adamw_matches_formula),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
