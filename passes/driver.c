#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/lower.h"
#include "passes/pass.h"
#include "passes/schedule.h"

static const moac_pass passes[] = {
    {"fuse_projections", "joins matmuls of one input by param weights into one matmul of the concatenated weights",
     moac_pass_fuse_projections, 0, 1, 0},
    {"autodiff", "appends the backward graph: an output grad.<param> per param", moac_pass_autodiff, 1, 0, 0},
    {"concat_pads", "turns sums of pads that tile an axis (the gradients of slices) into a concat",
     moac_pass_concat_pads, 1, 1, 0},
    {"cse", "merges identical computations (same op, operands and attributes)", moac_pass_cse, 0, 0, 0},
    {"dce", "removes values that no output depends on", moac_pass_dce, 0, 0, 0},
    {"remat", "recomputes large gathers in the backward instead of keeping them from the forward",
     moac_pass_remat, 0, 0, 0},
};

static const char *const pass_names[] = {"lower", "fuse_projections", "autodiff", "concat_pads", "cse", "dce", "remat", "attention_stats", "schedule",
                                          "plan"};

const moac_pass *moac_passes(int *count) {
    *count = (int)(sizeof passes / sizeof *passes);
    return passes;
}

const char *const *moac_pass_names(int *count) {
    *count = (int)(sizeof pass_names / sizeof *pass_names);
    return pass_names;
}

int moac_pass_exists(const char *name) {
    for (size_t i = 0; i < sizeof pass_names / sizeof *pass_names; i++)
        if (!strcmp(pass_names[i], name)) return 1;
    return 0;
}

int moac_pass_optional(const char *name) {
    for (size_t i = 0; i < sizeof passes / sizeof *passes; i++)
        if (!strcmp(passes[i].name, name)) return passes[i].optional;
    return 0;
}

/* Calls f for each entry of a +NAME/-NAME list, with the name and whether it turns the pass on. */
static int each_entry(const char *list, int (*f)(void *ctx, const char *name, size_t len, int on), void *ctx) {
    for (const char *s = list; s && *s;) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        int on = *s != '-';
        size_t skip = (*s == '-' || *s == '+') && n > 0;
        if (n > skip && f(ctx, s + skip, n - skip, on)) return -1;
        s = end ? end + 1 : s + n;
    }
    return 0;
}

typedef struct lookup {
    const char *name;
    int on;
} lookup;

static int note_mention(void *ctx, const char *name, size_t len, int on) {
    lookup *l = ctx;
    if (strlen(l->name) == len && !strncmp(l->name, name, len)) l->on = on;
    return 0;
}

/* Does pass `pass` run under p? */
static int selected(const moac_pipeline *p, const moac_pass *pass) {
    if (!pass->optional) return 1;
    lookup l = {pass->name, pass->on_by_default};
    each_entry(p ? p->passes : NULL, note_mention, &l);
    return l.on;
}

typedef struct checked {
    char *why;
    size_t len;
} checked;

static int check_entry(void *ctx, const char *name, size_t len, int on) {
    (void)on;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), name);
    if (len < sizeof buf && moac_pass_optional(buf)) return 0;
    checked *c = ctx;
    int n = snprintf(c->why, c->len, "'%s' is not a pass that can be turned on or off; those are", buf);
    for (size_t i = 0; i < sizeof passes / sizeof *passes && n > 0 && (size_t)n < c->len; i++)
        if (passes[i].optional)
            n += snprintf(c->why + n, c->len - (size_t)n, " %s (%s by default)", passes[i].name,
                          passes[i].on_by_default ? "on" : "off");
    return -1;
}

int moac_pass_list_check(const char *list, char *why, size_t len) {
    checked c = {why, len};
    if (len) why[0] = 0;
    return each_entry(list, check_entry, &c);
}

/* Does p ask for the IR after pass `name`? */
static int dumps(const moac_pipeline *p, const char *name) {
    return p && p->dump && (p->print_after_all || (p->print_after && !strcmp(p->print_after, name)));
}

static void after(const char *name, const moac_graph *g, const moac_pipeline *p) {
    if (!p) return;
    if (moac_log_debug(p->log)) moac_log_printf(p->log, "moac: pass %-8s %zu nodes\n", name, g->count);
    if (!dumps(p, name)) return;
    if (p->print_after_all || p->dot) {
        moac_strbuf_printf(p->dump, "%s after pass '%s'\n", p->dot ? "//" : "#", name);
    }
    if (p->dot) moac_ir_dot(g, p->dump);
    else moac_ir_print(g, p->dump);
}

static int verify(const moac_graph *g, const char *pass, moac_diag *d) {
    char stage[64];
    snprintf(stage, sizeof stage, "after pass '%s'", pass);
    return moac_ir_verify(g, d, stage);
}

moac_graph *moac_pipeline_graph(moac_graph *g, const moac_pipeline *p, moac_diag *d) {
    /* A scheduled graph (IR text written after pass 'schedule') is final: the passes would rewrite
     * nodes under their kernels' annotations. */
    if (moac_graph_scheduled(g)) {
        if (p && (p->train || p->print_after || p->print_after_all)) {
            moac_diag_file_error(d, NULL, "graph '%s' is already scheduled (its values carry @k/@r/@view/@inline "
                                 "annotations), so no pass runs on it%s; use the IR from before pass 'schedule'",
                                 g->name, p->train ? " and it cannot be differentiated" : "");
            return NULL;
        }
        return g;
    }
    for (size_t i = 0; i < sizeof passes / sizeof *passes; i++) {
        if (passes[i].train_only && !(p && p->train)) continue;
        if (!selected(p, &passes[i])) continue;
        if (passes[i].run(&g, d) || verify(g, passes[i].name, d)) return NULL;
        after(passes[i].name, g, p);
    }
    if (p && p->schedule && moac_pipeline_schedule(g, p->schedule, p, d)) return NULL;
    return g;
}

int moac_pipeline_schedule(moac_graph *g, const moac_sched_rules *r, const moac_pipeline *p, moac_diag *d) {
    if (moac_attention_stats(g, r, d) || verify(g, "attention_stats", d)) return -1;
    after("attention_stats", g, p);
    if (moac_schedule(g, r, d) || verify(g, "schedule", d)) return -1;
    after("schedule", g, p);
    /* The plan is the backend's to recompute from the schedule, so it is made here only to be
     * printed. */
    if (r->plan && dumps(p, "plan")) {
        moac_plan plan;
        if (r->plan(g, &plan, d)) return -1;
        after("plan", g, p);
        moac_plan_print(&plan, r->backend, p->dump);
        free(plan.buffers);
    }
    return 0;
}

moac_graph *moac_pipeline_spec(moac_arena *a, const moac_spec *spec, int64_t batch, const moac_pipeline *p,
                               moac_diag *d) {
    if (moac_lower_check_size(spec, batch, d)) return NULL;
    moac_graph *g = moac_lower_spec_ex(a, spec, batch, p && p->logits ? MOAC_LOWER_LOGITS : 0);
    if (verify(g, "lower", d)) return NULL;
    after("lower", g, p);
    return moac_pipeline_graph(g, p, d);
}
