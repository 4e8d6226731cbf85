#include "runtime/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "support/sysmem.h"

struct moac_exec {
    const moac_graph *g;
    moac_backend backend;
    moac_interp *ip;               /* MOAC_BACKEND_INTERP */
    moac_cpu *cpu;                 /* MOAC_BACKEND_CPU */
    const moac_state *bound;       /* the state whose params the backend reads */
    double **param_buf;            /* interp: per state param, its buffer (NULL if unused) */
    int nparams;
    void *tokens, *targets;
    int64_t ntok;
    const moac_node **metrics;     /* output nodes that are not gradients */
    double **metric_values;        /* CPU: the metrics widened to double after each run */
    int nmetrics;
};

int moac_backend_parse(const char *name, moac_backend *out) {
    if (!strcmp(name, "cpu")) *out = MOAC_BACKEND_CPU;
    else if (!strcmp(name, "interp")) *out = MOAC_BACKEND_INTERP;
    else return -1;
    return 0;
}

const char *moac_backend_name(moac_backend b) { return b == MOAC_BACKEND_CPU ? "cpu" : "interp"; }

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

static int new_interp(moac_exec *e, moac_diag *d) {
    const moac_graph *g = e->g;
    double need = planned_bytes(g), have = moac_mem_available();
    if (have > 0 && need > 0.9 * have) {
        moac_diag_file_error(d, NULL,
                             "running '%s' on the reference interpreter needs about %.1f GiB at its peak, but only "
                             "%.1f GiB of memory is available; lower the batch or the context in the spec's train "
                             "block, or use --backend cpu (the interpreter keeps every value in double precision)",
                             g->name, need / 1073741824.0, have / 1073741824.0);
        return -1;
    }
    e->ip = moac_interp_new(g);
    if (!e->ip) {
        moac_diag_file_error(d, NULL, "out of memory setting up '%s' on the reference interpreter", g->name);
        return -1;
    }
    e->tokens = moac_interp_buffer(e->ip, "tokens");
    e->targets = moac_interp_buffer(e->ip, "targets");
    return 0;
}

static int new_cpu(moac_exec *e, int quiet, moac_diag *d) {
    e->cpu = moac_cpu_new(e->g, NULL, d);
    if (!e->cpu) return -1;
    moac_cpu_stats st = moac_cpu_get_stats(e->cpu);
    if (getenv("MOAC_DEBUG"))
        fprintf(stderr, "moac: cpu compile of '%s': cache key %.3f s, schedule+emit %.3f s, optimise+codegen %.3f s, "
                        "load %.3f s\n", e->g->name, st.jit.key_s, st.schedule_s, st.jit.compile_s, st.jit.load_s);
    if (!quiet) {
        if (st.jit.cache_hit)
            fprintf(stderr, "compiled '%s' for the CPU in %.0f ms (compile cache hit %s; %d kernels)\n", e->g->name,
                    1e3 * (st.schedule_s + st.jit.key_s + st.jit.load_s), st.jit.key, st.kernels);
        else
            fprintf(stderr, "compiled '%s' for the CPU in %.2f s (%d kernels, %d ops fused; cached as %s)\n",
                    e->g->name, st.schedule_s + st.jit.key_s + st.jit.compile_s + st.jit.load_s, st.kernels,
                    st.fused_nodes, st.jit.key);
    }
    e->tokens = moac_cpu_buffer(e->cpu, "tokens");
    e->targets = moac_cpu_buffer(e->cpu, "targets");
    e->metric_values = calloc((size_t)e->nmetrics + 1, sizeof *e->metric_values);
    if (!e->metric_values) abort();
    for (int i = 0; i < e->nmetrics; i++) {
        e->metric_values[i] = calloc((size_t)moac_type_numel(&e->metrics[i]->type) + 1, sizeof(double));
        if (!e->metric_values[i]) abort();
    }
    return 0;
}

moac_exec *moac_exec_new(const moac_graph *g, moac_backend backend, int quiet, moac_diag *d) {
    moac_exec *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->g = g;
    e->backend = backend;
    e->metrics = calloc(g->count + 1, sizeof *e->metrics);
    if (!e->metrics) abort();
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op == MOAC_OP_INPUT && !strcmp(n->s, "tokens")) e->ntok = moac_type_numel(&n->type);
        if (n->op == MOAC_OP_OUTPUT && strncmp(n->s, "grad.", 5)) e->metrics[e->nmetrics++] = n;
    }
    if ((backend == MOAC_BACKEND_CPU ? new_cpu(e, quiet, d) : new_interp(e, d))) {
        moac_exec_free(e);
        return NULL;
    }
    if (!e->tokens || !e->targets) {
        moac_diag_file_error(d, NULL, "graph '%s' has no tokens/targets inputs; cannot train or evaluate it", g->name);
        moac_exec_free(e);
        return NULL;
    }
    return e;
}

void moac_exec_free(moac_exec *e) {
    if (!e) return;
    moac_interp_free(e->ip);
    moac_cpu_free(e->cpu);
    if (e->metric_values)
        for (int i = 0; i < e->nmetrics; i++) free(e->metric_values[i]);
    free(e->metric_values);
    free(e->param_buf);
    free(e->metrics);
    free(e);
}

static void bind(moac_exec *e, const moac_state *s) {
    if (e->bound == s && e->nparams == s->nparams) return;
    if (e->cpu) {
        /* The CPU backend reads the state's f32 weights where they are: nothing to copy per step. */
        for (int p = 0; p < s->nparams; p++) moac_cpu_bind(e->cpu, s->params[p].name, s->w + s->params[p].offset);
    } else {
        free(e->param_buf);
        e->param_buf = calloc(s->nparams ? (size_t)s->nparams : 1, sizeof *e->param_buf);
        if (!e->param_buf) abort();
        for (int p = 0; p < s->nparams; p++) e->param_buf[p] = moac_interp_buffer(e->ip, s->params[p].name);
    }
    e->nparams = s->nparams;
    e->bound = s;
}

int moac_exec_run(moac_exec *e, const moac_state *s, const int32_t *x, const int32_t *y, const moac_interp_opts *o,
                  char *err, size_t errlen) {
    bind(e, s);
    if (e->cpu) {
        memcpy(e->tokens, x, (size_t)e->ntok * sizeof *x);
        memcpy(e->targets, y, (size_t)e->ntok * sizeof *y);
        if (moac_cpu_run(e->cpu, o, err, errlen)) return -1;
        for (int i = 0; i < e->nmetrics; i++) {
            const moac_node *n = e->metrics[i];
            const void *v = moac_cpu_result(e->cpu, n->s);
            int64_t count = moac_type_numel(&n->type);
            for (int64_t j = 0; j < count; j++)
                e->metric_values[i][j] = n->type.dtype == MOAC_I32 ? ((const int32_t *)v)[j] : ((const float *)v)[j];
        }
        return 0;
    }
    for (int p = 0; p < s->nparams; p++) {
        double *buf = e->param_buf[p];
        if (!buf) continue; /* a param the graph does not read (eval graphs drop none, but be safe) */
        const float *w = s->w + s->params[p].offset;
        for (size_t i = 0; i < s->params[p].numel; i++) buf[i] = w[i];
    }
    double *tok = e->tokens, *tgt = e->targets;
    for (int64_t i = 0; i < e->ntok; i++) {
        tok[i] = x[i];
        tgt[i] = y[i];
    }
    return moac_interp_run(e->ip, o, err, errlen);
}

void moac_exec_grads(const moac_exec *e, moac_state *s) {
    char name[512];
    for (int p = 0; p < s->nparams; p++) {
        snprintf(name, sizeof name, "grad.%s", s->params[p].name);
        float *out = s->g + s->params[p].offset;
        size_t n = s->params[p].numel;
        if (e->cpu) {
            const float *g = moac_cpu_result(e->cpu, name);
            if (g)
                memcpy(out, g, n * sizeof *out);
            else
                memset(out, 0, n * sizeof *out);
            continue;
        }
        const double *g = moac_interp_result(e->ip, name);
        for (size_t i = 0; i < n; i++) out[i] = g ? (float)g[i] : 0.0f;
    }
}

const double *moac_exec_output(const moac_exec *e, const char *name, int64_t *numel) {
    for (int i = 0; i < e->nmetrics; i++) {
        const moac_node *n = e->metrics[i];
        if (strcmp(n->s, name)) continue;
        if (numel) *numel = moac_type_numel(&n->type);
        return e->cpu ? e->metric_values[i] : moac_interp_result(e->ip, name);
    }
    return NULL;
}

int moac_exec_metric_count(const moac_exec *e) { return e->nmetrics; }

const char *moac_exec_metric_name(const moac_exec *e, int i, int64_t *numel) {
    if (numel) *numel = moac_type_numel(&e->metrics[i]->type);
    return e->metrics[i]->s;
}
