/* Unit tests of the reference interpreter: every op's kernel against hand-computed values (the
 * table below must cover every op of ir/ops.def), data errors, a graph read from IR text run end
 * to end, and the liveness plan. Identities are in test_interp_identities.c, finite-difference
 * checks of the gradient kernels in test_interp_gradients.c.
 *
 * Run as `test_interp --run-ir FILE.ir INPUTS.txt`, it is instead the tool tests/ref/interp_ops.py
 * compares with PyTorch: it reads the graph, fills inputs and params from INPUTS.txt (lines
 * "name count v1 .. vcount"), runs it (eval mode) and prints every output the same way. */
#include "interp_test_util.h"

#define LN3 1.0986122886681098
#define LN4 1.3862943611198906

typedef struct kcase {
    const char *op;
    const char *types[7]; /* operand types, NULL-terminated */
    const double *in[6];
    t_attrs at;
    const char *written;  /* for input/param/full */
    const double *want;   /* numel(result) values, or NULL when `error` is expected */
    const char *error;
} kcase;

static const kcase cases[] = {
    {"input", {0}, .written = "f32[2]", .want = V(0, 0)},
    {"param", {0}, .written = "f32[1,2]", .want = V(0, 0)},
    {"full", {0}, .written = "f32[2,2]", .at = {.f = {1.5}}, .want = V(1.5, 1.5, 1.5, 1.5)},
    {"full", {0}, .written = "i32[]", .at = {.f = {-3}}, .want = V(-3)},
    {"add", {"f32[2,3]", "f32[3]"}, {V(1, 2, 3, 4, 5, 6), V(10, 20, 30)}, .want = V(11, 22, 33, 14, 25, 36)},
    {"add", {"f32[2,1]", "f32[1,3]"}, {V(1, 2), V(10, 20, 30)}, .want = V(11, 21, 31, 12, 22, 32)},
    {"add", {"f32[]", "f32[2]"}, {V(1), V(2, 3)}, .want = V(3, 4)},
    {"add", {"i32[]", "i32[]"}, {V(2), V(5)}, .want = V(7)},
    {"sub", {"f32[2,1,2]", "f32[3,1]"}, {V(1, 2, 3, 4), V(10, 20, 30)},
     .want = V(-9, -8, -19, -18, -29, -28, -7, -6, -17, -16, -27, -26)},
    {"mul", {"f32[2,2]", "f32[]"}, {V(1, 2, 3, 4), V(-2)}, .want = V(-2, -4, -6, -8)},
    {"div", {"f32[2]", "f32[2]"}, {V(1, 3), V(4, -2)}, .want = V(0.25, -1.5)},
    {"div", {"f32[2]", "f32[]"}, {V(1, 0), V(0)}, .want = V(INFINITY, NAN)},
    {"div", {"i32[4]", "i32[1]"}, {V(7, -7, 6, 1), V(2)}, .want = V(3, -3, 3, 0)},
    {"div", {"i32[2]", "i32[2]"}, {V(7, 1), V(2, 0)}, .error = "i32 division by zero (divisor element 1)"},
    {"bce_logits", {"f32[3]", "f32[3]"}, {V(0, 2, -3), V(1, 0, 0.5)},
     .want = V(0.6931471805599453, 2.1269280110429727, 1.548587351573742)},
    {"bce_logits", {"f32[2]", "f32[]"}, {V(1000, -1000), V(1)}, .want = V(0, 1000)},
    {"scale", {"f32[2]"}, {V(1, -2)}, .at = {.f = {0.5}}, .want = V(0.5, -1)},
    {"neg", {"f32[2]"}, {V(1, -2)}, .want = V(-1, 2)},
    {"square", {"f32[2]"}, {V(3, -2)}, .want = V(9, 4)},
    {"exp", {"f32[4]"}, {V(-1, 0, 1, 2)}, .want = V(0.36787944117144233, 1.0, 2.718281828459045, 7.38905609893065)},
    {"log", {"f32[4]"}, {V(1, 2.718281828459045, 0, -1)}, .want = V(0, 1, -INFINITY, NAN)},
    {"relu", {"f32[4]"}, {V(-1, 0, 2, NAN)}, .want = V(0, 0, 2, NAN)},
    {"gelu", {"f32[4]"}, {V(-1, 0, 1, 2)}, .want = V(-0.15865525393145702, 0.0, 0.841344746068543, 1.9544997361036416)},
    {"sigmoid", {"f32[4]"}, {V(-40, -1, 0, 3)}, .want = V(4.248354255291589e-18, 0.2689414213699951, 0.5, 0.9525741268224334)},
    {"dropout", {"f32[3]"}, {V(1, 2, 3)}, .at = {.f = {0.5}, .i = {7}}, .want = V(1, 2, 3)}, /* eval: identity */
    {"reshape", {"f32[2,3]"}, {V(1, 2, 3, 4, 5, 6)}, .at = {.l = {3, 2}, .nl = 2}, .want = V(1, 2, 3, 4, 5, 6)},
    {"transpose", {"f32[2,3]"}, {V(1, 2, 3, 4, 5, 6)}, .at = {.l = {1, 0}, .nl = 2}, .want = V(1, 4, 2, 5, 3, 6)},
    {"transpose", {"f32[2,2,3]"}, {V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)}, .at = {.l = {2, 0, 1}, .nl = 3},
     .want = V(0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11)},
    {"transpose", {"i32[]"}, {V(4)}, .at = {.nl = 0}, .want = V(4)},
    {"slice", {"f32[2,4]"}, {V(0, 1, 2, 3, 4, 5, 6, 7)}, .at = {.i = {1, 1, 2}}, .want = V(1, 2, 5, 6)},
    {"slice", {"i32[2,4]"}, {V(0, 1, 2, 3, 4, 5, 6, 7)}, .at = {.i = {0, 1, 1}}, .want = V(4, 5, 6, 7)},
    {"concat", {"f32[2,2]", "f32[2,1]"}, {V(0, 1, 2, 3), V(8, 9)}, .at = {.i = {1}}, .want = V(0, 1, 8, 2, 3, 9)},
    {"concat", {"i32[1,2]", "i32[2,2]"}, {V(0, 1), V(2, 3, 4, 5)}, .at = {.i = {0}}, .want = V(0, 1, 2, 3, 4, 5)},
    {"reduce_sum", {"f32[2,3]"}, {V(1, 2, 3, 4, 5, 6)}, .at = {.l = {1}, .nl = 1}, .want = V(6, 15)},
    {"reduce_sum", {"f32[2,3]"}, {V(1, 2, 3, 4, 5, 6)}, .at = {.l = {0}, .nl = 1, .i = {1}}, .want = V(5, 7, 9)},
    {"reduce_sum", {"f32[2,3]"}, {V(1, 2, 3, 4, 5, 6)}, .at = {.l = {1, 0}, .nl = 2}, .want = V(21)},
    {"reduce_sum", {"f32[2,3,2]"}, {V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)}, .at = {.l = {0, 2}, .nl = 2},
     .want = V(14, 22, 30)},
    {"reduce_mean", {"f32[2,3]"}, {V(1, 2, 3, 4, 5, 6)}, .at = {.l = {0}, .nl = 1}, .want = V(2.5, 3.5, 4.5)},
    {"softmax", {"f32[2,3]"}, {V(0, 0, 0, 1, 2, 3)},
     .want = V(1.0 / 3, 1.0 / 3, 1.0 / 3, 0.09003057317038045, 0.2447284710547976, 0.6652409557748218)},
    {"softmax", {"f32[2]"}, {V(1000, 0)}, .want = V(1, 0)},
    {"layernorm", {"f32[2,4]", "f32[4]", "f32[4]"}, {V(1, 2, 3, 4, -1, 0, 0, 5), V(1, 2, 1, 1), V(0, 0, 0, 1)},
     .at = {.f = {1e-5}},
     .want = V(-1.341635419968927, -0.8944236133126182, 0.4472118066563089, 2.341635419968927, -0.8528020901481668,
               -0.8528020901481667, -0.42640104507408333, 2.7056041802963335)},
    {"layernorm", {"f32[2,4]", "f32[4]"}, {V(1, 2, 3, 4, -1, 0, 0, 5), V(1, 2, 1, 1)}, .at = {.f = {1e-5}},
     .want = V(-1.341635419968927, -0.8944236133126182, 0.4472118066563089, 1.3416354199689269, -0.8528020901481668,
               -0.8528020901481667, -0.42640104507408333, 1.7056041802963335)},
    {"matmul", {"f32[2,3]", "f32[3,2]"}, {V(1, 2, 3, 4, 5, 6), V(7, 8, 9, 10, 11, 12)}, .want = V(58, 64, 139, 154)},
    {"matmul", {"f32[3,2]", "f32[3,2]"}, {V(1, 4, 2, 5, 3, 6), V(7, 8, 9, 10, 11, 12)}, .at = {.i = {1, 0}},
     .want = V(58, 64, 139, 154)},
    {"matmul", {"f32[2,3]", "f32[2,3]"}, {V(1, 2, 3, 4, 5, 6), V(7, 9, 11, 8, 10, 12)}, .at = {.i = {0, 1}},
     .want = V(58, 64, 139, 154)},
    {"matmul", {"f32[3,2]", "f32[2,3]"}, {V(1, 4, 2, 5, 3, 6), V(7, 9, 11, 8, 10, 12)}, .at = {.i = {1, 1}},
     .want = V(58, 64, 139, 154)},
    {"matmul", {"f32[2,1,1,2]", "f32[3,2,1]"}, {V(1, 2, 3, 4), V(1, 1, 1, -1, 2, 0)}, .want = V(3, -1, 2, 7, -1, 6)},
    {"embed", {"f32[3,2]", "i32[2]"}, {V(0, 1, 10, 11, 20, 21), V(2, 0)}, .want = V(20, 21, 0, 1)},
    {"embed", {"f32[3,2]", "i32[]"}, {V(0, 1, 10, 11, 20, 21), V(1)}, .want = V(10, 11)},
    {"embed", {"f32[3,2]", "i32[2]"}, {V(0, 1, 10, 11, 20, 21), V(0, 3)},
     .error = "= embed: token id 3 at element 1 is outside [0, 3)"},
    {"embed", {"f32[3,2]", "i32[2]"}, {V(0, 1, 10, 11, 20, 21), V(-1, 0)}, .error = "token id -1 at element 0 is outside"},
    {"embed", {"f32[3,2]", "i32[1]"}, {V(0, 1, 10, 11, 20, 21), V(0.5)}, .error = "token id 0.5 at element 0 is not an integer"},
    /* Two keys with scores 0 and ln 3: probabilities 1/4, 3/4. Causal: row 0 sees only key 0. */
    {"attention", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8)},
     .at = {.i = {1}, .f = {1}}, .want = V(4, 7)},
    {"attention", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8)},
     .at = {.i = {0}, .f = {1}}, .want = V(7, 7)},
    {"attention", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(2, 2), V(0, LN3), V(4, 8)},
     .at = {.i = {0}, .f = {0.5}}, .want = V(7, 7)},
    /* The same scores' log-sum-exp: log(1 + 3) per row; causal, row 0 has only its score 0. */
    {"attention_lse", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8)},
     .at = {.i = {0}, .f = {1}}, .want = V(LN4, LN4)},
    {"attention_lse", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8)},
     .at = {.i = {1}, .f = {1}}, .want = V(0, LN4)},
    {"attention_lse", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(2, 2), V(0, LN3), V(4, 8)},
     .at = {.i = {0}, .f = {0.5}}, .want = V(LN4, LN4)},
    {"rope", {"f32[1,1,2,2]"}, {V(1, 2, 1, 0)}, .at = {.f = {1, 10000}},
     .want = V(1, 2, 0.5403023058681398, 0.8414709848078965)},
    {"rope", {"f32[1,1,2,2]", "i32[1,1,2]"}, {V(1, 2, 1, 0), V(2, 0)}, .at = {.f = {1, 10000}},
     .want = V(-2.234741690198506, 0.0770037537313969, 1.0, 0.0)},
    {"rope", {"f32[1,1,3,4]"}, {V(1, 2, 3, 4, 5, 6, 7, 8, -1, 0.5, 2, -3)}, .at = {.f = {1, 100}},
     .want = V(1.0, 2.0, 3.0, 4.0, -3.1887853643145765, 5.171357658493529, 7.9894710651164615, 8.559033822105174,
               -1.402448017104221, 1.0860412813058045, -1.7415910999199666, -2.8408650681261944)},
    {"rope", {"f32[1,1,3,4]"}, {V(1, 2, 3, 4, 5, 6, 7, 8, -1, 0.5, 2, -3)}, .at = {.f = {0.5, 100}},
     .want = V(1.0, 2.0, 3.0, 4.0, -2.3473143795066798, 7.449168759248321, 7.0, 8.0, -0.03850187686569845,
               -1.117370845099253, 2.0, -3.0)},
    {"rope", {"f32[1,1,2,2]", "i32[1,1,2]"}, {V(1, 2, 1, 0), V(0, -1)}, .at = {.f = {1, 10000}},
     .error = "position -1 at element 1 is negative"},
    {"group_mean", {"f32[1,4,1,2]"}, {V(1, 2, 3, 4, 5, 6, 7, 9)}, .at = {.i = {2}}, .want = V(2, 3, 6, 7.5)},
    {"repeat_heads", {"f32[1,2,1,2]"}, {V(1, 2, 3, 4)}, .at = {.i = {2}}, .want = V(1, 2, 1, 2, 3, 4, 3, 4)},
    {"cross_entropy", {"f32[2,3]", "i32[2]"}, {V(0, 0, 0, 1, 2, 3), V(1, 2)}, .want = V(0.7531091265562451)},
    {"cross_entropy", {"f32[3]", "i32[]"}, {V(1, 2, 3), V(0)}, .want = V(2.4076059644443806)},
    {"cross_entropy", {"f32[2,3]", "i32[2]"}, {V(0, 0, 0, 1, 2, 3), V(1, 3)}, .error = "target 3 at element 1 is outside [0, 3)"},
    {"topk", {"f32[2,5]"}, {V(0.1, 0.5, 0.3, 0.5, 0.2, 1, 4, 3, 2, 5)}, .at = {.i = {2, 0}}, .want = V(1, 3, 1, 4)},
    {"topk", {"f32[2,5]"}, {V(0.1, 0.5, 0.3, 0.5, 0.2, 1, 4, 3, 2, 5)}, .at = {.i = {2, 1}}, .want = V(0, 1, 0, 4)},
    {"topk", {"f32[5]"}, {V(3, 1, 3, 2, 3)}, .at = {.i = {2, 0}}, .want = V(0, 2)},            /* ties: lower index */
    {"topk", {"f32[5]"}, {V(9, 1, 3, 2, 3)}, .at = {.i = {3, 1}}, .want = V(0, 2, 4)},
    {"topk", {"f32[4]"}, {V(1, NAN, 3, 2)}, .at = {.i = {1, 0}}, .want = V(1)},               /* NaN ranks first */
    {"topk", {"f32[3]"}, {V(1, 2, 3)}, .at = {.i = {1, 1}}, .want = V(0)},
    {"take", {"f32[2,4]", "i32[2,2]"}, {V(0, 1, 2, 3, 4, 5, 6, 7), V(3, 0, 1, 1)}, .want = V(3, 0, 5, 5)},
    {"take", {"f32[2,4]", "i32[2,2]"}, {V(0, 1, 2, 3, 4, 5, 6, 7), V(3, 0, 4, 1)}, .error = "index 4 at element 2 is outside [0, 4)"},
    {"gather_rows", {"f32[1,3,2]", "i32[1,2,1]"}, {V(0, 1, 10, 11, 20, 21), V(2, 0)}, .want = V(20, 21, 0, 1)},
    {"gather_rows", {"f32[2,2,1]", "i32[2,1,2]"}, {V(1, 2, 3, 4), V(1, 1, 0, 1)}, .want = V(2, 2, 3, 4)},
    {"gather_rows", {"f32[1,3,2]", "i32[1,2,1]"}, {V(0, 1, 10, 11, 20, 21), V(2, -1)}, .error = "row index -1 at element 1"},
    {"scatter_rows", {"f32[1,2,1,2]", "i32[1,2,1]"}, {V(1, 2, 3, 4), V(1, 1)}, .at = {.i = {3}}, .want = V(0, 0, 4, 6, 0, 0)},
    {"scatter_rows", {"f32[2,1,1,1]", "i32[2,1,1]"}, {V(5, 7), V(0, 1)}, .at = {.i = {2}}, .want = V(5, 0, 0, 7)},
    {"scatter_rows", {"f32[1,2,1,2]", "i32[1,2,1]"}, {V(1, 2, 3, 4), V(1, 3)}, .at = {.i = {3}}, .error = "row index 3 at element 1 is outside [0, 3)"},
    {"onehot_argmax", {"f32[2,3]"}, {V(1, 3, 3, -1, -2, -3)}, .want = V(0, 1, 0, 1, 0, 0)},
    /* Expert 0 takes token 1 (0.9) then token 0 (0.5, tied with token 2: lower index first). */
    {"capacity_route", {"f32[1,4,2]"}, {V(0.5, 0, 0.9, 0, 0.5, 0, 0.1, 0)}, .at = {.l = {2, 2}, .nl = 2},
     .want = V(1, 0, 1, 0, 0, 1, 0, 1)},
    {"capacity_route", {"f32[1,4,2]"}, {V(0.5, 9, 0.9, 9, 0.5, 9, 0.1, 9)}, .at = {.l = {1, 3}, .nl = 2},
     .want = V(0, 1, 1, 0, 0, 1, 0, 1)},
    /* Expert 1 prefers token 0, but expert 0 took it first; expert 1 gets the best of the rest. */
    {"capacity_route", {"f32[1,3,2]"}, {V(1, 5, 0, 1, 0, 2)}, .at = {.l = {1, 5}, .nl = 2}, .want = V(1, 0, 0, 1, 0, 1)},
    {"output", {"f32[2]"}, {V(1, -1)}, .at = {.s = "y"}, .want = V(1, -1)},
    {"gelu_grad", {"f32[3]", "f32[3]"}, {V(0, 1, -2), V(1, 2, 3)}, .want = V(0.5, 2.166630941175373, -0.2556954032345907)},
    {"relu_grad", {"f32[3]", "f32[3]"}, {V(-1, 0, 2), V(5, 6, 7)}, .want = V(0, 0, 7)},
    {"softmax_grad", {"f32[3]", "f32[3]"}, {V(0.2, 0.3, 0.5), V(1, 2, 3)}, .want = V(-0.26, -0.09, 0.35)},
    {"normalize", {"f32[2,4]"}, {V(1, 2, 3, 4, -1, 0, 0, 5)}, .at = {.f = {1e-5}},
     .want = V(-1.341635419968927, -0.4472118066563091, 0.4472118066563089, 1.3416354199689269, -0.8528020901481668,
               -0.42640104507408333, -0.42640104507408333, 1.7056041802963335)},
    {"layernorm_grad", {"f32[2,4]", "f32[4]", "f32[2,4]"}, {V(1, 2, 3, 4, -1, 0, 0, 5), V(1, 2, 1, 1), V(1, 0, -1, 2, 0.5, 0.5, 0, 1)},
     .at = {.f = {1e-5}},
     .want = V(0.7155367440505952, -0.35777016085821356, -1.4310770657670224, 1.0733104825746407, 0.024227191147715182,
               0.19866405279376906, -0.22773699228031433, 0.004845748338830114)},
    /* The two-key example of attention above, non-causal, dout = 1: P = (1/4, 3/4) per row,
     * dP = (4, 8), rowsum 7, dS = (-3/4, 3/4); dq = dS . k, dk = dS^T . q, dv = P^T . dout. */
    {"attention_grad", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8), V(1, 1)},
     .at = {.i = {0, 0}, .f = {1}}, .want = V(0.75 * LN3, 0.75 * LN3)},
    {"attention_grad", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8), V(1, 1)},
     .at = {.i = {0, 1}, .f = {1}}, .want = V(-1.5, 1.5)},
    {"attention_grad", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8), V(1, 1)},
     .at = {.i = {0, 2}, .f = {1}}, .want = V(0.5, 1.5)},
    /* With the forward's output and statistics as operands 4 and 5: the same gradient (the oracle
     * recomputes them). */
    {"attention_grad", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2]"},
     {V(1, 1), V(0, LN3), V(4, 8), V(1, 1), V(7, 7), V(LN4, LN4)}, .at = {.i = {0, 1}, .f = {1}}, .want = V(-1.5, 1.5)},
    /* Causal: row 0 has P = (1) and dS = 0; row 1 as above. */
    {"attention_grad", {"f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]", "f32[1,1,2,1]"}, {V(1, 1), V(0, LN3), V(4, 8), V(1, 1)},
     .at = {.i = {1, 2}, .f = {1}}, .want = V(1.25, 0.75)},
    {"rope_grad", {"f32[1,1,3,4]"}, {V(1, 2, 3, 4, 5, 6, 7, 8, -1, 0.5, 2, -3)}, .at = {.f = {1, 100}},
     .want = V(1.0, 2.0, 3.0, 4.0, 8.591808422995975, 6.76869232484278, -0.4252387829625044, 7.361032822343237,
               2.234741690198506, -0.10597470346456284, 0.0770037537313969, -3.0395343989212558)},
    {"rope_grad", {"f32[1,1,1,2]", "i32[1,1,1]"}, {V(1, 2), V(-3)}, .at = {.f = {1, 100}}, .error = "position -3 at element 0 is negative"},
    {"embed_grad", {"i32[3]", "f32[3,2]"}, {V(1, 0, 1), V(1, 2, 3, 4, 5, 6)}, .at = {.i = {2}}, .want = V(3, 4, 6, 8)},
    {"embed_grad", {"i32[3]", "f32[3,2]"}, {V(1, 0, 2), V(1, 2, 3, 4, 5, 6)}, .at = {.i = {2}}, .error = "token id 2 at element 2 is outside [0, 2)"},
    {"cross_entropy_grad", {"f32[2,3]", "i32[2]", "f32[]"}, {V(0, 0, 0, 1, 2, 3), V(1, 2), V(2.5)},
     .want = V(0.41666666666666663, -0.8333333333333334, 0.41666666666666663, 0.11253821646297554, 0.30591058881849703,
               -0.41844880528147277)},
    {"cross_entropy_grad", {"f32[2,3]", "i32[2]", "f32[]"}, {V(0, 0, 0, 1, 2, 3), V(-1, 2), V(1)}, .error = "target -1 at element 0"},
    {"take_grad", {"i32[1,3]", "f32[1,3]"}, {V(2, 0, 2), V(1, 2, 3)}, .at = {.i = {4}}, .want = V(2, 0, 4, 0)},
    {"take_grad", {"i32[1,3]", "f32[1,3]"}, {V(2, 0, 4), V(1, 2, 3)}, .at = {.i = {4}}, .error = "index 4 at element 2 is outside [0, 4)"},
    {"pad", {"f32[2,2]"}, {V(1, 2, 3, 4)}, .at = {.i = {1, 1, 4}}, .want = V(0, 1, 2, 0, 0, 3, 4, 0)},
    {"pad", {"f32[1,2]"}, {V(1, 2)}, .at = {.i = {0, 2, 3}}, .want = V(0, 0, 0, 0, 1, 2)},
    {"broadcast", {"f32[3,1]"}, {V(1, 2, 3)}, .at = {.l = {2, 3, 2}, .nl = 3}, .want = V(1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3)},
    {"broadcast", {"i32[]"}, {V(5)}, .at = {.l = {2}, .nl = 1}, .want = V(5, 5)},
};

static void run_case(const kcase *c, int *covered) {
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = moac_graph_new(&a, "k");
    moac_node *n = t_op(g, c->op, c->types, &c->at, c->written);
    char err[512] = "";
    double *out = t_eval(n, c->in, NULL, err, sizeof err);
    if (c->error) {
        if (out) print_error("%s: accepted bad data\n", c->op);
        assert_null(out);
        if (!strstr(err, c->error)) print_error("%s: expected '%s' in '%s'\n", c->op, c->error, err);
        assert_non_null(strstr(err, c->error));
    } else {
        if (!out) print_error("%s: %s\n", c->op, err);
        assert_non_null(out);
        t_expect(c->op, out, c->want, moac_type_numel(&n->type), 1e-13);
    }
    covered[n->op] = 1;
    free(out);
    moac_arena_free(&a);
}

static void test_every_kernel(void **state) {
    (void)state;
    int covered[MOAC_OP_COUNT] = {0};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) run_case(&cases[k], covered);
    for (int op = 0; op < MOAC_OP_COUNT; op++) {
        if (!covered[op]) print_error("op %s has no kernel test case\n", moac_op_info_get(op)->name);
        assert_true(covered[op]);
    }
}

/* ---- A graph from IR text, end to end. ---- */

static const char tiny[] =
    "graph \"tiny\" {\n"
    "  %tokens = input() name=\"tokens\" : i32[2,3]\n"
    "  %targets = input() name=\"targets\" : i32[2,3]\n"
    "  %wte = param() name=\"wte\" fill=0.0 std=0.02 : f32[4,2]\n"
    "  %x = embed(%wte, %tokens) : f32[2,3,2]\n"
    "  %w = param() name=\"w\" fill=0.0 std=0.02 : f32[4,2]\n"
    "  %logits = matmul(%x, %w) ta=0 tb=1 : f32[2,3,4]\n"
    "  %d = dropout(%logits) p=0.5 stream=0 : f32[2,3,4]\n"
    "  %ce = cross_entropy(%d, %targets) : f32[]\n"
    "  %loss = output(%ce) name=\"loss\" : f32[]\n"
    "  %lg = output(%logits) name=\"logits\" : f32[2,3,4]\n"
    "}\n";

static moac_graph *read_ir(moac_arena *a, const char *text) {
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(a, moac_source_from_text(a, "t.ir", text), &d);
    if (!g) print_error("%s", moac_strbuf_cstr(&d.out));
    moac_diag_free(&d);
    assert_non_null(g);
    return g;
}

static void test_end_to_end(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = read_ir(&a, tiny);
    moac_interp *ip = moac_interp_new(g);
    assert_non_null(ip);
    double *tokens = moac_interp_buffer(ip, "tokens"), *targets = moac_interp_buffer(ip, "targets");
    double *wte = moac_interp_buffer(ip, "wte"), *w = moac_interp_buffer(ip, "w");
    assert_true(tokens && targets && wte && w);
    assert_null(moac_interp_buffer(ip, "loss")); /* outputs are results, not buffers */
    assert_null(moac_interp_buffer(ip, "nope"));
    for (int i = 0; i < 8; i++) assert_true(wte[i] == 0); /* zeroed at creation */
    memcpy(wte, V(1, 0, 0, 1, 1, 1, 0, 0), 8 * sizeof *wte);
    memcpy(w, V(1, 0, 0, 1, 0, 0, 0, 0), 8 * sizeof *w);
    memcpy(tokens, V(0, 1, 2, 3, 0, 1), 6 * sizeof *tokens);
    memcpy(targets, V(0, 1, 0, 0, 0, 1), 6 * sizeof *targets);
    /* Token rows (1,0), (0,1), (1,1), (0,0) give logits (1,0,0,0), (0,1,0,0), (1,1,0,0), 0. */
    double e = exp(1.0);
    double want = (4 * (log(e + 3) - 1) + log(2 * e + 2) - 1 + log(4.0)) / 6;
    char err[256];
    for (int run = 0; run < 2; run++) { /* eval mode (dropout is the identity), twice: same result */
        assert_int_equal(moac_interp_run(ip, &(moac_interp_opts){.seed = 1, .training = 0}, err, sizeof err), 0);
        const double *loss = moac_interp_result(ip, "loss"), *logits = moac_interp_result(ip, "logits");
        assert_true(loss && logits);
        assert_true(t_close(loss[0], want, 1e-14));
        t_expect("logits", logits + 8, V(1, 1, 0, 0), 4, 0);
        assert_null(moac_interp_result(ip, "tokens"));
    }
    /* Training: dropout zeroes about half of the logits, scales the rest by 2: a different loss,
     * the same one for the same (seed, step), another for another step. */
    moac_interp_opts tr = {.seed = 7, .step = 3, .training = 1};
    assert_int_equal(moac_interp_run(ip, &tr, err, sizeof err), 0);
    double l1 = moac_interp_result(ip, "loss")[0];
    assert_int_equal(moac_interp_run(ip, &tr, err, sizeof err), 0);
    assert_true(moac_interp_result(ip, "loss")[0] == l1 && l1 != want);
    tr.step = 4;
    assert_int_equal(moac_interp_run(ip, &tr, err, sizeof err), 0);
    assert_true(moac_interp_result(ip, "loss")[0] != l1);

    /* Bad data: an error naming the value and the problem, no results, nothing leaked; then a
     * good run works again. */
    tokens[4] = 4;
    assert_int_equal(moac_interp_run(ip, NULL, err, sizeof err), -1);
    assert_string_equal(err, "%x = embed: token id 4 at element 4 is outside [0, 4)");
    assert_null(moac_interp_result(ip, "loss"));
    assert_int_equal(moac_interp_get_stats(ip).live_buffers, 0);
    targets[5] = 9;
    tokens[4] = 0;
    assert_int_equal(moac_interp_run(ip, NULL, err, sizeof err), -1);
    assert_string_equal(err, "%ce = cross_entropy: target 9 at element 5 is outside [0, 4)");
    targets[5] = 1;
    assert_int_equal(moac_interp_run(ip, NULL, err, sizeof err), 0);
    assert_true(t_close(moac_interp_result(ip, "loss")[0], want, 1e-14));
    moac_interp_free(ip);
    moac_arena_free(&a);
}

/* ---- Liveness. ---- */

static void test_liveness(void **state) {
    (void)state;
    moac_arena a;
    moac_arena_init(&a);
    moac_graph *g = moac_graph_new(&a, "chain");
    moac_node *x = t_op(g, "input", (const char *[]){NULL}, &(t_attrs){.s = "x"}, "f32[1000]");
    moac_node *skip = NULL, *cur = x;
    char err[256];
    for (int i = 0; i < 300; i++) {
        cur = moac_graph_append(g, MOAC_OP_NEG, 1, &cur);
        assert_int_equal(moac_node_infer(cur, err, sizeof err), 0);
        if (i == 11) skip = cur; /* read again at the very end: must stay alive until then */
        moac_node *unused = moac_graph_append(g, MOAC_OP_EXP, 1, &cur); /* read by nothing */
        assert_int_equal(moac_node_infer(unused, err, sizeof err), 0);
    }
    moac_node *sum = moac_graph_append(g, MOAC_OP_ADD, 2, (moac_node *[]){cur, skip});
    assert_int_equal(moac_node_infer(sum, err, sizeof err), 0);
    moac_node *out = moac_graph_append(g, MOAC_OP_OUTPUT, 1, &sum);
    out->s = "y";
    assert_int_equal(moac_node_infer(out, err, sizeof err), 0);

    moac_interp *ip = moac_interp_new(g);
    double *xb = moac_interp_buffer(ip, "x");
    for (int i = 0; i < 1000; i++) xb[i] = i;
    for (int run = 0; run < 2; run++) {
        assert_int_equal(moac_interp_run(ip, NULL, err, sizeof err), 0);
        moac_interp_stats st = moac_interp_get_stats(ip);
        /* At most: the skip value, a node's operand and its result. */
        assert_true(st.peak_buffers <= 3);
        assert_true(st.peak_bytes <= 3 * 1000 * sizeof(double));
        assert_int_equal(st.live_buffers, 1); /* the output */
        const double *y = moac_interp_result(ip, "y");
        for (int i = 0; i < 1000; i++) assert_true(y[i] == 2.0 * i); /* 300 negations + 12 */
    }
    moac_interp_free(ip);
    moac_arena_free(&a);
}

/* ---- The --run-ir tool (for tests/ref/interp_ops.py). ---- */

static const moac_node *named_source(const moac_graph *g, const char *name) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if ((n->op == MOAC_OP_INPUT || n->op == MOAC_OP_PARAM) && strcmp(n->s, name) == 0) return n;
    }
    return NULL;
}

/* Inputs file: lines "name count v1 .. vcount". Prints "name count v1 .. vcount" per output. */
static int run_ir_tool(const char *ir_path, const char *inputs_path) {
    moac_arena a;
    moac_arena_init(&a);
    moac_diag d;
    moac_diag_init(&d);
    int rc = 1;
    moac_interp *ip = NULL;
    FILE *in = NULL;
    const moac_source *src = moac_source_load(&a, &d, ir_path, &moac_limits_ir);
    moac_graph *g = src ? moac_ir_read(&a, src, &d) : NULL;
    if (!g || moac_ir_verify(g, &d, "read")) {
        fputs(moac_strbuf_cstr(&d.out), stderr);
        goto done;
    }
    ip = moac_interp_new(g);
    if (!ip || !(in = fopen(inputs_path, "r"))) {
        fprintf(stderr, "cannot set up %s\n", inputs_path);
        goto done;
    }
    char name[256];
    long long count;
    while (fscanf(in, "%255s %lld", name, &count) == 2) {
        const moac_node *n = named_source(g, name);
        if (!n || count != moac_type_numel(&n->type)) {
            fprintf(stderr, "%s: no input or param of %lld elements\n", name, count);
            goto done;
        }
        double *b = moac_interp_buffer(ip, name);
        for (long long i = 0; i < count; i++)
            if (fscanf(in, "%lf", &b[i]) != 1) {
                fprintf(stderr, "%s: expected %lld values\n", name, count);
                goto done;
            }
    }
    char err[512];
    if (moac_interp_run(ip, NULL, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_OUTPUT) continue;
        int64_t numel = moac_type_numel(&n->type);
        const double *v = moac_interp_result(ip, n->s);
        printf("%s %lld", n->s, (long long)numel);
        for (int64_t j = 0; j < numel; j++) printf(" %.17g", v[j]);
        printf("\n");
    }
    rc = 0;
done:
    if (in) fclose(in);
    moac_interp_free(ip);
    moac_diag_free(&d);
    moac_arena_free(&a);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--run-ir") == 0) return run_ir_tool(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kernel),
        cmocka_unit_test(test_end_to_end),
        cmocka_unit_test(test_liveness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
