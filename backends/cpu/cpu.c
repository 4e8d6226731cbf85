/* The CPU backend's driver: scheduling (which nodes become kernels), emission, memory planning,
 * compilation, and the run loop. */
#include "backends/cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/internal.h"
#include "backends/cpu/pool.h"
#include "passes/pass.h"
#include "passes/plan.h"
#include "support/clock.h"
#include "support/fpenv.h"
#include "support/sysmem.h"

/* Kernels cheaper than this (flops + bytes, ~10 us of work) run on the calling thread: waking the
 * pool costs more (docs/measurements.md, "Small models"). */
#define MOAC_PARALLEL_MIN_COST 2e6

struct moac_cpu {
    const moac_graph *g;        /* the scheduled graph it renders (a copy, or the caller's) */
    moac_arena graph_arena;     /* the scheduled copy of the caller's graph */
    moac_build b;
    moac_kernel_desc *kernels;
    int nkernels;
    moac_kernel_fn *fns;
    void ***tables;             /* per kernel, its bufs[] */
    char *arena;
    size_t arena_bytes;
    moac_run_params params;
    moac_pool *pool;
    moac_jit *jit;
    moac_cpu_stats stats;
    double *prof;               /* opts.profile: seconds per step, summed over runs */
    int profile;                /* opts.profile: 1 the time per kind, 2 also the costliest steps */
    const moac_log *log;        /* opts.log: where the profile goes */
    int runs;
};

int moac_build_slot(moac_build *b, int64_t bytes, const moac_node *n) {
    if (b->nslots == b->capslots) {
        b->capslots = b->capslots ? 2 * b->capslots : 256;
        b->slots = realloc(b->slots, (size_t)b->capslots * sizeof *b->slots);
        if (!b->slots) abort();
    }
    moac_slot *s = &b->slots[b->nslots];
    memset(s, 0, sizeof *s);
    s->bytes = bytes;
    s->first = 1 << 30;
    s->last = -1;
    s->node = n;
    return b->nslots++;
}

static int scratch_slot(void *planner, int64_t bytes) { return moac_build_slot(planner, bytes, NULL); }

static void add_step(moac_build *b, moac_step st) {
    if (b->nsteps == b->capsteps) {
        b->capsteps = b->capsteps ? 2 * b->capsteps : 256;
        b->steps = realloc(b->steps, (size_t)b->capsteps * sizeof *b->steps);
        if (!b->steps) abort();
    }
    b->steps[b->nsteps++] = st;
}

static int64_t value_bytes(const moac_node *n) { return moac_type_numel(&n->type) * 4; }

static void touch(moac_slot *s, int step) {
    if (step < s->first) s->first = step;
    if (step > s->last) s->last = step;
}

static void record_kernels(moac_build *b, int before, const moac_node *n) {
    moac_cg *cg = b->cg;
    for (int k = before; k < cg->nkernels; k++) {
        if (cg->kernels[k].node < 0) cg->kernels[k].node = (int)n->id;
        add_step(b, (moac_step){.kind = MOAC_STEP_KERNEL, .kernel = k});
    }
}

/* The three attention_grads (which = 0, 1, 2) the schedule joined into n's kernel, in sib[which]:
 * 1, or 0 when n is not in such a join. */
static int join_of(const moac_build *b, const moac_node *n, const moac_node *sib[3]) {
    if (n->op != MOAC_OP_ATTENTION_GRAD || n->sched != MOAC_SCHED_KERNEL) return 0;
    const moac_node *const *j = b->join + 3 * (size_t)n->kernel;
    if (!j[0] || !j[1] || !j[2]) return 0;
    for (int w = 0; w < 3; w++) sib[w] = j[w];
    return 1;
}

/* Identical nodes (same op, attributes, types, and the same operand-sharing pattern) get
 * identical kernels: the first one's code is reused with the operands swapped, so the 12 layers
 * of a model compile each kernel once. */
typedef struct emitted {
    char *sig;
    int k0, k1;          /* its kernels */
    int s0, s1;          /* scratch slots its emitter asked for */
    int slots[12];       /* outs, ins, then an attention's attention_lse, as the signature lists them */
    int nslots;
} emitted;

static char *signature(const moac_build *b, const moac_node *n, int variant) {
    moac_strbuf sb;
    moac_strbuf_init(&sb);
    moac_strbuf_printf(&sb, "%s%s%s|", variant & 1 ? "joint:" : "", variant & 2 ? "lse:" : "",
                       moac_op_info_get(n->op)->name);
    for (int k = 0; k < MOAC_MAX_INT_ATTRS; k++) moac_strbuf_printf(&sb, "%lld,", (long long)n->i[k]);
    for (int k = 0; k < MOAC_MAX_FLOAT_ATTRS; k++) moac_strbuf_printf(&sb, "%a,", n->f[k]);
    for (int k = 0; k < n->nl; k++) moac_strbuf_printf(&sb, "%lld;", (long long)n->l[k]);
    moac_type_print(&sb, &n->type);
    for (int a = 0; a < n->nargs; a++) {
        moac_strbuf_printf(&sb, "|");
        moac_type_print(&sb, &n->args[a]->type);
        for (int e = 0; e < a; e++)
            if (b->slot_of[n->args[e]->id] == b->slot_of[n->args[a]->id]) moac_strbuf_printf(&sb, "=%d", e);
    }
    char *out = strdup(moac_strbuf_cstr(&sb));
    moac_strbuf_free(&sb);
    if (!out) abort();
    return out;
}

static int reuse(moac_build *b, const emitted *e, const int *slots, const moac_node *n) {
    moac_cg *cg = b->cg;
    int scratch[MOAC_KERNEL_MAX_SLOTS], nscratch = e->s1 - e->s0;
    if (nscratch > MOAC_KERNEL_MAX_SLOTS) return -1;
    for (int j = 0; j < nscratch; j++) scratch[j] = moac_build_slot(b, b->slots[e->s0 + j].bytes, NULL);
    int before = cg->nkernels;
    for (int k = e->k0; k < e->k1; k++) {
        moac_kernel_desc copy = cg->kernels[k];
        for (int j = 0; j < copy.nslots; j++) {
            int s = copy.slots[j], mapped = -1;
            if (s == MOAC_SLOT_PARAMS) mapped = s;
            for (int t = 0; t < e->nslots && mapped < 0; t++)
                if (e->slots[t] == s) mapped = slots[t];
            if (mapped < 0 && s >= e->s0 && s < e->s1) mapped = scratch[s - e->s0];
            if (mapped < 0) abort(); /* a kernel read a slot its node does not own: an emitter bug */
            copy.slots[j] = mapped;
        }
        copy.node = (int)n->id;
        moac_cg_kernel_alias(cg, &copy);
    }
    record_kernels(b, before, n);
    return 0;
}

/* Emits n's kernel (for a join, that of all three attention gradients) with its emitter, or
 * reuses an identical node's kernels. Returns 0, or -1 on an internal error: the schedule gave n
 * a kernel (moac_cpu_supports), so its emitter must render it. */
static int emit_node(moac_build *b, const moac_node *n, moac_diag *d) {
    moac_cg *cg = b->cg;
    const moac_node *sib[3];
    int joint = join_of(b, n, sib);
    moac_emit_fn fn = b->emitter ? b->emitter(n->op) : NULL; /* a backend's own, asked first */
    if (!fn) fn = joint ? moac_emit_attention_grads : moac_cpu_emitter(n->op);
    if (!fn) {
        moac_diag_file_error(d, NULL, "internal error: %%%u (%s) is scheduled as a kernel but the cpu backend has "
                             "no emitter for it", n->id, moac_op_info_get(n->op)->name);
        return -1;
    }
    moac_emit_ctx e = {.cg = cg, .node = n, .out = b->slot_of[n->id], .outs = {-1, -1, -1}, .lse = -1, .fwd_out = -1};
    int slots[12] = {0}, nslots = 0;
    if (joint) {
        for (int w = 0; w < 3; w++) {
            int s = b->slot_of[sib[w]->id];
            if (s < 0) s = b->slot_of[sib[w]->id] = moac_build_slot(b, value_bytes(sib[w]), sib[w]);
            e.outs[w] = slots[nslots++] = s;
        }
        e.out = e.outs[n->i[1]];
    } else {
        slots[nslots++] = e.out;
    }
    for (int a = 0; a < n->nargs; a++) e.in[a] = slots[nslots++] = b->slot_of[n->args[a]->id];
    /* The forward's softmax statistics (pass attention_stats): written by an attention whose
     * kernel joins its attention_lse (listed last, so reuse remaps it), read by gradients that
     * have the forward's output and statistics as operands 4 and 5. */
    const moac_node *lse = n->op == MOAC_OP_ATTENTION ? b->join[3 * (size_t)n->kernel] : NULL;
    if (lse) {
        e.lse = b->slot_of[lse->id] = moac_build_slot(b, value_bytes(lse), lse);
        slots[nslots++] = e.lse;
    } else if (joint && n->nargs == 6) {
        e.fwd_out = e.in[4];
        e.lse = e.in[5];
    }
    char *sig = signature(b, n, joint + 2 * (e.lse >= 0));
    for (int i = 0; i < b->nemitted; i++) {
        emitted *prev = &((emitted *)b->emitted)[i];
        if (strcmp(prev->sig, sig) || prev->nslots != nslots) continue;
        if (reuse(b, prev, slots, n)) break;
        free(sig);
        return 0;
    }
    snprintf(e.prefix, sizeof e.prefix, "n%u", n->id);
    int before = cg->nkernels, slots_before = b->nslots;
    if (fn(&e)) {
        moac_diag_file_error(d, NULL, "internal error: the %s emitter refused %%%u in graph '%s', which "
                             "moac_cpu_supports accepted", moac_op_info_get(n->op)->name, n->id, b->g->name);
        free(sig);
        return -1;
    }
    record_kernels(b, before, n);
    if (b->nemitted == b->capemitted) {
        b->capemitted = b->capemitted ? 2 * b->capemitted : 64;
        b->emitted = realloc(b->emitted, (size_t)b->capemitted * sizeof(emitted));
        if (!b->emitted) abort();
    }
    emitted *rec = &((emitted *)b->emitted)[b->nemitted++];
    *rec = (emitted){.sig = sig, .k0 = before, .k1 = cg->nkernels, .s0 = slots_before, .s1 = b->nslots, .nslots = nslots};
    memcpy(rec->slots, slots, sizeof slots);
    return 0;
}

static int schedule(moac_build *b, moac_diag *d) {
    const moac_graph *g = b->g;
    moac_cg *cg = b->cg;
    int params = moac_build_slot(b, sizeof(moac_run_params), NULL);
    b->slots[params].external = 1;
    /* What the schedule computes in registers inside another kernel, and its joins. */
    char *root = malloc(g->count ? g->count : 1);
    if (!root) abort();
    moac_sched_roots(g, root);
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        b->inlined[i] = n->sched == MOAC_SCHED_INLINE || (n->sched == MOAC_SCHED_KERNEL && !root[i]);
        if (n->op == MOAC_OP_ATTENTION_GRAD && n->sched == MOAC_SCHED_KERNEL && n->i[1] >= 0 && n->i[1] <= 2)
            b->join[3 * (size_t)n->kernel + (size_t)n->i[1]] = n;
        if (n->op == MOAC_OP_ATTENTION_LSE && n->sched == MOAC_SCHED_KERNEL) b->join[3 * (size_t)n->kernel] = n;
        b->slot_of[i] = -1;
    }
    free(root);
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (b->inlined[i]) {
            b->fused++;
            continue;
        }
        if (n->op == MOAC_OP_INPUT || n->op == MOAC_OP_PARAM) {
            int s = b->slot_of[i] = moac_build_slot(b, value_bytes(n), n);
            b->slots[s].external = 1;
            b->slots[s].owned = 1;
            b->slots[s].ext = calloc(1, (size_t)(value_bytes(n) ? value_bytes(n) : 4));
            if (!b->slots[s].ext) abort();
            continue;
        }
        if (n->op == MOAC_OP_OUTPUT) {
            b->slot_of[i] = b->slot_of[n->args[0]->id];
            b->slots[b->slot_of[i]].keep = 1;
            continue;
        }
        if (n->sched == MOAC_SCHED_VIEW) { /* same bytes */
            b->slot_of[i] = b->slot_of[n->args[0]->id];
            continue;
        }
        if (b->slot_of[i] >= 0) continue; /* computed with a sibling (attention gradients, statistics) */
        b->slot_of[i] = moac_build_slot(b, value_bytes(n), n);
        if (n->sched == MOAC_SCHED_REFERENCE) {
            add_step(b, (moac_step){.kind = MOAC_STEP_FALLBACK, .node = n});
            b->fallbacks++;
            continue;
        }
        if (moac_fuse_node(n)) {
            int before = cg->nkernels;
            if (moac_fuse_emit(b, n)) { /* its inlined operands have no buffers to fall back on */
                moac_diag_file_error(d, NULL, "internal error: cannot fuse %%%u (%s) in graph '%s' (more than %d operands)",
                                     n->id, moac_op_info_get(n->op)->name, g->name, MOAC_KERNEL_MAX_SLOTS - 2);
                return -1;
            }
            record_kernels(b, before, n);
            continue;
        }
        if (emit_node(b, n, d)) return -1;
    }
    /* Lifetimes, in steps. */
    for (int s = 0; s < b->nsteps; s++) {
        const moac_step *st = &b->steps[s];
        if (st->kind == MOAC_STEP_KERNEL) {
            const moac_kernel_desc *k = &cg->kernels[st->kernel];
            for (int j = 0; j < k->nslots; j++) touch(&b->slots[k->slots[j]], s);
        } else {
            touch(&b->slots[b->slot_of[st->node->id]], s);
            for (int a = 0; a < st->node->nargs; a++) touch(&b->slots[b->slot_of[st->node->args[a]->id]], s);
        }
    }
    return 0;
}

void moac_build_free(moac_build *b) {
    for (int s = 0; s < b->nslots; s++)
        if (b->slots[s].owned) free(b->slots[s].ext);
    free(b->slots);
    free(b->steps);
    free(b->slot_of);
    free(b->inlined);
    free(b->join);
    free(b->kernels);
    for (int i = 0; i < b->nemitted; i++) free(((emitted *)b->emitted)[i].sig);
    free(b->emitted);
    moac_cg_free(b->cg);
}

static void build_alloc(moac_build *b, const moac_graph *g) {
    memset(b, 0, sizeof *b);
    b->g = g;
    size_t n = g->count ? g->count : 1;
    b->slot_of = calloc(n, sizeof *b->slot_of);
    b->inlined = calloc(n, sizeof *b->inlined);
    b->join = calloc(3 * n, sizeof *b->join);
    if (!b->slot_of || !b->inlined || !b->join) abort();
}

int moac_build_emit(moac_build *b, const moac_graph *g, const moac_target *t, moac_emit_fn (*emitter)(moac_op),
                    moac_diag *d) {
    build_alloc(b, g);
    b->emitter = emitter;
    b->cg = moac_cg_new(g->name, t);
    b->cg->scratch = scratch_slot;
    b->cg->planner = b;
    if (schedule(b, d)) return -1;
    b->nkernels = b->cg->nkernels;
    b->kernels = malloc(((size_t)b->nkernels + 1) * sizeof *b->kernels);
    if (!b->kernels) abort();
    if (b->nkernels) memcpy(b->kernels, b->cg->kernels, (size_t)b->nkernels * sizeof *b->kernels);
    return 0;
}

/* g as the CPU backend renders it: g itself when it is scheduled already (IR text written after
 * pass 'schedule'), checked against what the CPU renders; otherwise a copy in a, scheduled by the
 * shared pass with the CPU's rules. NULL with d when the schedule cannot be rendered. */
const moac_graph *moac_build_scheduled(const moac_graph *g, const moac_sched_rules *rules, moac_arena *a,
                                       moac_diag *d) {
    if (moac_graph_scheduled(g)) return moac_sched_check_rules(g, rules, d) ? NULL : g;
    moac_graph *c = moac_graph_clone(a, g);
    return moac_pipeline_schedule(c, rules, NULL, d) ? NULL : c;
}

static const moac_graph *scheduled(const moac_graph *g, moac_arena *a, moac_diag *d) {
    return moac_build_scheduled(g, &moac_cpu_sched_rules, a, d);
}

/* The compile-cache key of g: its IR text (which determines every kernel), the target (with the
 * thread count the work split was made for) and the moac executable (moac_jit_key). */
static void graph_key(const moac_graph *g, const moac_target *t, char key[17]) {
    moac_strbuf text;
    moac_strbuf_init(&text);
    moac_ir_print(g, &text);
    moac_jit_key(moac_strbuf_cstr(&text), text.len, t, "cpu-kernels", key);
    moac_strbuf_free(&text);
}

/* b's slots as the buffers of a memory plan (passes/plan.h): every slot outside the arena (inputs,
 * params, the run's parameters) left out; slot[i] is buffer i's slot. Caller frees p->buffers and
 * *slot. The offsets are the slots' (from the cache, or planned). */
moac_plan moac_build_buffers(const moac_build *b, int **slot) {
    moac_plan p = {.buffers = calloc((size_t)b->nslots + 1, sizeof *p.buffers), .steps = b->nsteps};
    *slot = calloc((size_t)b->nslots + 1, sizeof **slot);
    if (!p.buffers || !*slot) abort();
    for (int s = 0; s < b->nslots; s++) {
        const moac_slot *sl = &b->slots[s];
        if (sl->external) continue;
        (*slot)[p.count] = s;
        p.buffers[p.count++] = (moac_buffer){sl->bytes, sl->first, sl->last, sl->keep, sl->node, sl->offset};
    }
    moac_plan_extent(&p);
    return p;
}

/* Pass 'plan' over b's slots: their arena offsets. Returns the arena bytes. */
size_t moac_build_plan(moac_build *b) {
    int *slot;
    moac_plan p = moac_build_buffers(b, &slot);
    size_t bytes = moac_plan_memory(&p);
    for (int i = 0; i < p.count; i++) {
        moac_slot *sl = &b->slots[slot[i]];
        sl->offset = p.buffers[i].offset;
        sl->first = p.buffers[i].first;
        sl->last = p.buffers[i].last;
    }
    free(p.buffers);
    free(slot);
    return bytes;
}

size_t moac_build_arena_bytes(const moac_build *b) {
    int *slot;
    moac_plan p = moac_build_buffers(b, &slot);
    free(p.buffers);
    free(slot);
    return p.peak_bytes;
}

void moac_build_describe_peak(const moac_build *b, moac_strbuf *out) {
    int *slot;
    moac_plan p = moac_build_buffers(b, &slot);
    moac_plan_describe_peak(&p, out);
    free(p.buffers);
    free(slot);
}

static int by_kernel_name(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

/* Distinct kernel names: the functions compiled (a reused kernel keeps the name of its first node). */
int moac_build_functions(const moac_kernel_desc *k, int n) {
    if (n <= 0) return 0;
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names) abort();
    for (int i = 0; i < n; i++) names[i] = k[i].name;
    qsort(names, (size_t)n, sizeof *names, by_kernel_name);
    int distinct = 1;
    for (int i = 1; i < n; i++) distinct += strcmp(names[i - 1], names[i]) != 0;
    free(names);
    return distinct;
}

moac_cpu *moac_cpu_new(const moac_graph *g, const moac_cpu_opts *opts, moac_diag *d) {
    moac_cpu_opts o = opts ? *opts : (moac_cpu_opts){0};
    const moac_target *t = o.target ? o.target : moac_target_host();
    moac_cpu *c = calloc(1, sizeof *c);
    if (!c) abort();
    moac_arena_init(&c->graph_arena);
    moac_build *b = &c->b;
    double t0 = moac_seconds();
    if (!(g = c->g = scheduled(g, &c->graph_arena, d))) {
        moac_cpu_free(c);
        return NULL;
    }
    char key[17], obj_path[1100], plan_path[1100];
    graph_key(g, t, key);
    snprintf(c->stats.jit.key, sizeof c->stats.jit.key, "%s", key);
    moac_jit_cache_path(o.cache_dir, key, ".o", obj_path, sizeof obj_path);
    moac_jit_cache_path(o.cache_dir, key, ".plan", plan_path, sizeof plan_path);
    double t1 = moac_seconds();
    c->stats.jit.key_s = t1 - t0;
    /* A cache hit: the schedule and the object file, no LLVM IR at all. */
    build_alloc(b, g);
    if (*plan_path && !moac_plan_load(b, plan_path, o.log) && (c->jit = moac_jit_load_cached(obj_path, t, o.log))) {
        c->stats.jit.cache_hit = 1;
        c->stats.jit.load_s = moac_seconds() - t1;
    } else {
        moac_build_free(b);
        if (moac_build_emit(b, g, t, NULL, d)) {
            moac_cpu_free(c);
            return NULL;
        }
        c->stats.schedule_s = moac_seconds() - t1;
        moac_build_plan(b);
        char err[4096];
        c->jit = moac_jit_compile(b->cg, obj_path, &c->stats.jit, err, sizeof err);
        moac_cg_free(b->cg); /* the LLVM module is gone; release its context now */
        b->cg = NULL;
        if (!c->jit) {
            moac_diag_file_error(d, NULL, "compiling graph '%s' for the CPU failed: %s", g->name, err);
            moac_cpu_free(c);
            return NULL;
        }
        moac_plan_save(b, plan_path);
    }
    b->slots[MOAC_SLOT_PARAMS].ext = &c->params;
    c->arena_bytes = moac_build_arena_bytes(b);
    double have = moac_mem_available();
    if (have > 0 && (double)c->arena_bytes > 0.9 * have) c->arena = NULL;
    else c->arena = aligned_alloc(64, (c->arena_bytes + 63) / 64 * 64 + 64);
    if (!c->arena) {
        moac_strbuf why;
        moac_strbuf_init(&why);
        moac_build_describe_peak(b, &why);
        moac_diag_file_error(d, NULL,
                             "graph '%s' needs %.1f GiB of activations on the CPU backend at its peak, but only %.1f "
                             "GiB of memory is available; lower the batch (--batch N) or the context in the spec\n%s",
                             g->name, (double)c->arena_bytes / 1073741824.0, have / 1073741824.0, why.data);
        moac_strbuf_free(&why);
        moac_cpu_free(c);
        return NULL;
    }
    if (moac_log_debug(o.log)) {
        moac_strbuf why;
        moac_strbuf_init(&why);
        moac_build_describe_peak(b, &why);
        moac_log_printf(o.log, "moac: graph '%s' needs %.3f GiB of activations\n%s", g->name,
                        (double)c->arena_bytes / 1073741824.0, why.data);
        moac_strbuf_free(&why);
    }
    c->kernels = b->kernels;
    c->nkernels = b->nkernels;
    c->fns = calloc((size_t)c->nkernels + 1, sizeof *c->fns);
    c->tables = calloc((size_t)c->nkernels + 1, sizeof *c->tables);
    if (!c->fns || !c->tables) abort();
    for (int k = 0; k < c->nkernels; k++) {
        c->fns[k] = (moac_kernel_fn)moac_jit_lookup(c->jit, c->kernels[k].name);
        c->tables[k] = calloc((size_t)c->kernels[k].nslots + 1, sizeof(void *));
        if (!c->tables[k]) abort();
        if (!c->fns[k]) {
            moac_diag_file_error(d, NULL, "internal error: kernel '%s' missing from the compiled code", c->kernels[k].name);
            moac_cpu_free(c);
            return NULL;
        }
    }
    int threads = o.threads > 0 ? o.threads : t->threads;
    c->pool = moac_pool_new(threads);
    c->stats.kernels = c->nkernels;
    c->stats.fused_nodes = b->fused;
    c->stats.fallback_nodes = b->fallbacks;
    c->stats.functions = moac_build_functions(c->kernels, c->nkernels);
    c->stats.arena_bytes = c->arena_bytes;
    c->log = o.log;
    c->profile = o.profile;
    if (o.profile) {
        c->prof = calloc((size_t)b->nsteps + 1, sizeof *c->prof);
        if (!c->prof) abort();
    }
    return c;
}

static const char *step_label(const moac_build *b, const moac_kernel_desc *kernels, int s, char *buf, size_t len) {
    const moac_step *st = &b->steps[s];
    if (st->kind == MOAC_STEP_FALLBACK)
        snprintf(buf, len, "n%u_%s (reference kernel)", st->node->id, moac_op_info_get(st->node->op)->name);
    else
        snprintf(buf, len, "%s", kernels[st->kernel].name);
    return buf;
}

/* MOAC_PROFILE=2: the steps that cost most, each with its node's result and argument types,
 * to tell which matmul or which layer's kernel is slow (kernels are named n<node id>_<kind>). */
static void print_costliest(const moac_log *log, const moac_build *b, const moac_kernel_desc *kernels,
                            const double *prof, int runs, double total) {
    enum { SHOWN = 30 };
    int n = b->nsteps, top[SHOWN], ntop = 0;
    for (int s = 0; s < n; s++) {
        int at;
        if (ntop < SHOWN) at = ntop++;
        else if (prof[s] <= prof[top[SHOWN - 1]]) continue;
        else at = SHOWN - 1;
        while (at > 0 && prof[top[at - 1]] < prof[s]) top[at] = top[at - 1], at--;
        top[at] = s;
    }
    moac_log_printf(log, "  the %d costliest steps:\n", ntop);
    for (int i = 0; i < ntop; i++) {
        char buf[128];
        const char *label = step_label(b, kernels, top[i], buf, sizeof buf);
        unsigned id = 0;
        moac_strbuf types = {0};
        if (sscanf(label, "n%u_", &id) == 1 && id < b->g->count) {
            const moac_node *nd = b->g->nodes[id];
            moac_type_print(&types, &nd->type);
            for (int a = 0; a < nd->nargs; a++) {
                moac_strbuf_puts(&types, a ? ", " : " <- ");
                moac_type_print(&types, &nd->args[a]->type);
            }
        }
        moac_log_printf(log, "  %9.3f ms %5.1f%%  %-32s %s\n", 1e3 * prof[top[i]] / runs, 100 * prof[top[i]] / total,
                        label, types.data ? types.data : "");
        moac_strbuf_free(&types);
    }
}

void moac_build_print_profile(const moac_log *log, const char *backend, const moac_build *b,
                              const moac_kernel_desc *kernels, const double *prof, int runs, int level) {
    int n = b->nsteps;
    double total = 0;
    for (int s = 0; s < n; s++) total += prof[s];
    if (!runs || total <= 0) return;
    moac_log_printf(log, "profile of '%s' (%s): %.2f ms per run over %d runs, %d steps\n", b->g->name, backend,
                    1e3 * total / runs, runs, n);
    enum { MAXK = 128 };
    char names[MAXK][128];
    double t[MAXK];
    int count[MAXK], kinds = 0;
    for (int s = 0; s < n; s++) {
        char buf[128];
        const char *label = step_label(b, kernels, s, buf, sizeof buf);
        const char *u = strchr(label, '_');
        const char *kind = u ? u + 1 : label;
        int k = 0;
        while (k < kinds && strcmp(names[k], kind)) k++;
        if (k == kinds) {
            if (kinds == MAXK) continue;
            snprintf(names[k], sizeof names[k], "%s", kind);
            t[k] = 0, count[k] = 0, kinds++;
        }
        t[k] += prof[s], count[k]++;
    }
    for (int shown = 0; shown < kinds; shown++) {
        int best = -1;
        for (int k = 0; k < kinds; k++)
            if (count[k] >= 0 && (best < 0 || t[k] > t[best])) best = k;
        moac_log_printf(log, "  %-40s %4d kernels %9.3f ms %5.1f%%\n", names[best], count[best],
                        1e3 * t[best] / runs, 100 * t[best] / total);
        count[best] = -1;
    }
    if (level >= 2) print_costliest(log, b, kernels, prof, runs, total);
}

void moac_cpu_free(moac_cpu *c) {
    if (!c) return;
    if (c->prof) moac_build_print_profile(c->log, "cpu", &c->b, c->kernels, c->prof, c->runs, c->profile);
    free(c->prof);
    moac_pool_free(c->pool);
    if (c->tables)
        for (int k = 0; k < c->nkernels; k++) free(c->tables[k]);
    free(c->tables);
    free(c->fns);
    moac_jit_free(c->jit);
    free(c->arena);
    moac_build_free(&c->b);
    moac_arena_free(&c->graph_arena);
    free(c);
}

static int find_slot(const moac_cpu *c, moac_op op, const char *name) {
    for (size_t i = 0; i < c->g->count; i++) {
        const moac_node *n = c->g->nodes[i];
        if (n->op == op && n->s && !strcmp(n->s, name)) return c->b.slot_of[i];
    }
    return -1;
}

void *moac_cpu_buffer(moac_cpu *c, const char *name) {
    int s = find_slot(c, MOAC_OP_INPUT, name);
    if (s < 0) s = find_slot(c, MOAC_OP_PARAM, name);
    return s < 0 ? NULL : c->b.slots[s].ext;
}

int moac_cpu_bind(moac_cpu *c, const char *name, void *data) {
    int s = find_slot(c, MOAC_OP_INPUT, name);
    if (s < 0) s = find_slot(c, MOAC_OP_PARAM, name);
    if (s < 0) return -1;
    moac_slot *sl = &c->b.slots[s];
    if (sl->owned) free(sl->ext);
    sl->owned = 0;
    sl->ext = data;
    return 0;
}

static void *slot_ptr(const moac_cpu *c, int s) {
    const moac_slot *sl = &c->b.slots[s];
    return sl->external ? sl->ext : c->arena + sl->offset;
}

/* i32 inputs read as indices are checked before any kernel runs, so kernels never see an index
 * outside its table (the generated code does not check). */
int moac_build_check_indices(const moac_build *b, char *err, size_t errlen) {
    const moac_graph *g = b->g;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        int arg = -1;
        int64_t bound = 0;
        const char *what = "";
        if (n->op == MOAC_OP_EMBED) {
            arg = 1, bound = n->args[0]->type.dims[0], what = "a token id";
        } else if (n->op == MOAC_OP_CROSS_ENTROPY || n->op == MOAC_OP_CROSS_ENTROPY_GRAD) {
            arg = 1, bound = n->args[0]->type.dims[n->args[0]->type.rank - 1], what = "a target";
        } else if (n->op == MOAC_OP_EMBED_GRAD) {
            arg = 0, bound = n->i[0], what = "a token id";
        }
        if (arg < 0) continue;
        const moac_node *src = n->args[arg];
        while (src->op == MOAC_OP_RESHAPE && b->slot_of[src->id] == b->slot_of[src->args[0]->id]) src = src->args[0];
        if (src->op != MOAC_OP_INPUT) continue;
        const int32_t *v = b->slots[b->slot_of[src->id]].ext; /* inputs live outside the arena */
        int64_t count = moac_type_numel(&src->type);
        for (int64_t j = 0; j < count; j++)
            if (v[j] < 0 || v[j] >= bound) {
                snprintf(err, errlen, "%s (%d, input '%s' element %lld) is outside the vocabulary of %lld", what,
                         v[j], src->s, (long long)j, (long long)bound);
                return -1;
            }
    }
    return 0;
}

/* The steps of one run, with denormals flushed (support/fpenv.h). */
static int run_steps(moac_cpu *c, const moac_interp_opts *opts, char *err, size_t errlen) {
    moac_interp_opts o = opts ? *opts : (moac_interp_opts){0};
    c->params = (moac_run_params){o.seed, o.step, (uint64_t)o.training};
    if (moac_build_check_indices(&c->b, err, errlen)) return -1;
    for (int k = 0; k < c->nkernels; k++)
        for (int j = 0; j < c->kernels[k].nslots; j++) c->tables[k][j] = slot_ptr(c, c->kernels[k].slots[j]);
    const moac_build *b = &c->b;
    for (int s = 0; s < b->nsteps; s++) {
        const moac_step *st = &b->steps[s];
        double t0 = c->prof ? moac_seconds() : 0;
        if (st->kind == MOAC_STEP_FALLBACK) {
            void *in[8];
            for (int a = 0; a < st->node->nargs; a++) in[a] = slot_ptr(c, b->slot_of[st->node->args[a]->id]);
            if (moac_fallback_run(st->node, in, slot_ptr(c, b->slot_of[st->node->id]), &o, err, errlen)) return -1;
        } else {
            const moac_kernel_desc *k = &c->kernels[st->kernel];
            if (k->serial || k->cost < MOAC_PARALLEL_MIN_COST)
                c->fns[st->kernel](c->tables[st->kernel], 0, k->items);
            else
                moac_pool_run(c->pool, c->fns[st->kernel], c->tables[st->kernel], k->items);
        }
        if (c->prof) c->prof[s] += moac_seconds() - t0;
    }
    c->runs++;
    return 0;
}

int moac_cpu_run(moac_cpu *c, const moac_interp_opts *opts, char *err, size_t errlen) {
    unsigned env = moac_fpenv_enter();
    int rc = run_steps(c, opts, err, errlen);
    moac_fpenv_leave(env);
    return rc;
}

const void *moac_cpu_result(const moac_cpu *c, const char *name) {
    int s = find_slot(c, MOAC_OP_OUTPUT, name);
    return s < 0 ? NULL : slot_ptr(c, s);
}

moac_cpu_stats moac_cpu_get_stats(const moac_cpu *c) { return c->stats; }

/* Keeps only the kernels whose name starts with prefix — by their own name, or by the name their
 * node would have given them (a node reusing an identical node's kernel still answers to
 * n<its id>_). Returns -1 (reported) when none matches. */
int moac_build_filter_kernels(moac_cg *cg, const moac_graph *g, const char *prefix, moac_diag *d) {
    size_t len = strlen(prefix);
    int any = 0;
    char *keep = calloc((size_t)cg->nkernels + 1, 1);
    if (!keep) abort();
    for (int k = 0; k < cg->nkernels; k++) {
        const char *name = cg->kernels[k].name, *tail = strchr(name, '_');
        char as_node[96];
        snprintf(as_node, sizeof as_node, "n%d%s", cg->kernels[k].node, tail ? tail : "");
        keep[k] = !strncmp(name, prefix, len) || !strncmp(as_node, prefix, len);
        any |= keep[k];
    }
    if (!any) {
        moac_strbuf names;
        moac_strbuf_init(&names);
        int shown = 0;
        for (int k = 0; k < cg->nkernels && shown < 12; k++) {
            int seen = 0;
            for (int j = 0; j < k && !seen; j++) seen = !strcmp(cg->kernels[j].name, cg->kernels[k].name);
            if (seen) continue;
            moac_strbuf_printf(&names, "%s%s", shown++ ? ", " : "", cg->kernels[k].name);
        }
        moac_diag_file_error(d, NULL, "no kernel of graph '%s' is named '%s*'; kernels are named n<node>_<part> after "
                             "the nodes of `moac ir` with the same flags, e.g. %s%s", g->name, prefix,
                             shown ? moac_strbuf_cstr(&names) : "(none)", shown == 12 ? ", ..." : "");
        moac_strbuf_free(&names);
        free(keep);
        return -1;
    }
    for (int k = 0; k < cg->nkernels; k++) {
        int wanted = 0;
        for (int j = 0; j < cg->nkernels && !wanted; j++) wanted = keep[j] && !strcmp(cg->kernels[j].name, cg->kernels[k].name);
        LLVMValueRef fn = wanted ? NULL : LLVMGetNamedFunction(cg->mod, cg->kernels[k].name);
        if (fn) LLVMDeleteFunction(fn);
    }
    free(keep);
    return 0;
}

char *moac_cpu_emit(const moac_graph *g, const moac_target *t, int assembly, const char *kernel, moac_diag *d) {
    moac_arena a;
    moac_arena_init(&a);
    moac_build b = {0};
    char *text = NULL;
    if (!(g = scheduled(g, &a, d)) || moac_build_emit(&b, g, t, NULL, d)) goto done;
    if (kernel && *kernel && moac_build_filter_kernels(b.cg, g, kernel, d)) goto done;
    char err[4096];
    text = moac_jit_emit_text(b.cg, assembly, err, sizeof err);
    if (!text) moac_diag_file_error(d, NULL, "compiling graph '%s' for the CPU failed: %s", g->name, err);
done:
    moac_build_free(&b);
    moac_arena_free(&a);
    return text;
}

int moac_cpu_verify(const moac_graph *g, moac_diag *d) {
    moac_arena a;
    moac_arena_init(&a);
    moac_build b = {0};
    int rc = !(g = scheduled(g, &a, d)) || moac_build_emit(&b, g, NULL, NULL, d) ? -1 : 0;
    if (!rc) {
        moac_build_plan(&b);
        char err[4096];
        rc = moac_jit_verify(b.cg, err, sizeof err);
        if (rc) moac_diag_file_error(d, NULL, "compiling graph '%s' for the CPU failed: %s", g->name, err);
    }
    moac_build_free(&b);
    moac_arena_free(&a);
    return rc;
}

int moac_cpu_schedule_stats(const moac_graph *g, const moac_target *t, moac_cpu_stats *out, moac_diag *d) {
    memset(out, 0, sizeof *out);
    moac_arena a;
    moac_arena_init(&a);
    moac_build b = {0};
    int rc = !(g = scheduled(g, &a, d)) || moac_build_emit(&b, g, t, NULL, d) ? -1 : 0;
    if (!rc) {
        moac_build_plan(&b);
        out->kernels = b.nkernels;
        out->functions = moac_build_functions(b.kernels, b.nkernels);
        out->fused_nodes = b.fused;
        out->fallback_nodes = b.fallbacks;
        out->arena_bytes = moac_build_arena_bytes(&b);
    }
    moac_build_free(&b);
    moac_arena_free(&a);
    return rc;
}

int moac_build_plan_of(const moac_graph *g, const moac_target *t, moac_emit_fn (*emitter)(moac_op),
                       const char *backend, moac_plan *out, moac_diag *d) {
    memset(out, 0, sizeof *out);
    if (!moac_graph_scheduled(g)) {
        moac_diag_file_error(d, NULL, "internal error: the %s memory plan of graph '%s' wants its schedule", backend,
                             g->name);
        return -1;
    }
    moac_build b = {0};
    int rc = moac_build_emit(&b, g, t, emitter, d) ? -1 : 0;
    if (!rc) {
        moac_build_plan(&b);
        int *slot;
        *out = moac_build_buffers(&b, &slot);
        free(slot);
    }
    moac_build_free(&b);
    return rc;
}

int moac_cpu_plan(const moac_graph *g, moac_plan *out, moac_diag *d) {
    return moac_build_plan_of(g, NULL, NULL, "cpu", out, d);
}
