/* moac plot's library half: the axes (1-2-5 ticks, logarithmic ticks, labels), the reader of
 * metrics.jsonl on every kind of damaged line a real run directory can hold, and the SVG (the
 * same runs give the same bytes; labels are escaped). tests/cli/test_plot.sh draws real runs. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "plot/plot.h"

static void expect_ticks(const moac_plot_axis *ax, const double *want, int n) {
    assert_int_equal(ax->nticks, n);
    for (int i = 0; i < n; i++) {
        if (fabs(ax->ticks[i] - want[i]) > 1e-9 * fmax(1, fabs(want[i]))) {
            fprintf(stderr, "tick %d: %.17g, want %.17g\n", i, ax->ticks[i], want[i]);
            fail();
        }
    }
}

static void test_nice_step(void **state) {
    (void)state;
    assert_true(fabs(moac_plot_nice_step(10, 5) - 2) < 1e-12);
    assert_true(fabs(moac_plot_nice_step(1, 5) - 0.2) < 1e-12);
    assert_true(fabs(moac_plot_nice_step(7, 5) - 2) < 1e-12);    /* 1.4 rounds up to 2 */
    assert_true(fabs(moac_plot_nice_step(0.03, 4) - 0.01) < 1e-12);
    assert_true(fabs(moac_plot_nice_step(100, 4) - 50) < 1e-12); /* 25 rounds up to 50 */
    assert_true(fabs(moac_plot_nice_step(3e-5, 3) - 1e-5) < 1e-18);
    assert_true(moac_plot_nice_step(0, 5) == 1);                 /* no range: any step */
    assert_true(moac_plot_nice_step(NAN, 5) == 1);
}

static void test_linear_axis(void **state) {
    (void)state;
    moac_plot_axis ax;
    moac_plot_axis_linear(&ax, 0.3, 5.7, 5, 0); /* rounded out to whole ticks */
    expect_ticks(&ax, (const double[]){0, 2, 4, 6}, 4);
    assert_true(ax.lo == 0 && ax.hi == 6);
    assert_true(fabs(moac_plot_axis_pos(&ax, 3) - 0.5) < 1e-12);
    moac_plot_axis_linear(&ax, 1, 200, 8, 1); /* steps */
    expect_ticks(&ax, (const double[]){0, 50, 100, 150, 200}, 5);
    moac_plot_axis_linear(&ax, 1, 3, 6, 1); /* steps are whole: never 0.5 */
    expect_ticks(&ax, (const double[]){1, 2, 3}, 3);
    moac_plot_axis_linear(&ax, 1, 1, 6, 1); /* a run of one step */
    expect_ticks(&ax, (const double[]){0, 1, 2}, 3);
    moac_plot_axis_linear(&ax, 0.3, 0.3, 4, 0); /* a constant: mixSGA's fixed capacities */
    expect_ticks(&ax, (const double[]){0.28, 0.29, 0.30, 0.31, 0.32}, 5);
    moac_plot_axis_linear(&ax, 5, -1, 5, 0); /* either order */
    assert_true(ax.lo == -2 && ax.hi == 6);
    moac_plot_axis_linear(&ax, NAN, INFINITY, 5, 0); /* nothing finite: 0 to 1 */
    assert_true(ax.lo == 0 && ax.hi == 1);
    moac_plot_axis_within(&ax, 0, 120, 3, 1); /* a narrow panel on the full width's range */
    expect_ticks(&ax, (const double[]){0, 50, 100}, 3);
    assert_true(ax.lo == 0 && ax.hi == 120);
    moac_plot_axis_within(&ax, 0, 120, 9, 1);
    expect_ticks(&ax, (const double[]){0, 20, 40, 60, 80, 100, 120}, 7);
    moac_plot_axis_linear(&ax, -0.5, 0.5, 4, 0); /* zero is 0, not -0 */
    char label[32];
    moac_plot_tick_label(&ax, ax.ticks[1], label, sizeof label);
    assert_string_equal(label, "0");
}

static void test_log_axis(void **state) {
    (void)state;
    moac_plot_axis ax;
    moac_plot_axis_log(&ax, 1.05, 5.7, 6); /* a loss: less than a decade, so 1-2-5 */
    expect_ticks(&ax, (const double[]){1, 2, 5}, 3);
    assert_true(ax.lo == 1 && fabs(ax.hi - 6) < 1e-12);
    moac_plot_axis_log(&ax, 0.001, 1000, 6); /* seven decades: every other one */
    expect_ticks(&ax, (const double[]){0.001, 0.1, 10, 1000}, 4);
    moac_plot_axis_log(&ax, 0.02, 30, 6); /* four decades: each */
    expect_ticks(&ax, (const double[]){0.1, 1, 10}, 3);
    moac_plot_axis_log(&ax, 2.1, 8.9, 6); /* 2 to 9: every digit */
    expect_ticks(&ax, (const double[]){2, 3, 4, 5, 6, 7, 8, 9}, 8);
    moac_plot_axis_log(&ax, 4.1, 4.6, 4); /* two digits only: linear ticks on the log axis */
    expect_ticks(&ax, (const double[]){4, 4.5, 5}, 3);
    assert_true(moac_plot_axis_pos(&ax, 4) == 0 && fabs(moac_plot_axis_pos(&ax, 5) - 1) < 1e-12);
    moac_plot_axis_log(&ax, 0, -1, 4); /* nothing positive: still an axis */
    assert_true(ax.lo > 0 && ax.hi > ax.lo && ax.nticks >= 2);
}

static void expect_label(const moac_plot_axis *ax, double v, const char *want) {
    char label[48];
    moac_plot_tick_label(ax, v, label, sizeof label);
    assert_string_equal(label, want);
}

static void test_labels(void **state) {
    (void)state;
    moac_plot_axis ax;
    moac_plot_axis_linear(&ax, 0.28, 0.36, 4, 0); /* step 0.02: two decimals */
    expect_label(&ax, ax.ticks[1], "0.30");
    moac_plot_axis_linear(&ax, 0, 3000, 4, 0);
    expect_label(&ax, ax.ticks[1], "1000");
    moac_plot_axis_linear(&ax, 0, 1e-4, 3, 0); /* a balance loss: scientific, not 0.00005 */
    expect_label(&ax, ax.ticks[1], "5.0e-05");
    expect_label(&ax, ax.ticks[0], "0");
    moac_plot_axis_linear(&ax, 0, 3e6, 3, 1);
    expect_label(&ax, ax.ticks[1], "1e+06");
    moac_plot_axis_log(&ax, 0.001, 1000, 6);
    expect_label(&ax, ax.ticks[0], "0.001");
    expect_label(&ax, ax.ticks[3], "1000");
}

/* ---- reading metrics ---- */

static moac_diag diag;
static moac_plot_run run;

static int setup(void **state) {
    (void)state;
    moac_diag_init(&diag);
    moac_plot_run_init(&run);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    moac_plot_run_free(&run);
    moac_diag_free(&diag);
    return 0;
}

static int parse(const char *text, size_t len) {
    return moac_plot_run_parse(&run, "r/metrics.jsonl", "r", text, len, &diag);
}

static void expect_diag(const char *phrase) {
    const char *out = moac_strbuf_cstr(&diag.out);
    if (!strstr(out, phrase)) {
        fprintf(stderr, "diagnostics lack \"%s\":\n%s", phrase, out);
        fail();
    }
}

static void test_read_clean(void **state) {
    (void)state;
    const char *t = "{\"step\":1,\"loss\":5.5,\"h0.attn.gates\":[0.2,0.3,0.5],\"note\":\"x\"}\n"
                    "{\"step\":2,\"loss\":5.0,\"h0.attn.gates\":[0.2,0.4,0.4],\"note\":\"x\"}\n"
                    "\n"
                    "{\"step\":2,\"eval\":{\"val_loss\":5.1,\"accuracy\":0.25}}\n";
    assert_int_equal(parse(t, strlen(t)), 0);
    assert_int_equal(run.lines, 3);
    assert_int_equal(diag.errors + diag.warnings, 0);
    const moac_plot_series *loss = moac_plot_run_find(&run, "loss"), *g = moac_plot_run_find(&run, "h0.attn.gates");
    assert_non_null(loss);
    assert_int_equal(loss->count, 2);
    assert_true(loss->step[1] == 2 && loss->value[1] == 5.0);
    assert_non_null(g);
    assert_int_equal(g->width, 3);
    assert_true(g->value[3 + 1] == 0.4);
    assert_non_null(moac_plot_run_find(&run, "eval.val_loss"));
    assert_non_null(moac_plot_run_find(&run, "eval.accuracy"));
    assert_null(moac_plot_run_find(&run, "note")); /* a string is no metric */
}

static void test_read_torn_last_line(void **state) {
    (void)state;
    const char *t = "{\"step\":1,\"loss\":5.5}\n{\"step\":2,\"loss\":5.0}\n{\"step\":3,\"lo";
    assert_int_equal(parse(t, strlen(t)), 0);
    assert_int_equal(run.lines, 2);
    assert_int_equal(diag.warnings, 1);
    expect_diag("r/metrics.jsonl:3:");
    expect_diag("warning: the last line is cut short");
}

static void test_read_nul_tail(void **state) {
    (void)state;
    const char t[] = "{\"step\":1,\"loss\":5.5}\n{\"step\":2,\"lo\0\0\0\0";
    assert_int_equal(parse(t, sizeof t - 1), 0);
    assert_int_equal(run.lines, 1);
    expect_diag("r/metrics.jsonl:2:");
    expect_diag("cut short");
    moac_plot_run_free(&run);
    moac_plot_run_init(&run);
    const char z[] = "{\"step\":1,\"loss\":5.5}\n\0\0\0\0";
    assert_int_equal(parse(z, sizeof z - 1), 0);
    expect_diag("ends in 4 NUL bytes");
}

static void test_read_malformed(void **state) {
    (void)state;
    const char *t = "{\"step\":1,\"loss\":5.5}\n{\"step\":2,\"loss\":}\n{\"step\":3,\"loss\":5.0}\n";
    assert_int_equal(parse(t, strlen(t)), -1);
    expect_diag("r/metrics.jsonl:2:18: error: not a line of metrics");
    expect_diag("fix or delete this line");
    moac_plot_run_free(&run);
    moac_plot_run_init(&run);
    /* a line cut short and then a resumed run's line after it, on one line */
    const char *u = "{\"step\":1,\"loss\":5.5}\n{\"step\":2,\"lo{\"step\":2,\"loss\":5.0}\n";
    assert_int_equal(parse(u, strlen(u)), -1);
    expect_diag("delete the text before the second {\"step\":");
}

static void test_read_not_metrics(void **state) {
    (void)state;
    const char *t = "[1,2]\n{\"loss\":5}\n{\"step\":-1}\n{\"step\":1.5}\n";
    assert_int_equal(parse(t, strlen(t)), -1);
    expect_diag(":1:1: error: a JSON array, not an object of metrics");
    expect_diag(":2:1: error: a line of metrics without \"step\"");
    expect_diag(":3:9: error: \"step\" is not a whole number");
    expect_diag(":4:9: error: \"step\" is not a whole number");
}

static void test_read_nonfinite(void **state) {
    (void)state;
    const char *t = "{\"step\":1,\"loss\":5.5,\"g\":[0.5,0.5]}\n"
                    "{\"step\":2,\"loss\":nan,\"g\":[-nan,inf]}\n"
                    "{\"step\":3,\"loss\":-inf,\"g\":[0.5,null]}\n";
    assert_int_equal(parse(t, strlen(t)), 0);
    assert_int_equal(run.lines, 3);
    const moac_plot_series *loss = moac_plot_run_find(&run, "loss");
    assert_int_equal(loss->count, 3);
    assert_true(isnan(loss->value[1]) && isnan(loss->value[2]));
    assert_int_equal(diag.warnings, 1);
    expect_diag("r/metrics.jsonl:2:18: warning: 'loss' is not a number at step 2");
    expect_diag("5 values that are not finite are left out");
}

static void test_read_resumed(void **state) {
    (void)state;
    /* killed after step 4 with a checkpoint at step 2, resumed from it: steps 3 and 4 again */
    const char *t = "{\"step\":1,\"loss\":4}\n{\"step\":2,\"loss\":3}\n{\"step\":3,\"loss\":2}\n{\"step\":4,\"loss\":1}\n"
                    "{\"step\":3,\"loss\":2}\n{\"step\":4,\"loss\":1}\n{\"step\":5,\"loss\":0.5}\n";
    assert_int_equal(parse(t, strlen(t)), 0);
    const moac_plot_series *loss = moac_plot_run_find(&run, "loss");
    assert_int_equal(loss->count, 5);
    for (size_t i = 0; i < loss->count; i++) assert_true(loss->step[i] == (double)(i + 1));
    expect_diag("r/metrics.jsonl:5:9: note: the steps go back to 3 here");
}

static void test_read_width_changes(void **state) {
    (void)state;
    const char *t = "{\"step\":1,\"h0.attn.gates\":[0.5,0.5]}\n{\"step\":2,\"h0.attn.gates\":[0.3,0.3,0.4]}\n";
    assert_int_equal(parse(t, strlen(t)), -1);
    expect_diag(":2:27: error: 'h0.attn.gates' has 3 values here but 2 on line 1");
}

static void test_load_missing(void **state) {
    (void)state;
    assert_int_equal(moac_plot_run_load(&run, "/nonexistent/run", &diag), -1);
    expect_diag("/nonexistent/run: error: no such run directory");
    assert_int_equal(moac_plot_run_load(&run, MOAC_SOURCE_ROOT "/models", &diag), -1);
    expect_diag("models: error: has no metrics.jsonl");
}

/* ---- the picture ---- */

static void test_svg(void **state) {
    (void)state;
    const char *a = "{\"step\":1,\"loss\":5.5,\"h0.attn.gates\":[0.2,0.8],\"h1.attn.gates\":[0.5,0.5]}\n"
                    "{\"step\":2,\"loss\":5.0,\"h0.attn.gates\":[0.3,0.7],\"h1.attn.gates\":[0.4,0.6]}\n"
                    "{\"step\":2,\"eval\":{\"val_loss\":5.2}}\n";
    const char *b = "{\"step\":1,\"loss\":5.8}\n";
    moac_plot_run runs[2];
    moac_plot_run_init(&runs[0]);
    moac_plot_run_init(&runs[1]);
    assert_int_equal(moac_plot_run_parse(&runs[0], "x/metrics.jsonl", "moas & co", a, strlen(a), &diag), 0);
    assert_int_equal(moac_plot_run_parse(&runs[1], "y/metrics.jsonl", "<mha>", b, strlen(b), &diag), 0);
    moac_strbuf s1, s2;
    moac_strbuf_init(&s1);
    moac_strbuf_init(&s2);
    moac_plot_opts o = {.log = 1, .smooth = 5};
    int panels = moac_plot_svg(runs, 2, &o, &s1);
    assert_int_equal(moac_plot_svg(runs, 2, &o, &s2), panels);
    assert_string_equal(moac_strbuf_cstr(&s1), moac_strbuf_cstr(&s2)); /* deterministic */
    const char *svg = moac_strbuf_cstr(&s1);
    assert_true(!strncmp(svg, "<?xml version=\"1.0\"", 19));
    assert_non_null(strstr(svg, "data-run=\"moas &amp; co\""));
    assert_non_null(strstr(svg, ">&lt;mha&gt;</text>"));
    assert_non_null(strstr(svg, "data-key=\"h1.attn.gates\""));
    assert_non_null(strstr(svg, "<circle")); /* the one-step run's point */
    assert_int_equal(panels, 1 + 2);          /* loss, and a gate panel per layer */
    moac_strbuf_free(&s1);
    moac_strbuf_free(&s2);
    moac_plot_run_free(&runs[0]);
    moac_plot_run_free(&runs[1]);
    moac_plot_run empty;
    moac_plot_run_init(&empty);
    moac_strbuf_init(&s1);
    assert_int_equal(moac_plot_svg(&empty, 1, NULL, &s1), 0); /* nothing to draw */
    assert_int_equal(s1.len, 0);
    moac_strbuf_free(&s1);
    moac_plot_run_free(&empty);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nice_step),
        cmocka_unit_test(test_linear_axis),
        cmocka_unit_test(test_log_axis),
        cmocka_unit_test(test_labels),
        cmocka_unit_test_setup_teardown(test_read_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_torn_last_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_nul_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_not_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_nonfinite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_resumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_width_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_svg, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
