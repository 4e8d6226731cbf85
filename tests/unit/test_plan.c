/* Pass 'plan' (passes/plan.h): buffers whose lives overlap never share bytes, buffers whose lives
 * do not may, the largest is placed first, outputs live to the end, and the printed plan and the
 * peak description name what they should. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "passes/plan.h"

static int overlap(const moac_buffer *a, const moac_buffer *b) {
    int life = a->first <= b->last && b->first <= a->last;
    int bytes = a->offset < b->offset + (size_t)b->bytes && b->offset < a->offset + (size_t)a->bytes;
    return life && bytes;
}

/* A lives in steps 0..1, B 1..2, C 2..3: C reuses A's bytes, B sits above both. */
static void test_reuse_after_death(void **state) {
    (void)state;
    moac_buffer b[] = {
        {.bytes = 100, .first = 0, .last = 1},
        {.bytes = 64, .first = 1, .last = 2},
        {.bytes = 100, .first = 2, .last = 3},
    };
    moac_plan p = {.buffers = b, .count = 3, .steps = 4};
    assert_int_equal(moac_plan_memory(&p), 128 + 64);
    assert_int_equal(b[0].offset, 0);
    assert_int_equal(b[2].offset, 0);
    assert_int_equal(b[1].offset, 128); /* 100 bytes round up to 128 (64-byte alignment) */
    assert_int_equal(p.peak_bytes, 192);
}

/* An output (keep) lives to the end, so a buffer born after its last use cannot take its bytes;
 * an untouched buffer still gets a place of its own at its one step. */
static void test_keep_and_untouched(void **state) {
    (void)state;
    moac_buffer b[] = {
        {.bytes = 256, .first = 0, .last = 0, .keep = 1},
        {.bytes = 256, .first = 2, .last = 3},
        {.bytes = 64, .first = 1 << 30, .last = -1},
    };
    moac_plan p = {.buffers = b, .count = 3, .steps = 4};
    moac_plan_memory(&p);
    assert_int_equal(b[0].last, 4);
    assert_int_equal(b[1].offset, 256);
    assert_true(b[2].first <= b[2].last);
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++) assert_false(overlap(&b[i], &b[j]));
}

/* Many random lives: no two live buffers share a byte, and the arena is at least the peak of
 * live bytes. Deterministic (a fixed LCG). */
static void test_random_lives(void **state) {
    (void)state;
    enum { N = 300, STEPS = 60 };
    moac_buffer b[N];
    uint64_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int first = (int)((x >> 33) % STEPS), len = (int)((x >> 20) % 10);
        b[i] = (moac_buffer){.bytes = (int64_t)(1 + (x >> 40) % 5000), .first = first,
                             .last = first + len < STEPS ? first + len : STEPS - 1, .keep = (x & 0xff) == 7};
    }
    moac_plan p = {.buffers = b, .count = N, .steps = STEPS};
    size_t arena = moac_plan_memory(&p);
    double live[STEPS + 1] = {0}, peak = 0;
    for (int i = 0; i < N; i++) {
        assert_true(b[i].offset % 64 == 0);
        assert_true(b[i].offset + (size_t)b[i].bytes <= arena);
        for (int t = b[i].first; t <= b[i].last; t++) live[t] += (double)b[i].bytes;
        for (int j = i + 1; j < N; j++) assert_false(overlap(&b[i], &b[j]));
    }
    for (int t = 0; t <= STEPS; t++) peak = live[t] > peak ? live[t] : peak;
    assert_true((double)arena >= peak);
}

static void test_print_and_describe(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = moac_graph_new(&a, "p");
    moac_node *x = moac_graph_append(g, MOAC_OP_INPUT, 0, NULL);
    x->s = "x";
    x->name = "big";
    x->type = (moac_type){.dtype = MOAC_F32, .rank = 1, .dims = {1024}};
    moac_buffer b[] = {{.bytes = 4096, .first = 0, .last = 1, .node = x}, {.bytes = 64, .first = 1, .last = 1}};
    moac_plan p = {.buffers = b, .count = 2, .steps = 2};
    moac_plan_memory(&p);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_plan_print(&p, "cpu", &out);
    const char *s = moac_strbuf_cstr(&out);
    assert_non_null(strstr(s, "# plan for cpu: 4160 bytes of arena, 2 buffers over 2 steps\n"));
    assert_non_null(strstr(s, "#   @0                    4096 bytes  steps 0..1  %big = input : f32[1024]\n"));
    assert_non_null(strstr(s, "#   @4096                   64 bytes  steps 1..1  kernel scratch\n"));
    moac_strbuf_clear(&out);
    moac_plan_describe_peak(&p, &out);
    assert_non_null(strstr(moac_strbuf_cstr(&out), "at its peak (step 1 of 2)"));
    assert_non_null(strstr(moac_strbuf_cstr(&out), "%big = input : f32[1024]"));
    moac_strbuf_free(&out);
    moac_arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reuse_after_death),
        cmocka_unit_test(test_keep_and_untouched),
        cmocka_unit_test(test_random_lives),
        cmocka_unit_test(test_print_and_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
