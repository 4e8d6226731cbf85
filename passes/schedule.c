/* Pass 'schedule' (passes/schedule.h). One walk to count uses, one forward walk that numbers the
 * kernels, one backward walk that puts each fused member into its consumer's kernel; joins are
 * found by sorting the candidates, so the pass stays O(n log n) on any graph. */
#include "passes/schedule.h"

#include <stdlib.h>
#include <string.h>

#include "passes/pass.h"

typedef struct walk {
    const moac_graph *g;
    const moac_sched_rules *r;
    int *uses;
    int *consumer;      /* the last reader of each node (its only one, for fused members) */
    char *inlined;      /* computed inside its consumer's kernel */
    int *join_head;     /* per node: the first node of the join it is in, or -1 */
} walk;

static int is_io(const moac_node *n) {
    return n->op == MOAC_OP_INPUT || n->op == MOAC_OP_PARAM || n->op == MOAC_OP_OUTPUT;
}

/* Inlined: fused by the backend into every reader (all of which are fused code themselves), and
 * either free to recompute or read once, so nothing is computed twice. */
static void decide_inlining(walk *w) {
    const moac_graph *g = w->g;
    char *readers_fuse = malloc(g->count);
    if (!readers_fuse) abort();
    memset(readers_fuse, 1, g->count);
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        int fused_reader = w->r->fuses(n);
        for (int a = 0; a < n->nargs; a++) {
            uint32_t id = n->args[a]->id;
            w->uses[id]++;
            w->consumer[id] = (int)i;
            if (!fused_reader) readers_fuse[id] = 0;
        }
    }
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (!w->uses[i] || !readers_fuse[i] || !w->r->fuses(n)) continue;
        if ((moac_op_info_get(n->op)->flags & MOAC_OPF_FREE) || w->uses[i] == 1) w->inlined[i] = 1;
    }
    free(readers_fuse);
}

/* Join candidates sort by what must be equal (operands, attributes but `which`), then by id. */
static int join_key_cmp_nodes(const moac_node *a, const moac_node *b) {
    if (a->nargs != b->nargs) return a->nargs - b->nargs;
    for (int k = 0; k < a->nargs; k++)
        if (a->args[k]->id != b->args[k]->id) return a->args[k]->id < b->args[k]->id ? -1 : 1;
    if (a->i[0] != b->i[0]) return a->i[0] < b->i[0] ? -1 : 1;
    if (a->f[0] != b->f[0]) return a->f[0] < b->f[0] ? -1 : 1;
    return 0;
}

static int join_key_cmp(const void *x, const void *y) {
    const moac_node *a = *(const moac_node *const *)x, *b = *(const moac_node *const *)y;
    int c = join_key_cmp_nodes(a, b);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

/* The ops of the declared joins (moac_sched_joinable). */
static int joins_op(moac_op op) {
    return op == MOAC_OP_ATTENTION || op == MOAC_OP_ATTENTION_LSE || op == MOAC_OP_ATTENTION_GRAD;
}

/* Each run of equal keys is a join when its members are pairwise joinable (no `which` twice)
 * and the backend renders it; its head is its first node. */
static void find_joins(walk *w) {
    const moac_graph *g = w->g;
    for (size_t i = 0; i < g->count; i++) w->join_head[i] = -1;
    if (!w->r->joins) return;
    const moac_node **c = malloc((g->count ? g->count : 1) * sizeof *c);
    if (!c) abort();
    size_t n = 0;
    for (size_t i = 0; i < g->count; i++)
        if (joins_op(g->nodes[i]->op) && !w->inlined[i]) c[n++] = g->nodes[i];
    qsort(c, n, sizeof *c, join_key_cmp);
    for (size_t s = 0, e; s < n; s = e) {
        for (e = s + 1; e < n && !join_key_cmp_nodes(c[s], c[e]);) e++;
        int ok = e - s >= 2;
        for (size_t a = s; a < e && ok; a++)
            for (size_t b = a + 1; b < e && ok; b++) ok = moac_sched_joinable(c[a], c[b]);
        if (!ok || !w->r->supports(c[s]) || !w->r->joins(c + s, (int)(e - s))) continue;
        for (size_t k = s; k < e; k++) w->join_head[c[k]->id] = (int)c[s]->id;
    }
    free(c);
}

int moac_schedule(moac_graph *g, const moac_sched_rules *r, moac_diag *d) {
    if (moac_graph_scheduled(g)) {
        moac_diag_file_error(d, NULL, "internal error: graph '%s' is scheduled already", g->name);
        return -1;
    }
    size_t n = g->count ? g->count : 1;
    walk w = {g, r, calloc(n, sizeof(int)), calloc(n, sizeof(int)), calloc(n, 1), calloc(n, sizeof(int))};
    if (!w.uses || !w.consumer || !w.inlined || !w.join_head) abort();
    decide_inlining(&w);
    find_joins(&w);
    int32_t next = 0;
    for (size_t i = 0; i < g->count; i++) {
        moac_node *x = g->nodes[i];
        if (w.inlined[i]) {
            x->sched = (moac_op_info_get(x->op)->flags & MOAC_OPF_FREE) ? MOAC_SCHED_INLINE : MOAC_SCHED_KERNEL;
        } else if (is_io(x)) {
            x->sched = MOAC_SCHED_NONE;
        } else if (x->op == MOAC_OP_RESHAPE && !w.inlined[x->args[0]->id]) { /* of stored bytes: the same bytes */
            x->sched = MOAC_SCHED_VIEW;
        } else if (w.join_head[i] >= 0 && w.join_head[i] != (int)i) {
            x->sched = MOAC_SCHED_KERNEL;
            x->kernel = g->nodes[w.join_head[i]]->kernel;
        } else {
            x->sched = r->supports(x) ? MOAC_SCHED_KERNEL : MOAC_SCHED_REFERENCE;
            x->kernel = next++;
        }
    }
    /* A fused member joins its only reader's kernel; readers come later, so walk backwards. */
    for (size_t i = g->count; i-- > 0;) {
        moac_node *x = g->nodes[i];
        if (w.inlined[i] && x->sched == MOAC_SCHED_KERNEL) x->kernel = g->nodes[w.consumer[i]]->kernel;
    }
    free(w.uses);
    free(w.consumer);
    free(w.inlined);
    free(w.join_head);
    return 0;
}

int moac_sched_check_rules(const moac_graph *g, const moac_sched_rules *r, moac_diag *d) {
    const char *stage = r->backend;
    char *root = malloc(g->count ? g->count : 1);
    int *kernel_roots = calloc(g->count ? g->count : 1, sizeof *kernel_roots);
    const moac_node **first_root = calloc(g->count ? g->count : 1, sizeof *first_root);
    if (!root || !kernel_roots || !first_root) abort();
    moac_sched_roots(g, root);
    int problems = 0;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        const char *op = moac_op_info_get(n->op)->name;
        if (n->sched == MOAC_SCHED_INLINE && !r->fuses(n)) {
            moac_ir_report(d, stage, n, "the %s backend does not recompute %s inside its readers; give it a kernel "
                           "of its own", r->backend, op);
            problems++;
        }
        if (n->sched != MOAC_SCHED_KERNEL) continue;
        if (root[i] && kernel_roots[n->kernel]++ == 0) first_root[n->kernel] = n;
        if (!root[i] && !r->fuses(n)) {
            moac_ir_report(d, stage, n, "the %s backend does not compute %s inside another kernel; give it a "
                           "kernel of its own", r->backend, op);
            problems++;
        } else if (first_root[n->kernel] == n && !r->supports(n)) { /* a join's other roots: r->joins below */
            moac_ir_report(d, stage, n, "the %s backend has no kernel for this %s; schedule it @r (the reference "
                           "kernel)", r->backend, op);
            problems++;
        }
    }
    /* Several roots: the run of them, in node order, must be a join r renders. */
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->sched != MOAC_SCHED_KERNEL || !root[i] || first_root[n->kernel] != n || kernel_roots[n->kernel] < 2)
            continue;
        int count = kernel_roots[n->kernel], k = 0;
        const moac_node **group = malloc((size_t)count * sizeof *group);
        if (!group) abort();
        for (size_t j = i; j < g->count && k < count; j++)
            if (g->nodes[j]->sched == MOAC_SCHED_KERNEL && g->nodes[j]->kernel == n->kernel && root[j])
                group[k++] = g->nodes[j];
        if (!r->joins || !r->joins(group, count)) {
            moac_ir_report(d, stage, n, "the %s backend does not render these %d values as one kernel", r->backend,
                           count);
            problems++;
        }
        free(group);
    }
    free(root);
    free(kernel_roots);
    free(first_root);
    return problems;
}
