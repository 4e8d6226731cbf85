/* Helpers shared by the interpreter's unit tests (test_interp*.c): one-op graphs, kernel calls,
 * and value comparison. Header-only (static functions) so each test stays one executable. */
#ifndef MOAC_INTERP_TEST_UTIL_H
#define MOAC_INTERP_TEST_UTIL_H
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/interp/interp.h"
#include "ir/ir.h"
#include "support/rng.h"

/* "f32[2,3]" / "i32[]" -> type (the tests' own tiny parser). */
static inline moac_type t_type(const char *s) {
    moac_type t = {.dtype = strncmp(s, "i32", 3) == 0 ? MOAC_I32 : MOAC_F32, .rank = 0};
    const char *p = s + 4;
    while (*p && *p != ']') {
        t.dims[t.rank++] = strtoll(p, (char **)&p, 10);
        if (*p == ',') p++;
    }
    return t;
}

/* An op's attributes, as a test writes them. */
typedef struct t_attrs {
    int64_t i[4];
    double f[4];
    int64_t l[8];
    int nl;
    const char *s;
} t_attrs;

/* Appends inputs typed `types` (NULL-terminated, up to 6) and the op applied to them; asserts
 * that the shape rule accepts it. `written` is the type of explicit-type ops. */
static inline moac_node *t_op(moac_graph *g, const char *op, const char *const *types, const t_attrs *at,
                              const char *written) {
    moac_node *args[6];
    int nargs = 0;
    while (nargs < 6 && types[nargs]) {
        args[nargs] = moac_graph_append(g, MOAC_OP_INPUT, 0, NULL);
        args[nargs]->s = "in";
        args[nargs]->type = t_type(types[nargs]);
        nargs++;
    }
    moac_op o = moac_op_lookup(op);
    assert_int_not_equal(o, MOAC_OP_COUNT);
    moac_node *n = moac_graph_append(g, o, nargs, args);
    if (at) {
        memcpy(n->i, at->i, sizeof n->i);
        memcpy(n->f, at->f, sizeof n->f);
        moac_node_set_list(g, n, at->l, at->nl);
        n->s = at->s ? at->s : "x";
    } else {
        n->s = "x";
    }
    if (written) n->type = t_type(written);
    char err[512];
    int rc = moac_node_infer(n, err, sizeof err);
    if (rc) print_error("%s: %s\n", op, err);
    assert_int_equal(rc, 0);
    return n;
}

/* Runs n's kernel on `in`; returns a fresh (caller-freed) output, or NULL with err set when the
 * kernel reports bad data. */
static inline double *t_eval(const moac_node *n, const double *const *in, const moac_interp_opts *o, char *err,
                             size_t errlen) {
    double *out = calloc((size_t)moac_type_numel(&n->type), sizeof *out);
    assert_non_null(out);
    moac_kernel_ctx k = {.node = n, .in = in, .out = out, .opts = o, .err = err, .errlen = errlen};
    if (moac_kernel_run(&k)) {
        free(out);
        return NULL;
    }
    return out;
}

/* Like t_eval, but bad data fails the test. */
static inline double *t_ok(const moac_node *n, const double *const *in, const moac_interp_opts *o) {
    char err[512] = "";
    double *out = t_eval(n, in, o, err, sizeof err);
    if (!out) print_error("unexpected kernel error: %s\n", err);
    assert_non_null(out);
    return out;
}

/* Equal within tol (relative to max(1, |want|)); NaN equals NaN and infinities must match. */
static inline int t_close(double got, double want, double tol) {
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= tol * fmax(1.0, fabs(want));
}

static inline void t_expect(const char *what, const double *got, const double *want, int64_t n, double tol) {
    int bad = 0;
    for (int64_t i = 0; i < n; i++)
        if (!t_close(got[i], want[i], tol)) {
            if (bad++ < 8) print_error("%s: element %lld is %.17g, expected %.17g\n", what, (long long)i, got[i], want[i]);
        }
    assert_int_equal(bad, 0);
}

/* Deterministic pseudo-random data: N(0,1) * scale from (seed, i). */
static inline double *t_randn(uint64_t seed, int64_t n, double scale) {
    double *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) v[i] = scale * moac_rng_normal(seed, 77, (uint64_t)i);
    return v;
}

/* ---- One arena of one-op nodes per test. ---- */

#define V(...) ((const double[]){__VA_ARGS__})
#define TYPES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Each test builds its nodes in one arena and frees everything at the end. */
typedef struct fixture {
    moac_arena a;
    moac_graph *g;
} fixture;

static inline moac_node *op(fixture *f, const char *name, const char *const *types, t_attrs at) {
    return t_op(f->g, name, types, &at, NULL);
}

static inline void fixture_init(fixture *f) {
    moac_arena_init(&f->a);
    f->g = moac_graph_new(&f->a, "t");
}

static inline int64_t numel_of(const char *type) {
    moac_type t = t_type(type);
    return moac_type_numel(&t);
}

#endif
