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

moac_exec *moac_exec_new(const moac_graph *g, moac_backend backend, moac_diag *d) {
    (void)backend;
    moac_exec *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->g = g;
    e->ip = moac_interp_new(g);
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
