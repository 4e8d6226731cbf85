/* The registry of backends and the graph-level entry points over their tables (backend.h). */
#include "backends/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const moac_backend_ops *const registry[] = {&moac_cpu_backend, &moac_interp_backend, &moac_cuda_backend};
enum { NBACKENDS = sizeof registry / sizeof *registry };

const moac_backend_ops *moac_backend_find(const char *name) {
    for (int i = 0; i < NBACKENDS; i++)
        if (name && !strcmp(registry[i]->name, name)) return registry[i];
    return NULL;
}

void moac_backend_names(moac_strbuf *out) {
    for (int i = 0; i < NBACKENDS; i++) moac_strbuf_printf(out, "%s%s", i ? ", " : "", registry[i]->name);
}

const moac_backend_ops *moac_backend_default(void) { return registry[0]; }

struct moac_compiled {
    const moac_backend_ops *be;
    void *impl;
    const moac_graph *g;
    int ran; /* the last run succeeded: outputs can be read */
};

moac_compiled *moac_compile(const moac_graph *g, const moac_backend_ops *be, const moac_compile_opts *o,
                            moac_diag *d) {
    if (!be) be = moac_backend_default();
    void *impl = be->compile(g, o, d);
    if (!impl) return NULL;
    moac_compiled *c = calloc(1, sizeof *c);
    if (!c) abort();
    *c = (moac_compiled){be, impl, g, 0};
    return c;
}

void moac_compiled_free(moac_compiled *c) {
    if (!c) return;
    c->be->free(c->impl);
    free(c);
}

const moac_backend_ops *moac_compiled_backend(const moac_compiled *c) { return c->be; }

/* The node of op `op` named name, when it holds numel elements; else NULL. */
static const moac_node *named(const moac_graph *g, moac_op op, const char *name, int64_t numel) {
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op == op && n->s && !strcmp(n->s, name)) return moac_type_numel(&n->type) == numel ? n : NULL;
    }
    return NULL;
}

static const moac_node *bindable(const moac_graph *g, const char *name, int64_t numel) {
    const moac_node *n = named(g, MOAC_OP_INPUT, name, numel);
    return n ? n : named(g, MOAC_OP_PARAM, name, numel);
}

int moac_write(moac_compiled *c, const char *name, const void *data, int64_t numel) {
    const moac_node *n = bindable(c->g, name, numel);
    return n ? c->be->write(c->impl, n, data) : -1;
}

int moac_bind(moac_compiled *c, const char *name, void *data, int64_t numel) {
    const moac_node *n = c->be->bind ? bindable(c->g, name, numel) : NULL;
    return n ? c->be->bind(c->impl, n, data) : -1;
}

int moac_run(moac_compiled *c, const moac_run_opts *o, char *err, size_t errlen) {
    int rc = c->be->run(c->impl, o, err, errlen);
    c->ran = rc == 0;
    return rc;
}

int moac_read(const moac_compiled *c, const char *name, float *dst, int64_t numel) {
    const moac_node *n = c->ran ? named(c->g, MOAC_OP_OUTPUT, name, numel) : NULL;
    return n ? c->be->read(c->impl, n, dst) : -1;
}

int moac_read_f64(const moac_compiled *c, const char *name, double *dst, int64_t numel) {
    const moac_node *n = c->ran ? named(c->g, MOAC_OP_OUTPUT, name, numel) : NULL;
    return n ? c->be->read_f64(c->impl, n, dst) : -1;
}

void moac_compiled_describe(const moac_compiled *c, int detail, moac_strbuf *out) {
    if (c->be->describe) c->be->describe(c->impl, detail, out);
}

int moac_optim_supported(const moac_compiled *c) { return c->be->optim_attach != NULL; }

static int optim_missing(const moac_compiled *c, char *err, size_t errlen) {
    snprintf(err, errlen, "internal error: backend '%s' keeps no training state on a device", c->be->name);
    return -1;
}

int moac_optim_attach(moac_compiled *c, const moac_optim_state *st, char *err, size_t errlen) {
    return c->be->optim_attach ? c->be->optim_attach(c->impl, st, err, errlen) : optim_missing(c, err, errlen);
}

int moac_optim_step(moac_compiled *c, const moac_optim_hyper *h, double *norm, char *err, size_t errlen) {
    if (!c->be->optim_step) return optim_missing(c, err, errlen);
    if (!c->ran) {
        snprintf(err, errlen, "internal error: an optimizer step before a successful run");
        return -1;
    }
    return c->be->optim_step(c->impl, h, norm, err, errlen);
}

int moac_optim_download(moac_compiled *c, char *err, size_t errlen) {
    return c->be->optim_download ? c->be->optim_download(c->impl, err, errlen) : optim_missing(c, err, errlen);
}
