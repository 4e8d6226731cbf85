#include "runtime/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct moac_exec {
    const moac_graph *g;
    moac_interp *ip;
    const moac_state *bound;       /* the state whose params the interpreter buffers follow */
    double **param_buf;            /* per state param, the interpreter buffer (NULL if unused) */
    int nparams;
    double *tokens, *targets;
    int64_t ntok;
    const moac_node **metrics;     /* output nodes that are not gradients */
    int nmetrics;
};

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

/* Memory this process may still use: MemAvailable from /proc/meminfo (0 if unknown). */
static double available_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    double kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

moac_exec *moac_exec_new(const moac_graph *g, moac_backend backend, moac_diag *d) {
    (void)backend;
    double need = planned_bytes(g), have = available_bytes();
    if (have > 0 && need > 0.9 * have) {
        moac_diag_file_error(d, NULL,
                             "running '%s' on the reference interpreter needs about %.1f GiB at its peak, but only "
                             "%.1f GiB of memory is available; lower the batch or the context in the spec's train "
                             "block (the interpreter keeps every value in double precision)",
                             g->name, need / 1073741824.0, have / 1073741824.0);
        return NULL;
    }
    moac_exec *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->g = g;
    e->ip = moac_interp_new(g);
    if (!e->ip) {
        moac_diag_file_error(d, NULL, "out of memory setting up '%s' on the reference interpreter", g->name);
        free(e);
        return NULL;
    }
    e->tokens = moac_interp_buffer(e->ip, "tokens");
    e->targets = moac_interp_buffer(e->ip, "targets");
    if (!e->tokens || !e->targets) {
        moac_diag_file_error(d, NULL, "graph '%s' has no tokens/targets inputs; cannot train or evaluate it", g->name);
        moac_exec_free(e);
        return NULL;
    }
    e->metrics = calloc(g->count, sizeof *e->metrics);
    if (!e->metrics) abort();
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op == MOAC_OP_INPUT && !strcmp(n->s, "tokens")) e->ntok = moac_type_numel(&n->type);
        if (n->op == MOAC_OP_OUTPUT && strncmp(n->s, "grad.", 5)) e->metrics[e->nmetrics++] = n;
    }
    return e;
}

void moac_exec_free(moac_exec *e) {
    if (!e) return;
    moac_interp_free(e->ip);
    free(e->param_buf);
    free(e->metrics);
    free(e);
}

static void bind(moac_exec *e, const moac_state *s) {
    if (e->bound == s && e->nparams == s->nparams) return;
    free(e->param_buf);
    e->param_buf = calloc(s->nparams ? (size_t)s->nparams : 1, sizeof *e->param_buf);
    if (!e->param_buf) abort();
    for (int p = 0; p < s->nparams; p++) e->param_buf[p] = moac_interp_buffer(e->ip, s->params[p].name);
    e->nparams = s->nparams;
    e->bound = s;
}

int moac_exec_run(moac_exec *e, const moac_state *s, const int32_t *x, const int32_t *y, const moac_interp_opts *o,
                  char *err, size_t errlen) {
    bind(e, s);
    for (int p = 0; p < s->nparams; p++) {
        double *buf = e->param_buf[p];
        if (!buf) continue; /* a param the graph does not read (eval graphs drop none, but be safe) */
        const float *w = s->w + s->params[p].offset;
        for (size_t i = 0; i < s->params[p].numel; i++) buf[i] = w[i];
    }
    for (int64_t i = 0; i < e->ntok; i++) {
        e->tokens[i] = x[i];
        e->targets[i] = y[i];
    }
    return moac_interp_run(e->ip, o, err, errlen);
}

void moac_exec_grads(const moac_exec *e, moac_state *s) {
    char name[512];
    for (int p = 0; p < s->nparams; p++) {
        snprintf(name, sizeof name, "grad.%s", s->params[p].name);
        const double *g = moac_interp_result(e->ip, name);
        float *out = s->g + s->params[p].offset;
        for (size_t i = 0; i < s->params[p].numel; i++) out[i] = g ? (float)g[i] : 0.0f;
    }
}

const double *moac_exec_output(const moac_exec *e, const char *name, int64_t *numel) {
    for (size_t i = 0; i < e->g->count; i++) {
        const moac_node *n = e->g->nodes[i];
        if (n->op == MOAC_OP_OUTPUT && !strcmp(n->s, name)) {
            if (numel) *numel = moac_type_numel(&n->type);
            return moac_interp_result(e->ip, name);
        }
    }
    return NULL;
}

int moac_exec_metric_count(const moac_exec *e) { return e->nmetrics; }

const char *moac_exec_metric_name(const moac_exec *e, int i, int64_t *numel) {
    if (numel) *numel = moac_type_numel(&e->metrics[i]->type);
    return e->metrics[i]->s;
}
