/* Routing kernels: onehot_argmax (hard MoAS's top-1 gate), take and its gradient (sparse MoAS's
 * and MoSA's scores at the selected positions). Semantics: backends/interp/kernels_routing.c.
 * take and take_grad render only with indices from a top-k over the same axis (valid and, per
 * row, distinct by construction); other indices keep the reference kernel, which reports
 * invalid ones as errors. topk and capacity_route stay on the reference kernel for now. */
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
