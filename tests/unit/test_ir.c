/* Unit tests of the IR core: op table, shape rules, printer, reader, verifier, DOT export.
 * Every test owns its arena and frees it (the suite runs under ASan with leak detection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ir/ir.h"

/* ---- Helpers. ---- */

/* "f32[2,3]" / "i32[]" -> type; the tests' own tiny parser, independent of ir/read.c. */
static moac_type type_of(const char *s) {
    moac_type t = {.dtype = strncmp(s, "i32", 3) == 0 ? MOAC_I32 : MOAC_F32, .rank = 0};
    const char *p = s + 4;
    while (*p && *p != ']') {
        t.dims[t.rank++] = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    return t;
}

static char *type_str(const moac_type *t, char *buf, size_t len) {
    moac_strbuf b;
    moac_strbuf_init(&b);
    moac_type_print(&b, t);
    snprintf(buf, len, "%s", moac_strbuf_cstr(&b));
    moac_strbuf_free(&b);
    return buf;
}

static moac_node *typed_input(moac_graph *g, const char *type, const char *name) {
    moac_node *n = moac_graph_append(g, MOAC_OP_INPUT, 0, NULL);
    n->s = name;
    n->type = type_of(type);
    return n;
}

static void expect_contains(const char *haystack, const char *needle) {
    if (!strstr(haystack, needle)) {
        print_error("expected to find\n  %s\nin\n%s\n", needle, haystack);
        fail();
    }
}

static moac_graph *read_text(moac_arena *a, moac_diag *d, const char *text) {
    return moac_ir_read(a, moac_source_from_text(a, "t.ir", text), d);
}

/* ---- Shape rules: a valid and an invalid case for every op. ---- */

typedef struct shape_case {
    const char *op;
    const char *operands[6];
    const char *written; /* the written type, for input/param/full */
    int64_t i[4];
    double f[4];
    const char *s;
    int64_t l[8];
    int nl;
    const char *expect; /* the inferred type, or NULL when `error` is expected */
    const char *error;
} shape_case;

#define F "f32"
static const shape_case shape_cases[] = {
    {"input", {0}, .written = "i32[12,256]", .s = "tokens", .expect = "i32[12,256]"},
    {"input", {0}, .written = "i32[2]", .s = "", .error = "input: name must not be empty"},
    {"input", {0}, .s = "x", .error = "input: the type is not set"},
    {"param", {0}, .written = "f32[283,384]", .s = "wte", .f = {0, 0.02}, .expect = "f32[283,384]"},
    {"param", {0}, .written = "f32[3]", .s = "w", .f = {1, -1}, .error = "param: std must be >= 0"},
    {"param", {0}, .written = "f32[3]", .s = "", .f = {1, 0}, .error = "param: name must not be empty"},
    {"full", {0}, .written = "f32[]", .f = {1.5}, .expect = "f32[]"},
    {"full", {0}, .written = "f32[2,0]", .error = "full: the type f32[2,0]: every dimension must be >= 1"},
    {"add", {"f32[2,3]", "f32[3]"}, .expect = "f32[2,3]"},
    {"add", {"f32[2,3]", "i32[2,3]"}, .error = "operands have different dtypes: f32[2,3] and i32[2,3]"},
    {"sub", {"f32[2,1,3]", "f32[4,1]"}, .expect = "f32[2,4,3]"},
    {"sub", {"f32[2,3]", "f32[4,3]"}, .error = "cannot broadcast f32[2,3] and f32[4,3]"},
    {"mul", {"f32[]", "f32[2,3]"}, .expect = "f32[2,3]"},
    {"mul", {"f32[5]", "f32[4]"}, .error = "cannot broadcast"},
    {"div", {"i32[2,1]", "i32[1,7]"}, .expect = "i32[2,7]"},
    {"div", {"f32[2]", "i32[2]"}, .error = "different dtypes"},
    {"bce_logits", {"f32[4,1]", "f32[4,1]"}, .expect = "f32[4,1]"},
    {"bce_logits", {"i32[4]", "i32[4]"}, .error = "operand 1 must be f32, got i32[4]"},
    {"scale", {"f32[2]"}, .f = {0.5}, .expect = "f32[2]"},
    {"scale", {"i32[2]"}, .error = "operand 1 must be f32"},
    {"neg", {"f32[2,3]"}, .expect = "f32[2,3]"},
    {"neg", {"i32[2,3]"}, .error = "must be f32"},
    {"square", {"f32[]"}, .expect = "f32[]"},
    {"square", {"i32[]"}, .error = "must be f32"},
    {"exp", {"f32[1]"}, .expect = "f32[1]"},
    {"exp", {"i32[1]"}, .error = "must be f32"},
    {"log", {"f32[1]"}, .expect = "f32[1]"},
    {"log", {"i32[1]"}, .error = "must be f32"},
    {"relu", {"f32[1]"}, .expect = "f32[1]"},
    {"relu", {"i32[1]"}, .error = "must be f32"},
    {"gelu", {"f32[1]"}, .expect = "f32[1]"},
    {"gelu", {"i32[1]"}, .error = "must be f32"},
    {"sigmoid", {"f32[1]"}, .expect = "f32[1]"},
    {"sigmoid", {"i32[1]"}, .error = "must be f32"},
    {"dropout", {"f32[4]"}, .f = {0.1}, .expect = "f32[4]"},
    {"dropout", {"f32[4]"}, .f = {1.0}, .error = "p must be in [0, 1)"},
    {"reshape", {"f32[2,3,4]"}, .l = {6, 4}, .nl = 2, .expect = "f32[6,4]"},
    {"reshape", {"i32[1,1]"}, .nl = 0, .expect = "i32[]"},
    {"reshape", {"f32[2,3]"}, .l = {7}, .nl = 1, .error = "shape [7] does not have the same number of elements"},
    {"reshape", {"f32[2,3]"}, .l = {6, 0}, .nl = 2, .error = "every dimension must be >= 1"},
    {"reshape", {"f32[1]"}, .l = {1, 1, 1, 1, 1, 1, 1}, .nl = 7, .error = "the maximum is 6"},
    {"transpose", {"f32[2,3,4]"}, .l = {0, 2, 1}, .nl = 3, .expect = "f32[2,4,3]"},
    {"transpose", {"f32[2,3,4]"}, .l = {0, 0, 1}, .nl = 3, .error = "perm [0,0,1] is not a permutation of 0..2"},
    {"transpose", {"f32[2,3]"}, .l = {0}, .nl = 1, .error = "is not a permutation"},
    {"slice", {"f32[4,10]"}, .i = {1, 2, 3}, .expect = "f32[4,3]"},
    {"slice", {"f32[4,10]"}, .i = {1, 8, 3}, .error = "does not fit in axis 1"},
    {"slice", {"f32[4,10]"}, .i = {2, 0, 1}, .error = "axis 2 is out of range"},
    {"concat", {"f32[4,10]", "f32[4,3]"}, .i = {1}, .expect = "f32[4,13]"},
    {"concat", {"f32[4,10]", "f32[4,3]"}, .i = {0}, .error = "operand 2 (f32[4,3]) does not match operand 1 (f32[4,10]) outside axis 0"},
    {"concat", {"f32[4,10]", "i32[4,3]"}, .i = {1}, .error = "does not match"},
    {"concat", {"f32[4]", "f32[4]"}, .i = {1}, .error = "axis 1 is out of range"},
    {"reduce_sum", {"f32[2,3,4]"}, .l = {1}, .nl = 1, .i = {0}, .expect = "f32[2,4]"},
    {"reduce_sum", {"f32[2,3,4]"}, .l = {1}, .nl = 1, .i = {1}, .expect = "f32[2,1,4]"},
    {"reduce_sum", {"f32[2,3,4]"}, .l = {1, 1}, .nl = 2, .error = "axis 1 is listed twice"},
    {"reduce_sum", {"f32[2,3,4]"}, .l = {3}, .nl = 1, .error = "axis 3 is out of range"},
    {"reduce_sum", {"f32[2]"}, .l = {0}, .nl = 1, .i = {2}, .error = "keep must be 0 or 1"},
    {"reduce_mean", {"f32[2,3,4]"}, .l = {0, 2}, .nl = 2, .expect = "f32[3]"},
    {"reduce_mean", {"f32[2,3]"}, .l = {0, 1}, .nl = 2, .expect = "f32[]"},
    {"reduce_mean", {"f32[2,3]"}, .nl = 0, .error = "axes must name at least one axis"},
    {"softmax", {"f32[2,5]"}, .expect = "f32[2,5]"},
    {"softmax", {"f32[]"}, .error = "must have rank >= 1"},
    {"layernorm", {"f32[2,8]", "f32[8]"}, .f = {1e-5}, .expect = "f32[2,8]"},
    {"layernorm", {"f32[2,8]", "f32[8]", "f32[8]"}, .f = {1e-5}, .expect = "f32[2,8]"},
    {"layernorm", {"f32[2,8]", "f32[4]"}, .f = {1e-5}, .error = "weight is f32[4] but x is f32[2,8]"},
    {"layernorm", {"f32[2,8]", "f32[8]", "f32[7]"}, .f = {1e-5}, .error = "bias is f32[7]"},
    {"layernorm", {"f32[2,8]", "f32[8]"}, .f = {0}, .error = "eps must be > 0"},
    {"matmul", {"f32[12,256,384]", "f32[283,384]"}, .i = {0, 1}, .expect = "f32[12,256,283]"},
    {"matmul", {"f32[2,1,3,4]", "f32[5,4,6]"}, .expect = "f32[2,5,3,6]"},
    {"matmul", {"f32[4,3]", "f32[4,5]"}, .i = {1, 0}, .expect = "f32[3,5]"},
    {"matmul", {"f32[2,3,4]", "f32[5,6]"},
     .error = "matmul: inner dimensions differ: a is f32[2,3,4] (K=4), b is f32[5,6] (K=5)"},
    {"matmul", {"f32[3]", "f32[3,4]"}, .error = "operand 1 (a) must have rank >= 2, got f32[3]"},
    {"matmul", {"f32[3,4]", "f32[4,5]"}, .i = {2}, .error = "ta must be 0 or 1"},
    {"matmul", {"f32[2,3,4]", "f32[3,4,5]"}, .error = "batch dimensions do not broadcast"},
    {"embed", {"f32[283,384]", "i32[12,256]"}, .expect = "f32[12,256,384]"},
    {"embed", {"f32[283,384]", "f32[12,256]"}, .error = "operand 2 (ids) must be i32"},
    {"attention", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]"}, .i = {1}, .f = {0.125},
     .expect = "f32[2,8,16,32]"},
    {"attention", {"f32[2,8,16,64]", "f32[2,3,16,64]", "f32[2,3,16,64]"}, .f = {0.125},
     .error = "3 KV heads do not divide 8 query heads"},
    {"attention", {"f32[2,8,16,64]", "f32[2,8,12,64]", "f32[2,8,12,64]"}, .i = {1}, .f = {0.125},
     .error = "causal attention needs as many keys as queries"},
    {"attention", {"f32[2,8,16,64]", "f32[2,8,16,64]", "f32[2,8,16,64]"}, .f = {0}, .error = "scale must be > 0"},
    {"rope", {"f32[2,4,16,64]"}, .f = {0.5, 10000}, .expect = "f32[2,4,16,64]"},
    {"rope", {"f32[2,4,16,64]", "i32[2,4,16]"}, .f = {1, 10000}, .expect = "f32[2,4,16,64]"},
    {"rope", {"f32[2,4,16,64]"}, .f = {0.01, 10000}, .error = "rotates 1 dims; it must be even and >= 2"},
    {"rope", {"f32[2,4,16,64]"}, .f = {1.5, 10000}, .error = "fraction must be in (0, 1]"},
    {"rope", {"f32[2,4,16,64]", "i32[2,4,8]"}, .f = {1, 10000}, .error = "pos is i32[2,4,8]"},
    {"group_mean", {"f32[2,8,16,64]"}, .i = {4}, .expect = "f32[2,2,16,64]"},
    {"group_mean", {"f32[2,8,16,64]"}, .i = {3}, .error = "size 3 must be >= 1 and divide the 8 heads"},
    {"repeat_heads", {"f32[2,2,16,64]"}, .i = {4}, .expect = "f32[2,8,16,64]"},
    {"repeat_heads", {"f32[2,2,16,64]"}, .i = {0}, .error = "times must be >= 1"},
    {"cross_entropy", {"f32[4,16,100]", "i32[4,16]"}, .expect = "f32[]"},
    {"cross_entropy", {"f32[4,16,100]", "i32[4]"}, .error = "targets are i32[4] but logits are f32[4,16,100]"},
    {"topk", {"f32[2,16]"}, .i = {4, 1}, .expect = "i32[2,4]"},
    {"topk", {"f32[2,16]"}, .i = {17, 0}, .error = "k=17 must be in [1, 16]"},
    {"take", {"f32[2,16]", "i32[2,4]"}, .expect = "f32[2,4]"},
    {"take", {"f32[2,16]", "i32[3,4]"}, .error = "expected the same leading dimensions"},
    {"gather_rows", {"f32[2,16,8]", "i32[2,4,3]"}, .expect = "f32[2,4,3,8]"},
    {"gather_rows", {"f32[2,16,8]", "i32[3,4,3]"}, .error = "batch sizes differ"},
    {"scatter_rows", {"f32[2,4,3,8]", "i32[2,4,3]"}, .i = {16}, .expect = "f32[2,16,8]"},
    {"scatter_rows", {"f32[2,4,3,8]", "i32[2,4,3]"}, .i = {0}, .error = "rows must be >= 1"},
    {"scatter_rows", {"f32[2,4,3,8]", "i32[2,4,2]"}, .i = {4}, .error = "expected [B,E,k]"},
    {"onehot_argmax", {"f32[2,8,4]"}, .expect = "f32[2,8,4]"},
    {"onehot_argmax", {"i32[2,8,4]"}, .error = "must be f32"},
    {"capacity_route", {"f32[2,8,4]"}, .l = {2, 2, 2, 2}, .nl = 4, .expect = "f32[2,8,4]"},
    {"capacity_route", {"f32[2,8,4]"}, .l = {2, 2, 2, 1}, .nl = 4, .error = "hold 7 tokens"},
    {"capacity_route", {"f32[2,8,4]"}, .l = {8, 8}, .nl = 2, .error = "caps has 2 entries"},
    {"capacity_route", {"f32[2,8,2]"}, .l = {9, -1}, .nl = 2, .error = "capacities must be >= 0"},
    {"gelu_grad", {"f32[2,3]", "f32[2,3]"}, .expect = "f32[2,3]"},
    {"gelu_grad", {"f32[2,3]", "f32[3]"}, .error = "gelu_grad: operands differ: f32[2,3] and f32[3]"},
    {"relu_grad", {"f32[]", "f32[]"}, .expect = "f32[]"},
    {"relu_grad", {"i32[2]", "i32[2]"}, .error = "operand 1 must be f32, got i32[2]"},
    {"softmax_grad", {"f32[2,5]", "f32[2,5]"}, .expect = "f32[2,5]"},
    {"softmax_grad", {"f32[]", "f32[]"}, .error = "operand 1 must have rank >= 1, got f32[]"},
    {"normalize", {"f32[2,8]"}, .f = {1e-5}, .expect = "f32[2,8]"},
    {"normalize", {"f32[2,8]"}, .f = {0}, .error = "normalize: eps must be > 0, got 0"},
    {"layernorm_grad", {"f32[2,8]", "f32[8]", "f32[2,8]"}, .f = {1e-5}, .expect = "f32[2,8]"},
    {"layernorm_grad", {"f32[2,8]", "f32[8]", "f32[2,7]"}, .f = {1e-5}, .error = "dy is f32[2,7] but x is f32[2,8]"},
    {"layernorm_grad", {"f32[2,8]", "f32[4]", "f32[2,8]"}, .f = {1e-5}, .error = "weight is f32[4] but x is f32[2,8]"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]"}, .i = {1, 0},
     .f = {0.125}, .expect = "f32[2,8,16,64]"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]"}, .i = {1, 1},
     .f = {0.125}, .expect = "f32[2,2,16,64]"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]"}, .i = {0, 2},
     .f = {0.125}, .expect = "f32[2,2,16,32]"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]"}, .i = {1, 3},
     .f = {0.125}, .error = "which must be 0 (dq), 1 (dk) or 2 (dv), got 3"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,64]"}, .i = {1, 0},
     .f = {0.125}, .error = "dout is f32[2,8,16,64] but attention gives f32[2,8,16,32]"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,3,16,64]", "f32[2,3,16,64]", "f32[2,8,16,64]"}, .f = {0.125},
     .error = "3 KV heads do not divide 8 query heads"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]", "f32[2,8,16,32]",
                        "f32[2,8,16]"}, .i = {1, 1}, .f = {0.125}, .expect = "f32[2,2,16,64]"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]", "f32[2,8,16,32]"},
     .i = {1, 1}, .f = {0.125}, .error = "come together (6 operands), or neither (4)"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]", "f32[2,8,16,64]",
                        "f32[2,8,16]"}, .i = {1, 1}, .f = {0.125}, .error = "out is f32[2,8,16,64] but attention gives f32[2,8,16,32]"},
    {"attention_grad", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]", "f32[2,8,16,32]", "f32[2,8,16,32]",
                        "f32[2,8,16,1]"}, .i = {1, 1}, .f = {0.125}, .error = "operand 6 (lse) must have rank 3"},
    {"attention_lse", {"f32[2,8,16,64]", "f32[2,2,16,64]", "f32[2,2,16,32]"}, .i = {1}, .f = {0.125},
     .expect = "f32[2,8,16]"},
    {"attention_lse", {"f32[2,8,16,64]", "f32[2,2,8,64]", "f32[2,2,8,32]"}, .i = {1}, .f = {0.125},
     .error = "causal attention needs as many keys as queries"},
    {"rope_grad", {"f32[2,4,16,64]", "i32[2,4,16]"}, .f = {0.5, 10000}, .expect = "f32[2,4,16,64]"},
    {"rope_grad", {"f32[2,4,16,64]"}, .f = {0, 10000}, .error = "rope_grad: fraction must be in (0, 1], got 0"},
    {"embed_grad", {"i32[12,256]", "f32[12,256,384]"}, .i = {283}, .expect = "f32[283,384]"},
    {"embed_grad", {"i32[12,256]", "f32[12,256,384]"}, .i = {0}, .error = "rows must be >= 1, got 0"},
    {"embed_grad", {"i32[12]", "f32[13,4]"}, .i = {5}, .error = "dy is f32[13,4] but ids are i32[12]: expected ids' shape + [C]"},
    {"cross_entropy_grad", {"f32[4,16,100]", "i32[4,16]", "f32[]"}, .expect = "f32[4,16,100]"},
    {"cross_entropy_grad", {"f32[4,16,100]", "i32[4,16]", "f32[1]"}, .error = "operand 3 (dloss) must have rank 0, got f32[1]"},
    {"cross_entropy_grad", {"f32[4,16,100]", "i32[4]", "f32[]"}, .error = "targets are i32[4] but logits are f32[4,16,100]"},
    {"take_grad", {"i32[2,4]", "f32[2,4]"}, .i = {16}, .expect = "f32[2,16]"},
    {"take_grad", {"i32[2,4]", "f32[2,4]"}, .i = {3}, .error = "size 3 is smaller than the 4 indices per row"},
    {"take_grad", {"i32[2,4]", "f32[2,5]"}, .i = {8}, .error = "dy is f32[2,5] but idx is i32[2,4]: expected the same shape"},
    {"pad", {"f32[4,3]"}, .i = {1, 2, 10}, .expect = "f32[4,10]"},
    {"pad", {"f32[4,3]"}, .i = {1, 8, 10}, .error = "x (f32[4,3]) does not fit at start 8 of size 10 on axis 1"},
    {"pad", {"f32[4,3]"}, .i = {2, 0, 10}, .error = "axis 2 is out of range for f32[4,3]"},
    {"broadcast", {"f32[3,1]"}, .l = {2, 3, 4}, .nl = 3, .expect = "f32[2,3,4]"},
    {"broadcast", {"i32[]"}, .nl = 0, .expect = "i32[]"},
    {"broadcast", {"f32[3,2]"}, .l = {3, 4}, .nl = 2, .error = "cannot broadcast f32[3,2] to [3,4]"},
    {"broadcast", {"f32[3,2]"}, .l = {2}, .nl = 1, .error = "cannot broadcast f32[3,2] to [2]"},
    {"output", {"f32[]"}, .s = "loss", .expect = "f32[]"},
    {"output", {"f32[]"}, .s = "", .error = "output: name must not be empty"},
    {"matmul", {"f32[2,2]"}, .error = "matmul: expects 2 operands, got 1"},
};
#undef F

static void run_shape_case(const shape_case *c, int *valid, int *invalid) {
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = moac_graph_new(&a, "shape");
    moac_node *args[6];
    int nargs = 0;
    while (nargs < 6 && c->operands[nargs]) {
        args[nargs] = typed_input(g, c->operands[nargs], "a");
        nargs++;
    }
    moac_op op = moac_op_lookup(c->op);
    assert_int_not_equal(op, MOAC_OP_COUNT);
    moac_node *n = moac_graph_append(g, op, nargs, args);
    memcpy(n->i, c->i, sizeof n->i);
    memcpy(n->f, c->f, sizeof n->f);
    n->s = c->s;
    moac_node_set_list(g, n, c->l, c->nl);
    if (c->written) n->type = type_of(c->written);
    char err[512] = "", got[200];
    int rc = moac_node_infer(n, err, sizeof err);
    if (c->error) {
        if (rc == 0) print_error("%s: accepted, giving %s\n", c->op, type_str(&n->type, got, sizeof got));
        assert_int_equal(rc, -1);
        expect_contains(err, c->error);
        invalid[op] = 1;
    } else {
        if (rc != 0) print_error("%s: %s\n", c->op, err);
        assert_int_equal(rc, 0);
        assert_string_equal(type_str(&n->type, got, sizeof got), c->expect);
        valid[op] = 1;
    }
    moac_arena_free(&a);
}

static void test_shape_rules_cover_every_op(void **state) {
    (void)state;
    int valid[MOAC_OP_COUNT] = {0}, invalid[MOAC_OP_COUNT] = {0};
    for (size_t k = 0; k < sizeof shape_cases / sizeof *shape_cases; k++)
        run_shape_case(&shape_cases[k], valid, invalid);
    for (int op = 0; op < MOAC_OP_COUNT; op++) {
        if (!valid[op] || !invalid[op])
            print_error("op %s lacks a %s shape case\n", moac_op_info_get(op)->name, valid[op] ? "invalid" : "valid");
        assert_true(valid[op] && invalid[op]);
    }
}

/* ---- Op table. ---- */

static void test_op_table(void **state) {
    (void)state;
    const moac_op_info *param = moac_op_info_get(MOAC_OP_PARAM);
    assert_string_equal(param->name, "param");
    assert_int_equal(param->nattrs, 3);
    assert_string_equal(param->attrs[0].key, "name");
    assert_int_equal(param->attrs[0].kind, MOAC_ATTR_STRING);
    assert_string_equal(param->attrs[2].key, "std");
    assert_int_equal(param->attrs[2].kind, MOAC_ATTR_FLOAT);
    assert_int_equal(param->attrs[2].slot, 1);
    const moac_op_info *slice = moac_op_info_get(MOAC_OP_SLICE);
    assert_int_equal(slice->attrs[2].slot, 2);
    assert_int_equal(moac_op_info_get(MOAC_OP_LAYERNORM)->max_args, 3);
    assert_int_equal(moac_op_lookup("capacity_route"), MOAC_OP_CAPACITY_ROUTE);
    assert_int_equal(moac_op_lookup("nope"), MOAC_OP_COUNT);
    assert_string_equal(moac_op_names()[MOAC_OP_MATMUL], "matmul");
}

/* ---- Graph editing and types. ---- */

static void test_graph_editing(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = moac_graph_new(&a, "g");
    moac_node *x = typed_input(g, "f32[2,3]", "x");
    x->name = "x";
    moac_node *args[2] = {x, x};
    moac_node *sq = moac_graph_append(g, MOAC_OP_MUL, 2, args);
    moac_node *sq2 = moac_graph_append(g, MOAC_OP_SQUARE, 1, &x);
    moac_node *neg = moac_graph_append(g, MOAC_OP_NEG, 1, &sq);
    moac_node *wrap = moac_graph_append(g, MOAC_OP_SCALE, 1, &neg); /* wrap = f(neg) */
    wrap->f[0] = 2;
    moac_node *out = moac_graph_append(g, MOAC_OP_OUTPUT, 1, &neg);
    out->s = "y";
    char err[256];
    for (size_t i = 0; i < g->count; i++) assert_int_equal(moac_node_infer(g->nodes[i], err, sizeof err), 0);

    moac_graph_replace_uses(g, sq, sq2);
    assert_ptr_equal(neg->args[0], sq2);
    moac_graph_replace_uses(g, neg, wrap); /* every use but wrap's own */
    assert_ptr_equal(wrap->args[0], neg);
    assert_ptr_equal(out->args[0], wrap);
    sq->dead = 1;
    moac_graph_compact(g);
    assert_int_equal(g->count, 5);
    assert_ptr_equal(g->nodes[1], sq2);
    assert_int_equal(out->id, 4);
    assert_ptr_equal(moac_graph_find(g, "x"), x);
    assert_null(moac_graph_find(g, "y"));
    moac_diag d;
    moac_diag_init(&d);
    assert_int_equal(moac_ir_verify(g, &d, "test"), 0);
    moac_diag_free(&d);

    moac_type t = type_of("f32[12,256,384]"), s = type_of("i32[]");
    assert_int_equal(moac_type_numel(&t), 12 * 256 * 384);
    assert_int_equal(moac_type_numel(&s), 1);
    char buf[64];
    assert_string_equal(type_str(&t, buf, sizeof buf), "f32[12,256,384]");
    assert_string_equal(type_str(&s, buf, sizeof buf), "i32[]");
    assert_true(moac_type_equal(&t, &t) && !moac_type_equal(&t, &s));
    moac_arena_free(&a);
}

/* ---- Printer. ---- */

static void test_print_exact(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = moac_graph_new(&a, "moas");
    moac_node *tokens = typed_input(g, "i32[12,256]", "tokens");
    tokens->name = "tokens";
    moac_node *wte = moac_graph_append(g, MOAC_OP_PARAM, 0, NULL);
    wte->s = "wte";
    wte->f[1] = 0.02;
    wte->type = type_of("f32[283,384]");
    moac_node *e = moac_graph_append(g, MOAC_OP_EMBED, 2, (moac_node *[]){wte, tokens});
    moac_node *logits = moac_graph_append(g, MOAC_OP_MATMUL, 2, (moac_node *[]){e, wte});
    logits->i[1] = 1;
    moac_node *flat = moac_graph_append(g, MOAC_OP_RESHAPE, 1, &logits);
    moac_node_set_list(g, flat, (int64_t[]){3072, 283}, 2);
    moac_node *loss = moac_graph_append(g, MOAC_OP_OUTPUT, 1, &flat);
    loss->s = "loss";
    loss->name = "loss";
    char err[256];
    for (size_t i = 0; i < g->count; i++) assert_int_equal(moac_node_infer(g->nodes[i], err, sizeof err), 0);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_ir_print(g, &out);
    assert_string_equal(moac_strbuf_cstr(&out),
                        "graph \"moas\" {\n"
                        "  %tokens = input() name=\"tokens\" : i32[12,256]\n"
                        "  %1 = param() name=\"wte\" fill=0.0 std=0.02 : f32[283,384]\n"
                        "  %2 = embed(%1, %tokens) : f32[12,256,384]\n"
                        "  %3 = matmul(%2, %1) ta=0 tb=1 : f32[12,256,283]\n"
                        "  %4 = reshape(%3) shape=[3072,283] : f32[3072,283]\n"
                        "  %loss = output(%4) name=\"loss\" : f32[3072,283]\n"
                        "}\n");
    moac_strbuf_free(&out);
    moac_arena_free(&a);
}

/* ---- Round trip over every op. ---- */

static const char every_op[] =
    "graph \"every op\" {\n"
    "  %tokens = input() name=\"tokens \\\"quoted\\\" \\\\ \\n\\t\" : i32[2,8]\n"
    "  %wte = param() name=\"wte\" fill=0.0 std=0.02 : f32[16,32]\n"
    "  %one = full() value=1.0 : f32[]\n"
    "  %x = embed(%wte, %tokens) : f32[2,8,32]\n"
    "  %4 = add(%x, %one) : f32[2,8,32]\n"
    "  %5 = sub(%4, %x) : f32[2,8,32]\n"
    "  %6 = mul(%5, %one) : f32[2,8,32]\n"
    "  %7 = div(%6, %one) : f32[2,8,32]\n"
    "  %8 = scale(%7) by=-0.5 : f32[2,8,32]\n"
    "  %9 = neg(%8) : f32[2,8,32]\n"
    "  %10 = square(%9) : f32[2,8,32]\n"
    "  %11 = exp(%10) : f32[2,8,32]\n"
    "  %12 = log(%11) : f32[2,8,32]\n"
    "  %13 = relu(%12) : f32[2,8,32]\n"
    "  %14 = gelu(%13) : f32[2,8,32]\n"
    "  %15 = sigmoid(%14) : f32[2,8,32]\n"
    "  %16 = dropout(%15) p=0.1 stream=3 : f32[2,8,32]\n"
    "  %ln.w = param() name=\"ln.w\" fill=1.0 std=0.0 : f32[32]\n"
    "  %ln.b = param() name=\"ln.b\" fill=0.0 std=0.0 : f32[32]\n"
    "  %19 = layernorm(%16, %ln.w, %ln.b) eps=1e-05 : f32[2,8,32]\n"
    "  %20 = layernorm(%19, %ln.w) eps=1e-05 : f32[2,8,32]\n"
    "  %21 = reshape(%20) shape=[2,8,4,8] : f32[2,8,4,8]\n"
    "  %q = transpose(%21) perm=[0,2,1,3] : f32[2,4,8,8]\n"
    "  %kv = slice(%q) axis=1 start=0 len=2 : f32[2,2,8,8]\n"
    "  %24 = attention(%q, %kv, %kv) causal=1 scale=0.125 : f32[2,4,8,8]\n"
    "  %pos = input() name=\"pos\" : i32[2,4,8]\n"
    "  %26 = rope(%24, %pos) fraction=0.5 base=1e+04 : f32[2,4,8,8]\n"
    "  %27 = rope(%26) fraction=1.0 base=5e+05 : f32[2,4,8,8]\n"
    "  %28 = group_mean(%27) size=2 : f32[2,2,8,8]\n"
    "  %29 = repeat_heads(%28) times=2 : f32[2,4,8,8]\n"
    "  %30 = softmax(%29) : f32[2,4,8,8]\n"
    "  %31 = reduce_sum(%30) axes=[1] keep=0 : f32[2,8,8]\n"
    "  %32 = reduce_mean(%31) axes=[2] keep=1 : f32[2,8,1]\n"
    "  %33 = reshape(%32) shape=[2,8] : f32[2,8]\n"
    "  %34 = topk(%33) k=3 first=1 : i32[2,3]\n"
    "  %picked = take(%33, %34) : f32[2,3]\n"
    "  %router = param() name=\"router\" fill=0.0 std=0.02 : f32[4,32]\n"
    "  %37 = matmul(%x, %router) ta=0 tb=1 : f32[2,8,4]\n"
    "  %38 = capacity_route(%37) caps=[2,2,2,2] : f32[2,8,4]\n"
    "  %39 = onehot_argmax(%37) : f32[2,8,4]\n"
    "  %40 = transpose(%37) perm=[0,2,1] : f32[2,4,8]\n"
    "  %idx = topk(%40) k=2 first=0 : i32[2,4,2]\n"
    "  %42 = gather_rows(%x, %idx) : f32[2,4,2,32]\n"
    "  %43 = scatter_rows(%42, %idx) rows=8 : f32[2,8,32]\n"
    "  %44 = bce_logits(%38, %39) : f32[2,8,4]\n"
    "  %45 = matmul(%43, %wte) ta=0 tb=1 : f32[2,8,16]\n"
    "  %46 = cross_entropy(%45, %tokens) : f32[]\n"
    "  %47 = gelu_grad(%13, %14) : f32[2,8,32]\n"
    "  %48 = relu_grad(%12, %47) : f32[2,8,32]\n"
    "  %49 = softmax_grad(%30, %29) : f32[2,4,8,8]\n"
    "  %50 = normalize(%48) eps=1e-05 : f32[2,8,32]\n"
    "  %51 = layernorm_grad(%16, %ln.w, %50) eps=1e-05 : f32[2,8,32]\n"
    "  %52 = attention_grad(%q, %kv, %kv, %49) causal=1 scale=0.125 which=1 : f32[2,2,8,8]\n"
    "  %53 = rope_grad(%49, %pos) fraction=0.5 base=1e+04 : f32[2,4,8,8]\n"
    "  %54 = embed_grad(%tokens, %51) rows=16 : f32[16,32]\n"
    "  %55 = cross_entropy_grad(%45, %tokens, %46) : f32[2,8,16]\n"
    "  %56 = take_grad(%34, %picked) size=8 : f32[2,8]\n"
    "  %57 = pad(%kv) axis=1 start=1 size=4 : f32[2,4,8,8]\n"
    "  %58 = broadcast(%one) shape=[2,3] : f32[2,3]\n"
    "  %joined = concat(%kv, %q, %kv) axis=1 : f32[2,8,8,8]\n"
    "  %loss = output(%46) name=\"loss\" : f32[]\n"
    "  %61 = output(%picked) name=\"picked\" : f32[2,3]\n"
    "  %62 = output(%44) name=\"bce\" : f32[2,8,4]\n"
    "  %lse = attention_lse(%q, %kv, %kv) causal=1 scale=0.125 : f32[2,4,8]\n"
    "}\n";

static char *print_graph(const moac_graph *g) {
    moac_strbuf b;
    moac_strbuf_init(&b);
    moac_ir_print(g, &b);
    return (char *)moac_strbuf_cstr(&b); /* caller frees */
}

static void test_round_trip_every_op(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = read_text(&a, &d, every_op);
    if (!g) print_error("%s", moac_strbuf_cstr(&d.out));
    assert_non_null(g);
    for (int op = 0; op < MOAC_OP_COUNT; op++) {
        size_t i = 0;
        while (i < g->count && g->nodes[i]->op != (moac_op)op) i++;
        if (i == g->count) print_error("the round-trip graph lacks op %s\n", moac_op_info_get(op)->name);
        assert_true(i < g->count);
    }
    assert_int_equal(moac_ir_verify(g, &d, "read"), 0);
    assert_string_equal(g->nodes[0]->s, "tokens \"quoted\" \\ \n\t");
    assert_null(g->nodes[4]->name);
    assert_string_equal(g->nodes[17]->name, "ln.w");
    assert_int_equal(g->nodes[3]->loc.line, 5);
    assert_int_equal(g->nodes[3]->loc.col, 3);
    char *text = print_graph(g);
    assert_string_equal(text, every_op);
    moac_graph *again = read_text(&a, &d, text); /* and once more, from the printer's own output */
    assert_non_null(again);
    char *text2 = print_graph(again);
    assert_string_equal(text2, text);
    free(text);
    free(text2);
    moac_diag_free(&d);
    moac_arena_free(&a);
}

/* Comments, free whitespace and arbitrary numeric labels normalise to the canonical form. */
static void test_read_free_form(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = read_text(&a, &d,
                              "# a comment\n"
                              "graph   \"g\"{   # another\n"
                              "\t%x=input( )name = \"x\":f32[ 2 , 3 ]\n"
                              "  %7 = neg(%x)\n"
                              "       : f32[2,3]   %y = output(%7) name=\"y\" : f32[2,3]\n"
                              "}   # done\n");
    if (!g) print_error("%s", moac_strbuf_cstr(&d.out));
    assert_non_null(g);
    char *text = print_graph(g);
    assert_string_equal(text, "graph \"g\" {\n"
                              "  %x = input() name=\"x\" : f32[2,3]\n"
                              "  %1 = neg(%x) : f32[2,3]\n"
                              "  %y = output(%1) name=\"y\" : f32[2,3]\n"
                              "}\n");
    free(text);
    moac_diag_free(&d);
    moac_arena_free(&a);
}

/* ---- Reader errors: each is located (file:line:col) and says what is wrong. ---- */

#define HEAD "graph \"g\" {\n  %a = input() name=\"a\" : f32[2,3]\n  %b = input() name=\"b\" : f32[3,2]\n"

typedef struct read_case {
    const char *text;
    const char *where; /* "line:col" */
    const char *phrase;
} read_case;

static const read_case read_cases[] = {
    {HEAD "  %c = matmull(%a, %b) ta=0 tb=0 : f32[2,2]\n}\n", "4:8", "unknown op 'matmull'; did you mean 'matmul'?"},
    {HEAD "  %c = matmul(%a) ta=0 tb=0 : f32[2,2]\n}\n", "4:8", "matmul takes 2 operands, got 1"},
    {HEAD "  %c = layernorm(%a) eps=0.1 : f32[2,3]\n}\n", "4:8", "layernorm takes 2 or 3 operands, got 1"},
    {HEAD "  %c = input(%a) name=\"c\" : f32[2]\n}\n", "4:8", "input takes no operands, got 1"},
    {HEAD "  %c = matmul(%a, %b) ta=0 tbb=0 : f32[2,2]\n}\n", "4:28", "unknown attribute 'tbb' for matmul; did you mean 'tb'?"},
    {HEAD "  %c = neg(%a) by=2 : f32[2,3]\n}\n", "4:16", "unknown attribute 'by': neg takes no attributes"},
    {HEAD "  %c = matmul(%a, %b) ta=0 : f32[2,2]\n}\n", "4:8", "missing attribute 'tb' (an int)"},
    {HEAD "  %c = matmul(%a, %b) ta=0.5 tb=0 : f32[2,2]\n}\n", "4:26", "attribute 'ta' of matmul must be an int, got a float"},
    {HEAD "  %c = input() name=3 : f32[2]\n}\n", "4:21", "attribute 'name' of input must be a string, got an int"},
    {HEAD "  %c = input() name=c : f32[2]\n}\n", "4:21", "must be a string, written in quotes"},
    {HEAD "  %c = reshape(%a) shape=6 : f32[6]\n}\n", "4:26", "attribute 'shape' of reshape must be a list of ints"},
    {HEAD "  %c = reshape(%a) shape=[6,1.5] : f32[6]\n}\n", "4:29", "list elements must be integers"},
    {HEAD "  %c = matmul(%a, %b) ta=0 ta=1 tb=0 : f32[2,2]\n}\n", "4:28", "duplicate attribute 'ta'"},
    {HEAD "  %c = add(%a, %z) : f32[2,3]\n}\n", "4:16", "use of undefined value %z"},
    {HEAD "  %c = add(%a, %bb) : f32[2,3]\n}\n", "4:16", "use of undefined value %bb; did you mean %b?"},
    {HEAD "  %c = neg(%d) : f32[2,3]\n  %d = neg(%a) : f32[2,3]\n}\n", "4:12", "%d is used before its definition"},
    {HEAD "  %c = neg(%c) : f32[2,3]\n}\n", "4:12", "%c is used in its own definition"},
    {HEAD "  %a = neg(%b) : f32[3,2]\n}\n", "4:3", "redefinition of %a"},
    {HEAD "  %c = neg(%a) : f64[2,3]\n}\n", "4:18", "unknown dtype 'f64' (expected f32 or i32)"},
    {HEAD "  %c = neg(%a) : f32[2,0]\n}\n", "4:24", "dimension must be >= 1, got 0"},
    {HEAD "  %c = neg(%a) : f32(2,3)\n}\n", "4:21", "expected '[' after the dtype, got '('"},
    {HEAD "  %c = neg(%a) : f32[1,1,1,1,1,1,1]\n}\n", "4:34", "a type has at most 6 dimensions"},
    {HEAD "  %c = neg(%a)\n}\n", "4:15", "expected an attribute 'key=value', or ':' and the result type at the end of the line"},
    {HEAD "  %c = matmul(%a, %b) ta=0 tb=0 : f32[1,2]\n}\n", "4:35",
     "%c: written type f32[1,2] but matmul gives f32[2,2]"},
    {HEAD "  %c = matmul(%a, %a) ta=0 tb=0 : f32[2,3]\n}\n", "4:8",
     "%c = matmul: inner dimensions differ: a is f32[2,3] (K=3), b is f32[2,3] (K=2)"},
    {HEAD "  %c = input() name=\"\" : f32[2]\n}\n", "4:8", "%c = input: name must not be empty"},
    {"grph \"g\" {\n}\n", "1:1", "expected 'graph \"name\" {' at the start of the file, got 'grph'"},
    {"graph g {\n}\n", "1:7", "expected the graph's name in quotes after 'graph'"},
    {"graph \"g\"\n  %a = input() name=\"a\" : f32[2]\n}\n", "1:10", "expected '{' after the graph's name"},
    {"graph \"g\" { %a = input() name=\"a\" : f32[2] junk }\n", "1:44", "unexpected 'junk' after the result type"},
    {HEAD, "3:35", "expected '}' at the end of the graph, got the end of the file"},
    {HEAD "}\njunk\n", "5:1", "unexpected 'junk' after the end of the graph"},
    {HEAD "  %c = neg(%a) : f32[2,3] extra\n}\n", "4:27", "unexpected 'extra' after the result type"},
    {HEAD "  %c = input() name=\"abc : f32[2]\n}\n", "4:21", "unterminated string"},
    {HEAD "  %c = input() name=\"a\\qb\" : f32[2]\n}\n", "4:23", "invalid escape in string"},
    {HEAD "  %c = neg(%a) $ : f32[2,3]\n}\n", "4:16", "unexpected character"},
    {HEAD "  %c = neg(%a) @k0 : f32[2,3]\n}\n", "4:16", "expected an attribute 'key=value', or ':' and the result type, got '@k0'"},
    {HEAD "  %c = scale(%a) by=1.5x : f32[2,3]\n}\n", "4:21", "malformed number"},
    {HEAD "  %c = slice(%a) axis=99999999999999999999 start=0 len=1 : f32[2,3]\n}\n", "4:23", "integer '99999999999999999999' is out of range"},
    {HEAD "  %c = neg(%) : f32[2,3]\n}\n", "4:12", "expected a value name after '%'"},
    {HEAD "  c = neg(%a) : f32[2,3]\n}\n", "4:3", "expected a value definition"},
};

static void test_reader_errors(void **state) {
    (void)state;
    int failures = 0;
    for (size_t k = 0; k < sizeof read_cases / sizeof *read_cases; k++) {
        const read_case *c = &read_cases[k];
        moac_arena a;
        moac_arena_init(&a);
        moac_diag d;
        moac_diag_init(&d);
        moac_graph *g = read_text(&a, &d, c->text);
        char where[64];
        snprintf(where, sizeof where, "t.ir:%s: error: ", c->where);
        const char *out = moac_strbuf_cstr(&d.out);
        if (g || !strstr(out, where) || !strstr(out, c->phrase)) {
            print_error("case %zu: expected %s%s\n  %s\ngot:\n%s\n", k, where, c->phrase, g ? "(accepted)" : "", out);
            failures++;
        }
        moac_diag_free(&d);
        moac_arena_free(&a);
    }
    assert_int_equal(failures, 0);
}

/* The exact rendering of one message (source line, caret under the whole op name), and
 * several errors from one file: the reader recovers at the next line. */
static void test_reader_recovers(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = read_text(&a, &d,
                              HEAD "  %c = matmull(%a, %b) ta=0 tb=0 : f32[2,2]\n"
                                   "  %d = neg(%c) : f32[2,2]\n"   /* uses the failed %c: no second message */
                                   "  %e = neg(%a) : f32[9]\n"
                                   "  %f = add(%a, %nope) : f32[2,3]\n"
                                   "}\n");
    assert_null(g);
    assert_int_equal(d.errors, 3);
    const char *out = moac_strbuf_cstr(&d.out);
    expect_contains(out, "t.ir:4:8: error: unknown op 'matmull'; did you mean 'matmul'?\n"
                         "    4 |   %c = matmull(%a, %b) ta=0 tb=0 : f32[2,2]\n"
                         "      |        ^~~~~~~\n");
    expect_contains(out, "t.ir:6:18: error: %e: written type f32[9] but neg gives f32[2,3]\n");
    expect_contains(out, "t.ir:7:16: error: use of undefined value %nope\n");
    moac_diag_free(&d);
    moac_arena_free(&a);
}

/* ---- Verifier. ---- */

static void test_verifier(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = read_text(&a, &d,
                              "graph \"v\" {\n"
                              "  %a = input() name=\"a\" : f32[2,3]\n"
                              "  %b = input() name=\"b\" : f32[3,4]\n"
                              "  %c = param() name=\"c\" fill=0.0 std=0.0 : f32[4,5]\n"
                              "  %3 = matmul(%a, %b) ta=0 tb=0 : f32[2,4]\n"
                              "  %4 = matmul(%3, %c) ta=0 tb=0 : f32[2,5]\n"
                              "  %out = output(%4) name=\"out\" : f32[2,5]\n"
                              "}\n");
    assert_non_null(g);
    assert_int_equal(moac_ir_verify(g, &d, "after pass 'cse'"), 0);
    assert_int_equal(d.errors, 0);

    /* A pass swapped two operands: the shape rule now fails on %3. */
    moac_node *mm = g->nodes[3];
    mm->args[1] = g->nodes[2];
    assert_int_equal(moac_ir_verify(g, &d, "after pass 'cse'"), 1);
    expect_contains(moac_strbuf_cstr(&d.out), "t.ir:5:3: error: after pass 'cse': %3 = matmul: inner dimensions differ: "
                                              "a is f32[2,3] (K=3), b is f32[4,5] (K=4)\n");
    mm->args[1] = g->nodes[1];

    /* A stale type, a use of a later value, a wrong id, a duplicate name. */
    moac_strbuf_clear(&d.out);
    g->nodes[4]->type = type_of("f32[2,6]");
    g->nodes[4]->args[0] = g->nodes[5];
    g->nodes[1]->id = 9;
    g->nodes[2]->name = "a";
    int problems = moac_ir_verify(g, &d, "after pass 'x'");
    const char *out = moac_strbuf_cstr(&d.out);
    if (problems != 4) print_error("%s", out);
    expect_contains(out, "after pass 'x': %4 = matmul: operand 1 (%out) is defined at position 5, not before it");
    expect_contains(out, "after pass 'x': %b = input: id is 9 but the node is at position 1");
    expect_contains(out, "after pass 'x': %a = param: name %a is already used at position 0");
    expect_contains(out, "after pass 'x': %out = output: type is f32[2,5] but output gives f32[2,6]");
    assert_int_equal(problems, 4);
    g->nodes[4]->args[0] = g->nodes[3];
    g->nodes[1]->id = 1;
    g->nodes[2]->name = NULL;
    moac_strbuf_clear(&d.out);
    assert_int_equal(moac_ir_verify(g, &d, "after pass 'x'"), 2); /* %4 itself, and %out that uses it */
    expect_contains(moac_strbuf_cstr(&d.out), "%4 = matmul: type is f32[2,6] but matmul gives f32[2,5]");

    /* Nodes built by a pass have no location: the message still names the value. */
    moac_strbuf_clear(&d.out);
    g->nodes[4]->type = type_of("f32[2,5]");
    g->nodes[4]->loc = (moac_loc){0};
    g->nodes[4]->nargs = 1;
    assert_int_equal(moac_ir_verify(g, &d, "after pass 'x'"), 1);
    assert_string_equal(moac_strbuf_cstr(&d.out), "error: after pass 'x': %4 = matmul: has 1 operands; matmul takes 2\n");
    moac_diag_free(&d);
    moac_arena_free(&a);
}

/* ---- DOT. ---- */

static size_t count_of(const char *s, const char *needle) {
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void test_dot(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = read_text(&a, &d, every_op);
    assert_non_null(g);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_ir_dot(g, &out);
    const char *dot = moac_strbuf_cstr(&out);
    assert_true(strncmp(dot, "digraph \"every op\" {\n", 21) == 0);
    size_t operands = 0;
    for (size_t i = 0; i < g->count; i++) operands += (size_t)g->nodes[i]->nargs;
    assert_int_equal(count_of(dot, " -> "), operands);
    expect_contains(dot, "  n0 [label=\"%tokens\\ninput\\ni32[2,8]\", shape=ellipse");
    expect_contains(dot, "  n3 -> n4 [label=\"1\"];\n");
    expect_contains(dot, "  n15 -> n16;\n");
    assert_int_equal(count_of(dot, "shape=doubleoctagon"), 3);
    assert_string_equal(dot + strlen(dot) - 2, "}\n");

    /* Quotes and backslashes in names are escaped. */
    moac_strbuf_clear(&out);
    g->name = "a\"b\\c";
    g->nodes[0]->name = NULL;
    g->nodes[0]->nargs = 0;
    moac_graph one = *g;
    one.count = 1;
    moac_ir_dot(&one, &out);
    assert_string_equal(moac_strbuf_cstr(&out), "digraph \"a\\\"b\\\\c\" {\n"
                                                "  rankdir=TB;\n"
                                                "  node [fontname=\"monospace\", fontsize=10];\n"
                                                "  n0 [label=\"%0\\ninput\\ni32[2,8]\", shape=ellipse, style=filled, "
                                                "fillcolor=\"#dbe9f6\"];\n"
                                                "}\n");
    moac_strbuf_free(&out);
    moac_diag_free(&d);
    moac_arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_op_table),
        cmocka_unit_test(test_shape_rules_cover_every_op),
        cmocka_unit_test(test_graph_editing),
        cmocka_unit_test(test_print_exact),
        cmocka_unit_test(test_round_trip_every_op),
        cmocka_unit_test(test_read_free_form),
        cmocka_unit_test(test_reader_errors),
        cmocka_unit_test(test_reader_recovers),
        cmocka_unit_test(test_verifier),
        cmocka_unit_test(test_dot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
