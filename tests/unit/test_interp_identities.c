/* Identities of the reference interpreter's kernels (softmax rows sum to 1, attention with one
 * key returns v, grouped attention equals MHA on repeated K/V, rope_grad undoes rope, topk and
 * capacity_route select what they promise, dropout's mask), on seeded data. The gradient kernels
 * are checked against finite differences in test_interp_gradients.c. */
#include "interp_test_util.h"

/* ---- Identities. ---- */

static void test_softmax_rows_sum_to_one(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    moac_node *n = op(&f, "softmax", TYPES("f32[3,7]"), (t_attrs){0});
    double *x = t_randn(1, 21, 10);
    double *y = t_ok(n, (const double *[]){x}, NULL);
    for (int r = 0; r < 3; r++) {
        double s = 0;
        for (int j = 0; j < 7; j++) s += y[r * 7 + j];
        assert_true(fabs(s - 1) < 1e-15);
    }
    free(x);
    free(y);
    moac_arena_free(&f.a);
}

static void test_attention_one_key_returns_v(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    double *q = t_randn(2, 2 * 4 * 1 * 3, 1), *k = t_randn(3, 2 * 2 * 3, 1), *v = t_randn(4, 2 * 2 * 5, 1);
    for (int causal = 0; causal < 2; causal++) {
        moac_node *n = op(&f, "attention", TYPES("f32[2,4,1,3]", "f32[2,2,1,3]", "f32[2,2,1,5]"),
                          (t_attrs){.i = {causal}, .f = {0.7}});
        double *o = t_ok(n, (const double *[]){q, k, v}, NULL);
        for (int b = 0; b < 2; b++)
            for (int h = 0; h < 4; h++) t_expect("attention T=1", o + (b * 4 + h) * 5, v + (b * 2 + h / 2) * 5, 5, 0);
        free(o);
    }
    free(q);
    free(k);
    free(v);
    moac_arena_free(&f.a);
}

/* Grouped attention (G=2 KV heads for H=6 query heads) equals MHA on K/V repeated per group; its
 * dq equals MHA's, its dk and dv are MHA's summed over each group (group_mean * 3). */
static void test_grouped_attention_is_mha_on_repeated_kv(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    const char *qt = "f32[2,6,5,4]", *kt = "f32[2,2,5,4]", *vt = "f32[2,2,5,3]";
    double *q = t_randn(5, numel_of(qt), 1), *k = t_randn(6, numel_of(kt), 1), *v = t_randn(7, numel_of(vt), 1);
    double *dout = t_randn(8, numel_of("f32[2,6,5,3]"), 1);
    moac_node *rk = op(&f, "repeat_heads", TYPES(kt), (t_attrs){.i = {3}});
    moac_node *rv = op(&f, "repeat_heads", TYPES(vt), (t_attrs){.i = {3}});
    double *k6 = t_ok(rk, (const double *[]){k}, NULL), *v6 = t_ok(rv, (const double *[]){v}, NULL);
    for (int causal = 0; causal < 2; causal++) {
        t_attrs at = {.i = {causal}, .f = {0.5}};
        moac_node *gqa = op(&f, "attention", TYPES(qt, kt, vt), at);
        moac_node *mha = op(&f, "attention", TYPES(qt, "f32[2,6,5,4]", "f32[2,6,5,3]"), at);
        double *o1 = t_ok(gqa, (const double *[]){q, k, v}, NULL), *o2 = t_ok(mha, (const double *[]){q, k6, v6}, NULL);
        t_expect("gqa = mha", o1, o2, numel_of("f32[2,6,5,3]"), 1e-14);
        free(o1);
        free(o2);
        for (int which = 0; which < 3; which++) {
            t_attrs gat = {.i = {causal, which}, .f = {0.5}};
            moac_node *gg = op(&f, "attention_grad", TYPES(qt, kt, vt, "f32[2,6,5,3]"), gat);
            moac_node *mg = op(&f, "attention_grad", TYPES(qt, "f32[2,6,5,4]", "f32[2,6,5,3]", "f32[2,6,5,3]"), gat);
            double *g1 = t_ok(gg, (const double *[]){q, k, v, dout}, NULL);
            double *g2 = t_ok(mg, (const double *[]){q, k6, v6, dout}, NULL);
            if (which > 0) { /* sum MHA's per-head gradient over each group of 3 query heads */
                moac_node *gm = op(&f, "group_mean", TYPES(which == 1 ? "f32[2,6,5,4]" : "f32[2,6,5,3]"), (t_attrs){.i = {3}});
                double *s = t_ok(gm, (const double *[]){g2}, NULL);
                for (int64_t i = 0; i < moac_type_numel(&gm->type); i++) s[i] *= 3;
                free(g2);
                g2 = s;
            }
            t_expect("gqa grad = summed mha grad", g1, g2, moac_type_numel(&gg->type), 1e-13);
            free(g1);
            free(g2);
        }
    }
    free(q), free(k), free(v), free(dout), free(k6), free(v6);
    moac_arena_free(&f.a);
}

/* rope is a rotation: rope_grad (rotation by -theta) undoes it, and it keeps each row's norm. */
static void test_rope_grad_inverts_rope(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    const char *xt = "f32[2,3,4,8]";
    int64_t n = numel_of(xt);
    double *x = t_randn(9, n, 1), *pos = malloc(2 * 3 * 4 * sizeof *pos);
    for (int i = 0; i < 24; i++) pos[i] = (i * 37) % 101;
    for (int with_pos = 0; with_pos < 2; with_pos++)
        for (int fr = 0; fr < 2; fr++) {
            t_attrs at = {.f = {fr ? 1.0 : 0.5, 10000}};
            const char *const *types = with_pos ? TYPES(xt, "i32[2,3,4]") : TYPES(xt);
            moac_node *r = op(&f, "rope", types, at), *rg = op(&f, "rope_grad", types, at);
            double *y = t_ok(r, (const double *[]){x, pos}, NULL);
            double *back = t_ok(rg, (const double *[]){y, pos}, NULL);
            t_expect("rope_grad(rope(x))", back, x, n, 1e-14);
            for (int64_t row = 0; row < n / 8; row++) {
                double nx = 0, ny = 0;
                for (int j = 0; j < 8; j++) nx += x[row * 8 + j] * x[row * 8 + j], ny += y[row * 8 + j] * y[row * 8 + j];
                assert_true(fabs(nx - ny) < 1e-13 * nx);
            }
            free(y);
            free(back);
        }
    free(x);
    free(pos);
    moac_arena_free(&f.a);
}

/* topk: ascending positions; position 0 first when first=1; every chosen candidate scores at
 * least as high as every candidate left out. */
static void test_topk_selects_the_largest(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    double *s = t_randn(10, 4 * 16, 1);
    for (int i = 0; i < 16; i += 3) s[16 + i] = 0.25; /* ties in row 1 */
    for (int first = 0; first < 2; first++)
        for (int64_t K = 1; K <= 16; K += 5) {
            moac_node *n = op(&f, "topk", TYPES("f32[4,16]"), (t_attrs){.i = {K, first}});
            double *idx = t_ok(n, (const double *[]){s}, NULL);
            for (int r = 0; r < 4; r++) {
                const double *row = s + r * 16, *sel = idx + r * K;
                int chosen[16] = {0};
                for (int64_t j = 0; j < K; j++) {
                    if (j) assert_true(sel[j] > sel[j - 1]);
                    chosen[(int)sel[j]] = 1;
                }
                if (first) assert_true(sel[0] == 0);
                for (int a = first; a < 16; a++)
                    for (int b = first; b < 16; b++)
                        if (chosen[a] && !chosen[b]) assert_true(row[a] > row[b] || (row[a] == row[b] && a < b));
            }
            free(idx);
        }
    free(s);
    moac_arena_free(&f.a);
}

/* capacity_route: one expert per token; expert e holds min(caps[e], tokens left) tokens, and
 * they are its best-scoring among those left by experts 0..e-1. */
static void test_capacity_route_fills_experts_in_order(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    double *s = t_randn(11, 3 * 16 * 4, 1);
    static const int64_t caps_sets[3][4] = {{5, 5, 3, 3}, {10, 10, 10, 10}, {0, 16, 0, 0}};
    for (int c = 0; c < 3; c++) {
        t_attrs at = {.nl = 4};
        memcpy(at.l, caps_sets[c], sizeof caps_sets[c]);
        moac_node *n = op(&f, "capacity_route", TYPES("f32[3,16,4]"), at);
        double *o = t_ok(n, (const double *[]){s}, NULL);
        for (int b = 0; b < 3; b++) {
            int owner[16], left = 16;
            for (int t = 0; t < 16; t++) {
                double sum = 0;
                for (int e = 0; e < 4; e++) {
                    assert_true(o[(b * 16 + t) * 4 + e] == 0 || o[(b * 16 + t) * 4 + e] == 1);
                    sum += o[(b * 16 + t) * 4 + e];
                    if (o[(b * 16 + t) * 4 + e] == 1) owner[t] = e;
                }
                assert_true(sum == 1);
            }
            for (int e = 0; e < 4; e++) {
                int count = 0;
                for (int t = 0; t < 16; t++) count += owner[t] == e;
                assert_int_equal(count, caps_sets[c][e] < left ? caps_sets[c][e] : left);
                /* Every token it took beats every token that later experts got. */
                for (int t = 0; t < 16; t++)
                    for (int u = 0; u < 16; u++)
                        if (owner[t] == e && owner[u] > e) assert_true(s[(b * 16 + t) * 4 + e] >= s[(b * 16 + u) * 4 + e]);
                left -= count;
            }
        }
        free(o);
    }
    free(s);
    moac_arena_free(&f.a);
}

/* Dropout: element i is kept iff uniform(seed, stream(DROPOUT, stream attr, step), i) >= p, kept
 * values scaled by exactly 1/(1-p); the same mask every run of the same (seed, step, stream), so
 * the backward node (dropout of dy) zeroes the same elements; another step or stream draws another
 * mask; identity at eval or p = 0. */
static void test_dropout_mask(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    enum { N = 10000 };
    double *x = t_randn(12, N, 1), *dy = t_randn(13, N, 1);
    moac_node *n = op(&f, "dropout", TYPES("f32[10000]"), (t_attrs){.f = {0.25}, .i = {5}});
    moac_node *other = op(&f, "dropout", TYPES("f32[10000]"), (t_attrs){.f = {0.25}, .i = {6}});
    moac_interp_opts tr = {.seed = 42, .step = 9, .training = 1};
    double *y1 = t_ok(n, (const double *[]){x}, &tr), *y2 = t_ok(n, (const double *[]){x}, &tr);
    double *g = t_ok(n, (const double *[]){dy}, &tr), *z = t_ok(other, (const double *[]){x}, &tr);
    tr.step = 10;
    double *y3 = t_ok(n, (const double *[]){x}, &tr);
    int kept = 0, differ_step = 0, differ_stream = 0;
    uint64_t stream = moac_rng_stream(MOAC_RNG_DROPOUT, 5, 9);
    for (int i = 0; i < N; i++) {
        int keep = moac_rng_uniform(42, stream, (uint64_t)i) >= 0.25;
        kept += keep;
        assert_true(y1[i] == y2[i]);
        assert_true(y1[i] == (keep ? x[i] * (1 / 0.75) : 0));
        assert_true(g[i] == (keep ? dy[i] * (1 / 0.75) : 0));
        differ_step += (y3[i] == 0) != (y1[i] == 0);
        differ_stream += (z[i] == 0) != (y1[i] == 0);
    }
    assert_true(kept > 7300 && kept < 7700);
    assert_true(differ_step > 2000 && differ_stream > 2000);
    free(y1), free(y2), free(y3), free(g), free(z);
    moac_interp_opts ev = {.seed = 42, .step = 9, .training = 0};
    y1 = t_ok(n, (const double *[]){x}, &ev);
    t_expect("dropout at eval", y1, x, N, 0);
    free(y1);
    moac_node *p0 = op(&f, "dropout", TYPES("f32[10000]"), (t_attrs){.f = {0}, .i = {5}});
    tr.step = 9;
    y1 = t_ok(p0, (const double *[]){x}, &tr);
    t_expect("dropout p=0", y1, x, N, 0);
    free(y1);
    free(x);
    free(dy);
    moac_arena_free(&f.a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_softmax_rows_sum_to_one),
        cmocka_unit_test(test_attention_one_key_returns_v),
        cmocka_unit_test(test_grouped_attention_is_mha_on_repeated_kv),
        cmocka_unit_test(test_rope_grad_inverts_rope),
        cmocka_unit_test(test_topk_selects_the_largest),
        cmocka_unit_test(test_capacity_route_fills_experts_in_order),
        cmocka_unit_test(test_dropout_mask),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
