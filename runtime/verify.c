#include "runtime/verify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "support/rng.h"

int64_t moac_verify_index_bound(const moac_graph *g, const moac_node *in) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        for (int a = 0; a < n->nargs; a++) {
            const moac_node *src = n->args[a];
            while (src->op == MOAC_OP_RESHAPE) src = src->args[0];
            if (src != in) continue;
            const moac_type *t0 = &n->args[0]->type;
            switch (n->op) {
            case MOAC_OP_EMBED: return t0->dims[0];
            case MOAC_OP_CROSS_ENTROPY:
            case MOAC_OP_CROSS_ENTROPY_GRAD:
            case MOAC_OP_TAKE: return t0->dims[t0->rank - 1];
            case MOAC_OP_GATHER_ROWS: return t0->dims[1];
            case MOAC_OP_EMBED_GRAD:
            case MOAC_OP_TAKE_GRAD:
            case MOAC_OP_SCATTER_ROWS: return n->i[0];
            case MOAC_OP_ROPE:
            case MOAC_OP_ROPE_GRAD: return 64;
            default: break;
            }
        }
    }
    return 4;
}

static void fill(const moac_graph *g, const moac_node *n, uint64_t seed, uint64_t site, void *out) {
    int64_t count = moac_type_numel(&n->type), bound = n->type.dtype == MOAC_I32 ? moac_verify_index_bound(g, n) : 0;
    for (int64_t j = 0; j < count; j++) {
        if (n->type.dtype == MOAC_I32) {
            ((int32_t *)out)[j] = (int32_t)moac_rng_below(seed, site, (uint64_t)j, (uint64_t)bound);
        } else {
            double z = moac_rng_normal(seed, site, (uint64_t)j);
            /* params as training initialises them (fill + std z): random weights of another
             * scale make activations whose f32 rounding says nothing about the backend */
            ((float *)out)[j] = (float)(n->op == MOAC_OP_PARAM ? n->f[0] + (n->f[1] > 0 ? n->f[1] * z : 0) : z);
        }
    }
}

static void compare(const moac_node *n, const double *got, const double *want, moac_verify_output *o) {
    int64_t count = moac_type_numel(&n->type);
    double scale = 1e-6, diff = 0;
    *o = (moac_verify_output){.name = n->s, .numel = count, .got = count ? got[0] : 0, .want = count ? want[0] : 0};
    for (int64_t j = 0; j < count; j++) {
        if (fabs(want[j]) > scale) scale = fabs(want[j]);
        double dj = isnan(got[j]) != isnan(want[j]) ? INFINITY : isnan(got[j]) ? 0 : fabs(got[j] - want[j]);
        if (dj > diff) diff = dj, o->worst_at = j, o->got = got[j], o->want = want[j];
    }
    o->rel_err = diff / scale;
}

int moac_verify(const moac_graph *g, const moac_backend_ops *be, const moac_backend_ops *ref,
                const moac_compile_opts *o, const moac_run_opts *run, uint64_t seed, moac_verify_result *r,
                moac_diag *d) {
    *r = (moac_verify_result){0};
    moac_compiled *a = moac_compile(g, be, o, d), *b = a ? moac_compile(g, ref, o, d) : NULL;
    int rc = -1;
    if (!b) goto done;
    uint64_t site = 0;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_INPUT && n->op != MOAC_OP_PARAM) continue;
        int64_t count = moac_type_numel(&n->type);
        void *v = malloc((size_t)(count ? count : 1) * 4);
        if (!v) abort();
        fill(g, n, seed, site++, v);
        moac_write(a, n->s, v, count);
        moac_write(b, n->s, v, count);
        free(v);
    }
    char err[1024];
    const moac_backend_ops *which[2] = {be, ref};
    moac_compiled *runs[2] = {a, b};
    for (int k = 0; k < 2; k++)
        if (moac_run(runs[k], run, err, sizeof err)) {
            moac_diag_file_error(d, NULL, "graph '%s' failed on the %s backend: %s", g->name, which[k]->name, err);
            goto done;
        }
    r->outputs = calloc(g->count + 1, sizeof *r->outputs);
    if (!r->outputs) abort();
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_OUTPUT) continue;
        int64_t count = moac_type_numel(&n->type);
        double *x = calloc((size_t)(count ? count : 1), sizeof *x), *y = calloc((size_t)(count ? count : 1), sizeof *y);
        if (!x || !y) abort();
        moac_read_f64(a, n->s, x, count);
        moac_read_f64(b, n->s, y, count);
        moac_verify_output *out = &r->outputs[r->count++];
        compare(n, x, y, out);
        if (out->rel_err > r->worst || isnan(out->rel_err)) r->worst = out->rel_err;
        free(x);
        free(y);
    }
    rc = 0;
done:
    moac_compiled_free(a);
    moac_compiled_free(b);
    return rc;
}
