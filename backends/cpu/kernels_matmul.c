/* matmul(a, b) ta tb: C[..., M, N] = op(A)[..., M, K] op(B)[..., K, N], batch dims broadcast
 * (semantics: backends/interp/kernels_linalg.c). The hot op, so it is a register-tiled GEMM in
 * the GotoBLAS/BLIS style, generated for the static shape (bench/matmul_gflops.c measures it):
 *
 *  1. pack kernel, tb=1 only (items = b matrices x panels): op(B) into NR-wide panels [K][NR],
 *     zero past N. With tb=0 the rows of b are already what the micro-kernel reads.
 *  2. compute kernel (items = batch x N group x chunk of M blocks): for each K block of KC, for
 *     each M block of MC rows in the chunk (packed from A when ta=1), for each MR-row strip, for
 *     each panel of the group, one micro-kernel call.
 *
 * The micro-kernel keeps an MR x NR tile of C in MR * NR/V vector registers (V = f32 lanes: with
 * AVX-512, 14 x 32 = 28 zmm accumulators) and per k does NR/V vector loads of B and MR
 * broadcasts of A, each feeding NR/V FMAs. The first K block stores C, later ones add to it, so
 * C needs no zeroing. Tiles past M % MR and N % NR are micro-kernel variants with fewer rows and
 * masked loads/stores. Small matmuls (a few rows or columns) take the same path. */
#include <stdio.h>
#include <string.h>

#include "backends/cpu/emit.h"
#include "backends/interp/kernels.h"

enum { MM_MAX_VARIANTS = 4, PFB = 16 };

typedef struct mm {
    moac_cg *cg;
    const moac_emit_ctx *e;
    int ta, tb;
    int64_t M, N, K;
    int64_t batches;                      /* result matrices */
    int nbd;                              /* result batch dims (0 once folded into M) */
    int64_t bdims[MOAC_MAX_RANK];
    int64_t sa[MOAC_MAX_RANK], sb[MOAC_MAX_RANK]; /* a's / b's matrix strides over those dims */
    int64_t nbb;                          /* b matrices stored (each packed once) */
    int packa;                            /* A packed per item (else read in place) */
    int packb;                            /* B packed into panels (else read in place, tb=0) */
    int V, NR, MR, KC, MC, GP;            /* lanes, tile, K block, M block rows, panels per group */
    int64_t CR;                           /* rows per M chunk (a multiple of MR) */
    int64_t NP, nchunks, ngroups, items;
    int64_t ldb;                          /* floats between B(k, j) and B(k + 1, j) */
    LLVMTypeRef vt;
    LLVMValueRef uk[MM_MAX_VARIANTS];     /* micro-kernels: [m edge][n edge] */
    LLVMTypeRef uk_t;
} mm;

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* ---- shapes and blocking ---------------------------------------------------------------- */

static int64_t batch_numel(const moac_type *t) {
    int64_t n = 1;
    for (int d = 0; d < t->rank - 2; d++) n *= t->dims[d];
    return n;
}

static int plan(mm *p, const moac_emit_ctx *e) {
    const moac_node *n = e->node;
    const moac_type *at = &n->args[0]->type, *bt = &n->args[1]->type, *ot = &n->type;
    p->ta = (int)n->i[0];
    p->tb = (int)n->i[1];
    p->M = ot->dims[ot->rank - 2];
    p->N = ot->dims[ot->rank - 1];
    p->K = at->dims[at->rank - 1 - p->ta];
    if (p->M <= 0 || p->N <= 0 || p->K <= 0) return -1;
    p->nbd = ot->rank - 2;
    p->batches = 1;
    for (int d = 0; d < p->nbd; d++) p->batches *= (p->bdims[d] = ot->dims[d]);
    moac_type ab = *at, bb = *bt;
    ab.rank -= 2;
    bb.rank -= 2;
    moac_broadcast_strides(&ab, p->nbd, p->sa);
    moac_broadcast_strides(&bb, p->nbd, p->sb);
    p->nbb = batch_numel(bt);
    /* x[B,T,K] @ W: one B shared by every batch and A's batches contiguous, so the batch folds
     * into M (one M = B*T product: full tiles, and the packed B reused across all rows). */
    if (!p->ta && p->nbb == 1 && batch_numel(at) == p->batches) {
        p->M *= p->batches;
        p->batches = 1;
        p->nbd = 0;
    }

    /* Only ta=1 packs A: A(i.., k) is then a short contiguous run per k at a large stride, bad
     * for the prefetchers and the L1 sets. ta=0 rows stream well in place. B is packed for tb=1
     * (a transpose); with tb=0 its rows are read in place (as fast as packed, with no copy). */
    p->packa = p->ta;
    p->packb = p->tb;
    int vec = p->cg->vec;
    p->V = vec >= 16 ? 16 : vec >= 8 ? 8 : 4;
    p->NR = 2 * p->V;
    /* Registers: 32 with AVX-512: 14 x 2 accumulators + 2 B vectors + the broadcast (14 measured
     * a few % faster than 12); 16 with AVX2 and SSE: 6 x 2 + 2 + 1. */
    p->MR = p->V >= 16 ? 14 : 6;
    if (p->M < p->MR) p->MR = (int)p->M;
    /* K blocks of at most 384 (equal sizes): the A strip (14 x 384 floats, 21 KiB) fits L1 next
     * to the B stream; KC 256 and 512 measured the same. */
    p->KC = (int)cdiv(p->K, cdiv(p->K, 384));
    p->NP = cdiv(p->N, p->NR);
    p->ldb = p->packb ? p->NR : p->N;
    /* An N group's K block of B (KC x GP panels) should stay in L2 (1 MiB of the 2), M blocks
     * are 8 strips (the packed A block, 168 KiB, on the stack). */
    p->GP = (int)cdiv(p->NP, cdiv(p->NP, max64(1, (1 << 20) / ((int64_t)p->KC * p->NR * 4))));
    p->MC = p->MR * 8;
    /* Work split: items are (batch, N group, chunk of M rows). The runtime gives each thread
     * an equal run of items, so their count should be a multiple of the thread count, and no
     * larger than that needs: splitting M re-reads B once per chunk, splitting N re-reads (and
     * re-packs) A once per group (measured: one item per thread is fastest). N is split when it
     * is at least twice M, else M; then N further when M is a strip or two. */
    int64_t t = p->cg->target->threads > 0 ? p->cg->target->threads : 1, strips = cdiv(p->M, p->MR);
    int64_t ng = cdiv(p->NP, p->GP);
    if (p->N >= 2 * p->M)
        for (int64_t g = ng; g <= p->NP; g++)
            if (p->batches * cdiv(p->NP, cdiv(p->NP, g)) % t == 0) {
                ng = g;
                break;
            }
    p->GP = (int)cdiv(p->NP, ng);
    for (;;) {
        p->ngroups = cdiv(p->NP, p->GP);
        int64_t base = p->batches * p->ngroups;
        /* The fewest chunks that make the item count a multiple of t (or as many as strips). */
        p->CR = p->M;
        for (int64_t nch = 1; nch <= strips; nch++) {
            p->CR = cdiv(strips, nch) * p->MR;
            if (base * cdiv(p->M, p->CR) % t == 0) break;
        }
        p->nchunks = cdiv(p->M, p->CR);
        p->items = base * p->nchunks;
        if (p->items >= t || p->GP == 1) break;
        p->GP = (int)cdiv(p->GP, 2);
    }
    if (p->MC > p->CR) p->MC = (int)p->CR;
    return 0;
}

/* ---- IR helpers ------------------------------------------------------------------------- */

static LLVMValueRef ptr_at(moac_cg *cg, LLVMValueRef base, LLVMValueRef idx) {
    return LLVMBuildInBoundsGEP2(cg->b, cg->f32, base, &idx, 1, "");
}

static LLVMValueRef lane_mask(moac_cg *cg, int lanes, int valid) {
    LLVMValueRef m[16];
    for (int i = 0; i < lanes; i++) m[i] = LLVMConstInt(cg->i1, i < valid, 0);
    return LLVMConstVector(m, (unsigned)lanes);
}

static LLVMValueRef masked(mm *p, const char *name, LLVMValueRef *args, int nargs) {
    moac_cg *cg = p->cg;
    unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
    LLVMTypeRef over[2] = {p->vt, cg->ptr};
    LLVMValueRef fn = LLVMGetIntrinsicDeclaration(cg->mod, id, over, 2);
    return LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, over, 2), fn, args, (unsigned)nargs, "");
}

/* A vector of the first `valid` lanes at ptr (zeros beyond). */
static LLVMValueRef vload(mm *p, LLVMValueRef ptr, int valid) {
    if (valid >= p->V) {
        LLVMValueRef v = LLVMBuildLoad2(p->cg->b, p->vt, ptr, "");
        LLVMSetAlignment(v, 4);
        return v;
    }
    LLVMValueRef args[4] = {ptr, moac_cg_i32(p->cg, 4), lane_mask(p->cg, p->V, valid), LLVMConstNull(p->vt)};
    return masked(p, "llvm.masked.load", args, 4);
}

static void vstore(mm *p, LLVMValueRef v, LLVMValueRef ptr, int valid) {
    if (valid >= p->V) {
        LLVMSetAlignment(LLVMBuildStore(p->cg->b, v, ptr), 4);
        return;
    }
    LLVMValueRef args[4] = {v, ptr, moac_cg_i32(p->cg, 4), lane_mask(p->cg, p->V, valid)};
    masked(p, "llvm.masked.store", args, 4);
}

/* Into L1, for reading. */
static void prefetch(moac_cg *cg, LLVMValueRef ptr) {
    LLVMValueRef args[4] = {ptr, moac_cg_i32(cg, 0), moac_cg_i32(cg, 3), moac_cg_i32(cg, 1)};
    moac_cg_intrinsic(cg, "llvm.prefetch", cg->ptr, 4, args);
}

static LLVMValueRef splat_i64(mm *p, LLVMValueRef x) { return moac_cg_splat(p->cg, x, p->V); }

static LLVMValueRef icmp(moac_cg *cg, LLVMIntPredicate op, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildICmp(cg->b, op, a, b, "");
}

static LLVMValueRef imin(moac_cg *cg, LLVMValueRef a, LLVMValueRef b) {
    return LLVMBuildSelect(cg->b, icmp(cg, LLVMIntSLT, a, b), a, b, "");
}

/* ---- micro-kernel ----------------------------------------------------------------------- */

/* void uk(ptr c, ptr a, ptr b, i64 kc, i1 first): the mr x nc tile at c (row stride N) +=
 * (or = when first) sum over kc of A(i, k) B(k, j), with A(i, k) at a[i * ars + k * aks] and
 * B(k, j) at b[k * ldb + j] (zero past N in packed panels, masked off when read in place). */
static LLVMValueRef emit_uk(mm *p, int mr, int nc) {
    moac_cg *cg = p->cg;
    LLVMBuilderRef b = cg->b;
    int64_t ars = p->packa || p->ta ? 1 : p->K, aks = p->packa ? p->MR : p->ta ? p->M : 1;
    char name[96];
    snprintf(name, sizeof name, "%s_uk%dx%d", p->e->prefix, mr, nc);
    LLVMValueRef fn = LLVMAddFunction(cg->mod, name, p->uk_t);
    LLVMSetLinkage(fn, LLVMInternalLinkage);
    unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
    for (unsigned i = 1; i <= 3; i++) LLVMAddAttributeAtIndex(fn, i, LLVMCreateEnumAttribute(cg->ctx, noalias, 0));
    LLVMValueRef c = LLVMGetParam(fn, 0), a = LLVMGetParam(fn, 1), bp = LLVMGetParam(fn, 2);
    LLVMValueRef kc = LLVMGetParam(fn, 3), first = LLVMGetParam(fn, 4);
    LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
    LLVMBasicBlockRef zero = LLVMAppendBasicBlockInContext(cg->ctx, fn, "zero");
    LLVMBasicBlockRef load = LLVMAppendBasicBlockInContext(cg->ctx, fn, "load");
    LLVMBasicBlockRef loop = LLVMAppendBasicBlockInContext(cg->ctx, fn, "k");
    LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(cg->ctx, fn, "store");
    int nv = (int)cdiv(nc, p->V), nacc = mr * nv;
    LLVMValueRef init[64], acc[64], next[64];

    LLVMPositionBuilderAtEnd(b, entry);
    LLVMBuildCondBr(b, first, zero, load);
    LLVMPositionBuilderAtEnd(b, zero);
    LLVMBuildBr(b, loop);
    LLVMPositionBuilderAtEnd(b, load);
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            init[i * nv + v] = vload(p, ptr_at(cg, c, moac_cg_i64(cg, i * p->N + v * p->V)), nc - v * p->V);
    LLVMBuildBr(b, loop);

    /* k loop (kc >= 1): accumulators are phis, so they live in registers. */
    LLVMPositionBuilderAtEnd(b, loop);
    LLVMValueRef k = LLVMBuildPhi(b, cg->i64, "k");
    for (int t = 0; t < nacc; t++) acc[t] = LLVMBuildPhi(b, p->vt, "acc");
    LLVMValueRef bv[4];
    for (int v = 0; v < nv; v++) {
        /* Packed panels are zero-padded; B read in place must not be read past N. */
        LLVMValueRef idx = moac_cg_add(cg, moac_cg_mulc(cg, k, p->ldb), moac_cg_i64(cg, v * p->V));
        bv[v] = vload(p, ptr_at(cg, bp, idx), p->packb ? p->V : nc - v * p->V);
    }
    /* B streams from L2 (or, read in place, from rows N floats apart): software prefetch PFB
     * k steps ahead, one per cache line of the row, measured 5-20% faster. */
    for (int l = 0; l < cdiv(nc, 16); l++)
        prefetch(cg, ptr_at(cg, bp, moac_cg_addc(cg, moac_cg_mulc(cg, k, p->ldb), PFB * p->ldb + 16 * l)));
    for (int i = 0; i < mr; i++) {
        LLVMValueRef idx = moac_cg_add(cg, moac_cg_mulc(cg, k, aks), moac_cg_i64(cg, i * ars));
        LLVMValueRef s = LLVMBuildLoad2(b, cg->f32, ptr_at(cg, a, idx), "a");
        LLVMSetAlignment(s, 4);
        LLVMValueRef sv = moac_cg_splat(cg, s, p->V);
        for (int v = 0; v < nv; v++) next[i * nv + v] = moac_cg_fma(cg, sv, bv[v], acc[i * nv + v]);
    }
    LLVMValueRef k1 = moac_cg_addc(cg, k, 1);
    LLVMBasicBlockRef body_end = LLVMGetInsertBlock(b);
    LLVMBuildCondBr(b, icmp(cg, LLVMIntSLT, k1, kc), loop, exit);
    LLVMValueRef zk = moac_cg_i64(cg, 0);
    LLVMBasicBlockRef from[3] = {zero, load, body_end};
    LLVMValueRef kin[3] = {zk, zk, k1};
    LLVMAddIncoming(k, kin, from, 3);
    for (int t = 0; t < nacc; t++) {
        LLVMValueRef in[3] = {LLVMConstNull(p->vt), init[t], next[t]};
        LLVMAddIncoming(acc[t], in, from, 3);
    }

    LLVMPositionBuilderAtEnd(b, exit);
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < nv; v++)
            vstore(p, next[i * nv + v], ptr_at(cg, c, moac_cg_i64(cg, i * p->N + v * p->V)), nc - v * p->V);
    LLVMBuildRetVoid(b);
    return fn;
}

/* ---- pack B ----------------------------------------------------------------------------- */

/* op(B) into panels, for tb=1 (b stored [N, K]): panel pp of b matrix bb at
 * pk + (bb * NP + pp) * K * NR, laid out [K][NR], zero past N. Items are panels; column j of a
 * panel is row n0 + j of b, read contiguously. (With tb=0 the micro-kernel reads b's rows in
 * place: measured as fast as packing, and it saves the copy, which matters when M is small.) */
static void emit_pack(mm *p, int pslot) {
    moac_cg *cg = p->cg;
    const moac_emit_ctx *e = p->e;
    char name[64];
    snprintf(name, sizeof name, "%s_packb", e->prefix);
    moac_kfn k = moac_cg_kernel_begin(cg, name, p->nbb * p->NP, 2, (int[]){pslot, e->in[1]});
    LLVMValueRef pk = moac_cg_arg(cg, &k, 0), src = moac_cg_arg(cg, &k, 1);
    moac_loop it = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    LLVMValueRef np = moac_cg_i64(cg, p->NP);
    LLVMValueRef bb = LLVMBuildUDiv(cg->b, it.iv, np, ""), pp = LLVMBuildURem(cg->b, it.iv, np, "");
    LLVMValueRef s = ptr_at(cg, src, moac_cg_mulc(cg, bb, p->K * p->N));
    LLVMValueRef d = ptr_at(cg, pk, moac_cg_mulc(cg, it.iv, p->K * p->NR));
    /* Per k, one gather of V rows' k-th elements per vector of the panel (rows past N masked
     * off, reading as 0): measured 3x faster than scalar copies with strided stores. */
    LLVMValueRef n0 = moac_cg_mulc(cg, pp, p->NR), lanes[16], rowoff[4], mask[4];
    for (int v = 0; v < p->NR / p->V; v++) {
        for (int l = 0; l < p->V; l++) lanes[l] = moac_cg_i64(cg, v * p->V + l);
        LLVMValueRef n = LLVMBuildAdd(cg->b, splat_i64(p, n0), LLVMConstVector(lanes, (unsigned)p->V), "");
        mask[v] = LLVMBuildICmp(cg->b, LLVMIntSLT, n, splat_i64(p, moac_cg_i64(cg, p->N)), "");
        rowoff[v] = LLVMBuildMul(cg->b, n, splat_i64(p, moac_cg_i64(cg, p->K)), "");
    }
    moac_loop kk = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, p->K), 1);
    for (int v = 0; v < p->NR / p->V; v++) {
        LLVMValueRef idx = LLVMBuildAdd(cg->b, rowoff[v], splat_i64(p, kk.iv), "");
        LLVMValueRef ptrs = LLVMBuildInBoundsGEP2(cg->b, cg->f32, s, &idx, 1, "");
        LLVMValueRef args[4] = {ptrs, moac_cg_i32(cg, 4), mask[v], LLVMConstNull(p->vt)};
        unsigned id = LLVMLookupIntrinsicID("llvm.masked.gather", 18);
        LLVMTypeRef over[2] = {p->vt, LLVMTypeOf(ptrs)};
        LLVMValueRef x = LLVMBuildCall2(cg->b, LLVMIntrinsicGetType(cg->ctx, id, over, 2),
                                        LLVMGetIntrinsicDeclaration(cg->mod, id, over, 2), args, 4, "");
        vstore(p, x, ptr_at(cg, d, moac_cg_addc(cg, moac_cg_mulc(cg, kk.iv, p->NR), v * p->V)), p->V);
    }
    moac_cg_end(cg, &kk);
    moac_cg_end(cg, &it);
    moac_cg_kernel_end(cg, &k);
    moac_emit_cost(e, &k, 0, 8.0 * (double)(p->nbb * p->NP * p->K * p->NR));
}

/* ---- compute ---------------------------------------------------------------------------- */

/* Matrix offsets (in matrices) of a and b for result batch bt: the odometer of the interpreter,
 * as divisions by the (constant) dims. */
static void batch_offsets(mm *p, LLVMValueRef bt, LLVMValueRef *oa, LLVMValueRef *ob) {
    moac_cg *cg = p->cg;
    *oa = *ob = moac_cg_i64(cg, 0);
    LLVMValueRef r = bt;
    for (int d = p->nbd - 1; d >= 0; d--) {
        LLVMValueRef dim = moac_cg_i64(cg, p->bdims[d]);
        LLVMValueRef idx = LLVMBuildURem(cg->b, r, dim, "");
        r = LLVMBuildUDiv(cg->b, r, dim, "");
        *oa = moac_cg_add(cg, *oa, moac_cg_mulc(cg, idx, p->sa[d]));
        *ob = moac_cg_add(cg, *ob, moac_cg_mulc(cg, idx, p->sb[d]));
    }
}

/* What one item's strips share. */
typedef struct tile {
    LLVMValueRef cbase, abase, bbase;     /* this batch's C, A, packed B */
    LLVMValueRef m0, m1, p0, pfull, has_medge, has_nedge;
    LLVMValueRef k0, kc, first;           /* the K block */
    LLVMValueRef apack;                   /* the packed M block of A (NULL: A read in place) */
} tile;

/* Copies A's M block [m0, m1) (+ the edge strip) for the K block into t->apack, strip s as
 * [kc][MR] at s * MR * KC. ta=1 only: A is stored [K, M], so each k is one contiguous run of the
 * block's rows, read a row of the stored matrix at a time; rows are M floats apart, too far for
 * the hardware prefetcher, hence the software prefetch PFA rows ahead. ta=0 reads A in place. */
static void emit_pack_a(mm *p, const moac_kfn *k, const tile *t) {
    moac_cg *cg = p->cg;
    enum { PFA = 8 };
    int mre = (int)(p->M % p->MR);
    LLVMValueRef src = ptr_at(cg, t->abase, moac_cg_add(cg, moac_cg_mulc(cg, t->k0, p->M), t->m0));
    moac_loop kk = moac_cg_for(cg, k, moac_cg_i64(cg, 0), t->kc, 1);
    LLVMValueRef row = ptr_at(cg, src, moac_cg_mulc(cg, kk.iv, p->M));
    for (int l = 0; l < cdiv(p->MC, 16); l++) prefetch(cg, ptr_at(cg, row, moac_cg_i64(cg, PFA * p->M + 16 * l)));
    LLVMValueRef dk = moac_cg_mulc(cg, kk.iv, p->MR);
    for (int edge = 0; edge <= (mre != 0); edge++) {
        int mr = edge ? mre : p->MR;
        LLVMBasicBlockRef merge = edge ? moac_cg_if(cg, t->has_medge) : NULL;
        moac_loop i = {0};
        LLVMValueRef r = moac_cg_i64(cg, p->M - mre);
        if (!edge) {
            i = moac_cg_for(cg, k, t->m0, t->m1, p->MR);
            r = i.iv;
        }
        r = LLVMBuildSub(cg->b, r, t->m0, ""); /* row within the block */
        LLVMValueRef dst = ptr_at(cg, t->apack, moac_cg_add(cg, moac_cg_mulc(cg, r, p->KC), dk));
        for (int c = 0; c < mr; c += p->V) {
            LLVMValueRef x = vload(p, ptr_at(cg, row, moac_cg_addc(cg, r, c)), mr - c);
            vstore(p, x, ptr_at(cg, dst, moac_cg_i64(cg, c)), mr - c);
        }
        if (!edge) moac_cg_end(cg, &i);
        if (merge) moac_cg_endif(cg, merge);
    }
    moac_cg_end(cg, &kk);
}

/* The micro-kernel on the strip of rows at i (the M edge's when medge) and panel j (the N
 * edge's when nedge). */
static void call_uk(mm *p, const tile *t, int medge, int nedge, LLVMValueRef i, LLVMValueRef j) {
    moac_cg *cg = p->cg;
    LLVMValueRef a;
    if (t->apack)
        a = ptr_at(cg, t->apack, moac_cg_mulc(cg, LLVMBuildSub(cg->b, i, t->m0, ""), p->KC));
    else
        a = ptr_at(cg, t->abase, p->ta ? moac_cg_add(cg, moac_cg_mulc(cg, t->k0, p->M), i)
                                       : moac_cg_add(cg, moac_cg_mulc(cg, i, p->K), t->k0));
    /* Packed B: panel j's rows from k0; in place: row k0, from column j * NR. */
    LLVMValueRef boff = p->packb ? moac_cg_add(cg, moac_cg_mulc(cg, j, p->K * p->NR), moac_cg_mulc(cg, t->k0, p->NR))
                                 : moac_cg_add(cg, moac_cg_mulc(cg, j, p->NR), moac_cg_mulc(cg, t->k0, p->N));
    LLVMValueRef args[5] = {
        ptr_at(cg, t->cbase, moac_cg_add(cg, moac_cg_mulc(cg, i, p->N), moac_cg_mulc(cg, j, p->NR))), a,
        ptr_at(cg, t->bbase, boff), t->kc, t->first};
    LLVMBuildCall2(cg->b, p->uk_t, p->uk[medge * 2 + nedge], args, 5, "");
}

/* Every (strip, panel) of the M block for one K block, strips outer: the A strip (MR x KC)
 * stays in L1 while the group's panels stream past it from L2. The M edge strip and the N edge
 * panel are separate calls, made only by the block / group that holds them. */
static void emit_sweep(mm *p, const moac_kfn *k, const tile *t) {
    moac_cg *cg = p->cg;
    for (int me = 0; me <= (p->M % p->MR != 0); me++) {
        LLVMBasicBlockRef mmerge = me ? moac_cg_if(cg, t->has_medge) : NULL;
        moac_loop i = {0};
        if (!me) i = moac_cg_for(cg, k, t->m0, t->m1, p->MR);
        LLVMValueRef row = me ? moac_cg_i64(cg, p->M - p->M % p->MR) : i.iv;
        for (int ne = 0; ne <= (p->N % p->NR != 0); ne++) {
            LLVMBasicBlockRef nmerge = ne ? moac_cg_if(cg, t->has_nedge) : NULL;
            moac_loop j = {0};
            if (!ne) j = moac_cg_for(cg, k, t->p0, t->pfull, 1);
            call_uk(p, t, me, ne, row, ne ? moac_cg_i64(cg, p->NP - 1) : j.iv);
            if (ne)
                moac_cg_endif(cg, nmerge);
            else
                moac_cg_end(cg, &j);
        }
        if (me)
            moac_cg_endif(cg, mmerge);
        else
            moac_cg_end(cg, &i);
    }
}

static void emit_compute(mm *p, int pslot) {
    moac_cg *cg = p->cg;
    const moac_emit_ctx *e = p->e;
    char name[64];
    snprintf(name, sizeof name, "%s_gemm", e->prefix);
    moac_kfn k = moac_cg_kernel_begin(cg, name, p->items, 3, (int[]){e->out, e->in[0], pslot});
    LLVMValueRef out = moac_cg_arg(cg, &k, 0), a = moac_cg_arg(cg, &k, 1), pk = moac_cg_arg(cg, &k, 2);
    tile t = {0};
    if (p->packa) {
        /* The packed M block lives on this thread's stack (MC * KC floats, at most 144 KiB): it is
         * private to the item and stays in L2 while the group's panels stream past it. */
        LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
        LLVMPositionBuilderAtEnd(cg->b, k.entry);
        t.apack = LLVMBuildAlloca(cg->b, LLVMArrayType2(cg->f32, (uint64_t)p->MC * (uint64_t)p->KC), "apack");
        LLVMSetAlignment(t.apack, 64);
        LLVMPositionBuilderAtEnd(cg->b, here);
    }
    moac_loop it = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    /* Item = (batch, N group, chunk of M blocks), chunk fastest. */
    LLVMValueRef nchn = moac_cg_i64(cg, p->nchunks), ngn = moac_cg_i64(cg, p->ngroups);
    LLVMValueRef ch = LLVMBuildURem(cg->b, it.iv, nchn, ""), rest = LLVMBuildUDiv(cg->b, it.iv, nchn, "");
    LLVMValueRef g = LLVMBuildURem(cg->b, rest, ngn, ""), bt = LLVMBuildUDiv(cg->b, rest, ngn, "");
    LLVMValueRef oa, ob;
    batch_offsets(p, bt, &oa, &ob);
    t.cbase = ptr_at(cg, out, moac_cg_mulc(cg, bt, p->M * p->N));
    t.abase = ptr_at(cg, a, moac_cg_mulc(cg, oa, p->M * p->K));
    t.bbase = ptr_at(cg, pk, moac_cg_mulc(cg, ob, p->packb ? p->NP * p->K * p->NR : p->K * p->N));
    int64_t mfull = p->M - p->M % p->MR, npfull = p->N / p->NR;
    t.p0 = moac_cg_mulc(cg, g, p->GP);
    t.pfull = imin(cg, moac_cg_addc(cg, t.p0, p->GP), moac_cg_i64(cg, npfull));
    t.has_nedge = icmp(cg, LLVMIntEQ, g, moac_cg_i64(cg, p->ngroups - 1));
    LLVMValueRef cm0 = moac_cg_mulc(cg, ch, p->CR);
    LLVMValueRef cm1 = imin(cg, moac_cg_addc(cg, cm0, p->CR), moac_cg_i64(cg, p->M));

    /* K blocks outside the chunk's M blocks: the group's KC x (GP * NR) slice of packed B is
     * loaded into L2 once per K block and used by every block of the chunk. */
    moac_loop kb = moac_cg_for(cg, &k, moac_cg_i64(cg, 0), moac_cg_i64(cg, p->K), p->KC);
    t.k0 = kb.iv;
    t.kc = imin(cg, moac_cg_i64(cg, p->KC), LLVMBuildSub(cg->b, moac_cg_i64(cg, p->K), kb.iv, ""));
    t.first = icmp(cg, LLVMIntEQ, kb.iv, moac_cg_i64(cg, 0));
    moac_loop ib = moac_cg_for(cg, &k, cm0, cm1, p->MC);
    t.m0 = ib.iv;
    LLVMValueRef be = imin(cg, moac_cg_addc(cg, ib.iv, p->MC), cm1); /* block end */
    t.m1 = imin(cg, be, moac_cg_i64(cg, mfull));
    t.has_medge = icmp(cg, LLVMIntEQ, be, moac_cg_i64(cg, p->M));
    if (t.apack) emit_pack_a(p, &k, &t);
    emit_sweep(p, &k, &t);
    moac_cg_end(cg, &ib);
    moac_cg_end(cg, &kb);
    moac_cg_end(cg, &it);
    moac_cg_kernel_end(cg, &k);
    double flops = 2.0 * (double)p->batches * (double)p->M * (double)p->N * (double)p->K;
    moac_emit_cost(e, &k, flops, 4.0 * (double)p->batches * (double)(p->M * p->K * p->ngroups + 2 * p->M * p->N));
}

int moac_emit_matmul(const moac_emit_ctx *e) {
    mm p;
    memset(&p, 0, sizeof p);
    p.cg = e->cg;
    p.e = e;
    if (plan(&p, e)) return -1;
    moac_cg *cg = p.cg;
    p.vt = LLVMVectorType(cg->f32, (unsigned)p.V);
    LLVMTypeRef params[5] = {cg->ptr, cg->ptr, cg->ptr, cg->i64, cg->i1};
    p.uk_t = LLVMFunctionType(cg->void_t, params, 5, 0);
    /* Micro-kernels first, as functions of their own (the builder is free here). */
    int mre = (int)(p.M % p.MR), nre = (int)(p.N % p.NR);
    LLVMBasicBlockRef here = LLVMGetInsertBlock(cg->b);
    p.uk[0] = emit_uk(&p, p.MR, p.NR);
    if (nre) p.uk[1] = emit_uk(&p, p.MR, nre);
    if (mre) p.uk[2] = emit_uk(&p, mre, p.NR);
    if (mre && nre) p.uk[3] = emit_uk(&p, mre, nre);
    if (here) LLVMPositionBuilderAtEnd(cg->b, here);
    int bslot = e->in[1];
    if (p.packb) {
        bslot = moac_cg_scratch(cg, 4 * p.nbb * p.NP * p.K * p.NR);
        emit_pack(&p, bslot);
    }
    emit_compute(&p, bslot);
    return 0;
}
