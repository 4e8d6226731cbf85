/* The interpreter's gradient kernels (and the ops that serve as gradients: pad for slice,
 * scatter_rows for gather_rows, matmul for matmul, ...) against finite differences of their
 * forward kernels: for L(x) = sum(w * f(x)) with seeded random w, every element of dL/dx from the
 * gradient kernel must match the fourth-order central difference
 * (8 (L(x+h) - L(x-h)) - (L(x+2h) - L(x-2h))) / 12h, whose truncation error is O(h^4). */
#include "interp_test_util.h"

static const double H = 1e-3, TOL = 1e-8;

static double weighted_sum(const moac_node *fwd, const double *const *in, const double *w, const moac_interp_opts *o) {
    double *y = t_ok(fwd, in, o), s = 0;
    for (int64_t i = 0; i < moac_type_numel(&fwd->type); i++) s += w[i] * y[i];
    free(y);
    return s;
}

/* Checks `analytic` (freed here) = dL/d in[wrt], L = sum(w * fwd(in)); in[wrt] is perturbed in place
 * and restored. */
static void check(const char *what, const moac_node *fwd, double **in, int wrt, const double *w, double *analytic,
                  const moac_interp_opts *o) {
    int64_t n = moac_type_numel(&fwd->args[wrt]->type);
    double *x = in[wrt], max_err = 0;
    int bad = 0;
    static const double steps[4] = {1, -1, 2, -2};
    for (int64_t e = 0; e < n; e++) {
        double saved = x[e], l[4];
        for (int s = 0; s < 4; s++) {
            x[e] = saved + steps[s] * H;
            l[s] = weighted_sum(fwd, (const double *const *)in, w, o);
        }
        x[e] = saved;
        double num = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12 * H);
        double err = fabs(num - analytic[e]) / fmax(1.0, fabs(num));
        max_err = fmax(max_err, err);
        if (err > TOL && bad++ < 5)
            print_error("%s: element %lld: kernel %.12g, differences %.12g\n", what, (long long)e, analytic[e], num);
    }
    free(analytic);
    printf("%-16s %4lld elements, max rel err %.2g\n", what, (long long)n, max_err);
    assert_int_equal(bad, 0);
    assert_true(max_err <= TOL);
}

/* Seeded inputs, one per operand type; i32 operands filled by the caller. */
typedef struct inputs {
    double *v[4];
    int n;
} inputs;

static inputs make_inputs(uint64_t seed, const char *const *types) {
    inputs r = {0};
    for (; types[r.n]; r.n++) r.v[r.n] = t_randn(seed + (uint64_t)r.n, numel_of(types[r.n]), 1);
    return r;
}

static void free_inputs(inputs *r) {
    for (int i = 0; i < r->n; i++) free(r->v[i]);
}

#define IN(r) ((const double *const *)(r).v)
#define CIN(...) ((const double *const[]){__VA_ARGS__})

static void test_elementwise_and_rowwise(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    const char *const *t = TYPES("f32[3,6]");
    inputs r = make_inputs(20, t);
    double *w = t_randn(30, 18, 1), *ones = malloc(6 * sizeof *ones);
    for (int i = 0; i < 6; i++) ones[i] = 1;

    moac_node *gelu = op(&f, "gelu", t, (t_attrs){0});
    check("gelu", gelu, r.v, 0, w, t_ok(op(&f, "gelu_grad", TYPES("f32[3,6]", "f32[3,6]"), (t_attrs){0}), CIN(r.v[0], w), NULL), NULL);
    moac_node *relu = op(&f, "relu", t, (t_attrs){0});
    check("relu", relu, r.v, 0, w, t_ok(op(&f, "relu_grad", TYPES("f32[3,6]", "f32[3,6]"), (t_attrs){0}), CIN(r.v[0], w), NULL), NULL);
    moac_node *sm = op(&f, "softmax", t, (t_attrs){0});
    double *y = t_ok(sm, IN(r), NULL);
    check("softmax", sm, r.v, 0, w, t_ok(op(&f, "softmax_grad", TYPES("f32[3,6]", "f32[3,6]"), (t_attrs){0}), CIN(y, w), NULL), NULL);
    free(y);

    /* layernorm w.r.t. x (weight and bias are plain products and sums: the autodiff's business). */
    inputs ln = make_inputs(21, TYPES("f32[3,6]", "f32[6]", "f32[6]"));
    moac_node *lng = op(&f, "layernorm_grad", TYPES("f32[3,6]", "f32[6]", "f32[3,6]"), (t_attrs){.f = {1e-5}});
    check("layernorm", op(&f, "layernorm", TYPES("f32[3,6]", "f32[6]", "f32[6]"), (t_attrs){.f = {1e-5}}), ln.v, 0, w,
          t_ok(lng, CIN(ln.v[0], ln.v[1], w), NULL), NULL);
    check("normalize", op(&f, "normalize", t, (t_attrs){.f = {1e-5}}), r.v, 0, w, t_ok(lng, CIN(r.v[0], ones, w), NULL), NULL);

    /* bce_logits w.r.t. z: sigmoid(z) - y. */
    inputs b = make_inputs(22, TYPES("f32[3,6]", "f32[3,6]"));
    double *d = malloc(18 * sizeof *d);
    for (int i = 0; i < 18; i++) d[i] = w[i] * (1 / (1 + exp(-b.v[0][i])) - b.v[1][i]);
    check("bce_logits", op(&f, "bce_logits", TYPES("f32[3,6]", "f32[3,6]"), (t_attrs){0}), b.v, 0, w, d, NULL);

    /* dropout (training): its gradient is the same node applied to dy. */
    moac_interp_opts tr = {.seed = 3, .step = 1, .training = 1};
    moac_node *dr = op(&f, "dropout", t, (t_attrs){.f = {0.3}, .i = {2}});
    check("dropout", dr, r.v, 0, w, t_ok(dr, CIN(w), &tr), &tr);

    /* cross_entropy w.r.t. logits, with an upstream dloss. */
    inputs ce = make_inputs(23, TYPES("f32[3,6]", "i32[3]"));
    for (int i = 0; i < 3; i++) ce.v[1][i] = (i * 5) % 6;
    double dloss[1] = {1.7};
    check("cross_entropy", op(&f, "cross_entropy", TYPES("f32[3,6]", "i32[3]"), (t_attrs){0}), ce.v, 0, dloss,
          t_ok(op(&f, "cross_entropy_grad", TYPES("f32[3,6]", "i32[3]", "f32[]"), (t_attrs){0}), CIN(ce.v[0], ce.v[1], dloss), NULL),
          NULL);
    free_inputs(&r), free_inputs(&ln), free_inputs(&b), free_inputs(&ce);
    free(w), free(ones);
    moac_arena_free(&f.a);
}

/* dq, dk, dv for causal grouped attention and for non-causal attention with S != T. */
static void test_attention(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    static const struct {
        const char *q, *k, *v, *o;
        int causal;
    } shapes[] = {{"f32[2,4,5,3]", "f32[2,2,5,3]", "f32[2,2,5,2]", "f32[2,4,5,2]", 1},
                  {"f32[1,2,3,3]", "f32[1,1,4,3]", "f32[1,1,4,2]", "f32[1,2,3,2]", 0}};
    for (int c = 0; c < 2; c++) {
        inputs r = make_inputs(40 + (uint64_t)c, TYPES(shapes[c].q, shapes[c].k, shapes[c].v));
        double *w = t_randn(50, numel_of(shapes[c].o), 1);
        moac_node *fwd = op(&f, "attention", TYPES(shapes[c].q, shapes[c].k, shapes[c].v), (t_attrs){.i = {shapes[c].causal}, .f = {0.6}});
        for (int which = 0; which < 3; which++) {
            moac_node *g = op(&f, "attention_grad", TYPES(shapes[c].q, shapes[c].k, shapes[c].v, shapes[c].o),
                              (t_attrs){.i = {shapes[c].causal, which}, .f = {0.6}});
            check(which == 0 ? "attention dq" : which == 1 ? "attention dk" : "attention dv", fwd, r.v, which, w,
                  t_ok(g, CIN(r.v[0], r.v[1], r.v[2], w), NULL), NULL);
        }
        free_inputs(&r);
        free(w);
    }
    moac_arena_free(&f.a);
}

/* Transformer and routing ops whose gradient is another op of the table. */
static void test_transposes(void **state) {
    (void)state;
    fixture f;
    fixture_init(&f);
    double *w = t_randn(60, 256, 1);

    inputs rp = make_inputs(61, TYPES("f32[2,2,3,6]", "i32[2,2,3]"));
    for (int i = 0; i < 12; i++) rp.v[1][i] = (i * 7) % 11;
    check("rope", op(&f, "rope", TYPES("f32[2,2,3,6]", "i32[2,2,3]"), (t_attrs){.f = {0.7, 100}}), rp.v, 0, w,
          t_ok(op(&f, "rope_grad", TYPES("f32[2,2,3,6]", "i32[2,2,3]"), (t_attrs){.f = {0.7, 100}}), CIN(w, rp.v[1]), NULL), NULL);

    inputs em = make_inputs(62, TYPES("f32[5,3]", "i32[2,3]"));
    for (int i = 0; i < 6; i++) em.v[1][i] = (i * 3) % 5;
    em.v[1][5] = em.v[1][0]; /* a repeated id: its rows add up */
    check("embed", op(&f, "embed", TYPES("f32[5,3]", "i32[2,3]"), (t_attrs){0}), em.v, 0, w,
          t_ok(op(&f, "embed_grad", TYPES("i32[2,3]", "f32[2,3,3]"), (t_attrs){.i = {5}}), CIN(em.v[1], w), NULL), NULL);

    inputs tk = make_inputs(63, TYPES("f32[2,6]", "i32[2,3]"));
    memcpy(tk.v[1], V(5, 0, 5, 1, 2, 3), 6 * sizeof(double));
    check("take", op(&f, "take", TYPES("f32[2,6]", "i32[2,3]"), (t_attrs){0}), tk.v, 0, w,
          t_ok(op(&f, "take_grad", TYPES("i32[2,3]", "f32[2,3]"), (t_attrs){.i = {6}}), CIN(tk.v[1], w), NULL), NULL);

    inputs gr = make_inputs(64, TYPES("f32[2,5,3]", "i32[2,2,2]"));
    memcpy(gr.v[1], V(4, 0, 4, 2, 1, 1, 3, 0), 8 * sizeof(double));
    check("gather_rows", op(&f, "gather_rows", TYPES("f32[2,5,3]", "i32[2,2,2]"), (t_attrs){0}), gr.v, 0, w,
          t_ok(op(&f, "scatter_rows", TYPES("f32[2,2,2,3]", "i32[2,2,2]"), (t_attrs){.i = {5}}), CIN(w, gr.v[1]), NULL), NULL);

    inputs x = make_inputs(65, TYPES("f32[2,3,4]"));
    check("slice", op(&f, "slice", TYPES("f32[2,3,4]"), (t_attrs){.i = {2, 1, 2}}), x.v, 0, w,
          t_ok(op(&f, "pad", TYPES("f32[2,3,2]"), (t_attrs){.i = {2, 1, 4}}), CIN(w), NULL), NULL);
    check("transpose", op(&f, "transpose", TYPES("f32[2,3,4]"), (t_attrs){.l = {1, 2, 0}, .nl = 3}), x.v, 0, w,
          t_ok(op(&f, "transpose", TYPES("f32[3,4,2]"), (t_attrs){.l = {2, 0, 1}, .nl = 3}), CIN(w), NULL), NULL);
    double *rm = t_ok(op(&f, "broadcast", TYPES("f32[2,1,4]"), (t_attrs){.l = {2, 3, 4}, .nl = 3}), CIN(w), NULL);
    for (int i = 0; i < 24; i++) rm[i] /= 3;
    check("reduce_mean", op(&f, "reduce_mean", TYPES("f32[2,3,4]"), (t_attrs){.l = {1}, .nl = 1, .i = {1}}), x.v, 0, w, rm, NULL);

    inputs bx = make_inputs(66, TYPES("f32[3,1]"));
    check("broadcast", op(&f, "broadcast", TYPES("f32[3,1]"), (t_attrs){.l = {2, 3, 4}, .nl = 3}), bx.v, 0, w,
          t_ok(op(&f, "reduce_sum", TYPES("f32[2,3,4]"), (t_attrs){.l = {0, 2}, .nl = 2}), CIN(w), NULL), NULL);

    inputs hx = make_inputs(67, TYPES("f32[1,4,2,3]"));
    double *gm = t_ok(op(&f, "repeat_heads", TYPES("f32[1,2,2,3]"), (t_attrs){.i = {2}}), CIN(w), NULL);
    for (int i = 0; i < 24; i++) gm[i] /= 2;
    check("group_mean", op(&f, "group_mean", TYPES("f32[1,4,2,3]"), (t_attrs){.i = {2}}), hx.v, 0, w, gm, NULL);

    /* matmul [2,1,3,4] x [2,5,4]^T (tb=1): da = dC b, db = dC^T a summed over a's broadcast. */
    inputs mm = make_inputs(68, TYPES("f32[3,4]", "f32[2,5,4]"));
    moac_node *fwd = op(&f, "matmul", TYPES("f32[3,4]", "f32[2,5,4]"), (t_attrs){.i = {0, 1}});
    double *da2 = t_ok(op(&f, "matmul", TYPES("f32[2,3,5]", "f32[2,5,4]"), (t_attrs){0}), CIN(w, mm.v[1]), NULL);
    double *da = t_ok(op(&f, "reduce_sum", TYPES("f32[2,3,4]"), (t_attrs){.l = {0}, .nl = 1}), CIN(da2), NULL);
    free(da2);
    check("matmul da", fwd, mm.v, 0, w, da, NULL);
    check("matmul db", fwd, mm.v, 1, w,
          t_ok(op(&f, "matmul", TYPES("f32[2,3,5]", "f32[3,4]"), (t_attrs){.i = {1, 0}}), CIN(w, mm.v[0]), NULL), NULL);

    free_inputs(&rp), free_inputs(&em), free_inputs(&tk), free_inputs(&gr), free_inputs(&x), free_inputs(&bx);
    free_inputs(&hx), free_inputs(&mm);
    free(w);
    moac_arena_free(&f.a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elementwise_and_rowwise),
        cmocka_unit_test(test_attention),
        cmocka_unit_test(test_transposes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
