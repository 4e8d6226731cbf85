/* Routing kernels: onehot_argmax (hard MoAS's top-1 gate), capacity_route, topk (sparse MoAS's and MoSA's
 * selection), take and its gradient (the scores at the selected positions). Semantics:
 * backends/interp/kernels_routing.c. take and take_grad render only with indices from a top-k
 * over the same axis (valid and, per row, distinct by construction); other indices keep the
 * reference kernel, which reports invalid ones as errors. capacity_route (mixSGA's expert
 * choice) selects with the same radix select as topk. */
#include <stdio.h>

#include "backends/cpu/emit.h"

/* a ranks above b: a > b, or a NaN and b not (NaN above every number, as moac_greater). */
static LLVMValueRef greater(moac_cg *cg, LLVMValueRef a, LLVMValueRef b) {
    LLVMValueRef gt = LLVMBuildFCmp(cg->b, LLVMRealOGT, a, b, "");
    LLVMValueRef nan_a = LLVMBuildFCmp(cg->b, LLVMRealUNO, a, a, ""), num_b = LLVMBuildFCmp(cg->b, LLVMRealORD, b, b, "");
    return LLVMBuildOr(cg->b, gt, LLVMBuildAnd(cg->b, nan_a, num_b, ""), "");
}

static moac_kfn begin(const moac_emit_ctx *e, const char *what, int64_t items, int nslots, const int *slots) {
    char name[64];
    snprintf(name, sizeof name, "%s_%s", e->prefix, what);
    return moac_cg_kernel_begin(e->cg, name, items, nslots, slots);
}

/* Per row of E scores: 1 at the first best, 0 elsewhere. */
int moac_emit_onehot_argmax(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_type *x = &e->node->args[0]->type;
    int64_t E = x->dims[x->rank - 1], rows = moac_type_numel(x) / E;
    moac_kfn k = begin(e, "onehot_argmax", rows, 2, (int[]){e->out, e->in[0]});
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), s = moac_cg_arg(cg, &k, 1);
    LLVMValueRef best = moac_cg_var(cg, &k, cg->i64, moac_cg_i64(cg, 0));
    moac_loop r = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef row = moac_cg_mulc(cg, r.iv, E);
    moac_cg_set(cg, best, moac_cg_i64(cg, 0));
    moac_loop l = moac_cg_for(cg, &k, moac_cg_i64(cg, 1), moac_cg_i64(cg, E), 1);
    LLVMValueRef b = moac_cg_get(cg, cg->i64, best);
    LLVMValueRef better = greater(cg, moac_cg_load(cg, cg->f32, s, moac_cg_add(cg, row, l.iv)),
                                  moac_cg_load(cg, cg->f32, s, moac_cg_add(cg, row, b)));
    moac_cg_set(cg, best, LLVMBuildSelect(cg->b, better, l.iv, b, ""));
    moac_cg_end(cg, &l);
    LLVMValueRef chosen = moac_cg_get(cg, cg->i64, best);
    l = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, E), 1);
    LLVMValueRef one = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, l.iv, chosen, ""), moac_cg_f32(cg, 1),
                                       moac_cg_f32(cg, 0), "");
    moac_cg_store(cg, one, out, moac_cg_add(cg, row, l.iv));
    moac_cg_end(cg, &l);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(rows * E), 8.0 * (double)(rows * E));
    return 0;
}

/* Whether idx (take's operand 1, take_grad's operand 0) is a top-k over an axis of `size`. */
static int topk_over(const moac_node *idx, int64_t size) {
    if (idx->op != MOAC_OP_TOPK) return 0;
    const moac_type *s = &idx->args[0]->type;
    return s->dims[s->rank - 1] == size;
}

int moac_cpu_take_by_topk_ok(const moac_node *n) {
    if (n->op == MOAC_OP_TAKE) {
        const moac_type *x = &n->args[0]->type;
        return topk_over(n->args[1], x->dims[x->rank - 1]);
    }
    return topk_over(n->args[0], n->i[0]);
}

/* (x[..., T], idx[..., K]) -> out[i] = x[(i / K) T + idx[i]]: one item per output element. */
int moac_emit_take(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_type *x = &e->node->args[0]->type, *it = &e->node->args[1]->type;
    int64_t T = x->dims[x->rank - 1], K = it->dims[it->rank - 1], n = moac_type_numel(it);
    if (!moac_cpu_take_by_topk_ok(e->node)) return -1;
    moac_kfn k = begin(e, "take", n, 3, (int[]){e->out, e->in[0], e->in[1]});
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), src = moac_cg_arg(cg, &k, 1), idx = moac_cg_arg(cg, &k, 2);
    moac_loop l = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef t = LLVMBuildSExt(cg->b, moac_cg_load(cg, cg->i32, idx, l.iv), cg->i64, "");
    LLVMValueRef row = moac_cg_mulc(cg, LLVMBuildUDiv(cg->b, l.iv, moac_cg_i64(cg, K), ""), T);
    moac_cg_store(cg, moac_cg_load(cg, cg->f32, src, moac_cg_add(cg, row, t)), out, l.iv);
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 0, 12.0 * (double)n);
    return 0;
}

/* (idx[..., K], dy[..., K]) -> [..., size]: per row, zeros and then dy at its K positions (a
 * top-k's, distinct within the row, so no two additions meet and the reference's sums are these
 * stores). One item per row. */
int moac_emit_take_grad(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_type *it = &e->node->args[0]->type;
    int64_t size = e->node->i[0], K = it->dims[it->rank - 1], rows = moac_type_numel(it) / K;
    if (!moac_cpu_take_by_topk_ok(e->node)) return -1;
    moac_kfn k = begin(e, "take_grad", rows, 3, (int[]){e->out, e->in[0], e->in[1]});
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), idx = moac_cg_arg(cg, &k, 1), dy = moac_cg_arg(cg, &k, 2);
    moac_loop r = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef orow = moac_cg_mulc(cg, r.iv, size), irow = moac_cg_mulc(cg, r.iv, K);
    moac_loop z = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, size), 1);
    moac_cg_store(cg, moac_cg_f32(cg, 0), out, moac_cg_add(cg, orow, z.iv));
    moac_cg_end(cg, &z);
    moac_loop j = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, K), 1);
    LLVMValueRef at = moac_cg_add(cg, irow, j.iv);
    LLVMValueRef t = LLVMBuildSExt(cg->b, moac_cg_load(cg, cg->i32, idx, at), cg->i64, "");
    LLVMValueRef dst = moac_cg_add(cg, orow, t);
    /* 0 + dy, as the reference's += on a zeroed row (so -0.0 becomes +0.0 there too) */
    moac_cg_store(cg, LLVMBuildFAdd(cg->b, moac_cg_load(cg, cg->f32, out, dst), moac_cg_load(cg, cg->f32, dy, at), ""), out, dst);
    moac_cg_end(cg, &j);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(rows * K), 4.0 * (double)(rows * (size + 2 * K)));
    return 0;
}

/* ---- topk. ---- */

/* A score's rank as an unsigned key, larger ranking higher: the float's order (with -0 as +0,
 * since they tie) mapped onto unsigned integers, and every NaN above every number, all NaNs
 * equal (moac_greater: they tie, and the lower position wins). */
static LLVMValueRef rank_key(moac_cg *cg, LLVMValueRef f) {
    LLVMValueRef nan = LLVMBuildFCmp(cg->b, LLVMRealUNO, f, f, "");
    LLVMValueRef zero = LLVMBuildFCmp(cg->b, LLVMRealOEQ, f, moac_cg_f32(cg, 0), "");
    LLVMValueRef bits = LLVMBuildBitCast(cg->b, LLVMBuildSelect(cg->b, zero, moac_cg_f32(cg, 0), f, ""), cg->i32, "");
    LLVMValueRef neg = LLVMBuildICmp(cg->b, LLVMIntSLT, bits, moac_cg_i32(cg, 0), "");
    LLVMValueRef key = LLVMBuildSelect(cg->b, neg, LLVMBuildNot(cg->b, bits, ""),
                                       LLVMBuildOr(cg->b, bits, moac_cg_i32(cg, (int32_t)0x80000000u), ""), "");
    key = LLVMBuildSelect(cg->b, nan, moac_cg_i32(cg, -1), key, "");
    return LLVMBuildZExt(cg->b, key, cg->i64, "");
}

/* A radix select's state (allocas of the kernel): a 256-bin histogram; after select, prefix
 * holds the key of the last candidate taken and need how many candidates with that very key are
 * taken (ties go to the lowest positions). */
typedef struct selector {
    LLVMValueRef hist, prefix, need, cum, digit, found;
} selector;

static selector selector_new(moac_cg *cg, const moac_kfn *k) {
    selector q;
    q.hist = moac_cg_var(cg, k, LLVMArrayType2(cg->i32, 256), NULL);
    q.prefix = moac_cg_var(cg, k, cg->i64, NULL);
    q.need = moac_cg_var(cg, k, cg->i64, NULL);
    q.cum = moac_cg_var(cg, k, cg->i64, NULL);
    q.digit = moac_cg_var(cg, k, cg->i64, NULL);
    q.found = moac_cg_var(cg, k, cg->i1, NULL);
    return q;
}

/* Candidate t's key: the score at s[base + t * stride]. */
static LLVMValueRef cand_key(moac_cg *cg, LLVMValueRef s, LLVMValueRef base, int64_t stride, LLVMValueRef t) {
    return rank_key(cg, moac_cg_load(cg, cg->f32, s, moac_cg_add(cg, base, moac_cg_mulc(cg, t, stride))));
}

/* Whether candidate t is still free (taken NULL: every candidate is). */
static LLVMValueRef is_free(moac_cg *cg, LLVMValueRef taken, LLVMValueRef t) {
    if (!taken) return LLVMConstInt(cg->i1, 1, 0);
    return LLVMBuildICmp(cg->b, LLVMIntEQ, moac_cg_load(cg, cg->i8, taken, t), LLVMConstInt(cg->i8, 0, 0), "");
}

/* The want best of the free candidates t0 .. T-1 (want >= 1, at most their number): 4 passes
 * of 8 bits, each a histogram of the free candidates whose key matches the bits fixed so far,
 * scanned from the best bin to the one where the count reaches need. */
static void radix_select(moac_cg *cg, const moac_kfn *k, const selector *q, LLVMValueRef s, LLVMValueRef base,
                         int64_t stride, int64_t t0, int64_t T, int64_t want, LLVMValueRef taken) {
    LLVMValueRef c0 = moac_cg_i64(cg, 0), c255 = moac_cg_i64(cg, 255);
    moac_cg_set(cg, q->prefix, c0);
    moac_cg_set(cg, q->need, moac_cg_i64(cg, want));
    for (int sh = 24; sh >= 0; sh -= 8) {
        LLVMValueRef high = moac_cg_i64(cg, sh + 8);
        moac_loop z = moac_cg_for(cg, k, c0, moac_cg_i64(cg, 256), 1);
        moac_cg_store(cg, moac_cg_i32(cg, 0), q->hist, z.iv);
        moac_cg_end(cg, &z);
        moac_loop t = moac_cg_for(cg, k, moac_cg_i64(cg, t0), moac_cg_i64(cg, T), 1);
        LLVMValueRef key = cand_key(cg, s, base, stride, t.iv);
        LLVMValueRef match = LLVMBuildICmp(cg->b, LLVMIntEQ, LLVMBuildLShr(cg->b, key, high, ""),
                                           LLVMBuildLShr(cg->b, moac_cg_get(cg, cg->i64, q->prefix), high, ""), "");
        LLVMBasicBlockRef m = moac_cg_if(cg, LLVMBuildAnd(cg->b, match, is_free(cg, taken, t.iv), ""));
        LLVMValueRef bin = LLVMBuildAnd(cg->b, LLVMBuildLShr(cg->b, key, moac_cg_i64(cg, sh), ""), c255, "");
        moac_cg_store(cg, LLVMBuildAdd(cg->b, moac_cg_load(cg, cg->i32, q->hist, bin), moac_cg_i32(cg, 1), ""), q->hist, bin);
        moac_cg_endif(cg, m);
        moac_cg_end(cg, &t);
        moac_cg_set(cg, q->cum, c0);
        moac_cg_set(cg, q->found, LLVMConstInt(cg->i1, 0, 0));
        moac_cg_set(cg, q->digit, c0);
        moac_loop d = moac_cg_for(cg, k, c0, moac_cg_i64(cg, 256), 1);
        LLVMValueRef bin_d = LLVMBuildSub(cg->b, c255, d.iv, "");
        LLVMBasicBlockRef open = moac_cg_if(cg, LLVMBuildNot(cg->b, moac_cg_get(cg, cg->i1, q->found), ""));
        LLVMValueRef count = LLVMBuildZExt(cg->b, moac_cg_load(cg, cg->i32, q->hist, bin_d), cg->i64, "");
        LLVMValueRef sum = LLVMBuildAdd(cg->b, moac_cg_get(cg, cg->i64, q->cum), count, "");
        LLVMBasicBlockRef hit = moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntSGE, sum, moac_cg_get(cg, cg->i64, q->need), ""));
        moac_cg_set(cg, q->found, LLVMConstInt(cg->i1, 1, 0));
        moac_cg_set(cg, q->digit, bin_d);
        moac_cg_set(cg, q->need, LLVMBuildSub(cg->b, moac_cg_get(cg, cg->i64, q->need), moac_cg_get(cg, cg->i64, q->cum), ""));
        moac_cg_endif(cg, hit);
        moac_cg_set(cg, q->cum, sum);
        moac_cg_endif(cg, open);
        moac_cg_end(cg, &d);
        moac_cg_set(cg, q->prefix, LLVMBuildOr(cg->b, moac_cg_get(cg, cg->i64, q->prefix),
                                               LLVMBuildShl(cg->b, moac_cg_get(cg, cg->i64, q->digit), moac_cg_i64(cg, sh), ""), ""));
    }
}

/* In the pass over candidates after radix_select: whether the free candidate with key `key`
 * is taken (better than the last key, or one of its first `need` ties), given `ties` (a var:
 * ties seen so far, advanced here), `w` (a var: taken so far) and the most to take. */
static LLVMValueRef chosen(moac_cg *cg, const selector *q, LLVMValueRef key, LLVMValueRef free, LLVMValueRef ties,
                           LLVMValueRef w, int64_t most) {
    LLVMValueRef tau = moac_cg_get(cg, cg->i64, q->prefix), t = moac_cg_get(cg, cg->i64, ties);
    LLVMValueRef tie = LLVMBuildAnd(cg->b, free, LLVMBuildICmp(cg->b, LLVMIntEQ, key, tau, ""), "");
    LLVMValueRef take = LLVMBuildOr(
        cg->b, LLVMBuildAnd(cg->b, free, LLVMBuildICmp(cg->b, LLVMIntUGT, key, tau, ""), ""),
        LLVMBuildAnd(cg->b, tie, LLVMBuildICmp(cg->b, LLVMIntSLT, t, moac_cg_get(cg, cg->i64, q->need), ""), ""), "");
    moac_cg_set(cg, ties, LLVMBuildAdd(cg->b, t, LLVMBuildZExt(cg->b, tie, cg->i64, ""), ""));
    /* never more than `most`, whatever the scores */
    return LLVMBuildAnd(cg->b, take, LLVMBuildICmp(cg->b, LLVMIntSLT, moac_cg_get(cg, cg->i64, w), moac_cg_i64(cg, most), ""), "");
}

/* Per row of T scores, the K best positions in ascending order (with first, position 0 and the
 * K - 1 best of the rest), the reference's choice exactly: one item per row, a radix select, then
 * one pass writing the positions taken in order. */
int moac_emit_topk(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_type *x = &e->node->args[0]->type;
    int64_t T = x->dims[x->rank - 1], K = e->node->i[0], rows = moac_type_numel(x) / T;
    int first = (int)e->node->i[1];
    int64_t want = K - first; /* positions chosen by score */
    moac_kfn k = begin(e, "topk", rows, 2, (int[]){e->out, e->in[0]});
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), s = moac_cg_arg(cg, &k, 1);
    selector q = selector_new(cg, &k);
    LLVMValueRef w = moac_cg_var(cg, &k, cg->i64, NULL), ties = moac_cg_var(cg, &k, cg->i64, NULL);
    moac_loop r = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef row = moac_cg_mulc(cg, r.iv, T), orow = moac_cg_mulc(cg, r.iv, K);
    moac_cg_set(cg, w, moac_cg_i64(cg, 0));
    moac_cg_set(cg, ties, moac_cg_i64(cg, 0));
    if (first) {
        moac_cg_store(cg, moac_cg_i32(cg, 0), out, orow);
        moac_cg_set(cg, w, moac_cg_i64(cg, 1));
    }
    if (want > 0) {
        radix_select(cg, &k, &q, s, row, 1, first, T, want, NULL);
        moac_loop t = moac_cg_for(cg, &k, moac_cg_i64(cg, first), moac_cg_i64(cg, T), 1);
        LLVMValueRef take = chosen(cg, &q, cand_key(cg, s, row, 1, t.iv), LLVMConstInt(cg->i1, 1, 0), ties, w, K);
        LLVMBasicBlockRef m = moac_cg_if(cg, take);
        LLVMValueRef at = moac_cg_get(cg, cg->i64, w);
        moac_cg_store(cg, LLVMBuildTrunc(cg->b, t.iv, cg->i32, ""), out, moac_cg_add(cg, orow, at));
        moac_cg_set(cg, w, moac_cg_addc(cg, at, 1));
        moac_cg_endif(cg, m);
        moac_cg_end(cg, &t);
    }
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 5.0 * (double)(rows * T), 20.0 * (double)(rows * T));
    return 0;
}

/* ---- capacity_route. ---- */

/* Per batch row of scores[T, E]: experts e = 0..E-1 in order each take their caps[e] best tokens
 * by scores[:, e] among those not yet taken (fewer when fewer remain; the counts are known from
 * the shapes), a radix select each; a token left over goes to the last expert. One item per batch
 * row; `taken` is a T-byte stack array. */
int moac_emit_capacity_route(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_type *x = &e->node->args[0]->type;
    int64_t B = x->dims[0], T = x->dims[1], E = x->dims[2];
    if (e->node->nl != E) return -1;
    moac_kfn k = begin(e, "capacity_route", B, 2, (int[]){e->out, e->in[0]});
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), s = moac_cg_arg(cg, &k, 1);
    selector q = selector_new(cg, &k);
    LLVMValueRef taken = moac_cg_var(cg, &k, LLVMArrayType2(cg->i8, (uint64_t)T), NULL);
    LLVMValueRef w = moac_cg_var(cg, &k, cg->i64, NULL), ties = moac_cg_var(cg, &k, cg->i64, NULL);
    moac_loop b = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef base = moac_cg_mulc(cg, b.iv, T * E);
    moac_loop z = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, T * E), 1);
    moac_cg_store(cg, moac_cg_f32(cg, 0), out, moac_cg_add(cg, base, z.iv));
    moac_cg_end(cg, &z);
    z = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, T), 1);
    moac_cg_store(cg, LLVMConstInt(cg->i8, 0, 0), taken, z.iv);
    moac_cg_end(cg, &z);
    int64_t left = T;
    for (int64_t ex = 0; ex < E; ex++) {
        int64_t cap = e->node->l[ex] < left ? e->node->l[ex] : left;
        if (cap <= 0) continue;
        left -= cap;
        LLVMValueRef col = moac_cg_addc(cg, base, ex); /* scores[t, ex] at col + t * E */
        radix_select(cg, &k, &q, s, col, E, 0, T, cap, taken);
        moac_cg_set(cg, w, moac_cg_i64(cg, 0));
        moac_cg_set(cg, ties, moac_cg_i64(cg, 0));
        moac_loop t = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, T), 1);
        LLVMValueRef take = chosen(cg, &q, cand_key(cg, s, col, E, t.iv), is_free(cg, taken, t.iv), ties, w, cap);
        LLVMBasicBlockRef m = moac_cg_if(cg, take);
        moac_cg_store(cg, LLVMConstInt(cg->i8, 1, 0), taken, t.iv);
        moac_cg_store(cg, moac_cg_f32(cg, 1), out, moac_cg_add(cg, col, moac_cg_mulc(cg, t.iv, E)));
        moac_cg_set(cg, w, moac_cg_addc(cg, moac_cg_get(cg, cg->i64, w), 1));
        moac_cg_endif(cg, m);
        moac_cg_end(cg, &t);
    }
    if (left > 0) { /* cannot happen when sum(caps) >= T (the shape rule), kept as the reference */
        moac_loop t = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, T), 1);
        LLVMBasicBlockRef m = moac_cg_if(cg, is_free(cg, taken, t.iv));
        moac_cg_store(cg, moac_cg_f32(cg, 1), out, moac_cg_add(cg, base, moac_cg_addc(cg, moac_cg_mulc(cg, t.iv, E), E - 1)));
        moac_cg_endif(cg, m);
        moac_cg_end(cg, &t);
    }
    moac_cg_end(cg, &b);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 5.0 * (double)(B * T * E), 20.0 * (double)(B * T * E));
    return 0;
}
