/* Embedding, rotary embedding, group_mean and the reductions (reduce_sum, reduce_mean) for the
 * CPU backend, with the chunked-row helpers of kernels_rows.h. Every sum here runs in an order
 * fixed by the shapes alone (never by the thread split), so results are the same run to run. */
#include <math.h>
#include <stdio.h>

#include "backends/cpu/kernels_rows.h"

static LLVMValueRef udivc(moac_cg *cg, LLVMValueRef a, int64_t c) {
    return c == 1 ? a : LLVMBuildUDiv(cg->b, a, moac_cg_i64(cg, c), "");
}
static LLVMValueRef uremc(moac_cg *cg, LLVMValueRef a, int64_t c) {
    return c == 1 ? moac_cg_i64(cg, 0) : LLVMBuildURem(cg->b, a, moac_cg_i64(cg, c), "");
}

/* An i32 index tensor element as i64, and whether it lies in [0, n). The lead's runtime validates
 * token ids before running (the reference kernel reports them as errors); here an invalid id must
 * only never be read or written through, so the callers clamp or skip it. */
static LLVMValueRef load_index(moac_cg *cg, LLVMValueRef base, LLVMValueRef i, int64_t n, LLVMValueRef *valid) {
    LLVMValueRef id = LLVMBuildSExt(cg->b, moac_cg_load(cg, cg->i32, base, i), cg->i64, "id");
    *valid = LLVMBuildICmp(cg->b, LLVMIntULT, id, moac_cg_i64(cg, n), "valid"); /* unsigned: also id >= 0 */
    return id;
}

/* ---- embed, embed_grad. ---- */

/* out row = table row c->off2, or zeros when the id was invalid (c->cond false). */
static void b_embed(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef v = moac_rows_load(c, c->vt, c->p[0], moac_cg_add(c->cg, c->off2, j));
    v = LLVMBuildSelect(c->cg->b, c->cond, v, LLVMConstNull(c->vt), "");
    moac_rows_store(c, v, c->out, moac_cg_add(c->cg, c->off, j));
}

/* Row i of out = row id_i of table, where id_i = ids[i] (+ (i / per_b) * rows when per_b > 0:
 * each batch row b has its own table rows [b * rows, (b + 1) * rows)); zeros for an invalid id. */
static void emit_row_gather(const moac_emit_ctx *e, const char *what, int64_t n, int64_t C, int64_t rows,
                            int64_t per_b, int table, int ids_slot) {
    moac_cg *cg = e->cg;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, what, n, 3, (int[]){e->out, table, ids_slot});
    c.k = &k;
    c.out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    LLVMValueRef ids = moac_cg_arg(cg, &k, 2);
    moac_loop r = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef id = load_index(cg, ids, r.iv, rows, &c.cond);
    id = LLVMBuildSelect(cg->b, c.cond, id, moac_cg_i64(cg, 0), "");
    if (per_b > 0) id = moac_cg_add(cg, moac_cg_mulc(cg, udivc(cg, r.iv, per_b), rows), id);
    c.off = moac_cg_mulc(cg, r.iv, C);
    c.off2 = moac_cg_mulc(cg, id, C);
    moac_rows_chunks(&c, C, b_embed);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 0, 8.0 * (double)(n * C));
}

int moac_emit_embed(const moac_emit_ctx *e) {
    const moac_type *tt = &e->node->args[0]->type;
    int64_t n = moac_type_numel(&e->node->args[1]->type);
    emit_row_gather(e, "embed", n, tt->dims[1], tt->dims[0], 0, e->in[0], e->in[1]);
    return 0;
}

/* Whether idx (an operand of gather_rows or scatter_rows) holds valid row numbers by
 * construction: top-k positions over an axis of exactly `rows`. Only then do the native kernels
 * run; other indices go to the reference kernel, which reports invalid ones as errors. */
static int topk_rows(const moac_node *idx, int64_t rows) {
    if (idx->op != MOAC_OP_TOPK) return 0;
    const moac_type *s = &idx->args[0]->type;
    return s->dims[s->rank - 1] == rows;
}

int moac_cpu_rows_by_topk_ok(const moac_node *n) {
    int64_t rows = n->op == MOAC_OP_GATHER_ROWS ? n->args[0]->type.dims[1] : n->i[0];
    return topk_rows(n->args[1], rows);
}

/* (x[B,T,C], idx[B,E,k]) -> [B,E,k,C]: the rows MoSA's sparse heads select. */
int moac_emit_gather_rows(const moac_emit_ctx *e) {
    const moac_type *x = &e->node->args[0]->type, *it = &e->node->args[1]->type;
    if (!moac_cpu_rows_by_topk_ok(e->node)) return -1;
    emit_row_gather(e, "gather_rows", moac_type_numel(it), x->dims[2], x->dims[1], it->dims[1] * it->dims[2],
                    e->in[0], e->in[1]);
    return 0;
}

/* out row c->off += dy row c->off2. */
static void b_accumulate(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef at = moac_cg_add(c->cg, c->off, j);
    LLVMValueRef d = moac_rows_load(c, c->vt, c->p[0], moac_cg_add(c->cg, c->off2, j));
    moac_rows_store(c, LLVMBuildFAdd(c->cg->b, moac_rows_load(c, c->vt, c->out, at), d, ""), c->out, at);
}

static void b_zero(moac_rowc *c, LLVMValueRef j) {
    moac_rows_store(c, LLVMConstNull(c->vt), c->out, moac_cg_add(c->cg, c->off, j));
}

static LLVMValueRef ld32(moac_cg *cg, LLVMValueRef base, LLVMValueRef i) {
    return LLVMBuildSExt(cg->b, moac_cg_load(cg, cg->i32, base, i), cg->i64, "");
}
static void st32(moac_cg *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef i) {
    moac_cg_store(cg, LLVMBuildTrunc(cg->b, v, cg->i32, ""), base, i);
}

/* Rows of dy summed per id (embed_grad, scatter_rows), deterministically and without atomics:
 * first the positions that name each result row are listed, then the sums (emit_row_scatter). */

/* One pass of the fine-item targets' listing (a GPU): item r scans the positions that may name
 * result row r — all of them, or its batch row's per_b — in increasing order; pass 0 counts them
 * into start[r + 1], pass 1 lists them from start[r] on. Thousands of threads each scanning
 * n ids (broadcast reads) instead of one thread sorting them all (0.45 ms at the paper's size,
 * and tens of ms at MoSA Tiny's 65,536 positions). */
static void list_pass(const moac_emit_ctx *e, const char *what, int pass, int64_t rows, int64_t n, int64_t per_b,
                      int64_t rows_b, int scratch, int ids_slot) {
    moac_cg *cg = e->cg;
    moac_rowc c;
    char name[48];
    snprintf(name, sizeof name, "%s_%s", what, pass ? "list" : "count");
    moac_kfn k = moac_rows_kernel(e, &c, name, rows, 2, (int[]){scratch, ids_slot});
    LLVMValueRef start = moac_cg_arg(cg, &k, 0), ids = moac_cg_arg(cg, &k, 1);
    LLVMValueRef list = moac_cg_gep(cg, cg->i32, start, moac_cg_i64(cg, 2 * rows + 1));
    LLVMValueRef count = moac_cg_var(cg, &k, cg->i64, moac_cg_i64(cg, 0));
    moac_loop r = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    moac_cg_set(cg, count, pass ? ld32(cg, start, r.iv) : moac_cg_i64(cg, 0));
    LLVMValueRef first = moac_cg_i64(cg, 0), last = moac_cg_i64(cg, n), row = r.iv;
    if (per_b > 0) { /* only batch row b = r / rows_b's positions can name r */
        LLVMValueRef b = udivc(cg, r.iv, rows_b);
        first = moac_cg_mulc(cg, b, per_b);
        last = moac_cg_addc(cg, first, per_b);
        row = uremc(cg, r.iv, rows_b);
    }
    moac_loop l = moac_cg_for(cg, &k, first, last, 1);
    LLVMValueRef valid, id = load_index(cg, ids, l.iv, per_b > 0 ? rows_b : rows, &valid);
    LLVMBasicBlockRef merge = moac_cg_if(cg, LLVMBuildAnd(cg->b, valid, LLVMBuildICmp(cg->b, LLVMIntEQ, id, row, ""), ""));
    LLVMValueRef at = moac_cg_get(cg, cg->i64, count);
    if (pass) st32(cg, l.iv, list, at);
    moac_cg_set(cg, count, moac_cg_addc(cg, at, 1));
    moac_cg_endif(cg, merge);
    moac_cg_end(cg, &l);
    if (!pass) st32(cg, moac_cg_get(cg, cg->i64, count), start, moac_cg_addc(cg, r.iv, 1));
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(rows * (per_b > 0 ? per_b : n)), 4.0 * (double)(rows * (per_b > 0 ? per_b : n)));
}

/* start[0] = 0 and the prefix sums of the counts: one thread, `rows` steps. */
static void list_starts(const moac_emit_ctx *e, const char *what, int64_t rows, int scratch) {
    moac_cg *cg = e->cg;
    moac_rowc c;
    char name[48];
    snprintf(name, sizeof name, "%s_starts", what);
    moac_kfn k = moac_rows_kernel(e, &c, name, 1, 1, (int[]){scratch});
    cg->kernels[k.index].serial = 1;
    LLVMValueRef start = moac_cg_arg(cg, &k, 0);
    st32(cg, moac_cg_i64(cg, 0), start, moac_cg_i64(cg, 0));
    moac_loop l = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, rows), 1);
    LLVMValueRef next = moac_cg_addc(cg, l.iv, 1);
    st32(cg, LLVMBuildAdd(cg->b, ld32(cg, start, next), ld32(cg, start, l.iv), ""), start, next);
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)rows, 8.0 * (double)rows);
}

/* Rows of src summed into out per id (`rows` result rows of C), in two kernels: see above. The
 * id of position i is ids[i] (+ (i / per_b) * rows_b when per_b > 0: rows_b result rows per
 * batch row). */
/* The CPU's listing: one serial kernel, a counting sort over all n positions. */
static void list_serial(const moac_emit_ctx *e, const char *what, int64_t rows, int64_t n, int64_t per_b,
                        int64_t rows_b, int scratch, int ids_slot) {
    moac_cg *cg = e->cg;
    LLVMValueRef zero = moac_cg_i64(cg, 0), one = moac_cg_i64(cg, 1);
    moac_rowc c;
    char sort_name[48];
    snprintf(sort_name, sizeof sort_name, "%s_sort", what);
    moac_kfn s = moac_rows_kernel(e, &c, sort_name, 1, 2, (int[]){scratch, ids_slot});
    cg->kernels[s.index].serial = 1;
    LLVMValueRef start = moac_cg_arg(cg, &s, 0), ids = moac_cg_arg(cg, &s, 1);
    LLVMValueRef cursor = moac_cg_gep(cg, cg->i32, start, moac_cg_i64(cg, rows + 1));
    LLVMValueRef list = moac_cg_gep(cg, cg->i32, start, moac_cg_i64(cg, 2 * rows + 1));
    moac_loop l = moac_cg_for(cg, &s, zero, moac_cg_i64(cg, rows + 1), 1); /* counts in start[id + 1] */
    st32(cg, zero, start, l.iv);
    moac_cg_end(cg, &l);
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0 counts; pass 1 (after the prefix sums) lists positions in increasing order */
        l = moac_cg_for(cg, &s, zero, moac_cg_i64(cg, n), 1);
        LLVMValueRef valid, id = load_index(cg, ids, l.iv, per_b > 0 ? rows_b : rows, &valid);
        if (per_b > 0) id = moac_cg_add(cg, moac_cg_mulc(cg, udivc(cg, l.iv, per_b), rows_b), id);
        LLVMBasicBlockRef merge = moac_cg_if(cg, valid);
        if (pass == 0) {
            LLVMValueRef at = moac_cg_addc(cg, id, 1);
            st32(cg, LLVMBuildAdd(cg->b, ld32(cg, start, at), one, ""), start, at);
        } else {
            LLVMValueRef slot = ld32(cg, cursor, id);
            st32(cg, l.iv, list, slot);
            st32(cg, LLVMBuildAdd(cg->b, slot, one, ""), cursor, id);
        }
        moac_cg_endif(cg, merge);
        moac_cg_end(cg, &l);
        if (pass == 1) break;
        l = moac_cg_for(cg, &s, zero, moac_cg_i64(cg, rows), 1); /* prefix sums; cursors at the starts */
        LLVMValueRef begin = ld32(cg, start, l.iv), next = moac_cg_addc(cg, l.iv, 1);
        st32(cg, LLVMBuildAdd(cg->b, ld32(cg, start, next), begin, ""), start, next);
        st32(cg, begin, cursor, l.iv);
        moac_cg_end(cg, &l);
    }
    moac_cg_kernel_end(cg, &s);
    moac_emit_cost(e, &s, 0, 16.0 * (double)(n + rows));
}

/* The CPU's sums: items are result rows, each zeroing its row and adding its src rows in list
 * order, whole contiguous rows. */
static void sum_rows(const moac_emit_ctx *e, const char *what, int64_t rows, int64_t C, int64_t n, int scratch,
                     int src_slot) {
    moac_cg *cg = e->cg;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, what, rows, 3, (int[]){e->out, scratch, src_slot});
    c.k = &k;
    c.out = moac_cg_arg(cg, &k, 0);
    LLVMValueRef start = moac_cg_arg(cg, &k, 1);
    LLVMValueRef list = moac_cg_gep(cg, cg->i32, start, moac_cg_i64(cg, 2 * rows + 1));
    c.p[0] = moac_cg_arg(cg, &k, 2);
    moac_loop r = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    c.off = moac_cg_mulc(cg, r.iv, C);
    moac_rows_chunks(&c, C, b_zero);
    moac_loop i = moac_cg_for(cg, &k, ld32(cg, start, r.iv), ld32(cg, start, moac_cg_addc(cg, r.iv, 1)), 1);
    c.off2 = moac_cg_mulc(cg, ld32(cg, list, i.iv), C);
    moac_rows_chunks(&c, C, b_accumulate);
    moac_cg_end(cg, &i);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(n * C), 4.0 * (double)(n * C + 2 * rows * C));
}

/* The fine-item targets' sums (a GPU): one result element per thread, in list order, so that
 * neighbouring threads read neighbouring columns. The same additions as sum_rows: same bits. */
static void sum_elements(const moac_emit_ctx *e, const char *what, int64_t rows, int64_t C, int64_t n, int scratch,
                         int src_slot) {
    moac_cg *cg = e->cg;
    moac_kfn k = moac_cg_kernel_begin(cg, what, rows * C, 3, (int[]){e->out, scratch, src_slot});
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), start = moac_cg_arg(cg, &k, 1), src = moac_cg_arg(cg, &k, 2);
    LLVMValueRef list = moac_cg_gep(cg, cg->i32, start, moac_cg_i64(cg, 2 * rows + 1));
    moac_loop r = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef row = udivc(cg, r.iv, C), col = uremc(cg, r.iv, C);
    LLVMValueRef acc = moac_cg_var(cg, &k, cg->f32, moac_cg_f32(cg, 0));
    moac_loop i = moac_cg_for(cg, &k, ld32(cg, start, row), ld32(cg, start, moac_cg_addc(cg, row, 1)), 1);
    LLVMValueRef d = moac_cg_load(cg, cg->f32, src, moac_cg_add(cg, moac_cg_mulc(cg, ld32(cg, list, i.iv), C), col));
    moac_cg_set(cg, acc, LLVMBuildFAdd(cg->b, moac_cg_get(cg, cg->f32, acc), d, ""));
    moac_cg_end(cg, &i);
    moac_cg_store(cg, moac_cg_get(cg, cg->f32, acc), out, r.iv);
    moac_cg_end(cg, &r);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(n * C), 4.0 * (double)(n * C + rows * C));
}

/* Rows of src summed into out per id (`rows` result rows of C): the positions listed per result
 * row (start[rows + 1] and list[n] in scratch, increasing order, invalid ids left out), then the
 * sums in that order — the reference's. The id of position i is ids[i] (+ (i / per_b) * rows_b
 * when per_b > 0: rows_b result rows per batch row). A CPU lists serially and sums rows; a
 * fine-item target (a GPU) lists with a thread per result row and sums an element per thread. */
static void emit_row_scatter(const moac_emit_ctx *e, const char *what, int64_t rows, int64_t C, int64_t n,
                             int64_t per_b, int64_t rows_b, int ids_slot, int src_slot) {
    int scratch = moac_cg_scratch(e->cg, (2 * rows + 1 + n) * (int64_t)sizeof(int32_t));
    if (!e->cg->target->fine_items) {
        list_serial(e, what, rows, n, per_b, rows_b, scratch, ids_slot);
        sum_rows(e, what, rows, C, n, scratch, src_slot);
        return;
    }
    list_pass(e, what, 0, rows, n, per_b, rows_b, scratch, ids_slot);
    list_starts(e, what, rows, scratch);
    list_pass(e, what, 1, rows, n, per_b, rows_b, scratch, ids_slot);
    sum_elements(e, what, rows, C, n, scratch, src_slot);
}

int moac_emit_embed_grad(const moac_emit_ctx *e) {
    int64_t rows = e->node->i[0], C = e->node->type.dims[1], n = moac_type_numel(&e->node->args[0]->type);
    emit_row_scatter(e, "embed_grad", rows, C, n, 0, 0, e->in[0], e->in[1]);
    return 0;
}

/* (y[B,E,k,C], idx[B,E,k]) -> [B,rows,C], rows summed per index in the reference's order: where
 * MoSA's sparse heads add their outputs back (and gather_rows' gradient). */
int moac_emit_scatter_rows(const moac_emit_ctx *e) {
    const moac_type *it = &e->node->args[1]->type;
    int64_t rows = e->node->i[0], B = e->node->type.dims[0], C = e->node->type.dims[2];
    if (!moac_cpu_rows_by_topk_ok(e->node)) return -1;
    emit_row_scatter(e, "scatter_rows", B * rows, C, moac_type_numel(it), it->dims[1] * it->dims[2], rows,
                     e->in[1], e->in[0]);
    return 0;
}

/* ---- rope, rope_grad. ---- */

static LLVMValueRef vconst(moac_cg *cg, LLVMValueRef like, double v) { return moac_cg_fconst(cg, like, v); }

/* Horner in z: c[0] z^(n-1) + ... + c[n-1]. */
static LLVMValueRef horner(moac_cg *cg, LLVMValueRef z, const double *cf, int n) {
    LLVMValueRef y = vconst(cg, z, cf[0]);
    for (int i = 1; i < n; i++) y = moac_cg_fma(cg, y, z, vconst(cg, z, cf[i]));
    return y;
}

/* Float sin and cos of a <W x double> angle. The reference's angles are double, and at position
 * 4095 a float angle would already be 2e-4 off, so the reduction th = q pi/2 + r (|r| <= pi/4) is
 * in double: Cody-Waite with fdlibm's two-part pi/2, exact for |q| < 2^20. r itself fits a float
 * to 6e-8; Taylor polynomials in float to 2e-9, and the quadrant q mod 4 swaps and negates. */
static void sincos(moac_rowc *c, LLVMValueRef th, LLVMValueRef *sn, LLVMValueRef *cs) {
    moac_cg *cg = c->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef t = LLVMBuildFMul(b, th, vconst(cg, th, 0.63661977236758134308), "");
    LLVMValueRef q = moac_cg_intrinsic(cg, "llvm.rint", LLVMTypeOf(th), 1, &t);
    LLVMValueRef rd = moac_cg_fma(cg, q, vconst(cg, th, -1.57079632673412561417e+00), th);
    rd = moac_cg_fma(cg, q, vconst(cg, th, -6.07710050650619224932e-11), rd);
    LLVMValueRef r = LLVMBuildFPTrunc(b, rd, c->vt, ""), z = LLVMBuildFMul(b, r, r, "");
    static const double ps[] = {1.0 / 362880.0, -1.0 / 5040.0, 1.0 / 120.0, -1.0 / 6.0};
    static const double pc[] = {-1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0, -0.5, 1.0};
    LLVMValueRef s = moac_cg_fma(cg, LLVMBuildFMul(b, r, z, ""), horner(cg, z, ps, 4), r);
    LLVMValueRef co = horner(cg, z, pc, 6);
    LLVMTypeRef it = LLVMVectorType(cg->i32, (unsigned)c->W);
    LLVMValueRef qi = LLVMBuildFPToSI(b, q, it, "");
    LLVMValueRef lanes[64];
    for (int i = 0; i < c->W; i++) lanes[i] = moac_cg_i32(cg, 1);
    LLVMValueRef v1 = LLVMConstVector(lanes, (unsigned)c->W);
    for (int i = 0; i < c->W; i++) lanes[i] = moac_cg_i32(cg, 2);
    LLVMValueRef v2 = LLVMConstVector(lanes, (unsigned)c->W), zero = LLVMConstNull(it);
    LLVMValueRef odd = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, qi, v1, ""), zero, "");
    LLVMValueRef sneg = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, qi, v2, ""), zero, "");
    LLVMValueRef cneg = LLVMBuildICmp(b, LLVMIntNE, LLVMBuildAnd(b, LLVMBuildAdd(b, qi, v1, ""), v2, ""), zero, "");
    LLVMValueRef s1 = LLVMBuildSelect(b, odd, co, s, ""), c1 = LLVMBuildSelect(b, odd, s, co, "");
    *sn = LLVMBuildSelect(b, sneg, LLVMBuildFNeg(b, s1, ""), s1, "sin");
    *cs = LLVMBuildSelect(b, cneg, LLVMBuildFNeg(b, c1, ""), c1, "cos");
}

/* cos and dir * sin of the angles pos * inv[j] for the chunk at j: c->s[0] is the position splat
 * (double), c->s[1] dir (float), c->p[2] the inverse frequencies. */
static void chunk_angles(moac_rowc *c, LLVMValueRef j, LLVMValueRef *cs, LLVMValueRef *sn) {
    LLVMValueRef th = LLVMBuildFMul(c->cg->b, c->s[0], moac_rows_load(c, c->dt, c->p[2], j), "theta");
    sincos(c, th, sn, cs);
    *sn = LLVMBuildFMul(c->cg->b, *sn, c->s[1], "");
}

/* Table row c->off: cos at [0, half), dir * sin at [half, 2 half). */
static void b_table(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef cs, sn, at = moac_cg_add(c->cg, c->off, j);
    chunk_angles(c, j, &cs, &sn);
    moac_rows_store(c, cs, c->out, at);
    moac_rows_store(c, sn, c->out, moac_cg_addc(c->cg, at, c->n2));
}

/* (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), x1 at c->off + j and x2 half further; cos and
 * sin from the table row at c->off2 (c->p[1]) or, with no table, computed here. */
static void b_rotate(moac_rowc *c, LLVMValueRef j) {
    moac_cg *cg = c->cg;
    LLVMBuilderRef b = cg->b;
    LLVMValueRef xa = moac_cg_add(cg, c->off, j), cs, sn;
    if (c->p[1]) {
        LLVMValueRef ta = moac_cg_add(cg, c->off2, j);
        cs = moac_rows_load(c, c->vt, c->p[1], ta);
        sn = moac_rows_load(c, c->vt, c->p[1], moac_cg_addc(cg, ta, c->n2));
    } else {
        chunk_angles(c, j, &cs, &sn);
    }
    LLVMValueRef x1 = moac_rows_load(c, c->vt, c->p[0], xa),
                 x2 = moac_rows_load(c, c->vt, c->p[0], moac_cg_addc(cg, xa, c->n2));
    moac_rows_store(c, LLVMBuildFSub(b, LLVMBuildFMul(b, x1, cs, ""), LLVMBuildFMul(b, x2, sn, ""), ""), c->out, xa);
    moac_rows_store(c, LLVMBuildFAdd(b, LLVMBuildFMul(b, x2, cs, ""), LLVMBuildFMul(b, x1, sn, ""), ""), c->out,
                    moac_cg_addc(cg, xa, c->n2));
}

static void b_copy(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef at = moac_cg_add(c->cg, c->off, j);
    moac_rows_store(c, moac_rows_load(c, c->vt, c->p[0], at), c->out, at);
}

/* The inverse frequencies base^(-2j/r), exactly the reference's pow(), as a constant array. */
static LLVMValueRef inv_freq(const moac_emit_ctx *e, int64_t half, int64_t r) {
    moac_cg *cg = e->cg;
    LLVMValueRef vals[4096];
    for (int64_t j = 0; j < half; j++)
        vals[j] = LLVMConstReal(cg->f64, pow(e->node->f[1], -2.0 * (double)j / (double)r));
    char name[64];
    snprintf(name, sizeof name, "%s_inv_freq", e->prefix);
    LLVMValueRef inv = LLVMAddGlobal(cg->mod, LLVMArrayType2(cg->f64, (uint64_t)half), name);
    LLVMSetInitializer(inv, LLVMConstArray2(cg->f64, vals, (uint64_t)half));
    LLVMSetGlobalConstant(inv, 1);
    LLVMSetLinkage(inv, LLVMPrivateLinkage);
    return inv;
}

/* Without pos every (b, h) shares the T positions: a [T, r] cos/sin table first, then the
 * rotation of each [D] row reads it. With pos the angles of each row are computed in the
 * rotation itself. The dims past r = round(fraction*D) are copied. */
int moac_cpu_rope_ok(const moac_node *n) {
    const moac_type *xt = &n->args[0]->type;
    if (xt->rank != 4) return 0;
    int64_t D = xt->dims[3], r = (int64_t)round(n->f[0] * (double)D);
    return r >= 2 && r % 2 == 0 && r <= D && r / 2 <= 4096;
}

static int emit_rope(const moac_emit_ctx *e, const char *what, double dir) {
    moac_cg *cg = e->cg;
    const moac_type *xt = &e->node->args[0]->type;
    if (!moac_cpu_rope_ok(e->node)) return -1;
    int64_t T = xt->dims[2], D = xt->dims[3], rows = moac_type_numel(xt) / D;
    int64_t r = (int64_t)round(e->node->f[0] * (double)D), half = r / 2;
    int has_pos = e->node->nargs == 2;
    LLVMValueRef inv = inv_freq(e, half, r);
    moac_rowc c;
    int tab = -1;
    if (!has_pos) {
        char name[64];
        snprintf(name, sizeof name, "%s_table", what);
        tab = moac_cg_scratch(cg, T * r * (int64_t)sizeof(float));
        moac_kfn k = moac_rows_kernel(e, &c, name, T, 1, &tab);
        c.k = &k;
        c.out = moac_cg_arg(cg, &k, 0);
        c.p[2] = inv;
        c.n2 = half;
        c.s[1] = moac_cg_fconst(cg, LLVMConstNull(c.vt), dir);
        moac_loop l = moac_cg_for(cg, &k, k.lo, k.hi, 1);
        c.s[0] = moac_cg_splat(cg, LLVMBuildSIToFP(cg->b, l.iv, cg->f64, "pos"), c.W);
        c.off = moac_cg_mulc(cg, l.iv, r);
        moac_rows_chunks(&c, half, b_table);
        moac_cg_end(cg, &l);
        moac_cg_kernel_end(cg, &k);
        moac_emit_cost(e, &k, 40.0 * (double)(T * half), 4.0 * (double)(T * r));
    }
    moac_kfn k = moac_rows_kernel(e, &c, what, rows, 3, (int[]){e->out, e->in[0], has_pos ? e->in[1] : tab});
    c.k = &k;
    c.out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    c.p[2] = inv;
    c.n2 = half;
    c.s[1] = moac_cg_fconst(cg, LLVMConstNull(c.vt), dir);
    moac_loop row = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    c.off = moac_cg_mulc(cg, row.iv, D);
    if (has_pos) {
        LLVMValueRef p = moac_cg_load(cg, cg->i32, moac_cg_arg(cg, &k, 2), row.iv);
        c.s[0] = moac_cg_splat(cg, LLVMBuildSIToFP(cg->b, p, cg->f64, "pos"), c.W);
    } else {
        c.p[1] = moac_cg_arg(cg, &k, 2);
        c.off2 = moac_cg_mulc(cg, uremc(cg, row.iv, T), r);
    }
    moac_rows_chunks(&c, half, b_rotate);
    if (D > r) {
        c.off = moac_cg_addc(cg, c.off, r);
        moac_rows_chunks(&c, D - r, b_copy);
    }
    moac_cg_end(cg, &row);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (has_pos ? 40.0 : 6.0) * (double)(rows * half), 4.0 * (double)(rows * (2 * D + r)));
    return 0;
}

int moac_emit_rope(const moac_emit_ctx *e) { return emit_rope(e, "rope", 1.0); }
int moac_emit_rope_grad(const moac_emit_ctx *e) { return emit_rope(e, "rope_grad", -1.0); }

/* ---- group_mean. ---- */

/* out row (c->off) = the sum of the `c->n2` heads' rows from c->off2, heads c->s[0] apart (an
 * i64 stride), in head order as the reference, then divided by the count. */
static void b_group(moac_rowc *c, LLVMValueRef j) {
    moac_cg *cg = c->cg;
    LLVMValueRef acc = moac_rows_acc(c, c->vt, 0.0);
    LLVMValueRef base = moac_cg_add(cg, c->off2, j);
    moac_loop h = moac_cg_for(cg, c->k, moac_cg_i64(cg, 0), moac_cg_i64(cg, c->n2), 1);
    moac_rows_acc_add(c, acc, moac_rows_load(c, c->vt, c->p[0], moac_cg_add(cg, base, moac_cg_mul(cg, h.iv, c->s[0]))));
    moac_cg_end(cg, &h);
    LLVMValueRef sum = moac_cg_get(cg, c->vt, acc);
    LLVMValueRef v = LLVMBuildFDiv(cg->b, sum, moac_cg_fconst(cg, sum, (double)c->n2), "");
    moac_rows_store(c, v, c->out, moac_cg_add(cg, c->off, j));
}

int moac_cpu_group_mean_ok(const moac_node *n) { return n->args[0]->type.rank == 4; }

int moac_emit_group_mean(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    const moac_type *xt = &e->node->args[0]->type;
    if (!moac_cpu_group_mean_ok(e->node)) return -1;
    int64_t size = e->node->i[0], T = xt->dims[2], D = xt->dims[3];
    int64_t rows = moac_type_numel(&e->node->type) / D;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, "group_mean", rows, 2, (int[]){e->out, e->in[0]});
    c.k = &k;
    c.out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    c.n2 = size;
    c.s[0] = moac_cg_i64(cg, T * D);
    moac_loop l = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    /* Result row (b*G + g)*T + t reads x rows ((b*G + g)*size + i)*T + t. */
    LLVMValueRef bg = udivc(cg, l.iv, T), t = uremc(cg, l.iv, T);
    c.off = moac_cg_mulc(cg, l.iv, D);
    c.off2 = moac_cg_add(cg, moac_cg_mulc(cg, bg, size * T * D), moac_cg_mulc(cg, t, D));
    moac_rows_chunks(&c, D, b_group);
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(rows * D * size), 4.0 * (double)(rows * D * (size + 1)));
    return 0;
}

/* ---- reduce_sum, reduce_mean. ---- */

/* x's shape without its size-1 dims, adjacent dims merged when both are reduced or both kept:
 * alternating groups, each contiguous in x with the given element stride. */
typedef struct rgroups {
    int m;
    int64_t size[MOAC_MAX_RANK], stride[MOAC_MAX_RANK];
    int red[MOAC_MAX_RANK];
} rgroups;

static void reduce_groups(const moac_node *n, rgroups *g) {
    const moac_type *x = &n->args[0]->type;
    int red[MOAC_MAX_RANK] = {0};
    for (int a = 0; a < n->nl; a++) red[n->l[a]] = 1;
    g->m = 0;
    for (int d = 0; d < x->rank; d++) {
        if (x->dims[d] == 1) continue;
        if (g->m && g->red[g->m - 1] == red[d]) {
            g->size[g->m - 1] *= x->dims[d];
        } else {
            g->size[g->m] = x->dims[d];
            g->red[g->m++] = red[d];
        }
    }
    if (!g->m) { /* every dim is 1: a copy */
        g->m = 1;
        g->size[0] = 1;
        g->red[0] = 0;
    }
    int64_t s = 1;
    for (int i = g->m - 1; i >= 0; i--) {
        g->stride[i] = s;
        s *= g->size[i];
    }
}

static void b_redsum(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef v = moac_rows_load(c, c->vt, c->p[0], moac_cg_add(c->cg, c->off, j));
    moac_rows_acc_add(c, c->acc[0], LLVMBuildFPExt(c->cg->b, v, c->dt, ""));
}

/* Nested loops over the reduced groups before the innermost, in x's order, then the innermost:
 * a reduced run (vector loop over it) or, kept, the item's column block at c->off2. */
static void reduce_loops(moac_rowc *c, const rgroups *g, int level, LLVMValueRef off) {
    while (level < g->m - 1 && !g->red[level]) level++;
    if (level < g->m - 1) {
        moac_loop l = moac_cg_for(c->cg, c->k, moac_cg_i64(c->cg, 0), moac_cg_i64(c->cg, g->size[level]), 1);
        reduce_loops(c, g, level + 1, moac_cg_add(c->cg, off, moac_cg_mulc(c->cg, l.iv, g->stride[level])));
        moac_cg_end(c->cg, &l);
        return;
    }
    c->off = off;
    if (g->red[g->m - 1])
        moac_rows_chunks(c, g->size[g->m - 1], b_redsum);
    else
        b_redsum(c, c->off2);
}

static void b_pzero(moac_rowc *c, LLVMValueRef j) {
    moac_rows_store(c, LLVMConstNull(c->dt), c->out, moac_cg_add(c->cg, c->off, j));
}

/* partial row (double) at c->off += x row at c->off2. */
static void b_paccum(moac_rowc *c, LLVMValueRef j) {
    LLVMValueRef at = moac_cg_add(c->cg, c->off, j);
    LLVMValueRef v =
        LLVMBuildFPExt(c->cg->b, moac_rows_load(c, c->vt, c->p[0], moac_cg_add(c->cg, c->off2, j)), c->dt, "");
    moac_rows_store(c, LLVMBuildFAdd(c->cg->b, moac_rows_load(c, c->dt, c->out, at), v, ""), c->out, at);
}

/* x as [K, R, C] summed over R, R large (the bias and LayerNorm-weight gradients: [B*T, C] to
 * [C]). Column blocks would read x with a stride of C floats, a cache line per row, which the
 * prefetchers do not follow; instead the R rows are cut in nblk blocks fixed by the shape alone:
 * each item sums its block's whole rows in order (contiguous reads) into a double partial row,
 * then the partials are summed in block order. The result does not depend on the threads. */
/* The first kernel on a GPU: items are (k, row block of 32, column block of W), neighbours on
 * neighbouring columns, each summing its block's 32 rows in order: thousands of threads where
 * the column items alone would be C / W (96 at the paper's width), each walking all R rows. */
static void reduce_blocks_gpu(const moac_emit_ctx *e, int part, int64_t K, int64_t R, int64_t C, int64_t nblk,
                              int64_t rb) {
    moac_cg *cg = e->cg;
    int W = cg->vec, mean = e->node->op == MOAC_OP_REDUCE_MEAN;
    int64_t nb = (C + W - 1) / W;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, mean ? "reduce_mean_blocks" : "reduce_sum_blocks", K * nblk * nb, 2,
                                  (int[]){part, e->in[0]});
    c.k = &k;
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), x = moac_cg_arg(cg, &k, 1);
    LLVMValueRef acc = moac_rows_acc(&c, c.dt, 0.0);
    moac_loop l = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    moac_cg_set(cg, acc, LLVMConstNull(c.dt));
    LLVMValueRef kb = udivc(cg, l.iv, nb), j0 = moac_cg_mulc(cg, uremc(cg, l.iv, nb), W);
    LLVMValueRef kk = udivc(cg, kb, nblk), blk = uremc(cg, kb, nblk);
    c.mask = C % W ? moac_rows_lane_mask(&c, j0, C) : NULL;
    LLVMValueRef r0 = moac_cg_mulc(cg, blk, rb), r1 = moac_cg_addc(cg, r0, rb);
    r1 = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, r1, moac_cg_i64(cg, R), ""), r1, moac_cg_i64(cg, R), "");
    moac_loop r = moac_cg_for(cg, &k, r0, r1, 1);
    LLVMValueRef at = moac_cg_add(cg, moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, kk, R), r.iv), C), j0);
    moac_rows_acc_add(&c, acc, LLVMBuildFPExt(cg->b, moac_rows_load(&c, c.vt, x, at), c.dt, ""));
    moac_cg_end(cg, &r);
    moac_rows_store(&c, moac_cg_get(cg, c.dt, acc), out, moac_cg_add(cg, moac_cg_mulc(cg, kb, C), j0));
    c.mask = NULL;
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(K * R * C), 4.0 * (double)(K * R * C));
}

/* The first kernel on a CPU: items are (k, row block), each summing whole rows (contiguous). */
static void reduce_blocks_cpu(const moac_emit_ctx *e, int part, int64_t K, int64_t R, int64_t C, int64_t nblk,
                              int64_t rb) {
    moac_cg *cg = e->cg;
    int mean = e->node->op == MOAC_OP_REDUCE_MEAN;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, mean ? "reduce_mean_blocks" : "reduce_sum_blocks", K * nblk, 2,
                                  (int[]){part, e->in[0]});
    c.k = &k;
    c.out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    moac_loop l = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef kk = udivc(cg, l.iv, nblk), blk = uremc(cg, l.iv, nblk);
    c.off = moac_cg_mulc(cg, l.iv, C);
    moac_rows_chunks(&c, C, b_pzero);
    LLVMValueRef r0 = moac_cg_mulc(cg, blk, rb), r1 = moac_cg_addc(cg, r0, rb);
    r1 = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, r1, moac_cg_i64(cg, R), ""), r1, moac_cg_i64(cg, R),
                         "");
    moac_loop r = moac_cg_for(cg, &k, r0, r1, 1);
    c.off2 = moac_cg_mulc(cg, moac_cg_add(cg, moac_cg_mulc(cg, kk, R), r.iv), C);
    moac_rows_chunks(&c, C, b_paccum);
    moac_cg_end(cg, &r);
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)(K * R * C), 4.0 * (double)(K * R * C));
}

static int reduce_blocks(const moac_emit_ctx *e, int64_t K, int64_t R, int64_t C, double count) {
    moac_cg *cg = e->cg;
    int mean = e->node->op == MOAC_OP_REDUCE_MEAN, W = cg->vec, gpu = cg->target->kind == MOAC_TARGET_NVPTX;
    int64_t nblk = gpu ? (R + 31) / 32 : R / 32 < 64 ? R / 32 : 64, rb = (R + nblk - 1) / nblk;
    int part = moac_cg_scratch(cg, K * nblk * C * (int64_t)sizeof(double));
    (gpu ? reduce_blocks_gpu : reduce_blocks_cpu)(e, part, K, R, C, nblk, rb);

    int64_t nb = (C + W - 1) / W;
    moac_rowc c;
    moac_kfn k2 = moac_rows_kernel(e, &c, mean ? "reduce_mean" : "reduce_sum", K * nb, 2, (int[]){e->out, part});
    c.k = &k2;
    LLVMValueRef out = moac_cg_arg(cg, &k2, 0), partial = moac_cg_arg(cg, &k2, 1);
    LLVMValueRef acc = moac_rows_acc(&c, c.dt, 0.0);
    moac_loop l = moac_cg_for(cg, &k2, k2.lo, k2.hi, 1);
    moac_cg_set(cg, acc, LLVMConstNull(c.dt));
    LLVMValueRef kk = udivc(cg, l.iv, nb);
    LLVMValueRef j0 = moac_cg_mulc(cg, uremc(cg, l.iv, nb), W);
    c.mask = C % W ? moac_rows_lane_mask(&c, j0, C) : NULL;
    LLVMValueRef base = moac_cg_add(cg, moac_cg_mulc(cg, kk, nblk * C), j0);
    moac_loop b = moac_cg_for(cg, &k2, moac_cg_i64(cg, 0), moac_cg_i64(cg, nblk), 1);
    moac_rows_acc_add(&c, acc, moac_rows_load(&c, c.dt, partial, moac_cg_add(cg, base, moac_cg_mulc(cg, b.iv, C))));
    moac_cg_end(cg, &b);
    LLVMValueRef v = moac_cg_get(cg, c.dt, acc);
    if (mean) v = LLVMBuildFDiv(cg->b, v, moac_cg_fconst(cg, v, count), "");
    moac_rows_store(&c, LLVMBuildFPTrunc(cg->b, v, c.vt, ""), out, moac_cg_add(cg, moac_cg_mulc(cg, kk, C), j0));
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &k2);
    moac_emit_cost(e, &k2, (double)(K * nblk * C), 8.0 * (double)(K * nblk * C));
    return 0;
}

/* Accumulated in double vectors: the bias and LayerNorm-weight gradients sum thousands of rows.
 * [K, R, C] with R large: reduce_blocks. Otherwise, innermost group kept: items are (kept outer
 * index, column block of W), each summing its block over the reduced indices in order (vector
 * over the columns); innermost reduced: items are the result elements, each a vector sum over
 * its reduced runs. */
int moac_emit_reduce(const moac_emit_ctx *e) {
    moac_cg *cg = e->cg;
    rgroups g;
    reduce_groups(e->node, &g);
    int64_t numel = moac_type_numel(&e->node->args[0]->type), outn = moac_type_numel(&e->node->type);
    double count = (double)(numel / outn);
    int mean = e->node->op == MOAC_OP_REDUCE_MEAN, inner_red = g.red[g.m - 1];
    int64_t inner = g.size[g.m - 1], W = cg->vec;
    if ((g.m == 2 || g.m == 3) && !inner_red && g.size[g.m - 2] >= 64) /* then group m-2 is reduced */
        return reduce_blocks(e, g.m == 3 ? g.size[0] : 1, g.size[g.m - 2], inner, count);
    int64_t nb = inner_red ? 1 : (inner + W - 1) / W;
    int64_t items = (inner_red ? outn : outn / inner) * nb;
    moac_rowc c;
    moac_kfn k = moac_rows_kernel(e, &c, mean ? "reduce_mean" : "reduce_sum", items, 2, (int[]){e->out, e->in[0]});
    c.k = &k;
    LLVMValueRef out = moac_cg_arg(cg, &k, 0);
    c.p[0] = moac_cg_arg(cg, &k, 1);
    c.acc[0] = moac_rows_acc(&c, c.dt, 0.0);
    moac_loop l = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    moac_cg_set(cg, c.acc[0], LLVMConstNull(c.dt));
    /* The kept outer groups' indices from the item (row-major over them), as an offset into x. */
    LLVMValueRef ob = udivc(cg, l.iv, nb), rem = ob, base = moac_cg_i64(cg, 0);
    for (int i = g.m - 2; i >= 0; i--) {
        if (g.red[i]) continue;
        base = moac_cg_add(cg, base, moac_cg_mulc(cg, uremc(cg, rem, g.size[i]), g.stride[i]));
        rem = udivc(cg, rem, g.size[i]);
    }
    LLVMValueRef j0 = moac_cg_mulc(cg, uremc(cg, l.iv, nb), W);
    c.off2 = j0;
    if (!inner_red && inner % W) c.mask = moac_rows_lane_mask(&c, j0, inner);
    reduce_loops(&c, &g, 0, base);
    LLVMValueRef acc = moac_cg_get(cg, c.dt, c.acc[0]);
    if (inner_red) {
        LLVMValueRef s = moac_cg_hsum(cg, acc);
        if (mean) s = LLVMBuildFDiv(cg->b, s, LLVMConstReal(cg->f64, count), "");
        moac_cg_store(cg, LLVMBuildFPTrunc(cg->b, s, cg->f32, ""), out, ob);
    } else {
        if (mean) acc = LLVMBuildFDiv(cg->b, acc, moac_cg_fconst(cg, acc, count), "");
        moac_rows_store(&c, LLVMBuildFPTrunc(cg->b, acc, c.vt, ""), out,
                        moac_cg_add(cg, moac_cg_mulc(cg, ob, inner), j0));
    }
    moac_cg_end(cg, &l);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, (double)numel, 4.0 * (double)(numel + outn));
    return 0;
}
