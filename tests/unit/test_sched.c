/* Schedule annotations in the IR (docs/ir.md, "Schedule"): they round-trip through the text form,
 * the reader locates malformed ones, and moac_sched_check (run by the verifier) rejects each kind
 * of illegal schedule with a message naming the value, at its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ir.h"
#include "passes/schedule.h"

/* A legal schedule using every annotation: a matmul kernel, a fused kernel of two members with
 * a constant recomputed inside it, a view of its stored value, a reference kernel, and a last
 * fused kernel reading two earlier kernels. Line numbers below count from 1 = "graph". */
static const char *const legal[] = {
    "graph \"s\" {\n",
    "  %a = input() name=\"a\" : f32[2,3]\n",                         /* 2 */
    "  %w = param() name=\"w\" fill=0.0 std=1.0 : f32[3,3]\n",        /* 3 */
    "  %z = full() value=0.5 : f32[] @inline\n",                      /* 4 */
    "  %m = matmul(%a, %w) ta=0 tb=0 : f32[2,3] @k0\n",               /* 5 */
    "  %e = exp(%m) : f32[2,3] @k1\n",                                /* 6 */
    "  %s = mul(%e, %z) : f32[2,3] @k1\n",                            /* 7 */
    "  %r = reshape(%s) shape=[6] : f32[6] @view\n",                  /* 8 */
    "  %t = softmax(%m) : f32[2,3] @r2\n",                            /* 9 */
    "  %x = add(%t, %s) : f32[2,3] @k3\n",                            /* 10 */
    "  %o = output(%r) name=\"o\" : f32[6]\n",                        /* 11 */
    "  %ox = output(%x) name=\"x\" : f32[2,3]\n",                     /* 12 */
    "}\n",
};
enum { NLINES = sizeof legal / sizeof *legal };

/* The legal text with line `line` (1-based) replaced, and line `line2` too when it is not 0. */
static char *with_lines(int line, const char *replacement, int line2, const char *replacement2) {
    moac_strbuf b;
    moac_strbuf_init(&b);
    for (int k = 0; k < NLINES; k++)
        moac_strbuf_puts(&b, k + 1 == line ? replacement : k + 1 == line2 ? replacement2 : legal[k]);
    char *s = strdup(moac_strbuf_cstr(&b));
    moac_strbuf_free(&b);
    return s;
}

static moac_graph *read_and_verify(moac_arena *a, moac_diag *d, const char *text) {
    moac_graph *g = moac_ir_read(a, moac_source_from_text(a, "t.ir", text), d);
    if (g && moac_ir_verify(g, d, "as read")) return NULL;
    return g;
}

static void test_legal_round_trips(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    char *text = with_lines(0, NULL, 0, NULL);
    moac_graph *g = read_and_verify(&a, &d, text);
    if (!g) print_error("%s", moac_strbuf_cstr(&d.out));
    assert_non_null(g);
    assert_true(moac_graph_scheduled(g));
    assert_int_equal(g->nodes[4]->sched, MOAC_SCHED_KERNEL);
    assert_int_equal(g->nodes[4]->kernel, 1);
    assert_int_equal(g->nodes[7]->sched, MOAC_SCHED_REFERENCE);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_ir_print(g, &out);
    assert_string_equal(moac_strbuf_cstr(&out), text);
    /* Cleared, it is an ordinary graph again and prints without annotations. */
    moac_sched_clear(g);
    assert_false(moac_graph_scheduled(g));
    moac_strbuf_clear(&out);
    moac_ir_print(g, &out);
    assert_null(strchr(moac_strbuf_cstr(&out), '@'));
    assert_int_equal(moac_ir_verify(g, &d, "cleared"), 0);
    moac_strbuf_free(&out);
    free(text);
    moac_diag_free(&d);
    moac_arena_free(&a);
}

typedef struct bad_case {
    int line;                /* the line of legal[] replaced */
    const char *replacement;
    int line2;               /* and this one, when not 0 */
    const char *replacement2;
    const char *where;       /* "line:col" of the expected message */
    const char *phrase;
} bad_case;

static const bad_case bad_cases[] = {
    /* The reader. */
    {6, "  %e = exp(%m) : f32[2,3] @q1\n", 0, NULL, "6:27", "unknown schedule annotation '@q1'"},
    {6, "  %e = exp(%m) : f32[2,3] @k\n", 0, NULL, "6:27", "unknown schedule annotation '@k'"},
    {6, "  %e = exp(%m) : f32[2,3] @\n", 0, NULL, "6:27", "unknown schedule annotation '@'"},
    {6, "  %e = exp(%m) : f32[2,3] @k1 @k1\n", 0, NULL, "6:31", "unexpected '@k1' after the result type and its schedule annotation"},
    /* Each annotation on its own. */
    {6, "  %e = exp(%m) : f32[2,3]\n", 0, NULL, "6:3", "%e = exp: has no schedule annotation, but the graph is scheduled"},
    {11, "  %o = output(%r) name=\"o\" : f32[6] @k4\n", 0, NULL, "11:3", "%o = output: an output takes no schedule annotation"},
    {6, "  %e = exp(%m) : f32[2,3] @inline\n", 0, NULL, "6:3", "%e = exp: @inline: only constants (full)"},
    {6, "  %e = exp(%m) : f32[2,3] @view\n", 0, NULL, "6:3", "%e = exp: @view: only a reshape can be a view"},
    {6, "  %e = exp(%m) : f32[2,3] @k99\n", 0, NULL, "6:3", "%e = exp: kernel 99 does not exist"},
    /* Kernels. */
    {6, "  %e = exp(%m) : f32[2,3] @k2\n", 0, NULL, "6:3", "%e = exp: kernel 2 starts here, before kernel 1"},
    {5, "  %m = matmul(%a, %w) ta=0 tb=0 : f32[2,3] @k1\n", 0, NULL, "6:3",
     "%e = exp: reads %m inside kernel 1, but %m is also stored for readers outside it"},
    {10, "  %x = add(%t, %s) : f32[2,3] @r2\n", 0, NULL, "9:3", "%t = softmax: is read only inside kernel 2, so it would be "
                                                  "computed in registers there, which softmax cannot be"},
    {10, "  %x = add(%t, %s) : f32[2,3] @r2\n", 0, NULL, "9:3", "kernel @r2 has 2 members"},
    {10, "  %x = add(%t, %s) : f32[2,3] @k1\n", 0, NULL, "10:3", "%x = add: is in kernel 1 but reads %t, which kernel 2 stores"},
    {10, "  %x = add(%t, %s) : f32[2,3] @k1\n", 0, NULL, "10:3", "is a second stored value of kernel 1 (with %s)"},
    {9, "  %t = softmax(%m) : f32[2,3] @k2\n  %t2 = mul(%t, %z) : f32[2,3] @k2\n", 10,
     "  %x = add(%t2, %s) : f32[2,3] @k3\n", "9:3",
     "%t = softmax: is read only inside kernel 2, so it would be computed in registers there, which softmax cannot be"},
    {9, "  %t = softmax(%m) : f32[2,3] @r2\n  %u = relu(%m) : f32[2,3] @r2\n", 0, NULL, "10:3",
     "%u = relu: is a second stored value of kernel 2 (with %t)"},
    {8, "  %r = reshape(%z) shape=[1] : f32[1] @view\n", 11, "  %o = output(%r) name=\"o\" : f32[1]\n", "8:3",
     "%r = reshape: reads @inline %z, which has no bytes"},
    {10, "  %x = add(%t, %s) : f32[2,3] @k3\n  %y = softmax(%x) : f32[2,3] @k3\n", 12,
     "  %ox = output(%y) name=\"x\" : f32[2,3]\n", "11:3",
     "%y = softmax: reads %x in registers inside kernel 3, which only elementwise and layout ops do"},
};

static void test_bad_schedules(void **state) {
    (void)state;
    int failures = 0;
    for (size_t k = 0; k < sizeof bad_cases / sizeof *bad_cases; k++) {
        const bad_case *c = &bad_cases[k];
        moac_arena a;
        moac_arena_init(&a);
        moac_diag d;
        moac_diag_init(&d);
        char *text = with_lines(c->line, c->replacement, c->line2, c->replacement2);
        moac_graph *g = read_and_verify(&a, &d, text);
        char where[64];
        snprintf(where, sizeof where, "t.ir:%s: error: ", c->where);
        const char *out = moac_strbuf_cstr(&d.out);
        const char *at = strstr(out, where);
        if (g || !at || !strstr(at, c->phrase)) {
            print_error("case %zu: expected %s...%s\n%s\ngot:\n%s\n", k, where, c->phrase, g ? "(accepted)" : "", out);
            failures++;
        }
        free(text);
        moac_diag_free(&d);
        moac_arena_free(&a);
    }
    assert_int_equal(failures, 0);
}

/* head + variant[k] + tail must verify for k = 0 and fail with `error` for k = 1. */
static void check_join(const char *head, const char *const variant[2], const char *tail, const char *error) {
    for (int bad = 0; bad < 2; bad++) {
        moac_arena a;
        moac_arena_init(&a);
        moac_diag d;
        moac_diag_init(&d);
        moac_strbuf t;
        moac_strbuf_init(&t);
        moac_strbuf_printf(&t, "%s%s%s", head, variant[bad], tail);
        moac_graph *g = read_and_verify(&a, &d, moac_strbuf_cstr(&t));
        if (!bad && !g) print_error("%s", moac_strbuf_cstr(&d.out));
        if (bad) {
            assert_null(g);
            assert_non_null(strstr(moac_strbuf_cstr(&d.out), error));
        } else {
            assert_non_null(g);
        }
        moac_strbuf_free(&t);
        moac_diag_free(&d);
        moac_arena_free(&a);
    }
}

/* A join: the three attention_grads of one attention may be one kernel with three stored
 * values; two grads with different operands may not. */
static void test_join(void **state) {
    (void)state;
    const char *head = "graph \"j\" {\n"
                       "  %q = input() name=\"q\" : f32[1,2,4,8]\n"
                       "  %k = input() name=\"k\" : f32[1,2,4,8]\n"
                       "  %v = input() name=\"v\" : f32[1,2,4,8]\n"
                       "  %g = input() name=\"g\" : f32[1,2,4,8]\n";
    const char *tail = "  %dk = attention_grad(%q, %k, %v, %g) causal=1 scale=0.5 which=1 : f32[1,2,4,8] @k0\n"
                       "  %dv = attention_grad(%q, %k, %v, %g) causal=1 scale=0.5 which=2 : f32[1,2,4,8] @k0\n"
                       "  %o1 = output(%dq) name=\"dq\" : f32[1,2,4,8]\n"
                       "  %o2 = output(%dk) name=\"dk\" : f32[1,2,4,8]\n"
                       "  %o3 = output(%dv) name=\"dv\" : f32[1,2,4,8]\n}\n";
    const char *dq[] = {"  %dq = attention_grad(%q, %k, %v, %g) causal=1 scale=0.5 which=0 : f32[1,2,4,8] @k0\n",
                        "  %dq = attention_grad(%q, %k, %k, %g) causal=1 scale=0.5 which=0 : f32[1,2,4,8] @k0\n"};
    check_join(head, dq, tail, "t.ir:7:3: error: as read: %dk = attention_grad: is a second stored value of kernel "
                               "0 (with %dq)");
}

/* A backend with no softmax kernel that fuses what the shared rule allows, and one that fuses
 * nothing. */
static int not_softmax(const moac_node *n) { return n->op != MOAC_OP_SOFTMAX; }
static int fuses_nothing(const moac_node *n) { return n == NULL; }
static const moac_sched_rules no_softmax = {"test", not_softmax, moac_sched_fusable, NULL, NULL};
static const moac_sched_rules unfused = {"unfused", not_softmax, fuses_nothing, NULL, NULL};

/* The pass makes exactly the legal schedule above from the unscheduled graph: the matmul alone,
 * exp fused into its single reader, the constant inlined, the reshape a view, softmax on the
 * reference kernel; and a backend that fuses nothing refuses that schedule, naming the value. */
static void test_pass(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    char *text = with_lines(0, NULL, 0, NULL);
    moac_graph *g = read_and_verify(&a, &d, text);
    assert_non_null(g);
    moac_sched_clear(g);
    assert_int_equal(moac_schedule(g, &no_softmax, &d), 0);
    assert_int_equal(moac_ir_verify(g, &d, "after pass 'schedule'"), 0);
    assert_int_equal(moac_sched_check_rules(g, &no_softmax, &d), 0);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_ir_print(g, &out);
    assert_string_equal(moac_strbuf_cstr(&out), text);
    assert_int_equal(moac_schedule(g, &no_softmax, &d), -1); /* scheduled already */
    moac_strbuf_clear(&d.out);
    assert_int_equal(moac_sched_check_rules(g, &unfused, &d), 2);
    assert_non_null(strstr(moac_strbuf_cstr(&d.out), "unfused: %e = exp: the unfused backend does not compute exp "
                                                     "inside another kernel"));
    assert_non_null(strstr(moac_strbuf_cstr(&d.out), "unfused: %z = full"));
    moac_strbuf_free(&out);
    free(text);
    moac_diag_free(&d);
    moac_arena_free(&a);
}

/* Pass 'attention_stats': an attention whose three gradients are joined, on a backend that
 * renders the forward with its statistics, hands them over as an attention_lse value; the
 * schedule then joins it with the forward. No statistics when either join is not rendered, or
 * when a gradient is missing. */
static int supports_all(const moac_node *n) { return n != NULL; }
static int joins_all(const moac_node *const *group, int count) { return group && count >= 2; }
static int joins_grads_only(const moac_node *const *group, int count) {
    return count == 3 && group[0]->op == MOAC_OP_ATTENTION_GRAD;
}
static const moac_sched_rules stats_backend = {"stats", supports_all, moac_sched_fusable, joins_all, NULL};
static const moac_sched_rules no_forward_join = {"grads", supports_all, moac_sched_fusable, joins_grads_only, NULL};

static char *attention_stats_of(const char *text, const moac_sched_rules *r, int schedule) {
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = read_and_verify(&a, &d, text);
    assert_non_null(g);
    assert_int_equal(moac_attention_stats(g, r, &d), 0);
    int rc = moac_ir_verify(g, &d, "after pass 'attention_stats'");
    if (rc) print_error("%s", moac_strbuf_cstr(&d.out));
    assert_int_equal(rc, 0);
    if (schedule) {
        assert_int_equal(moac_schedule(g, r, &d), 0);
        assert_int_equal(moac_ir_verify(g, &d, "after pass 'schedule'"), 0);
        assert_int_equal(moac_sched_check_rules(g, r, &d), 0);
    }
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_ir_print(g, &out);
    char *copy = strdup(moac_strbuf_cstr(&out));
    moac_strbuf_free(&out);
    moac_diag_free(&d);
    moac_arena_free(&a);
    return copy;
}

static void test_attention_stats(void **state) {
    (void)state;
    const char *head = "graph \"a\" {\n"
                       "  %q = input() name=\"q\" : f32[1,2,4,8]\n"
                       "  %k = input() name=\"k\" : f32[1,1,4,8]\n"
                       "  %v = input() name=\"v\" : f32[1,1,4,8]\n"
                       "  %g = input() name=\"g\" : f32[1,2,4,8]\n"
                       "  %att = attention(%q, %k, %v) causal=1 scale=0.5 : f32[1,2,4,8]\n"
                       "  %dk = attention_grad(%q, %k, %v, %g) causal=1 scale=0.5 which=1 : f32[1,1,4,8]\n"
                       "  %dv = attention_grad(%q, %k, %v, %g) causal=1 scale=0.5 which=2 : f32[1,1,4,8]\n"
                       "  %o0 = output(%att) name=\"att\" : f32[1,2,4,8]\n"
                       "  %o2 = output(%dk) name=\"dk\" : f32[1,1,4,8]\n"
                       "  %o3 = output(%dv) name=\"dv\" : f32[1,1,4,8]\n";
    const char *dq = "  %dq = attention_grad(%q, %k, %v, %g) causal=1 scale=0.5 which=0 : f32[1,2,4,8]\n"
                     "  %o1 = output(%dq) name=\"dq\" : f32[1,2,4,8]\n}\n";
    moac_strbuf t;
    moac_strbuf_init(&t);
    moac_strbuf_printf(&t, "%s%s", head, dq);
    const char *full = moac_strbuf_cstr(&t);

    char *got = attention_stats_of(full, &stats_backend, 0);
    assert_non_null(strstr(got, "  %att = attention(%q, %k, %v) causal=1 scale=0.5 : f32[1,2,4,8]\n"
                                "  %5 = attention_lse(%q, %k, %v) causal=1 scale=0.5 : f32[1,2,4]\n"));
    assert_non_null(strstr(got, "%dk = attention_grad(%q, %k, %v, %g, %att, %5) causal=1 scale=0.5 which=1"));
    assert_non_null(strstr(got, "%dq = attention_grad(%q, %k, %v, %g, %att, %5) causal=1 scale=0.5 which=0"));
    free(got);
    got = attention_stats_of(full, &stats_backend, 1);
    assert_non_null(strstr(got, "  %att = attention(%q, %k, %v) causal=1 scale=0.5 : f32[1,2,4,8] @k0\n"
                                "  %5 = attention_lse(%q, %k, %v) causal=1 scale=0.5 : f32[1,2,4] @k0\n"));
    assert_non_null(strstr(got, "which=0 : f32[1,2,4,8] @k1\n"));
    free(got);
    /* Unchanged: the backend does not join the forward with its statistics, or joins nothing. */
    const moac_sched_rules *refusing[] = {&no_forward_join, &no_softmax};
    for (int r = 0; r < 2; r++) {
        got = attention_stats_of(full, refusing[r], 0);
        assert_string_equal(got, full);
        free(got);
    }
    /* Unchanged: only two of the three gradients. */
    moac_strbuf_clear(&t);
    moac_strbuf_printf(&t, "%s}\n", head);
    got = attention_stats_of(moac_strbuf_cstr(&t), &stats_backend, 0);
    assert_string_equal(got, moac_strbuf_cstr(&t));
    free(got);
    moac_strbuf_free(&t);
}

/* A forward joined with its statistics reads back as legal; statistics of another attention's
 * operands in the forward's kernel are not a join. */
static void test_forward_join(void **state) {
    (void)state;
    const char *head = "graph \"f\" {\n"
                       "  %q = input() name=\"q\" : f32[1,2,4,8]\n"
                       "  %k = input() name=\"k\" : f32[1,2,4,8]\n"
                       "  %att = attention(%q, %k, %k) causal=1 scale=0.5 : f32[1,2,4,8] @k0\n";
    const char *lse[] = {"  %l = attention_lse(%q, %k, %k) causal=1 scale=0.5 : f32[1,2,4] @k0\n",
                         "  %l = attention_lse(%q, %k, %k) causal=0 scale=0.5 : f32[1,2,4] @k0\n"};
    const char *tail = "  %o1 = output(%att) name=\"att\" : f32[1,2,4,8]\n"
                       "  %o2 = output(%l) name=\"lse\" : f32[1,2,4]\n}\n";
    check_join(head, lse, tail, "t.ir:5:3: error: as read: %l = attention_lse: is a second stored value of kernel "
                                "0 (with %att)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legal_round_trips),
        cmocka_unit_test(test_bad_schedules),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_pass),
        cmocka_unit_test(test_attention_stats),
        cmocka_unit_test(test_forward_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
