/* The IR: a typed SSA tensor graph living in an arena.
 *
 * A graph is a list of nodes in topological order; each node is one op from ir/ops.def applied to
 * earlier nodes, with attributes and a result type (dtype + static shape). Nothing is mutable
 * after a pass but through the helpers here, so every pass can be followed by moac_ir_verify.
 *
 * Text form (docs/ir.md), which round-trips exactly (print -> read -> print is byte-identical):
 *
 *   graph "moas" {
 *     %tokens = input() name="tokens" : i32[12,256]
 *     %3 = matmul(%1, %2) ta=0 tb=1 : f32[12,256,384]
 *     %loss = output(%9) name="loss" : f32[]
 *   }
 *
 * After pass 'schedule' every computed value also says how it is computed (docs/ir.md,
 * "Schedule"): ` @k4` member of kernel 4, ` @r9` kernel 9 on the reference kernel, ` @view` its
 * operand's bytes, ` @inline` recomputed inside each consumer.
 */
#ifndef MOAC_IR_H
#define MOAC_IR_H
#include <stddef.h>
#include <stdint.h>

#include "support/arena.h"
#include "support/diag.h"
#include "support/strbuf.h"

enum { MOAC_MAX_RANK = 6, MOAC_MAX_INT_ATTRS = 4, MOAC_MAX_FLOAT_ATTRS = 4 };

typedef enum moac_op {
#define X(name, ID, min_args, max_args, flags, attrs) MOAC_OP_##ID,
#include "ir/ops.def"
#undef X
    MOAC_OP_COUNT
} moac_op;

enum moac_op_flags {
    MOAC_OPF_EXPLICIT_TYPE = 1 << 0, /* result type is written in the IR, not inferred */
    MOAC_OPF_ELEMENTWISE = 1 << 1,   /* same-shape map (binary ones broadcast) */
    MOAC_OPF_KEEP = 1 << 2,          /* never removed as dead code */
    MOAC_OPF_FREE = 1 << 3,          /* costs nothing to recompute (a constant): may be @inline */
};

typedef enum moac_attr_kind { MOAC_ATTR_INT, MOAC_ATTR_FLOAT, MOAC_ATTR_STRING, MOAC_ATTR_LIST } moac_attr_kind;

typedef struct moac_attr_info {
    const char *key;
    moac_attr_kind kind;
    int slot; /* index into node->i / node->f; 0 for the string and the list */
} moac_attr_info;

enum { MOAC_MAX_ATTRS = 8 };

typedef struct moac_op_info {
    const char *name;
    int min_args, max_args;
    unsigned flags;
    int nattrs;
    moac_attr_info attrs[MOAC_MAX_ATTRS];
} moac_op_info;

const moac_op_info *moac_op_info_get(moac_op op);
/* MOAC_OP_COUNT when no op has that name. */
moac_op moac_op_lookup(const char *name);
/* Every op name, for "did you mean" (MOAC_OP_COUNT entries). */
const char *const *moac_op_names(void);

typedef enum moac_dtype { MOAC_F32, MOAC_I32 } moac_dtype;

typedef struct moac_type {
    moac_dtype dtype;
    int rank; /* 0 = scalar; -1 = not yet inferred */
    int64_t dims[MOAC_MAX_RANK];
} moac_type;

int64_t moac_type_numel(const moac_type *t);
int moac_type_equal(const moac_type *a, const moac_type *b);
void moac_type_print(moac_strbuf *b, const moac_type *t); /* "f32[12,256,384]", "f32[]" */

/* How the schedule computes a value (pass 'schedule'; docs/ir.md, "Schedule"). */
typedef enum moac_sched {
    MOAC_SCHED_NONE,      /* unscheduled; input, param and output always */
    MOAC_SCHED_KERNEL,    /* @kN: a member of kernel N, rendered by the backend */
    MOAC_SCHED_REFERENCE, /* @rN: kernel N, this node alone, runs on the reference kernel */
    MOAC_SCHED_VIEW,      /* @view: no kernel; the value is its operand's bytes (a reshape) */
    MOAC_SCHED_INLINE,    /* @inline: recomputed inside every kernel that reads it (MOAC_OPF_FREE ops) */
} moac_sched;

typedef struct moac_node {
    moac_op op;
    uint32_t id;             /* position in the graph; renumbered by moac_graph_compact */
    int nargs;
    struct moac_node **args;
    moac_type type;
    int64_t i[MOAC_MAX_INT_ATTRS];
    double f[MOAC_MAX_FLOAT_ATTRS];
    const char *s;           /* the op's string attribute, if it has one */
    int64_t *l;              /* the op's list attribute, if it has one */
    int nl;
    const char *name;        /* SSA name without '%'; NULL prints as %<id> */
    moac_loc loc;            /* where the reader found it (zero when built by a pass) */
    int dead;                /* set by passes, removed by moac_graph_compact */
    moac_sched sched;        /* zero (NONE) until pass 'schedule' */
    int32_t kernel;          /* for KERNEL and REFERENCE: the kernel, dense from 0 in execution order */
} moac_node;

typedef struct moac_graph {
    moac_arena *arena;       /* borrowed: owns nodes, names and attribute storage */
    const char *name;
    moac_node **nodes;       /* topological order; arena-owned array, grown by doubling */
    size_t count, cap;
} moac_graph;

moac_graph *moac_graph_new(moac_arena *a, const char *name);
/* Appends a node with zeroed attributes and an uninferred type (rank -1). */
moac_node *moac_graph_append(moac_graph *g, moac_op op, int nargs, moac_node *const *args);
/* Sets the list attribute (copied into the arena). */
void moac_node_set_list(moac_graph *g, moac_node *n, const int64_t *values, int count);
/* Runs the op's shape rule: fills n->type and returns 0, or writes why not into err and returns -1.
 * For MOAC_OPF_EXPLICIT_TYPE ops the type must already be set; the rule only checks it. */
int moac_node_infer(moac_node *n, char *err, size_t errlen);
/* Every use of `from` becomes a use of `to` (nodes after `from` only). `to` itself is left alone,
 * so that a node to = f(from) appended later can take over the other uses of `from`. */
void moac_graph_replace_uses(moac_graph *g, moac_node *from, moac_node *to);
/* Drops nodes marked dead and renumbers ids. Asserts that no live node still uses a dead one. */
void moac_graph_compact(moac_graph *g);
/* Can name be an SSA name in the text form, i.e. would the reader give it back? [A-Za-z0-9_.]+,
 * not all digits (that reads as an unnamed %<id>). */
int moac_name_writable(const char *name);
/* A copy of g (compacted: ids are positions, no dead nodes) in arena a, annotations included. */
moac_graph *moac_graph_clone(moac_arena *a, const moac_graph *g);
/* The node named `name` (SSA name, without '%'), or NULL. */
moac_node *moac_graph_find(const moac_graph *g, const char *name);

/* Schedules (ir/sched.c). Does any node of g carry a schedule annotation? */
int moac_graph_scheduled(const moac_graph *g);
/* The shared fusion legality rule: may n be computed in registers inside its consumer's kernel?
 * Elementwise f32 maps and layout ops, which address their consumer's index space through an
 * index map (never through a reduction). Backends may fuse less, never more. */
int moac_sched_fusable(const moac_node *n);
/* May a and b be roots of one kernel (a declared join)? Same operands and attributes, and: an
 * attention and its attention_lse, or two attention_grads of one attention (`which` differs). */
int moac_sched_joinable(const moac_node *a, const moac_node *b);
/* Checks g's annotations (if any) are a legal schedule, reporting each problem like
 * moac_ir_verify does; part of moac_ir_verify. Returns the number of problems. */
int moac_sched_check(const moac_graph *g, moac_diag *d, const char *stage);
/* root[i] = 1 when node i is a stored member of its kernel: read from outside it, or not read at
 * all (docs/ir.md); 0 for every other node. root has g->count entries. */
void moac_sched_roots(const moac_graph *g, char *root);
/* Clears every annotation. */
void moac_sched_clear(moac_graph *g);

/* Text form. */
void moac_ir_print(const moac_graph *g, moac_strbuf *out);
/* Parses the text form; reports errors located in src and returns NULL if there were any.
 * Types written for non-explicit ops are checked against the shape rules. */
moac_graph *moac_ir_read(moac_arena *a, const moac_source *src, moac_diag *d);
/* Checks SSA order, arities, attributes, dtypes and shapes, and unique names; each problem is
 * reported naming the offending value (e.g. "%12 = matmul: ..."); `stage` says when
 * ("after pass 'cse'"). Returns the number of problems. */
int moac_ir_verify(const moac_graph *g, moac_diag *d, const char *stage);
/* One verifier diagnostic, "<stage>: %<value> = <op>: <message>", at n's location. */
__attribute__((format(printf, 4, 5))) void moac_ir_report(moac_diag *d, const char *stage, const moac_node *n,
                                                          const char *fmt, ...);
/* Graphviz DOT: one node per value, labelled with op, name and type. */
void moac_ir_dot(const moac_graph *g, moac_strbuf *out);

#endif
