#include "runtime/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct moac_exec {
    const moac_graph *g;
    moac_compiled *c;
    const moac_state *bound;       /* the state whose params the backend reads */
    int nparams;
    int in_place;                  /* the backend reads the bound state's weights where they are */
    int64_t ntok;
    const moac_node **metrics;     /* output nodes that are not gradients */
    double **metric_values;        /* the metrics, as double, after each run */
    int nmetrics;
    int device_optimizer;          /* the backend keeps the training state on its device */
    moac_state *attached;          /* the state it keeps there (resident here), once a step ran */
    moac_optim_param *oparams;     /* that state's layout, as the backend reads it */
    moac_optim_state ostate;
};

static int has_input(const moac_graph *g, const char *name) {
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->op == MOAC_OP_INPUT && !strcmp(g->nodes[i]->s, name)) return 1;
    return 0;
}

/* What the backend says about its compile, on the log (with debug: the phases too). */
static void report_compile(const moac_exec *e, const moac_log *log, int quiet) {
    moac_strbuf text;
    moac_strbuf_init(&text);
    if (moac_log_debug(log)) moac_compiled_describe(e->c, 1, &text);
    if (!quiet) moac_compiled_describe(e->c, 0, &text);
    moac_log_puts(log, moac_strbuf_cstr(&text));
    moac_strbuf_free(&text);
}

moac_exec *moac_exec_new(const moac_graph *g, const moac_backend_ops *be, const moac_compile_opts *o, int quiet,
                         moac_diag *d) {
    if (!has_input(g, "tokens") || !has_input(g, "targets")) {
        moac_diag_file_error(d, NULL, "graph '%s' has no tokens/targets inputs; cannot train or evaluate it", g->name);
        return NULL;
    }
    moac_exec *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->g = g;
    e->metrics = calloc(g->count + 1, sizeof *e->metrics);
    if (!e->metrics) abort();
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op == MOAC_OP_INPUT && !strcmp(n->s, "tokens")) e->ntok = moac_type_numel(&n->type);
        if (n->op == MOAC_OP_OUTPUT && strncmp(n->s, "grad.", 5)) e->metrics[e->nmetrics++] = n;
    }
    if (!(e->c = moac_compile(g, be, o, d))) {
        moac_exec_free(e);
        return NULL;
    }
    report_compile(e, o ? o->log : NULL, quiet);
    e->device_optimizer = moac_optim_supported(e->c) && !(o && o->host_optimizer);
    e->metric_values = calloc((size_t)e->nmetrics + 1, sizeof *e->metric_values);
    if (!e->metric_values) abort();
    for (int i = 0; i < e->nmetrics; i++) {
        e->metric_values[i] = calloc((size_t)moac_type_numel(&e->metrics[i]->type) + 1, sizeof(double));
        if (!e->metric_values[i]) abort();
    }
    return e;
}

/* The newest weights and moments back from the device that keeps them. */
static int download(moac_state *s, char *err, size_t errlen) {
    if (!s->resident || !s->stale) return 0;
    if (moac_optim_download(s->resident->c, err, errlen)) return -1;
    s->stale = 0;
    return 0;
}

int moac_exec_sync_state(moac_state *s, char *err, size_t errlen) { return download(s, err, errlen); }

void moac_exec_free(moac_exec *e) {
    if (!e) return;
    if (e->attached && e->attached->resident == e) { /* the host keeps the state from here on */
        char err[256];
        if (download(e->attached, err, sizeof err)) fprintf(stderr, "moac: warning: %s\n", err);
        e->attached->resident = NULL;
        e->attached->stale = 0;
    }
    free(e->oparams);
    moac_compiled_free(e->c);
    if (e->metric_values)
        for (int i = 0; i < e->nmetrics; i++) free(e->metric_values[i]);
    free(e->metric_values);
    free(e->metrics);
    free(e);
}

/* Where the backend can read the state's f32 weights in place (the CPU), they are bound once:
 * nothing to copy per step. Otherwise they are written before every run. */
static void bind(moac_exec *e, const moac_state *s) {
    if (e->bound == s && e->nparams == s->nparams) return;
    e->in_place = moac_compiled_backend(e->c)->bind != NULL;
    for (int p = 0; e->in_place && p < s->nparams; p++) /* a param the graph does not read fails: fine */
        moac_bind(e->c, s->params[p].name, s->w + s->params[p].offset, (int64_t)s->params[p].numel);
    e->nparams = s->nparams;
    e->bound = s;
}

int moac_exec_run(moac_exec *e, moac_state *s, const int32_t *x, const int32_t *y, const moac_run_opts *o,
                  char *err, size_t errlen) {
    int resident = s->resident == e; /* the device's weights are the newest: nothing to write */
    if (!resident && download(s, err, errlen)) return -1;
    bind(e, s);
    for (int p = 0; !e->in_place && !resident && p < s->nparams; p++) /* a param the graph does not read is skipped */
        moac_write(e->c, s->params[p].name, s->w + s->params[p].offset, (int64_t)s->params[p].numel);
    moac_write(e->c, "tokens", x, e->ntok);
    moac_write(e->c, "targets", y, e->ntok);
    if (moac_run(e->c, o, err, errlen)) return -1;
    for (int i = 0; i < e->nmetrics; i++) {
        const moac_node *n = e->metrics[i];
        moac_read_f64(e->c, n->s, e->metric_values[i], moac_type_numel(&n->type));
    }
    return 0;
}

void moac_exec_grads(const moac_exec *e, moac_state *s) {
    char name[512];
    for (int p = 0; p < s->nparams; p++) {
        snprintf(name, sizeof name, "grad.%s", s->params[p].name);
        float *out = s->g + s->params[p].offset;
        size_t n = s->params[p].numel;
        if (moac_read(e->c, name, out, (int64_t)n)) memset(out, 0, n * sizeof *out);
    }
}

int moac_exec_device_optimizer(const moac_exec *e) { return e->device_optimizer; }

/* Hands s to e's device: its layout, then its weights and moments copied there. */
static int attach(moac_exec *e, moac_state *s, char *err, size_t errlen) {
    if (download(s, err, errlen)) return -1;
    free(e->oparams);
    e->oparams = calloc((size_t)s->nparams + 1, sizeof *e->oparams);
    if (!e->oparams) abort();
    for (int p = 0; p < s->nparams; p++)
        e->oparams[p] = (moac_optim_param){s->params[p].name, s->params[p].offset, s->params[p].numel, s->params[p].decay};
    e->ostate = (moac_optim_state){e->oparams, s->nparams, s->total, s->w, s->m, s->v};
    if (moac_optim_attach(e->c, &e->ostate, err, errlen)) return -1;
    e->attached = s;
    s->resident = e;
    s->stale = 0;
    return 0;
}

int moac_exec_device_step(moac_exec *e, moac_state *s, const moac_optim_hyper *h, double *norm, char *err,
                          size_t errlen) {
    if (s->resident != e && attach(e, s, err, errlen)) return -1;
    if (moac_optim_step(e->c, h, norm, err, errlen)) return -1;
    s->stale = 1;
    return 0;
}

const double *moac_exec_output(const moac_exec *e, const char *name, int64_t *numel) {
    for (int i = 0; i < e->nmetrics; i++) {
        const moac_node *n = e->metrics[i];
        if (strcmp(n->s, name)) continue;
        if (numel) *numel = moac_type_numel(&n->type);
        return e->metric_values[i];
    }
    return NULL;
}

int moac_exec_metric_count(const moac_exec *e) { return e->nmetrics; }

const char *moac_exec_metric_name(const moac_exec *e, int i, int64_t *numel) {
    if (numel) *numel = moac_type_numel(&e->metrics[i]->type);
    return e->metrics[i]->s;
}
