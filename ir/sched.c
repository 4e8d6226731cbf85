/* Schedule annotations (docs/ir.md, "Schedule"): the one legality check every scheduled graph
 * passes, whoever wrote it — pass 'schedule', or a hand-edited .ir file read back. A bad
 * schedule is a located error here, never a crash in a backend. What is checked is what any
 * backend needs to run the kernels in id order; what one backend can render (which ops get a
 * kernel of their own, how many buffers a fused kernel may read) is that backend's check.
 *
 * Terms: a node annotated @kN or @rN is a member of kernel N. A member is a root when a value
 * outside its kernel (another kernel, a view, an output) reads it, or nothing reads it: roots are
 * stored, every other member lives in registers inside the kernel. (Every kernel has a root: its
 * last member in node order has no reader inside it.) Linear in the graph's size. */
#include <stdio.h>
#include <stdlib.h>

#include "ir/ir.h"

int moac_graph_scheduled(const moac_graph *g) {
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->sched != MOAC_SCHED_NONE) return 1;
    return 0;
}

void moac_sched_clear(moac_graph *g) {
    for (size_t i = 0; i < g->count; i++) {
        g->nodes[i]->sched = MOAC_SCHED_NONE;
        g->nodes[i]->kernel = 0;
    }
}

int moac_sched_fusable(const moac_node *n) {
    const moac_op_info *info = moac_op_info_get(n->op);
    /* Fused code computes in f32; i32 values only move (layout ops, constants). */
    if (info->flags & MOAC_OPF_ELEMENTWISE) return n->type.dtype == MOAC_F32;
    if (info->flags & MOAC_OPF_FREE) return 1;
    switch (n->op) {
    case MOAC_OP_RESHAPE:
    case MOAC_OP_TRANSPOSE:
    case MOAC_OP_SLICE:
    case MOAC_OP_CONCAT:
    case MOAC_OP_PAD:
    case MOAC_OP_BROADCAST:
    case MOAC_OP_REPEAT_HEADS: return 1;
    default: return 0;
    }
}

int moac_sched_joinable(const moac_node *a, const moac_node *b) {
    if (a->nargs != b->nargs || a->i[0] != b->i[0] || a->f[0] != b->f[0]) return 0;
    for (int k = 0; k < a->nargs; k++)
        if (a->args[k] != b->args[k]) return 0;
    if (a->op == MOAC_OP_ATTENTION_GRAD && b->op == MOAC_OP_ATTENTION_GRAD) return a->i[1] != b->i[1];
    return (a->op == MOAC_OP_ATTENTION && b->op == MOAC_OP_ATTENTION_LSE) ||
           (a->op == MOAC_OP_ATTENTION_LSE && b->op == MOAC_OP_ATTENTION);
}

static int member(const moac_node *n) { return n->sched == MOAC_SCHED_KERNEL || n->sched == MOAC_SCHED_REFERENCE; }

static int is_io(const moac_node *n) {
    return n->op == MOAC_OP_INPUT || n->op == MOAC_OP_PARAM || n->op == MOAC_OP_OUTPUT;
}

static const char *value(const moac_node *n, char *buf, size_t len) {
    if (n->name) snprintf(buf, len, "%%%s", n->name);
    else snprintf(buf, len, "%%%u", n->id);
    return buf;
}

typedef struct kinfo {
    const moac_node *first;      /* first member, in node order */
    const moac_node *root;       /* first root */
    int nodes, roots;
    moac_sched kind;
} kinfo;

typedef struct checker {
    const moac_graph *g;
    moac_diag *d;
    const char *stage;
    int problems;
} checker;

#define PROBLEM(c, n, ...) ((c)->problems++, moac_ir_report((c)->d, (c)->stage, (n), __VA_ARGS__))

/* Each annotation on its own: the right kind for the op, a kernel id in range. */
static void check_annotations(checker *c) {
    const moac_graph *g = c->g;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        const char *op = moac_op_info_get(n->op)->name;
        if (is_io(n)) {
            if (n->sched != MOAC_SCHED_NONE) PROBLEM(c, n, "an %s takes no schedule annotation", op);
            continue;
        }
        switch (n->sched) {
        case MOAC_SCHED_NONE:
            PROBLEM(c, n, "has no schedule annotation, but the graph is scheduled: every computed value "
                          "needs one (@kN, @rN, @view or @inline)");
            break;
        case MOAC_SCHED_KERNEL:
        case MOAC_SCHED_REFERENCE:
            if (n->kernel < 0 || (size_t)n->kernel >= g->count)
                PROBLEM(c, n, "kernel %d does not exist: kernels are numbered from 0, at most one per value",
                        (int)n->kernel);
            break;
        case MOAC_SCHED_VIEW:
            if (n->op != MOAC_OP_RESHAPE) PROBLEM(c, n, "@view: only a reshape can be a view of its operand's bytes");
            break;
        case MOAC_SCHED_INLINE:
            if (!(moac_op_info_get(n->op)->flags & MOAC_OPF_FREE))
                PROBLEM(c, n, "@inline: only constants (full) are recomputed in every consumer; give %s a kernel", op);
            break;
        }
    }
}

/* The kernel after which a value's bytes exist: its own, or for a view its operand's; -1 for
 * inputs and params (there from the start). */
static int32_t ready_after(const moac_node *n, const int32_t *ready) {
    if (member(n)) return n->kernel;
    if (n->sched == MOAC_SCHED_VIEW) return ready[n->id];
    return -1;
}

static void roots_and_uses(const moac_graph *g, char *root, int *uses) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        root[i] = 0;
        for (int j = 0; j < n->nargs; j++) {
            const moac_node *x = n->args[j];
            uses[x->id]++;
            if (member(x) && !(member(n) && n->kernel == x->kernel)) root[x->id] = 1;
        }
    }
    for (size_t i = 0; i < g->count; i++)
        if (member(g->nodes[i]) && !uses[i]) root[i] = 1;
}

void moac_sched_roots(const moac_graph *g, char *root) {
    int *uses = calloc(g->count ? g->count : 1, sizeof *uses);
    if (!uses) abort();
    roots_and_uses(g, root, uses);
    free(uses);
}

int moac_sched_check(const moac_graph *g, moac_diag *d, const char *stage) {
    checker c = {g, d, stage ? stage : "verify", 0};
    if (!moac_graph_scheduled(g)) return 0;
    check_annotations(&c);
    if (c.problems) return c.problems;

    size_t n_ = g->count ? g->count : 1;
    char *root = calloc(n_, 1);
    int *uses = calloc(n_, sizeof *uses);
    int32_t *ready = calloc(n_, sizeof *ready);
    kinfo *k = calloc(n_, sizeof *k);
    if (!root || !uses || !ready || !k) abort();
    char a[96];

    roots_and_uses(g, root, uses);
    /* Kernels: ids dense in the order of their first roots; one kind each; several roots only for
     * a declared join; fused (register) members only in kernels that fuse. */
    int32_t next = 0;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (!member(n)) continue;
        kinfo *ki = &k[n->kernel];
        if (!ki->first) {
            ki->first = n;
            ki->kind = n->sched;
        } else if (ki->kind != n->sched) {
            PROBLEM(&c, n, "is in kernel %d as @%c%d, but %s is in it as @%c%d: a kernel runs either on the "
                           "reference kernel or not", (int)n->kernel, n->sched == MOAC_SCHED_KERNEL ? 'k' : 'r',
                    (int)n->kernel, value(ki->first, a, sizeof a), ki->kind == MOAC_SCHED_KERNEL ? 'k' : 'r',
                    (int)n->kernel);
        }
        ki->nodes++;
        if (!root[i]) {
            if (!moac_sched_fusable(n))
                PROBLEM(&c, n, "is read only inside kernel %d, so it would be computed in registers there, which "
                               "%s cannot be (only elementwise f32 and layout ops are); give it a kernel of its own",
                        (int)n->kernel, moac_op_info_get(n->op)->name);
            continue;
        }
        if (ki->roots++ == 0) {
            ki->root = n;
            if (n->kernel > next)
                PROBLEM(&c, n, "kernel %d starts here, before kernel %d: kernels are numbered in the order they "
                               "run (the order of their first stored values)", (int)n->kernel, (int)next);
            if (n->kernel >= next) next = n->kernel + 1;
        } else if (!moac_sched_joinable(ki->root, n)) {
            PROBLEM(&c, n, "is a second stored value of kernel %d (with %s); only a declared join (an "
                           "attention with its attention_lse, the attention_grads of one attention) may store several", (int)n->kernel,
                    value(ki->root, a, sizeof a));
        }
    }
    /* Operands: from this kernel's registers, or stored by an earlier kernel. */
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->sched == MOAC_SCHED_VIEW) ready[i] = ready_after(n->args[0], ready);
        for (int j = 0; j < n->nargs; j++) {
            const moac_node *x = n->args[j];
            value(x, a, sizeof a);
            if (x->sched == MOAC_SCHED_INLINE) {
                if (!(n->sched == MOAC_SCHED_KERNEL && moac_sched_fusable(n)))
                    PROBLEM(&c, n, "reads @inline %s, which has no bytes: only a fused (elementwise or layout) "
                                   "kernel member recomputes it", a);
                continue;
            }
            if (!member(n)) continue; /* views and outputs read bytes, which roots and views have */
            if (member(x) && x->kernel == n->kernel) {
                if (root[x->id])
                    PROBLEM(&c, n, "reads %s inside kernel %d, but %s is also stored for readers outside it: a "
                                   "value is either stored or recomputed in registers", a, (int)n->kernel, a);
                else if (!moac_sched_fusable(n))
                    PROBLEM(&c, n, "reads %s in registers inside kernel %d, which only elementwise and layout ops "
                                   "do; give %s a kernel of its own", a, (int)n->kernel, a);
                continue;
            }
            int32_t r = ready_after(x, ready);
            if (r >= n->kernel)
                PROBLEM(&c, n, "is in kernel %d but reads %s, which kernel %d stores: a kernel reads only what "
                               "earlier kernels stored", (int)n->kernel, a, (int)r);
        }
    }
    for (size_t i = 0; i < g->count; i++) {
        const kinfo *ki = &k[i];
        if (!ki->first) continue;
        if (ki->kind == MOAC_SCHED_REFERENCE && ki->nodes > 1)
            PROBLEM(&c, ki->first, "kernel @r%d has %d members; a reference kernel computes one value", (int)i,
                    ki->nodes);
    }
    free(root);
    free(uses);
    free(ready);
    free(k);
    return c.problems;
}
