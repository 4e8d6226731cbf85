/* The reference interpreter's table (backends/backend.h) over moac_interp_* (interp.h): it runs
 * every op on its reference kernel and fuses nothing, in double precision; f32 and i32 data is
 * widened on the way in (exactly) and narrowed to f32 on the way out by `read` (`read_f64`
 * hands the f64 results over whole, for the comparisons against the CPU). */
#include <stdlib.h>

#include "backends/backend.h"
#include "support/sysmem.h"

static int supports(const moac_node *n) { return (void)n, 1; }
static int fuses(const moac_node *n) { return (void)n, 0; }

static const moac_sched_rules interp_rules = {.backend = "interp", .supports = supports, .fuses = fuses};

/* Peak bytes the interpreter holds running g: persistent inputs and params, plus every other
 * value from its definition to its last use (the interpreter frees it then). */
static double planned_bytes(const moac_graph *g) {
    size_t n = g->count ? g->count : 1;
    size_t *last = calloc(n, sizeof *last);
    if (!last) abort();
    for (size_t i = 0; i < g->count; i++) {
        last[i] = i;
        for (int a = 0; a < g->nodes[i]->nargs; a++) last[g->nodes[i]->args[a]->id] = i;
    }
    double live = 0, peak = 0;
    double *freed_at = calloc(n, sizeof *freed_at); /* bytes released after node i runs */
    if (!freed_at) abort();
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *node = g->nodes[i];
        double bytes = 8.0 * (double)moac_type_numel(&node->type);
        live += bytes;
        int transient = node->op != MOAC_OP_INPUT && node->op != MOAC_OP_PARAM && node->op != MOAC_OP_OUTPUT;
        if (transient) freed_at[last[i]] += bytes;
        if (live > peak) peak = live;
        live -= freed_at[i];
    }
    free(last);
    free(freed_at);
    return peak;
}

static void *compile(const moac_graph *g, const moac_compile_opts *o, moac_diag *d) {
    (void)o; /* nothing to compile, cache or thread */
    double need = planned_bytes(g), have = moac_mem_available();
    if (have > 0 && need > 0.9 * have) {
        moac_diag_file_error(d, NULL,
                             "running '%s' on the reference interpreter needs about %.1f GiB at its peak, but only "
                             "%.1f GiB of memory is available; lower the batch or the context in the spec's train "
                             "block, or use --backend cpu (the interpreter keeps every value in double precision)",
                             g->name, need / 1073741824.0, have / 1073741824.0);
        return NULL;
    }
    moac_interp *ip = moac_interp_new(g);
    if (!ip) moac_diag_file_error(d, NULL, "out of memory setting up '%s' on the reference interpreter", g->name);
    return ip;
}

static int write(void *impl, const moac_node *n, const void *data) {
    double *buf = moac_interp_buffer(impl, n->s);
    if (!buf) return -1;
    int64_t count = moac_type_numel(&n->type);
    if (n->type.dtype == MOAC_I32)
        for (int64_t i = 0; i < count; i++) buf[i] = ((const int32_t *)data)[i];
    else
        for (int64_t i = 0; i < count; i++) buf[i] = ((const float *)data)[i];
    return 0;
}

static int run(void *impl, const moac_run_opts *o, char *err, size_t errlen) {
    return moac_interp_run(impl, o, err, errlen);
}

static int read(const void *impl, const moac_node *n, float *dst) {
    const double *v = moac_interp_result(impl, n->s);
    if (!v) return -1;
    for (int64_t i = 0, count = moac_type_numel(&n->type); i < count; i++) dst[i] = (float)v[i];
    return 0;
}

static int read_f64(const void *impl, const moac_node *n, double *dst) {
    const double *v = moac_interp_result(impl, n->s);
    if (!v) return -1;
    for (int64_t i = 0, count = moac_type_numel(&n->type); i < count; i++) dst[i] = v[i];
    return 0;
}

static void free_impl(void *impl) { moac_interp_free(impl); }

/* No bind (its buffers are doubles, not the caller's f32), nothing to describe (no compile),
 * no code to emit. */
const moac_backend_ops moac_interp_backend = {
    .name = "interp",
    .rules = &interp_rules,
    .compile = compile,
    .write = write,
    .run = run,
    .read = read,
    .read_f64 = read_f64,
    .free = free_impl,
};
