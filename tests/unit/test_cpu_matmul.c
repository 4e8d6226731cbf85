/* The CPU backend's matmul (backends/cpu/kernels_matmul.c) against the reference interpreter:
 * tiny and odd sizes (tile edges in M and N, K of 1), every ta/tb combination, batch broadcast,
 * sizes with several K blocks, M chunks and N groups, and the MoAS model's shapes scaled down.
 * Each graph must run on the emitter (no reference fallback). MATMUL_VERBOSE=1 prints every
 * graph's relative error. */
#include "cpu_check.h"

#include "backends/cpu/emit.h"

static void check(const char *ir) {
    double e = moac_cpu_check_ir_native(ir, NULL);
    if (getenv("MATMUL_VERBOSE")) print_message("%.3g  %s", e, strstr(ir, "%y ="));
    if (!(e < 1e-4)) print_error("relative error %g for\n%s\n", e, ir);
    assert_true(e < 1e-4);
}

/* "d0,d1,..,r,c" (r,c swapped when t) into buf. */
static const char *dims(char *buf, size_t n, const char *batch, int64_t r, int64_t c, int t) {
    snprintf(buf, n, "%s%s%lld,%lld", batch, *batch ? "," : "", (long long)(t ? c : r), (long long)(t ? r : c));
    return buf;
}

/* matmul of a [abatch.., M, K] (stored [.., K, M] when ta) and b [bbatch.., K, N] (stored
 * [.., N, K] when tb); the result's batch dims are `obatch`. */
static void check_mm(const char *abatch, const char *bbatch, const char *obatch, int64_t m, int64_t n, int64_t k,
                     int ta, int tb) {
    char ir[1024], at[64], bt[64], ot[64];
    dims(at, sizeof at, abatch, m, k, ta);
    dims(bt, sizeof bt, bbatch, k, n, tb);
    dims(ot, sizeof ot, obatch, m, n, 0);
    snprintf(ir, sizeof ir,
             "graph \"t\" {\n"
             "  %%a = input() name=\"a\" : f32[%s]\n"
             "  %%b = param() name=\"b\" fill=0.0 std=1.0 : f32[%s]\n"
             "  %%y = matmul(%%a, %%b) ta=%d tb=%d : f32[%s]\n"
             "  %%o = output(%%y) name=\"y\" : f32[%s]\n"
             "}\n",
             at, bt, ta, tb, ot, ot);
    check(ir);
}

static void check_2d_all(int64_t m, int64_t n, int64_t k) {
    for (int t = 0; t < 4; t++) check_mm("", "", "", m, n, k, t >> 1, t & 1);
}

static void test_square(void **state) {
    (void)state;
    check_2d_all(64, 64, 64);
    check_2d_all(96, 96, 96);
}

/* Odd sizes: tile edges in M (14 rows per strip with AVX-512) and N (32 columns per panel), K = 1. */
static void test_odd_sizes(void **state) {
    (void)state;
    static const int64_t s[][3] = {{1, 1, 1},    {1, 3, 17},  {3, 17, 33},  {17, 33, 65}, {33, 65, 100},
                                   {65, 100, 3}, {100, 1, 33}, {13, 283, 7}, {29, 95, 130}, {3, 3, 3}};
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) check_2d_all(s[i][0], s[i][1], s[i][2]);
}

/* K beyond one block (several K blocks, the last shorter), M in several chunks, N in groups. */
static void test_blocked(void **state) {
    (void)state;
    check_mm("", "", "", 200, 700, 800, 0, 1);
    check_mm("", "", "", 150, 130, 1000, 1, 0);
    check_mm("", "", "", 37, 1100, 390, 0, 0);
    check_mm("", "", "", 301, 45, 770, 1, 1);
}

static void test_batch_broadcast(void **state) {
    (void)state;
    for (int t = 0; t < 4; t++) {
        int ta = t >> 1, tb = t & 1;
        check_mm("2,3", "", "2,3", 5, 7, 9, ta, tb);     /* shared B: folded into M when ta=0 */
        check_mm("2,3", "3", "2,3", 5, 7, 9, ta, tb);    /* B per inner batch */
        check_mm("", "2,3", "2,3", 13, 34, 20, ta, tb);  /* A shared */
        check_mm("2,1", "3", "2,3", 6, 33, 4, ta, tb);   /* both broadcast */
        check_mm("4", "4", "4", 25, 40, 50, ta, tb);     /* plain batched */
        check_mm("1,3", "2,1", "2,3", 14, 31, 17, ta, tb);
    }
}

/* The MoAS paper model's shapes with B*T = 24 rows, width 48 (heads 6 x 8), MLP 4x, vocab 37. */
static void test_model_shapes(void **state) {
    (void)state;
    /* forward: x[B,T,C] @ W[N,C]^T */
    check_mm("2,12", "", "2,12", 1, 144, 48, 0, 1); /* one row per batch: folded */
    check_mm("2", "", "2", 12, 144, 48, 0, 1);      /* qkv */
    check_mm("2", "", "2", 12, 192, 48, 0, 1);      /* mlp up */
    check_mm("2", "", "2", 12, 48, 192, 0, 1);      /* mlp down */
    check_mm("2", "", "2", 12, 37, 48, 0, 1);       /* tied logits */
    check_mm("2", "", "2", 12, 3, 48, 0, 1);        /* router gates */
    /* backward: dX = dY W, dW = dY^T X over the folded rows */
    check_mm("2", "", "2", 12, 48, 144, 0, 0);
    check_mm("", "", "", 144, 48, 24, 1, 0);
    check_mm("", "", "", 37, 48, 24, 1, 0);
    /* expert-choice heads: xs[B,E,k,C] @ w[E,D,C]^T, and its gradients */
    check_mm("2,3", "3", "2,3", 5, 8, 48, 0, 1);
    check_mm("2,3", "3", "2,3", 5, 48, 8, 0, 0);
    check_mm("2,3", "2,3", "2,3", 8, 48, 5, 1, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_square),
        cmocka_unit_test(test_odd_sizes),
        cmocka_unit_test(test_blocked),
        cmocka_unit_test(test_batch_broadcast),
        cmocka_unit_test(test_model_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
