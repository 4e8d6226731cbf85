#include "passes/build.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

moac_node *moac_b_finish(moac_node *n) {
    char err[256];
    if (moac_node_infer(n, err, sizeof err)) {
        fprintf(stderr, "moac: internal error: building %s: %s\n", moac_op_info_get(n->op)->name, err);
        assert(!"a pass built an ill-typed node");
        abort();
    }
    return n;
}

moac_node *moac_b_op(moac_graph *g, moac_op op, int nargs, moac_node *const *args) {
    return moac_b_finish(moac_graph_append(g, op, nargs, args));
}

moac_node *moac_b_unary(moac_graph *g, moac_op op, moac_node *a) { return moac_b_op(g, op, 1, &a); }

moac_node *moac_b_binary(moac_graph *g, moac_op op, moac_node *a, moac_node *b) {
    moac_node *args[2] = {a, b};
    return moac_b_op(g, op, 2, args);
}

static void set_type(moac_node *n, moac_dtype dt, int rank, const int64_t *dims) {
    assert(rank >= 0 && rank <= MOAC_MAX_RANK);
    n->type.dtype = dt;
    n->type.rank = rank;
    for (int i = 0; i < rank; i++) n->type.dims[i] = dims[i];
}

moac_node *moac_b_input(moac_graph *g, const char *name, moac_dtype dt, int rank, const int64_t *dims) {
    moac_node *n = moac_graph_append(g, MOAC_OP_INPUT, 0, NULL);
    n->s = moac_arena_strdup(g->arena, name);
    n->name = n->s;
    set_type(n, dt, rank, dims);
    return moac_b_finish(n);
}

moac_node *moac_b_param(moac_graph *g, const char *name, double fill, double std, int rank, const int64_t *dims) {
    moac_node *n = moac_graph_append(g, MOAC_OP_PARAM, 0, NULL);
    n->s = moac_arena_strdup(g->arena, name);
    n->name = n->s;
    n->f[0] = fill;
    n->f[1] = std;
    set_type(n, MOAC_F32, rank, dims);
    return moac_b_finish(n);
}

moac_node *moac_b_full(moac_graph *g, double value) {
    moac_node *n = moac_graph_append(g, MOAC_OP_FULL, 0, NULL);
    n->f[0] = value;
    set_type(n, MOAC_F32, 0, NULL);
    return moac_b_finish(n);
}

moac_node *moac_b_scale(moac_graph *g, moac_node *x, double by) {
    moac_node *n = moac_graph_append(g, MOAC_OP_SCALE, 1, &x);
    n->f[0] = by;
    return moac_b_finish(n);
}

moac_node *moac_b_matmul(moac_graph *g, moac_node *a, moac_node *b, int ta, int tb) {
    moac_node *args[2] = {a, b};
    moac_node *n = moac_graph_append(g, MOAC_OP_MATMUL, 2, args);
    n->i[0] = ta;
    n->i[1] = tb;
    return moac_b_finish(n);
}

moac_node *moac_b_reshape(moac_graph *g, moac_node *x, int rank, const int64_t *dims) {
    moac_node *n = moac_graph_append(g, MOAC_OP_RESHAPE, 1, &x);
    moac_node_set_list(g, n, dims, rank);
    return moac_b_finish(n);
}

moac_node *moac_b_transpose(moac_graph *g, moac_node *x, int rank, const int64_t *perm) {
    moac_node *n = moac_graph_append(g, MOAC_OP_TRANSPOSE, 1, &x);
    moac_node_set_list(g, n, perm, rank);
    return moac_b_finish(n);
}

moac_node *moac_b_slice(moac_graph *g, moac_node *x, int axis, int64_t start, int64_t len) {
    moac_node *n = moac_graph_append(g, MOAC_OP_SLICE, 1, &x);
    n->i[0] = axis;
    n->i[1] = start;
    n->i[2] = len;
    return moac_b_finish(n);
}

moac_node *moac_b_reduce(moac_graph *g, moac_op op, moac_node *x, int naxes, const int64_t *axes, int keep) {
    moac_node *n = moac_graph_append(g, op, 1, &x);
    moac_node_set_list(g, n, axes, naxes);
    n->i[0] = keep;
    return moac_b_finish(n);
}

moac_node *moac_b_output(moac_graph *g, moac_node *x, const char *name) {
    moac_node *n = moac_graph_append(g, MOAC_OP_OUTPUT, 1, &x);
    n->s = moac_arena_strdup(g->arena, name);
    /* The output's SSA name is its name where that can be one: a graph read from text may have
     * a param whose name attribute is any string (so "grad.<name>" is not an SSA name); such an
     * output prints as %<id>. Uniqueness is the caller's business (autodiff checks it for its
     * grad.<param> outputs with a set: a search of the graph per output would be quadratic). */
    n->name = moac_name_writable(n->s) ? n->s : NULL;
    return moac_b_finish(n);
}

moac_node *moac_b_name(moac_graph *g, moac_node *n, const char *name) {
    assert(!moac_graph_find(g, name));
    n->name = moac_arena_strdup(g->arena, name);
    return n;
}
