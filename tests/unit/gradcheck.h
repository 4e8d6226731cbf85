/* Shared by test_gradcheck.c and test_autodiff.c: tiny graphs and shrunk models run by the
 * reference interpreter, and central-difference checks of the autodiff pass's gradients.
 * Header-only (static inline) because every tests/unit/test_*.c is its own executable.
 *
 * A check compares, per element, a = the analytic gradient (output grad.<param>) with
 * n = a fourth-order central difference of the loss (gc_difference), as err = |a − n| / max(|a|, |n|, GC_FLOOR). */
#ifndef MOAC_TEST_GRADCHECK_H
#define MOAC_TEST_GRADCHECK_H
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/interp/interp.h"
#include "moac.h"
#include "passes/build.h"
#include "support/rng.h"

enum { GC_MAX_VALUES = 16, GC_MAX_SELECTIONS = 64, GC_SAMPLES_MAX = 64 };
#define GC_FLOOR 1e-3
#define GC_SEED 20251122u

/* How a test value is filled: N(0,1); 0.5 + |N(0,1)| (log, div); U[0,1) (targets of BCE);
 * integers in [0, bound) (ids, indices). */
enum gc_fill { GC_NORMAL, GC_POSITIVE, GC_UNIT, GC_INDEX };

typedef struct gc_value {
    const char *name;
    int fill, is_param;
    int64_t bound;
} gc_value;

typedef struct gc_graph {
    moac_arena arena;
    moac_diag diag;
    moac_graph *g;
    gc_value vals[GC_MAX_VALUES];
    int nvals;
} gc_graph;

typedef struct gc_stats {
    int checked, skipped;
    double max_err;
} gc_stats;

static inline void gc_stats_add(gc_stats *t, const gc_stats *s) {
    t->checked += s->checked;
    t->skipped += s->skipped;
    if (s->max_err > t->max_err) t->max_err = s->max_err;
}

static inline void gc_graph_init(gc_graph *c, const char *name) {
    memset(c, 0, sizeof *c);
    moac_arena_init(&c->arena);
    moac_diag_init(&c->diag);
    c->g = moac_graph_new(&c->arena, name);
}

static inline void gc_graph_free(gc_graph *c) {
    moac_diag_free(&c->diag);
    moac_arena_free(&c->arena);
}

static inline gc_value *gc_record(gc_graph *c, const char *name, int fill, int64_t bound, int is_param) {
    if (c->nvals == GC_MAX_VALUES) abort();
    gc_value *v = &c->vals[c->nvals++];
    *v = (gc_value){name, fill, is_param, bound};
    return v;
}

static inline moac_node *gc_param(gc_graph *c, int fill, int rank, const int64_t *dims) {
    const char *name = moac_arena_printf(&c->arena, "p%d", c->nvals);
    gc_record(c, name, fill, 0, 1);
    return moac_b_param(c->g, name, 0, 1, rank, dims);
}

static inline moac_node *gc_input(gc_graph *c, moac_dtype dt, int fill, int64_t bound, int rank, const int64_t *dims) {
    const char *name = moac_arena_printf(&c->arena, "in%d", c->nvals);
    gc_record(c, name, fill, bound, 0);
    return moac_b_input(c->g, name, dt, rank, dims);
}

static inline uint64_t gc_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* Fills buf (numel values) deterministically from the value's name. */
static inline void gc_fill(double *buf, int64_t numel, const char *name, int fill, int64_t bound, double center,
                           double std) {
    uint64_t stream = gc_hash(name);
    for (int64_t i = 0; i < numel; i++) {
        double z = moac_rng_normal(GC_SEED, stream, (uint64_t)i);
        switch (fill) {
        case GC_NORMAL: buf[i] = center + std * z; break;
        case GC_POSITIVE: buf[i] = 0.5 + fabs(z); break;
        case GC_UNIT: buf[i] = moac_rng_uniform(GC_SEED, stream, (uint64_t)i); break;
        default: buf[i] = (double)moac_rng_below(GC_SEED, stream, (uint64_t)i, (uint64_t)bound); break;
        }
    }
}

static inline int64_t gc_numel(const moac_graph *g, const char *name) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if ((n->op == MOAC_OP_INPUT || n->op == MOAC_OP_PARAM) && !strcmp(n->s, name)) return moac_type_numel(&n->type);
    }
    fprintf(stderr, "no input or param named %s\n", name);
    abort();
}

/* ---- Selections: every top-k, arg-max and capacity assignment becomes an output, so that a
 * difference quotient across a change of selection can be recognised and skipped. ---- */

typedef struct gc_selections {
    int count;
    const char *names[GC_MAX_SELECTIONS];
    int64_t numel[GC_MAX_SELECTIONS];
    double *base[GC_MAX_SELECTIONS]; /* the selections at the unperturbed point */
} gc_selections;

static inline void gc_expose_selections(moac_graph *g, gc_selections *s) {
    size_t count = g->count;
    for (size_t i = 0; i < count; i++) {
        moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_TOPK && n->op != MOAC_OP_ONEHOT_ARGMAX && n->op != MOAC_OP_CAPACITY_ROUTE) continue;
        if (s->count == GC_MAX_SELECTIONS) abort();
        const char *name = moac_arena_printf(g->arena, "sel.%zu", i);
        moac_b_output(g, n, name);
        s->names[s->count] = name;
        s->numel[s->count++] = moac_type_numel(&n->type);
    }
}

static inline void gc_run(moac_interp *ip) {
    char err[512];
    moac_interp_opts opts = {.seed = 7, .step = 3, .training = 1};
    if (moac_interp_run(ip, &opts, err, sizeof err)) {
        fprintf(stderr, "interpreter: %s\n", err);
        abort();
    }
}

static inline const double *gc_result(moac_interp *ip, const char *name) {
    const double *r = moac_interp_result(ip, name);
    if (!r) {
        fprintf(stderr, "interpreter: no output %s\n", name);
        abort();
    }
    return r;
}

/* Runs and returns the loss; *changed says whether a selection differs from the base point's. */
static inline double gc_loss(moac_interp *ip, gc_selections *s, int *changed) {
    gc_run(ip);
    for (int i = 0; i < s->count; i++) {
        const double *now = gc_result(ip, s->names[i]);
        if (!s->base[i]) {
            s->base[i] = malloc((size_t)s->numel[i] * sizeof(double));
            memcpy(s->base[i], now, (size_t)s->numel[i] * sizeof(double));
        } else if (memcmp(s->base[i], now, (size_t)s->numel[i] * sizeof(double))) {
            *changed = 1;
        }
    }
    return gc_result(ip, "loss")[0];
}

static inline void gc_selections_free(gc_selections *s) {
    for (int i = 0; i < s->count; i++) free(s->base[i]);
}

static inline double gc_rel_err(double a, double n) {
    double scale = fmax(fmax(fabs(a), fabs(n)), GC_FLOOR);
    return fabs(a - n) / scale;
}

/* d(loss)/dt at t = 0 along x + t v (v NULL: the unit vector of element `at`), by the
 * fourth-order central difference (8 (L(h) - L(-h)) - (L(2h) - L(-2h))) / 12h: its truncation
 * error is O(h^4), so a step large enough to keep rounding small (h = 1e-4 on values of order 1)
 * still leaves errors near 1e-9. Returns 1 when a selection changed between the points. */
static inline int gc_difference(moac_interp *ip, gc_selections *s, double *x, int64_t numel, const double *v,
                                int64_t at, double h, double *out) {
    double *saved = malloc((size_t)numel * sizeof(double));
    memcpy(saved, x, (size_t)numel * sizeof(double));
    static const double steps[4] = {1, -1, 2, -2};
    double loss[4];
    int changed = 0;
    for (int i = 0; i < 4; i++) {
        double t = steps[i] * h;
        if (v) for (int64_t j = 0; j < numel; j++) x[j] = saved[j] + t * v[j];
        else x[at] = saved[at] + t;
        loss[i] = gc_loss(ip, s, &changed);
    }
    memcpy(x, saved, (size_t)numel * sizeof(double));
    free(saved);
    *out = (8 * (loss[0] - loss[1]) - (loss[2] - loss[3])) / (12 * h);
    return changed;
}

/* Distinct random elements of [0, numel), `count` < numel of them (Floyd's sampling). */
static inline void gc_sample(uint64_t stream, int64_t numel, int count, int64_t *out) {
    int n = 0;
    for (int64_t j = numel - count; j < numel; j++) {
        int64_t t = (int64_t)moac_rng_below(GC_SEED, stream, (uint64_t)j, (uint64_t)j + 1);
        for (int i = 0; i < n; i++)
            if (out[i] == t) t = j;
        out[n++] = t;
    }
}

static inline void gc_note(gc_stats *st, const char *name, const char *what, double analytic, double numeric) {
    double err = gc_rel_err(analytic, numeric);
    if (err > 1e-7) fprintf(stderr, "  %s %s: analytic %.12g numeric %.12g\n", name, what, analytic, numeric);
    st->max_err = fmax(st->max_err, err);
}

/* Checks one param: a random direction (all elements at once), then `samples` distinct elements
 * (every element when the tensor has no more). fd runs the loss; grad is the analytic gradient. */
static inline void gc_check_param(moac_interp *fd, const moac_graph *g, gc_selections *s, const char *name,
                                  const double *grad, int samples, double h, gc_stats *st) {
    double *x = moac_interp_buffer(fd, name), numeric;
    int64_t numel = gc_numel(g, name), at[GC_SAMPLES_MAX];
    uint64_t stream = gc_hash(name) ^ 0x5bd1e995u;
    int sampled = samples < numel;
    if (samples > GC_SAMPLES_MAX) samples = GC_SAMPLES_MAX;
    if (sampled) {
        double *v = malloc((size_t)numel * sizeof(double)), analytic = 0;
        for (int64_t i = 0; i < numel; i++) {
            v[i] = moac_rng_normal(GC_SEED, stream, (uint64_t)i);
            analytic += grad[i] * v[i];
        }
        st->checked++;
        if (gc_difference(fd, s, x, numel, v, 0, h, &numeric)) st->skipped++;
        else gc_note(st, name, "along a random direction", analytic, numeric);
        free(v);
        gc_sample(stream + 1, numel, samples, at);
    }
    int64_t n = sampled ? samples : numel;
    for (int64_t j = 0; j < n; j++) {
        int64_t e = sampled ? at[j] : j;
        char what[32];
        snprintf(what, sizeof what, "[%lld]", (long long)e);
        st->checked++;
        if (gc_difference(fd, s, x, numel, NULL, e, h, &numeric)) st->skipped++;
        else gc_note(st, name, what, grad[e], numeric);
    }
}

/* ---- Op cases: y -> loss = sum(y * R), R a fixed random input; every element checked. ---- */

static inline gc_stats gc_check_op(gc_graph *c, moac_node *y, double h) {
    moac_graph *g = c->g;
    moac_node *loss = moac_b_binary(g, MOAC_OP_MUL, y, gc_input(c, MOAC_F32, GC_NORMAL, 0, y->type.rank, y->type.dims));
    if (loss->type.rank) {
        int64_t axes[MOAC_MAX_RANK];
        for (int k = 0; k < loss->type.rank; k++) axes[k] = k;
        loss = moac_b_reduce(g, MOAC_OP_REDUCE_SUM, loss, loss->type.rank, axes, 0);
    }
    moac_b_output(g, loss, "loss");
    gc_selections s = {0};
    gc_expose_selections(g, &s);
    moac_graph *t = moac_pipeline_graph(g, &(moac_pipeline){.train = 1}, &c->diag);
    if (!t) {
        fprintf(stderr, "%s", moac_strbuf_cstr(&c->diag.out));
        abort();
    }
    moac_interp *ip = moac_interp_new(t);
    for (int i = 0; i < c->nvals; i++) {
        const gc_value *v = &c->vals[i];
        gc_fill(moac_interp_buffer(ip, v->name), gc_numel(t, v->name), v->name, v->fill, v->bound, 0, 1);
    }
    gc_run(ip);
    double *grads[GC_MAX_VALUES] = {0};
    for (int i = 0; i < c->nvals; i++) {
        if (!c->vals[i].is_param) continue;
        int64_t numel = gc_numel(t, c->vals[i].name);
        const double *r = gc_result(ip, moac_arena_printf(&c->arena, "grad.%s", c->vals[i].name));
        grads[i] = malloc((size_t)numel * sizeof(double));
        memcpy(grads[i], r, (size_t)numel * sizeof(double));
    }
    int changed = 0;
    gc_loss(ip, &s, &changed); /* records the selections at the base point */
    gc_stats st = {0};
    for (int i = 0; i < c->nvals; i++) {
        if (!grads[i]) continue;
        gc_check_param(ip, t, &s, c->vals[i].name, grads[i], 1 << 30, h, &st); /* every element */
        free(grads[i]);
    }
    gc_selections_free(&s);
    moac_interp_free(ip);
    return st;
}

/* ---- Models, shrunk: the spec of a model file with its sizes overridden after sema. ---- */

static inline void gc_shrink_scheme(moac_scheme *sc) {
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE:
        sc->head_dim = 4; /* rope fractions 0.5 and 1 still rotate an even number of dims */
        if (sc->kv) gc_shrink_scheme(sc->kv);
        break;
    case MOAC_SCHEME_SPARSE:
        if (sc->heads > 3) sc->heads = 3;
        sc->head_dim = 4;
        sc->k = 3; /* of 8 tokens */
        break;
    case MOAC_SCHEME_GROUP: break;
    case MOAC_SCHEME_MIX:
        if (sc->router.hidden) sc->router.hidden = 4;
        for (int i = 0; i < sc->nbranches; i++) gc_shrink_scheme(sc->branches[i]);
        break;
    }
}

/* The model of `path` at context 8, width 16, MLP 32, vocab 13, without dropout. Heads and KV
 * heads are kept (so groupings still divide), head dims become 4. */
static inline moac_spec *gc_tiny_spec(moac_arena *a, moac_diag *d, const char *path, int layers) {
    moac_spec *spec = moac_spec_load(a, path, d);
    if (!spec) {
        fprintf(stderr, "%s", moac_strbuf_cstr(&d->out));
        abort();
    }
    spec->vocab = 13;
    spec->context = 8;
    spec->width = 16;
    spec->mlp_hidden = 32;
    spec->layers = layers;
    spec->dropout = 0;
    spec->train.batch = 2;
    gc_shrink_scheme(spec->attention);
    return spec;
}

/* Params get fill + 0.5 N(0,1), so that every nonlinearity is away from its linear regime. */
static inline void gc_fill_model(moac_interp *ip, const moac_graph *g, int64_t vocab) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_INPUT && n->op != MOAC_OP_PARAM) continue;
        int index = n->type.dtype == MOAC_I32;
        gc_fill(moac_interp_buffer(ip, n->s), moac_type_numel(&n->type), n->s, index ? GC_INDEX : GC_NORMAL, vocab,
                n->op == MOAC_OP_PARAM ? n->f[0] : 0, 0.5);
    }
}

/* Copies every input and param of g from one interpreter to another (same names and types). */
static inline void gc_copy_values(moac_interp *to, moac_interp *from, const moac_graph *g) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_INPUT && n->op != MOAC_OP_PARAM) continue;
        memcpy(moac_interp_buffer(to, n->s), moac_interp_buffer(from, n->s),
               (size_t)moac_type_numel(&n->type) * sizeof(double));
    }
}

/* Every param of the shrunk model: `samples` elements each plus a random direction. The loss for
 * the differences comes from the forward graph (cheaper); the gradients from the training graph. */
static inline gc_stats gc_check_model(const char *path, int layers, int samples, double h) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_spec *spec = gc_tiny_spec(&arena, &diag, path, layers);
    moac_graph *fwd = moac_lower_spec(&arena, spec, 2);
    gc_selections s = {0};
    gc_expose_selections(fwd, &s);
    moac_graph *train = moac_pipeline_spec(&arena, spec, 2, &(moac_pipeline){.train = 1}, &diag);
    if (!train || moac_ir_verify(fwd, &diag, "forward")) {
        fprintf(stderr, "%s", moac_strbuf_cstr(&diag.out));
        abort();
    }
    moac_interp *ti = moac_interp_new(train), *fi = moac_interp_new(fwd);
    gc_fill_model(ti, train, spec->vocab);
    gc_copy_values(fi, ti, fwd);
    gc_run(ti);
    int changed = 0;
    double loss = gc_loss(fi, &s, &changed);
    if (fabs(loss - gc_result(ti, "loss")[0]) > 1e-12 * fmax(1, fabs(loss))) {
        fprintf(stderr, "%s: the forward and training graphs disagree on the loss\n", path);
        abort();
    }
    gc_stats st = {0};
    for (size_t i = 0; i < fwd->count; i++) {
        const moac_node *n = fwd->nodes[i];
        if (n->op != MOAC_OP_PARAM) continue;
        const double *grad = gc_result(ti, moac_arena_printf(&arena, "grad.%s", n->s));
        gc_check_param(fi, fwd, &s, n->s, grad, samples, h, &st);
    }
    gc_selections_free(&s);
    moac_interp_free(fi);
    moac_interp_free(ti);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return st;
}

/* The model files (models/NAME.moa), sorted; the tests run from the source root. */
static inline int gc_strcmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static inline int gc_model_files(char **paths, int max) {
    DIR *dir = opendir("models");
    if (!dir) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".moa")) continue;
        paths[n] = malloc(len + 8);
        snprintf(paths[n++], len + 8, "models/%s", e->d_name);
    }
    closedir(dir);
    qsort(paths, (size_t)n, sizeof *paths, gc_strcmp);
    return n;
}

#endif
