/* IR builders for passes: each appends one node, sets its attributes and infers its type.
 * A shape error here is a bug in the pass (the spec was already checked), so it asserts with
 * the shape rule's message rather than reporting to the user. */
#ifndef MOAC_BUILD_H
#define MOAC_BUILD_H
#include "ir/ir.h"

moac_node *moac_b_finish(moac_node *n);
moac_node *moac_b_op(moac_graph *g, moac_op op, int nargs, moac_node *const *args); /* no attrs */
moac_node *moac_b_unary(moac_graph *g, moac_op op, moac_node *a);
moac_node *moac_b_binary(moac_graph *g, moac_op op, moac_node *a, moac_node *b);
moac_node *moac_b_input(moac_graph *g, const char *name, moac_dtype dt, int rank, const int64_t *dims);
/* A parameter initialised to fill + std * N(0,1); named by its checkpoint name. */
moac_node *moac_b_param(moac_graph *g, const char *name, double fill, double std, int rank, const int64_t *dims);
moac_node *moac_b_full(moac_graph *g, double value); /* f32 scalar */
moac_node *moac_b_scale(moac_graph *g, moac_node *x, double by);
moac_node *moac_b_matmul(moac_graph *g, moac_node *a, moac_node *b, int ta, int tb);
moac_node *moac_b_reshape(moac_graph *g, moac_node *x, int rank, const int64_t *dims);
moac_node *moac_b_transpose(moac_graph *g, moac_node *x, int rank, const int64_t *perm);
moac_node *moac_b_slice(moac_graph *g, moac_node *x, int axis, int64_t start, int64_t len);
moac_node *moac_b_reduce(moac_graph *g, moac_op op, moac_node *x, int naxes, const int64_t *axes, int keep);
moac_node *moac_b_output(moac_graph *g, moac_node *x, const char *name);
/* Gives a node an SSA name (must be unique in the graph). Returns n. */
moac_node *moac_b_name(moac_graph *g, moac_node *n, const char *name);

/* MOAC_DIMS(a, b, c) expands to the (rank, dims) argument pair of the builders above. */
#define MOAC_DIMS(...) (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((const int64_t[]){__VA_ARGS__})

#endif
