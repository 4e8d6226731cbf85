/* The CPU backend's row-wise, embedding, rope, group_mean and reduction kernels
 * (backends/cpu/kernels_rows.c, kernels_embed.c) against the reference interpreter: each op at
 * row lengths that are and are not multiples of the vector width (1, 5, 17, 283, 384), run by its
 * own emitter (no reference fallback), and the reductions bit-identical whatever the thread count;
 * MoSA's gather_rows / scatter_rows with top-k indices.
 * ROWS_VERBOSE=1 prints every graph's relative error. */
#include "cpu_check.h"

#include "backends/cpu/emit.h"

/* Reads the graph, checks that no node fell back to the reference kernel, and compares. */
static void check(const char *ir) {
    double e = moac_cpu_check_ir_native(ir, NULL);
    if (getenv("ROWS_VERBOSE")) print_message("%.3g  %s", e, strstr(ir, "%y ="));
    if (!(e < 1e-4)) print_error("relative error %g for\n%s\n", e, ir);
    assert_true(e < 1e-4);
}

/* One op on inputs a (and b, c): "graph { inputs; %y = <op>; output }". Types are written out. */
static void check_op(const char *inputs, const char *op, const char *type) {
    char ir[2048];
    snprintf(ir, sizeof ir, "graph \"t\" {\n%s  %%y = %s : %s\n  %%o = output(%%y) name=\"y\" : %s\n}\n", inputs, op,
             type, type);
    check(ir);
}

static const char *const rows_shapes[] = {"3,1", "2,5", "4,17", "3,283", "2,2,384", "2,1031"};
enum { NSHAPES = sizeof rows_shapes / sizeof *rows_shapes };

/* The last dimension of "a,b,c". */
static int last_dim(const char *shape) {
    const char *p = strrchr(shape, ',');
    return atoi(p ? p + 1 : shape);
}

static void test_softmax(void **state) {
    (void)state;
    for (int i = 0; i < NSHAPES; i++) {
        char in[512], ty[64];
        snprintf(ty, sizeof ty, "f32[%s]", rows_shapes[i]);
        snprintf(in, sizeof in, "  %%a = input() name=\"a\" : %s\n", ty);
        check_op(in, "softmax(%a)", ty);
        snprintf(in, sizeof in, "  %%a = input() name=\"a\" : %s\n  %%b = input() name=\"b\" : %s\n", ty, ty);
        check_op(in, "softmax_grad(%a, %b)", ty);
    }
    /* Large logits: the max is subtracted, nothing overflows. */
    check("graph \"t\" {\n  %a = input() name=\"a\" : f32[4,37]\n  %s = scale(%a) by=80.0 : f32[4,37]\n"
          "  %y = softmax(%s) : f32[4,37]\n  %o = output(%y) name=\"y\" : f32[4,37]\n}\n");
}

static void test_layernorm(void **state) {
    (void)state;
    for (int i = 0; i < NSHAPES; i++) {
        char in[512], ty[64], op[128];
        int c = last_dim(rows_shapes[i]);
        snprintf(ty, sizeof ty, "f32[%s]", rows_shapes[i]);
        snprintf(in, sizeof in,
                 "  %%x = input() name=\"x\" : %s\n  %%w = param() name=\"w\" fill=1.0 std=0.1 : f32[%d]\n"
                 "  %%b = param() name=\"b\" fill=0.0 std=0.1 : f32[%d]\n  %%dy = input() name=\"dy\" : %s\n",
                 ty, c, c, ty);
        snprintf(op, sizeof op, "layernorm(%%x, %%w) eps=1e-05");
        check_op(in, op, ty);
        snprintf(op, sizeof op, "layernorm(%%x, %%w, %%b) eps=1e-05");
        check_op(in, op, ty);
        check_op(in, "normalize(%x) eps=1e-05", ty);
        check_op(in, "layernorm_grad(%x, %w, %dy) eps=1e-05", ty);
    }
    /* Rows far from zero: the two-pass variance keeps its precision. (Most of the error left is
     * the fused add's float rounding of a + 100, which the reference computes in double.) */
    check("graph \"t\" {\n  %a = input() name=\"a\" : f32[3,300]\n  %k = full() value=100.0 : f32[]\n"
          "  %x = add(%a, %k) : f32[3,300]\n  %y = normalize(%x) eps=1e-05 : f32[3,300]\n"
          "  %o = output(%y) name=\"y\" : f32[3,300]\n}\n");
}

static void test_cross_entropy(void **state) {
    (void)state;
    const char *shapes[][2] = {{"1,1", "1"}, {"4,5", "4"}, {"2,3,17", "2,3"}, {"24,283", "24"}, {"7", ""}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char in[512], ty[64], op[128];
        snprintf(ty, sizeof ty, "f32[%s]", shapes[i][0]);
        snprintf(in, sizeof in,
                 "  %%x = input() name=\"x\" : %s\n  %%t = input() name=\"t\" : i32[%s]\n"
                 "  %%d = input() name=\"d\" : f32[]\n",
                 ty, shapes[i][1]);
        check_op(in, "cross_entropy(%x, %t)", "f32[]");
        snprintf(op, sizeof op, "cross_entropy_grad(%%x, %%t, %%d)");
        check_op(in, op, ty);
    }
}

static void test_embed(void **state) {
    (void)state;
    const int dims[][2] = {{7, 1}, {11, 5}, {50, 17}, {283, 384}, {3, 283}};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        char in[512], ty[64], op[64];
        int v = dims[i][0], c = dims[i][1];
        snprintf(in, sizeof in,
                 "  %%w = param() name=\"w\" fill=0.0 std=1.0 : f32[%d,%d]\n  %%ids = input() name=\"ids\" : i32[2,9]\n"
                 "  %%dy = input() name=\"dy\" : f32[2,9,%d]\n",
                 v, c, c);
        snprintf(ty, sizeof ty, "f32[2,9,%d]", c);
        check_op(in, "embed(%w, %ids)", ty);
        /* 18 ids drawn from [0, v): small vocabularies repeat ids, and rows no id names stay 0. */
        snprintf(ty, sizeof ty, "f32[%d,%d]", v, c);
        snprintf(op, sizeof op, "embed_grad(%%ids, %%dy) rows=%d", v);
        check_op(in, op, ty);
    }
}

static void test_rope(void **state) {
    (void)state;
    const char *fractions[] = {"1.0", "0.5", "0.25"};
    const char *shapes[] = {"2,3,7,8", "1,2,5,34", "1,1,3,64", "2,1,4,2"};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t f = 0; f < sizeof fractions / sizeof *fractions; f++) {
            int d = last_dim(shapes[s]);
            int r = (int)lround(atof(fractions[f]) * d);
            if (r < 2 || r % 2) continue;
            char in[512], ty[64], op[128], pos[32];
            snprintf(ty, sizeof ty, "f32[%s]", shapes[s]);
            snprintf(pos, sizeof pos, "%s", shapes[s]);
            *strrchr(pos, ',') = 0;
            snprintf(in, sizeof in, "  %%x = input() name=\"x\" : %s\n  %%p = input() name=\"p\" : i32[%s]\n", ty, pos);
            const char *kinds[] = {"rope", "rope_grad"};
            for (int k = 0; k < 2; k++) {
                snprintf(op, sizeof op, "%s(%%x) fraction=%s base=10000.0", kinds[k], fractions[f]);
                check_op(in, op, ty);
                snprintf(op, sizeof op, "%s(%%x, %%p) fraction=%s base=500.0", kinds[k], fractions[f]);
                check_op(in, op, ty);
            }
        }
    /* Long sequences: the angles at position 4095 need double precision. */
    check_op("  %x = input() name=\"x\" : f32[1,1,4096,64]\n", "rope(%x) fraction=1.0 base=10000.0",
             "f32[1,1,4096,64]");
}

static void test_group_mean(void **state) {
    (void)state;
    check_op("  %x = input() name=\"x\" : f32[2,6,5,17]\n", "group_mean(%x) size=3", "f32[2,2,5,17]");
    check_op("  %x = input() name=\"x\" : f32[2,6,5,17]\n", "group_mean(%x) size=6", "f32[2,1,5,17]");
    check_op("  %x = input() name=\"x\" : f32[1,4,3,64]\n", "group_mean(%x) size=1", "f32[1,4,3,64]");
    check_op("  %x = input() name=\"x\" : f32[3,4,2,1]\n", "group_mean(%x) size=2", "f32[3,2,2,1]");
}

static void test_reduce(void **state) {
    (void)state;
    static const struct {
        const char *x, *axes, *keep0, *keep1;
    } cases[] = {
        {"4,6,17", "[0,1]", "17", "1,1,17"},
        {"4,6,17", "[2]", "4,6", "4,6,1"},
        {"4,6,17", "[0]", "6,17", "1,6,17"},
        {"4,6,17", "[1]", "4,17", "4,1,17"},
        {"4,6,17", "[0,2]", "6", "1,6,1"},
        {"4,6,17", "[0,1,2]", "", "1,1,1"},
        {"8,50,384", "[0,1]", "384", "1,1,384"},
        {"3,283", "[1]", "3", "3,1"},
        {"5", "[0]", "", "1"},
        {"2,1,3", "[1]", "2,3", "2,1,3"},
        {"2,1,3", "[0,2]", "1", "1,1,1"},
        {"3,4,2,5", "[1,3]", "3,2", "3,1,2,1"},
        {"1,1", "[0]", "1", "1,1"},
        {"3,100,17", "[1]", "3,17", "3,1,17"},
        {"130,1,7", "[0]", "1,7", "1,1,7"},
    };
    const char *ops[] = {"reduce_sum", "reduce_mean"};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int o = 0; o < 2; o++)
            for (int keep = 0; keep < 2; keep++) {
                char in[256], op[128], ty[64];
                snprintf(in, sizeof in, "  %%x = input() name=\"x\" : f32[%s]\n", cases[i].x);
                snprintf(op, sizeof op, "%s(%%x) axes=%s keep=%d", ops[o], cases[i].axes, keep);
                snprintf(ty, sizeof ty, "f32[%s]", keep ? cases[i].keep1 : cases[i].keep0);
                check_op(in, op, ty);
            }
}

/* The reductions (cross-entropy's mean, embed_grad, reduce_sum) give the same bits on 1 and 3
 * threads: no sum's order depends on the thread split. */
static void test_deterministic(void **state) {
    (void)state;
    const char *ir = "graph \"t\" {\n"
                     "  %x = input() name=\"x\" : f32[96,283]\n  %t = input() name=\"t\" : i32[96]\n"
                     "  %dy = input() name=\"dy\" : f32[96,40]\n"
                     "  %l = cross_entropy(%x, %t) : f32[]\n  %o1 = output(%l) name=\"l\" : f32[]\n"
                     "  %g = embed_grad(%t, %dy) rows=283 : f32[283,40]\n  %o2 = output(%g) name=\"g\" : f32[283,40]\n"
                     "  %s = reduce_sum(%dy) axes=[0] keep=0 : f32[40]\n  %o3 = output(%s) name=\"s\" : f32[40]\n"
                     "}\n";
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "det.ir", ir), &d);
    assert_non_null(g);
    const char *outs[] = {"l", "g", "s"};
    const size_t bytes[] = {4, 283 * 40 * 4, 40 * 4};
    void *first[3] = {0};
    for (int threads = 1; threads <= 3; threads += 2) {
        moac_cpu *c = moac_cpu_new(g, &(moac_cpu_opts){.threads = threads}, &d);
        assert_non_null(c);
        float *x = moac_cpu_buffer(c, "x"), *dy = moac_cpu_buffer(c, "dy");
        int32_t *t = moac_cpu_buffer(c, "t");
        for (int i = 0; i < 96 * 283; i++) x[i] = (float)moac_rng_normal(5, 0, (uint64_t)i);
        for (int i = 0; i < 96 * 40; i++) dy[i] = (float)moac_rng_normal(5, 1, (uint64_t)i);
        for (int i = 0; i < 96; i++) t[i] = (int32_t)moac_rng_below(5, 2, (uint64_t)i, 7); /* repeated ids */
        char err[256];
        assert_int_equal(moac_cpu_run(c, &(moac_interp_opts){.seed = 1}, err, sizeof err), 0);
        for (int k = 0; k < 3; k++) {
            const void *r = moac_cpu_result(c, outs[k]);
            assert_non_null(r);
            if (!first[k]) {
                first[k] = malloc(bytes[k]);
                memcpy(first[k], r, bytes[k]);
            } else {
                assert_memory_equal(first[k], r, bytes[k]);
            }
        }
        moac_cpu_free(c);
    }
    for (int k = 0; k < 3; k++) free(first[k]);
    moac_diag_free(&d);
    moac_arena_free(&arena);
}

/* Indices computed inside the graph (here a transpose) escape the runtime's check of input ids:
 * the kernels then read nothing out of bounds. Embed gives zero rows, embed_grad skips the row, cross_entropy's
 * mean is NaN, and cross_entropy_grad leaves out the one-hot term. */
static void test_invalid_indices(void **state) {
    (void)state;
    const char *ir =
        "graph \"t\" {\n"
        "  %w = param() name=\"w\" fill=0.0 std=1.0 : f32[5,17]\n  %ids = input() name=\"ids\" : i32[2,2]\n"
        "  %t = transpose(%ids) perm=[1,0] : i32[2,2]\n  %j = reshape(%t) shape=[4] : i32[4]\n"
        "  %x = input() name=\"x\" : f32[4,5]\n  %dy = input() name=\"dy\" : f32[4,17]\n"
        "  %one = full() value=1.0 : f32[]\n"
        "  %e = embed(%w, %j) : f32[4,17]\n  %o1 = output(%e) name=\"e\" : f32[4,17]\n"
        "  %g = embed_grad(%j, %dy) rows=5 : f32[5,17]\n  %o2 = output(%g) name=\"g\" : f32[5,17]\n"
        "  %l = cross_entropy(%x, %j) : f32[]\n  %o3 = output(%l) name=\"l\" : f32[]\n"
        "  %c = cross_entropy_grad(%x, %j, %one) : f32[4,5]\n  %o4 = output(%c) name=\"c\" : f32[4,5]\n"
        "}\n";
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "bad.ir", ir), &d);
    assert_non_null(g);
    moac_cpu *c = moac_cpu_new(g, NULL, &d);
    if (!c) print_error("%s", d.out.data ? d.out.data : "moac_cpu_new failed\n");
    assert_non_null(c);
    float *w = moac_cpu_buffer(c, "w"), *x = moac_cpu_buffer(c, "x"), *dy = moac_cpu_buffer(c, "dy");
    int32_t *ids = moac_cpu_buffer(c, "ids");
    const int32_t in[4] = {-7, 5, 3, 43}; /* transposed: -7, 3 (the only valid one), 5, 43 */
    memcpy(ids, in, sizeof in);
    for (int i = 0; i < 5 * 17; i++) w[i] = (float)(i + 1);
    for (int i = 0; i < 4 * 5; i++) x[i] = (float)(i % 7) * 0.5f;
    for (int i = 0; i < 4 * 17; i++) dy[i] = (float)(i + 1);
    char err[256];
    assert_int_equal(moac_cpu_run(c, &(moac_interp_opts){.seed = 1}, err, sizeof err), 0);
    const float *e = moac_cpu_result(c, "e"), *gr = moac_cpu_result(c, "g"), *l = moac_cpu_result(c, "l");
    const float *cg = moac_cpu_result(c, "c");
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 17; j++) assert_true(e[r * 17 + j] == (r == 1 ? w[3 * 17 + j] : 0.0f));
    for (int r = 0; r < 5; r++)
        for (int j = 0; j < 17; j++) assert_true(gr[r * 17 + j] == (r == 3 ? dy[17 + j] : 0.0f));
    assert_true(isnan(l[0]));
    for (int r = 0; r < 4; r++) {
        double mx = -INFINITY, sum = 0;
        for (int j = 0; j < 5; j++) mx = fmax(mx, x[r * 5 + j]);
        for (int j = 0; j < 5; j++) sum += exp(x[r * 5 + j] - mx);
        for (int j = 0; j < 5; j++) {
            double want = (exp(x[r * 5 + j] - mx) / sum - (r == 1 && j == 3)) / 4;
            assert_true(fabs(cg[r * 5 + j] - want) < 1e-6);
        }
    }
    moac_cpu_free(c);
    moac_diag_free(&d);
    moac_arena_free(&arena);
}

/* How many nodes of the graph in IR text run on the reference kernel. */
static int fallbacks(const char *ir) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "t.ir", ir), &d);
    assert_non_null(g);
    moac_cpu *c = moac_cpu_new(g, NULL, &d);
    assert_non_null(c);
    int n = moac_cpu_get_stats(c).fallback_nodes;
    moac_cpu_free(c);
    moac_diag_free(&d);
    moac_arena_free(&arena);
    return n;
}

/* A graph of selections and row copies: every node native (no reference kernel), and the
 * results the reference's to 1e-6 (the values are copied or summed in the reference's order). */
static void check_selection(const char *ir) {
    double e = moac_cpu_check_ir_native(ir, NULL);
    if (!(e < 1e-6)) print_error("relative error %g for\n%s\n", e, ir);
    assert_true(e < 1e-6);
}

/* MoSA's gather_rows / scatter_rows with top-k indices run natively (only the topk itself falls
 * back); with indices from anywhere else they run on the reference kernel, which checks them. */
static void test_gather_scatter(void **state) {
    (void)state;
    const int widths[] = {1, 5, 17, 384};
    for (int w = 0; w < 4; w++) {
        char ir[2048];
        int C = widths[w];
        snprintf(ir, sizeof ir,
                 "graph \"t\" {\n  %%x = input() name=\"x\" : f32[2,16,%d]\n  %%s = input() name=\"s\" : f32[2,3,16]\n"
                 "  %%y = input() name=\"y\" : f32[2,3,4,%d]\n  %%i = topk(%%s) k=4 first=1 : i32[2,3,4]\n"
                 "  %%g = gather_rows(%%x, %%i) : f32[2,3,4,%d]\n  %%o1 = output(%%g) name=\"g\" : f32[2,3,4,%d]\n"
                 "  %%r = scatter_rows(%%y, %%i) rows=16 : f32[2,16,%d]\n  %%o2 = output(%%r) name=\"r\" : f32[2,16,%d]\n}\n",
                 C, C, C, C, C, C);
        check_selection(ir);
    }
    const char *from_input =
        "graph \"t\" {\n  %x = input() name=\"x\" : f32[2,16,5]\n  %i = input() name=\"i\" : i32[2,3,4]\n"
        "  %g = gather_rows(%x, %i) : f32[2,3,4,5]\n  %o = output(%g) name=\"g\" : f32[2,3,4,5]\n}\n";
    assert_int_equal(fallbacks(from_input), 1);
}

/* Each op is routed to its emitter (emitters.def). */
static void test_routing(void **state) {
    (void)state;
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_SOFTMAX), moac_emit_softmax);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_LAYERNORM_GRAD), moac_emit_layernorm_grad);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_CROSS_ENTROPY), moac_emit_cross_entropy);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_EMBED_GRAD), moac_emit_embed_grad);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_ROPE), moac_emit_rope);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_REDUCE_MEAN), moac_emit_reduce);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_GATHER_ROWS), moac_emit_gather_rows);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_SCATTER_ROWS), moac_emit_scatter_rows);
}

/* The routing kernels (kernels_routing.c): onehot_argmax, capacity_route and topk with ties (all-zero rows: the
 * lowest positions win), NaNs (log of negative scores: NaN ranks above every number) and
 * signed zeros; take and take_grad with top-k indices, no node left on the reference kernel;
 * with indices from an input, take stays on the reference kernel, which checks them. */
static void test_routing_kernels(void **state) {
    (void)state;
    const int widths[] = {1, 3, 16};
    for (int w = 0; w < 3; w++) {
        char in[512], ty[64];
        snprintf(ty, sizeof ty, "f32[2,7,%d]", widths[w]);
        snprintf(in, sizeof in, "  %%a = input() name=\"a\" : %s\n  %%z = scale(%%a) by=0.0 : %s\n  %%n = log(%%a) : %s\n",
                 ty, ty, ty);
        check_op(in, "onehot_argmax(%a)", ty);
        check_op(in, "onehot_argmax(%z)", ty);
        check_op(in, "onehot_argmax(%n)", ty);
    }
    /* capacity_route: caps that cover T exactly, more than T, and one expert's alone */
    const char *caps[][2] = {{"9", "[3,2,4]"}, {"9", "[5,5,5]"}, {"40", "[10,3,27]"}, {"40", "[0,40,0]"}};
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
        char in[512], ty[64], op[64];
        snprintf(ty, sizeof ty, "f32[2,%s,3]", caps[i][0]);
        snprintf(in, sizeof in, "  %%a = input() name=\"a\" : %s\n  %%z = scale(%%a) by=0.0 : %s\n  %%n = log(%%a) : %s\n",
                 ty, ty, ty);
        const char *scores[] = {"%a", "%z", "%n"};
        for (int sc = 0; sc < 3; sc++) {
            snprintf(op, sizeof op, "capacity_route(%s) caps=%s", scores[sc], caps[i][1]);
            check_op(in, op, ty);
        }
    }
    const int tk[][2] = {{5, 1}, {5, 5}, {16, 4}, {37, 9}, {300, 128}};
    for (size_t i = 0; i < sizeof tk / sizeof *tk; i++)
        for (int first = 0; first < 2; first++) {
            char in[512], ty[64], op[64];
            int T = tk[i][0], K = tk[i][1];
            snprintf(ty, sizeof ty, "i32[2,3,%d]", K);
            snprintf(in, sizeof in,
                     "  %%a = input() name=\"a\" : f32[2,3,%d]\n  %%z = scale(%%a) by=0.0 : f32[2,3,%d]\n"
                     "  %%n = log(%%a) : f32[2,3,%d]\n  %%q = neg(%%z) : f32[2,3,%d]\n  %%m = mul(%%a, %%q) : f32[2,3,%d]\n",
                     T, T, T, T, T);
            const char *scores[] = {"%a", "%z", "%n", "%m"};
            for (int sc = 0; sc < 4; sc++) {
                snprintf(op, sizeof op, "topk(%s) k=%d first=%d", scores[sc], K, first);
                check_op(in, op, ty);
            }
        }
    for (int T = 4; T <= 37; T += 33) {
        char ir[2048];
        snprintf(ir, sizeof ir,
                 "graph \"t\" {\n  %%s = input() name=\"s\" : f32[2,3,%d]\n  %%dy = input() name=\"dy\" : f32[2,3,4]\n"
                 "  %%i = topk(%%s) k=4 first=%d : i32[2,3,4]\n  %%t = take(%%s, %%i) : f32[2,3,4]\n"
                 "  %%g = take_grad(%%i, %%dy) size=%d : f32[2,3,%d]\n  %%o1 = output(%%t) name=\"t\" : f32[2,3,4]\n"
                 "  %%o2 = output(%%g) name=\"g\" : f32[2,3,%d]\n}\n",
                 T, T > 4, T, T, T);
        check_selection(ir);
    }
    const char *from_input =
        "graph \"t\" {\n  %x = input() name=\"x\" : f32[2,16]\n  %i = input() name=\"i\" : i32[2,4]\n"
        "  %t = take(%x, %i) : f32[2,4]\n  %o = output(%t) name=\"t\" : f32[2,4]\n}\n";
    assert_int_equal(fallbacks(from_input), 1);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_ONEHOT_ARGMAX), moac_emit_onehot_argmax);
    assert_ptr_equal(moac_cpu_emitter(MOAC_OP_TAKE_GRAD), moac_emit_take_grad);
}

/* The GPU's generic kernel forms — one element per work item in the fused elementwise kernels and
 * embed_grad's and scatter_rows' sums, their positions listed by a thread per result row
 * (kernels_embed.c) — on the CPU, with a host target that has a GPU's work split (fine_items):
 * the same results as the reference. */
static void test_fine_items(void **state) {
    (void)state;
    moac_target t = *moac_target_host();
    t.fine_items = 1;
    moac_check_target = &t;
    const int dims[][2] = {{1, 1}, {5, 17}, {283, 40}, {3, 384}};
    for (size_t i = 0; i < sizeof dims / sizeof *dims; i++) {
        char in[512], ty[64], op[64];
        int v = dims[i][0], c = dims[i][1];
        snprintf(in, sizeof in, "  %%ids = input() name=\"ids\" : i32[2,9]\n  %%dy = input() name=\"dy\" : f32[2,9,%d]\n", c);
        snprintf(ty, sizeof ty, "f32[%d,%d]", v, c);
        snprintf(op, sizeof op, "embed_grad(%%ids, %%dy) rows=%d", v);
        check_op(in, op, ty);
    }
    for (int w = 1; w <= 17; w += 16) {
        char ir[2048];
        snprintf(ir, sizeof ir,
                 "graph \"t\" {\n  %%s = input() name=\"s\" : f32[2,3,16]\n  %%y = input() name=\"y\" : f32[2,3,4,%d]\n"
                 "  %%i = topk(%%s) k=4 first=1 : i32[2,3,4]\n  %%r = scatter_rows(%%y, %%i) rows=16 : f32[2,16,%d]\n"
                 "  %%o = output(%%r) name=\"r\" : f32[2,16,%d]\n}\n",
                 w, w, w);
        check_selection(ir);
    }
    check("graph \"t\" {\n  %a = input() name=\"a\" : f32[3,37]\n  %b = input() name=\"b\" : f32[37]\n"
          "  %s = add(%a, %b) : f32[3,37]\n  %y = gelu(%s) : f32[3,37]\n  %o = output(%y) name=\"y\" : f32[3,37]\n}\n");
    moac_check_target = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routing),       cmocka_unit_test(test_invalid_indices), cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_layernorm),     cmocka_unit_test(test_cross_entropy),   cmocka_unit_test(test_embed),
        cmocka_unit_test(test_rope),          cmocka_unit_test(test_group_mean),      cmocka_unit_test(test_reduce),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_gather_scatter), cmocka_unit_test(test_fine_items),
        cmocka_unit_test(test_routing_kernels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
