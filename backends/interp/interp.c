/* The reference interpreter: plans a graph once, then runs it node by node through the kernels
 * of kernels*.c.
 *
 * Plan: every node's buffer is a row-major array of doubles. Input and param buffers are
 * allocated (zeroed) when the interpreter is created and persist. Every other node gets a fresh
 * zeroed buffer when it executes and loses it right after its last use (the last node reading
 * it, or itself when nothing reads it); output buffers are kept until the next run so callers can
 * read the results. A training graph thus holds what its backward pass still reads, not every
 * value at once. */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/interp/interp.h"

enum keep_kind { TRANSIENT, PERSISTENT, RESULT }; /* freed after last use / never / at next run */

struct moac_interp {
    const moac_graph *g;
    size_t n;
    double **buf;          /* per node; NULL when not allocated */
    size_t *last_use;      /* per node: position of the last node reading it (itself if none) */
    unsigned char *keep;   /* per node: enum keep_kind */
    const double **args;   /* scratch operand list, as long as the widest node's */
    moac_interp_stats stats;
};

static size_t buffer_bytes(const moac_node *n) { return (size_t)moac_type_numel(&n->type) * sizeof(double); }

static void release(moac_interp *ip, size_t i) {
    if (!ip->buf[i]) return;
    free(ip->buf[i]);
    ip->buf[i] = NULL;
    ip->stats.live_buffers--;
    ip->stats.live_bytes -= buffer_bytes(ip->g->nodes[i]);
}

/* Frees every buffer but those of inputs and params. */
static void release_computed(moac_interp *ip) {
    for (size_t i = 0; i < ip->n; i++)
        if (ip->keep[i] != PERSISTENT) release(ip, i);
}

/* Zeroed storage for node i's value, or NULL when it does not fit in memory. */
static double *acquire(moac_interp *ip, size_t i) {
    int64_t numel = moac_type_numel(&ip->g->nodes[i]->type);
    if (numel < 0 || (uint64_t)numel > SIZE_MAX / sizeof(double)) return NULL;
    double *b = calloc((size_t)numel, sizeof(double));
    if (!b) return NULL;
    ip->buf[i] = b;
    ip->stats.live_buffers++;
    ip->stats.live_bytes += (size_t)numel * sizeof(double);
    if (ip->stats.live_buffers > ip->stats.peak_buffers) ip->stats.peak_buffers = ip->stats.live_buffers;
    if (ip->stats.live_bytes > ip->stats.peak_bytes) ip->stats.peak_bytes = ip->stats.live_bytes;
    return b;
}

moac_interp *moac_interp_new(const moac_graph *g) {
    moac_interp *ip = calloc(1, sizeof *ip);
    if (!ip) return NULL;
    ip->g = g;
    ip->n = g->count;
    size_t n = g->count ? g->count : 1, widest = 1;
    ip->buf = calloc(n, sizeof *ip->buf);
    ip->last_use = calloc(n, sizeof *ip->last_use);
    ip->keep = calloc(n, sizeof *ip->keep);
    for (size_t i = 0; i < g->count; i++)
        if ((size_t)g->nodes[i]->nargs > widest) widest = (size_t)g->nodes[i]->nargs;
    ip->args = calloc(widest, sizeof *ip->args);
    if (!ip->buf || !ip->last_use || !ip->keep || !ip->args) goto fail;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *node = g->nodes[i];
        /* The graph must be compacted and typed: passes guarantee it, so these are asserts. */
        assert(node->id == i && !node->dead && node->type.rank >= 0);
        ip->last_use[i] = i;
        for (int a = 0; a < node->nargs; a++) {
            assert(node->args[a]->id < i && g->nodes[node->args[a]->id] == node->args[a]);
            ip->last_use[node->args[a]->id] = i; /* ascending i: the final value is the last use */
        }
        ip->keep[i] = node->op == MOAC_OP_INPUT || node->op == MOAC_OP_PARAM ? PERSISTENT
                      : node->op == MOAC_OP_OUTPUT                           ? RESULT
                                                                             : TRANSIENT;
    }
    for (size_t i = 0; i < g->count; i++) {
        if (ip->keep[i] != PERSISTENT) continue;
        int64_t numel = moac_type_numel(&g->nodes[i]->type);
        if ((uint64_t)numel > SIZE_MAX / sizeof(double) || !(ip->buf[i] = calloc((size_t)numel, sizeof(double))))
            goto fail;
    }
    return ip;
fail:
    moac_interp_free(ip);
    return NULL;
}

void moac_interp_free(moac_interp *ip) {
    if (!ip) return;
    if (ip->buf)
        for (size_t i = 0; i < ip->n; i++) free(ip->buf[i]);
    free(ip->buf);
    free(ip->last_use);
    free(ip->keep);
    free(ip->args);
    free(ip);
}

/* The node of op `op` whose name attribute is `name`, or -1. */
static long find_named(const moac_interp *ip, moac_op op, moac_op op2, const char *name) {
    if (!name) return -1;
    for (size_t i = 0; i < ip->n; i++) {
        const moac_node *node = ip->g->nodes[i];
        if ((node->op == op || node->op == op2) && node->s && strcmp(node->s, name) == 0) return (long)i;
    }
    return -1;
}

double *moac_interp_buffer(moac_interp *ip, const char *name) {
    long i = find_named(ip, MOAC_OP_INPUT, MOAC_OP_PARAM, name);
    return i < 0 ? NULL : ip->buf[i];
}

const double *moac_interp_result(const moac_interp *ip, const char *name) {
    long i = find_named(ip, MOAC_OP_OUTPUT, MOAC_OP_OUTPUT, name);
    return i < 0 ? NULL : ip->buf[i];
}

moac_interp_stats moac_interp_get_stats(const moac_interp *ip) { return ip->stats; }

int moac_interp_run(moac_interp *ip, const moac_interp_opts *opts, char *err, size_t errlen) {
    static const moac_interp_opts eval = {0};
    if (!opts) opts = &eval;
    if (err && errlen) err[0] = '\0';
    release_computed(ip); /* the previous run's results */
    ip->stats.peak_buffers = ip->stats.live_buffers;
    ip->stats.peak_bytes = ip->stats.live_bytes;
    for (size_t i = 0; i < ip->n; i++) {
        const moac_node *node = ip->g->nodes[i];
        for (int a = 0; a < node->nargs; a++) {
            ip->args[a] = ip->buf[node->args[a]->id];
            assert(ip->args[a]); /* live until its last use, which is not before i */
        }
        double *out = ip->keep[i] == PERSISTENT ? ip->buf[i] : acquire(ip, i);
        if (!out) {
            if (err && errlen) {
                moac_strbuf ty;
                moac_strbuf_init(&ty);
                moac_type_print(&ty, &node->type);
                snprintf(err, errlen, "out of memory for the value of node %zu (%s, %s)", i,
                         moac_op_info_get(node->op)->name, moac_strbuf_cstr(&ty));
                moac_strbuf_free(&ty);
            }
            release_computed(ip);
            return -1;
        }
        moac_kernel_ctx k = {.node = node, .in = ip->args, .out = out, .opts = opts, .err = err, .errlen = errlen};
        if (moac_kernel_run(&k)) {
            release_computed(ip); /* no partial results */
            return -1;
        }
        for (int a = 0; a < node->nargs; a++) {
            size_t j = node->args[a]->id;
            if (ip->last_use[j] == i && ip->keep[j] == TRANSIENT) release(ip, j); /* idempotent for x op x */
        }
        if (ip->last_use[i] == i && ip->keep[i] == TRANSIENT) release(ip, i); /* nothing reads it */
    }
    return 0;
}
