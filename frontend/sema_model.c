/* Semantic analysis: gives the evaluated values their meaning (model fields, attention schemes,
 * mixtures, the train block) and checks every rule a spec must satisfy. Problems are reported at
 * the value that causes them; analysis continues so one run reports as many as it can. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "frontend/sema.h"

static const char *const model_fields[] = {
    "vocab", "context", "width", "layers", "heads", "head_dim", "norm", "mlp",
    "positions", "tied", "bias", "dropout", "attention", NULL,
};
static const char *const train_fields[] = {
    "data", "tokenizer", "split", "batch", "steps", "optimizer", "schedule", "clip",
    "eval_every", "eval_batches", "seed", NULL,
};

/* ---- scopes ---------------------------------------------------------------------------- */

static void scope_add(sema *s, sema_scope *scope, const char *name, moac_loc loc, const moac_ast *expr,
                      const char *what) {
    sema_binding *prev = sema_lookup(scope, name);
    if (prev) {
        moac_diag_error(s->diag, loc, "duplicate definition of %s '%s'", what, name);
        moac_diag_note(s->diag, prev->loc, "'%s' was first defined here", name);
        return;
    }
    sema_binding *b = sema_scope_insert(s, scope, name);
    b->loc = loc;
    b->expr = expr;
    b->is_let = scope == &s->lets;
}

static void add_block(sema *s, sema_scope *scope, const moac_ast_item *item, const char *const *known) {
    for (int i = 0; i < item->nfields; i++) {
        const moac_ast_field *f = &item->fields[i];
        for (int k = 0; known[k]; k++)
            if (!strcmp(known[k], f->name)) scope_add(s, scope, f->name, f->loc, f->value, "field");
    }
}

static void report_unknown_fields(sema *s, const moac_ast_item *item, const char *const *known, const char *block) {
    size_t n = 0;
    while (known[n]) n++;
    for (int i = 0; i < item->nfields; i++) {
        const moac_ast_field *f = &item->fields[i];
        int ok = 0;
        for (size_t k = 0; k < n; k++) ok |= !strcmp(known[k], f->name);
        if (ok) continue;
        const char *hint = moac_suggest(f->name, known, n);
        if (hint)
            moac_diag_error(s->diag, f->loc, "unknown %s field '%s'; did you mean '%s'?", block, f->name, hint);
        else
            moac_diag_error(s->diag, f->loc, "unknown %s field '%s'", block, f->name);
    }
}

/* A field's value: NULL when absent or when evaluating it failed (then *bad is set). */
static sema_val *field(sema *s, sema_scope *scope, const char *name, int *bad) {
    sema_binding *b = sema_lookup(scope, name);
    if (!b) return NULL;
    sema_val *v = sema_binding_value(s, b);
    if (!v) *bad = 1;
    return v;
}

static int int_field(sema *s, sema_scope *scope, const char *name, long long dflt, int required,
                     long long lo, long long hi, int *out) {
    int bad = 0;
    *out = (int)dflt; /* defined on every path, errors included: callers may read it after a diagnostic */
    sema_val *v = field(s, scope, name, &bad);
    if (bad) return -1;
    if (!v) {
        if (required) {
            moac_diag_error(s->diag, s->model_loc, "the model does not set '%s'; add `%s = ...` to it", name, name);
            return -1;
        }
        *out = (int)dflt;
        return 0;
    }
    long long x;
    if (sema_want_int(s, v, name, lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

static int num_field(sema *s, sema_scope *scope, const char *name, double dflt, double lo, double hi, double *out) {
    int bad = 0;
    *out = dflt;
    sema_val *v = field(s, scope, name, &bad);
    if (bad) return -1;
    if (!v) { *out = dflt; return 0; }
    return sema_want_num(s, v, name, lo, hi, out);
}

static moac_loc field_loc(sema *s, sema_scope *scope, const char *name) {
    sema_binding *b = sema_lookup(scope, name);
    return b ? b->loc : s->model_loc;
}

/* ---- small option parsers -------------------------------------------------------------- */

static int opt_int(sema *s, const sema_val *call, const char *p, long long dflt, long long lo, long long hi, int *out) {
    *out = (int)dflt; /* the default also after an error */
    sema_val *v = sema_arg(call, p);
    if (!v) return 0;
    long long x;
    if (sema_want_int(s, v, moac_arena_printf(s->arena, "'%s' of %s()", p, call->fn->name), lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

static int opt_num(sema *s, const sema_val *call, const char *p, double dflt, double lo, double hi, double *out) {
    *out = dflt; /* the default also after an error */
    sema_val *v = sema_arg(call, p);
    if (!v) return 0;
    return sema_want_num(s, v, moac_arena_printf(s->arena, "'%s' of %s()", p, call->fn->name), lo, hi, out);
}

static int opt_bool(sema *s, const sema_val *call, const char *p, int dflt, int *out) {
    *out = dflt; /* the default also after an error */
    sema_val *v = sema_arg(call, p);
    if (!v) return 0;
    return sema_want_bool(s, v, moac_arena_printf(s->arena, "'%s' of %s()", p, call->fn->name), out);
}

static int opt_choice(sema *s, const sema_val *call, const char *p, int dflt, const char *const *choices, int *out) {
    *out = dflt; /* the default also after an error */
    sema_val *v = sema_arg(call, p);
    if (!v) return 0;
    int c = sema_want_choice(s, v, moac_arena_printf(s->arena, "'%s' of %s()", p, call->fn->name), choices);
    if (c < 0) return -1;
    *out = c;
    return 0;
}

static const char *const acts[] = {"gelu", "relu", NULL};

static int want_call(sema *s, const sema_val *v, const char *what, const char *const *names) {
    if (v->kind == SEMA_CALL)
        for (int i = 0; names[i]; i++)
            if (!strcmp(v->fn->name, names[i])) return 0;
    return sema_want_choice(s, v, what, names) < 0 ? -1 : 0;
}

/* ---- attention schemes ----------------------------------------------------------------- */

static moac_scheme *to_scheme(sema *s, const sema_val *v, const moac_spec *m, int want_kv);

static moac_scheme *new_scheme(sema *s, moac_scheme_kind kind, const sema_val *v) {
    moac_scheme *sc = moac_arena_alloc(s->arena, sizeof *sc);
    sc->kind = kind;
    sc->loc = v->loc;
    sc->label = v->label ? v->label : v->fn->name;
    sc->named = v->label != NULL;
    return sc;
}

static double default_rope(const moac_spec *m) { return m->positions == MOAC_POS_ROPE ? m->rope_fraction : 0; }

static int check_groups(sema *s, const moac_scheme *kv, int kv_heads) {
    if (!kv) return 0;
    if (kv->kind == MOAC_SCHEME_GROUP) {
        if (kv_heads % kv->group) {
            moac_diag_error(s->diag, kv->loc, "group size %d does not divide the %d KV heads", kv->group, kv_heads);
            return -1;
        }
        return 0;
    }
    int bad = 0;
    for (int i = 0; i < kv->nbranches; i++) bad |= check_groups(s, kv->branches[i], kv_heads);
    return bad ? -1 : 0;
}

/* RoPE turns dims in pairs (rotate-half): r = round(fraction * head_dim) must be even and >= 2
 * (docs/language.md). Reported at the scheme's rope argument, or at the scheme with a note on
 * where its fraction came from. */
static int check_rope(sema *s, const sema_val *v, const moac_spec *m, const moac_scheme *sc) {
    if (sc->rope <= 0) return 0;
    double r = round(sc->rope * sc->head_dim);
    if (r >= 2 && fmod(r, 2) == 0) return 0;
    int implicit_sparse = !sema_arg(v, "rope") && sc->kind == MOAC_SCHEME_SPARSE;
    moac_diag_error(s->diag, sema_arg_loc(v, "rope"),
                    "rope fraction %g of head_dim %d rotates %.0f dims; it must be an even number >= 2 (%s)", sc->rope,
                    sc->head_dim, r,
                    implicit_sparse ? "with RoPE positions sparse heads rotate half of each head; set `rope = ...`"
                                    : "change the fraction or head_dim");
    if (!sema_arg(v, "rope") && !implicit_sparse)
        moac_diag_note(s->diag, m->positions_loc, "the fraction %g comes from `positions` here", sc->rope);
    return -1;
}

static moac_scheme *dense_scheme(sema *s, const sema_val *v, const moac_spec *m) {
    moac_scheme *sc = new_scheme(s, MOAC_SCHEME_DENSE, v);
    const char *name = v->fn->name;
    int bad = 0;
    bad |= opt_int(s, v, "heads", m->heads, 1, 1 << 16, &sc->heads);
    bad |= opt_int(s, v, "head_dim", m->head_dim, 1, 1 << 16, &sc->head_dim);
    bad |= opt_num(s, v, "rope", default_rope(m), 0, 1, &sc->rope);
    if (bad || check_rope(s, v, m, sc)) return NULL;
    if (!strcmp(name, "mha")) sc->kv_heads = sc->heads;
    else if (!strcmp(name, "mqa")) sc->kv_heads = 1;
    else if (!strcmp(name, "gqa") && !sema_arg(v, "kv_heads")) {
        moac_diag_error(s->diag, v->loc, "gqa() needs the number of KV heads, e.g. gqa(kv_heads = 2)");
        return NULL;
    } else if (opt_int(s, v, "kv_heads", sc->heads, 1, 1 << 16, &sc->kv_heads)) {
        return NULL;
    }
    if (sc->heads % sc->kv_heads) {
        moac_diag_error(s->diag, sema_arg(v, "kv_heads") ? sema_arg(v, "kv_heads")->loc : v->loc,
                        "%d KV heads do not divide %d query heads", sc->kv_heads, sc->heads);
        return NULL;
    }
    sema_val *kv = sema_arg(v, "kv");
    if (kv) {
        sc->kv = to_scheme(s, kv, m, 1);
        if (!sc->kv || check_groups(s, sc->kv, sc->kv_heads)) return NULL;
    }
    return sc;
}

static moac_scheme *sparse_scheme(sema *s, const sema_val *v, const moac_spec *m) {
    moac_scheme *sc = new_scheme(s, MOAC_SCHEME_SPARSE, v);
    int bad = 0;
    bad |= opt_int(s, v, "head_dim", m->head_dim, 1, 1 << 16, &sc->head_dim);
    bad |= opt_bool(s, v, "include_first", 1, &sc->include_first);
    bad |= opt_num(s, v, "rope", m->positions == MOAC_POS_ROPE ? 0.5 : 0, 0, 1, &sc->rope);
    if (bad) return NULL;
    sema_val *sp = sema_arg(v, "sparsity"), *kv = sema_arg(v, "k");
    if (sp && kv) {
        moac_diag_error(s->diag, kv->loc, "give sparse() either 'sparsity' or 'k', not both");
        return NULL;
    }
    if (!sp && !kv) {
        moac_diag_error(s->diag, v->loc, "sparse() needs 'sparsity' (context / k) or 'k' (tokens per head)");
        return NULL;
    }
    if (sp) {
        if (sema_want_num(s, sp, "sparsity", 1, 1e9, &sc->sparsity)) return NULL;
        sc->k = (int)floor(m->context / sc->sparsity);
    } else {
        long long k;
        if (sema_want_int(s, kv, "k", -(1LL << 40), 1LL << 40, &k)) return NULL;
        sc->k = (int)k;
    }
    if (sc->k < 2 || sc->k > m->context) {
        moac_diag_error(s->diag, (sp ? sp : kv)->loc,
                        "this selects k = %d tokens per head; k must be between 2 and the context (%d)",
                        sc->k, m->context);
        return NULL;
    }
    sema_val *h = sema_arg(v, "heads");
    if (!h) {
        moac_diag_error(s->diag, v->loc, "sparse() needs 'heads' (a number, or flop_match(n))");
        return NULL;
    }
    if (sema_is_call(h, "flop_match")) {
        sema_val *n = sema_arg(h, "dense_heads");
        long long dense;
        if (!n) {
            moac_diag_error(s->diag, h->loc, "flop_match() needs the number of dense heads to match, e.g. flop_match(5)");
            return NULL;
        }
        if (sema_want_int(s, n, "dense_heads", 1, 1 << 16, &dense)) return NULL;
        moac_wide budget = dense * moac_dense_head_flops(m->width, m->head_dim, m->context);
        moac_wide each = moac_sparse_head_flops(m->width, sc->head_dim, sc->k, m->context);
        if (budget / each > (1 << 16)) {
            moac_diag_error(s->diag, h->loc, "flop_match(%lld) buys more than %d sparse heads", dense, 1 << 16);
            return NULL;
        }
        sc->heads = (int)(budget / each);
        sc->flop_match = (int)dense;
        if (sc->heads < 1) {
            moac_diag_error(s->diag, h->loc, "%lld dense heads buy no sparse head at k = %d", dense, sc->k);
            return NULL;
        }
    } else {
        long long heads;
        if (sema_want_int(s, h, "heads of sparse()", 1, 1 << 16, &heads)) return NULL;
        sc->heads = (int)heads;
    }
    return check_rope(s, v, m, sc) ? NULL : sc;
}

static int to_router(sema *s, const sema_val *v, moac_router *r, int capacity) {
    /* Defaults: MoAS routes with MLP or linear at std 0.02; mixSGA's linear router has a bias β
     * and He-initialised φ. */
    r->bias = capacity;
    r->he_init = capacity;
    if (!v) return 0;
    static const char *const kinds[] = {"linear", "mlp", NULL};
    if (want_call(s, v, "the router", kinds)) return -1;
    if (sema_is_call(v, "linear")) {
        static const char *const inits[] = {"normal", "he", NULL};
        int init;
        if (opt_bool(s, v, "bias", capacity, &r->bias) || opt_choice(s, v, "init", capacity, inits, &init)) return -1;
        r->he_init = init;
        return 0;
    }
    r->bias = 0;
    r->he_init = 0;
    if (!sema_arg(v, "hidden")) {
        moac_diag_error(s->diag, v->loc, "a router mlp() needs its width, e.g. mlp(hidden = width / 4)");
        return -1;
    }
    int act = 0;
    if (opt_int(s, v, "hidden", 0, 1, 1 << 20, &r->hidden) || opt_choice(s, v, "act", 0, acts, &act)) return -1;
    r->act = (moac_act)act;
    return 0;
}

static int to_aux(sema *s, const sema_val *v, moac_scheme *sc) {
    if (!v) return 0;
    static const char *const kinds[] = {"balance", "consistency", "none", NULL};
    if (want_call(s, v, "aux", kinds)) return -1;
    if (v->kind == SEMA_SYMBOL) return 0; /* none */
    if (sema_is_call(v, "balance")) {
        static const char *const losses[] = {"mse", NULL};
        int loss;
        sc->aux = MOAC_AUX_BALANCE;
        if (sc->rule != MOAC_MIX_ROUTE) {
            moac_diag_error(s->diag, v->loc, "balance() applies to route(); use consistency() with capacity()");
            return -1;
        }
        return opt_num(s, v, "weight", 0.01, 0, 1e6, &sc->aux_weight) | opt_choice(s, v, "loss", 0, losses, &loss);
    }
    static const char *const losses[] = {"bce", NULL};
    int loss;
    sc->aux = MOAC_AUX_CONSISTENCY;
    if (sc->rule != MOAC_MIX_CAPACITY || sc->gate != MOAC_GATE_SIGMOID) {
        moac_diag_error(s->diag, v->loc, "consistency() applies to capacity() with gate = sigmoid");
        return -1;
    }
    return opt_num(s, v, "alpha", 0.1, 0, 1e6, &sc->aux_weight) | opt_choice(s, v, "loss", 0, losses, &loss);
}

static int to_ratios(sema *s, const sema_val *v, moac_scheme *sc) {
    if (!v) {
        moac_diag_error(s->diag, sc->loc, "capacity() needs capacity ratios, e.g. ratio = 3:1:6");
        return -1;
    }
    int n = v->kind == SEMA_LIST ? v->nitems : 1;
    const sema_val *const *items = v->kind == SEMA_LIST ? (const sema_val *const *)v->items : &v;
    if (n == 0) {
        moac_diag_error(s->diag, v->loc, "capacity ratios are empty; give one share per expert, e.g. 3:1:6");
        return -1;
    }
    if (n != sc->nbranches) {
        moac_diag_error(s->diag, v->loc, "%d capacity ratios for %d experts; give one share per expert", n,
                        sc->nbranches);
        return -1;
    }
    sc->ratios = moac_arena_alloc(s->arena, sizeof *sc->ratios * (size_t)n);
    double total = 0;
    for (int i = 0; i < n; i++) {
        if (sema_want_num(s, items[i], "a capacity ratio", 0, 1e12, &sc->ratios[i])) return -1;
        if (sc->ratios[i] == 0) {
            moac_diag_error(s->diag, items[i]->loc, "capacity ratio of expert %d is zero; every expert needs a share",
                            i + 1);
            return -1;
        }
        total += sc->ratios[i];
    }
    for (int i = 0; i < n; i++) sc->ratios[i] /= total;
    return 0;
}

static int label_taken(moac_scheme *const *branches, int n, const char *label) {
    for (int i = 0; i < n; i++)
        if (branches[i]->label && !strcmp(branches[i]->label, label)) return 1;
    return 0;
}

/* Branch labels name parameters (h0.attn.<label>.wq), so the branches of one mixture need
 * distinct ones. A branch is first named after its let (`let fast = mqa()`: fast) or its kind
 * (mha, sparse; g2 for group(2)). A let's name is the user's and stays as written at the let's
 * first use; any other name stays plain at its first use unless a let claims it. Every other
 * branch is numbered from 2 in source order (sparse, sparse2, sparse3), skipping names already
 * taken, so a let called mha2 keeps its name. A name ending in a digit takes '_' before its
 * number (mha1, mha1_2), so numbers stay readable. */
static void assign_labels(sema *s, moac_scheme *mix) {
    int n = mix->nbranches;
    const char *base[MOAC_MAX_BRANCHES];
    for (int i = 0; i < n; i++) {
        moac_scheme *b = mix->branches[i];
        base[i] = b->label;
        if (b->kind == MOAC_SCHEME_GROUP && !b->named)
            base[i] = moac_arena_printf(s->arena, "g%d", b->group);
        b->label = NULL;
    }
    /* Plain names: lets' names first, so a kind's name that a let also uses goes to the let. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            moac_scheme *b = mix->branches[i];
            if (!b->label && b->named == !pass && !label_taken(mix->branches, n, base[i])) b->label = base[i];
        }
    for (int i = 0; i < n; i++) {
        moac_scheme *b = mix->branches[i];
        if (b->label) continue;
        size_t len = strlen(base[i]);
        const char *sep = len && base[i][len - 1] >= '0' && base[i][len - 1] <= '9' ? "_" : "";
        for (int k = 2; !b->label; k++) {
            const char *cand = moac_arena_printf(s->arena, "%s%s%d", base[i], sep, k);
            if (!label_taken(mix->branches, n, cand)) b->label = cand;
        }
    }
}

static moac_scheme *mix_scheme(sema *s, const sema_val *v, const moac_spec *m, int want_kv) {
    moac_scheme *sc = new_scheme(s, MOAC_SCHEME_MIX, v);
    const char *name = v->fn->name;
    sc->rule = !strcmp(name, "mean") ? MOAC_MIX_MEAN : !strcmp(name, "sum") ? MOAC_MIX_SUM
             : !strcmp(name, "route") ? MOAC_MIX_ROUTE : MOAC_MIX_CAPACITY;
    int routed = sc->rule == MOAC_MIX_ROUTE || sc->rule == MOAC_MIX_CAPACITY;
    if (v->nitems < (routed ? 2 : 1)) {
        moac_diag_error(s->diag, v->loc, "%s() needs %s branch%s to mix", name, routed ? "at least two" : "a",
                        routed ? "es" : "");
        return NULL;
    }
    if (v->nitems > MOAC_MAX_BRANCHES) {
        moac_diag_error(s->diag, v->loc, "%s() mixes %d branches; at most %d are supported", name, v->nitems,
                        MOAC_MAX_BRANCHES);
        return NULL;
    }
    sc->nbranches = v->nitems;
    sc->branches = moac_arena_alloc(s->arena, sizeof *sc->branches * (size_t)v->nitems);
    int bad = 0;
    for (int i = 0; i < v->nitems; i++) {
        sc->branches[i] = to_scheme(s, v->items[i], m, want_kv);
        bad |= !sc->branches[i];
    }
    if (bad) return NULL;
    assign_labels(s, sc);
    static const char *const gates[] = {"softmax", "sigmoid", NULL};
    static const char *const modes[] = {"soft", "hard", NULL};
    int gate = sc->rule == MOAC_MIX_CAPACITY, hard = 0;
    if (routed) {
        if (opt_choice(s, v, "gate", gate, gates, &gate)) return NULL;
        sc->gate = (moac_gate)gate;
        if (sc->rule == MOAC_MIX_ROUTE && opt_choice(s, v, "mode", 0, modes, &hard)) return NULL;
        sc->hard = hard;
        if (to_router(s, sema_arg(v, "router"), &sc->router, sc->rule == MOAC_MIX_CAPACITY)) return NULL;
        if (sc->rule == MOAC_MIX_CAPACITY && to_ratios(s, sema_arg(v, "ratio"), sc)) return NULL;
        if (to_aux(s, sema_arg(v, "aux"), sc)) return NULL;
    }
    return sc;
}

static moac_scheme *to_scheme(sema *s, const sema_val *v, const moac_spec *m, int want_kv) {
    static const char *const attention[] = {"attn", "mha", "gqa", "mqa", "sparse", "mean", "sum", "route", "capacity", NULL};
    static const char *const kv[] = {"group", "mean", "route", "capacity", NULL};
    if (++s->schemes > SEMA_MAX_SCHEMES) {
        if (s->schemes == SEMA_MAX_SCHEMES + 1)
            moac_diag_error(s->diag, v->loc, "the attention has more than %d parts (branches of mixtures, nested "
                            "through lets, multiply); use fewer or smaller mixtures", SEMA_MAX_SCHEMES);
        return NULL;
    }
    if (want_call(s, v, want_kv ? "a KV grouping" : "an attention scheme", want_kv ? kv : attention)) {
        if (!want_kv && sema_is_call(v, "group"))
            moac_diag_note(s->diag, v->loc, "group() shares one K/V projection; use it inside attn(kv = ...)");
        return NULL;
    }
    const char *name = v->fn->name;
    if (!strcmp(name, "group")) {
        moac_scheme *sc = new_scheme(s, MOAC_SCHEME_GROUP, v);
        if (!sema_arg(v, "size")) {
            moac_diag_error(s->diag, v->loc, "group() needs its size, e.g. group(2)");
            return NULL;
        }
        return opt_int(s, v, "size", 1, 1, 1 << 16, &sc->group) ? NULL : sc;
    }
    if (!strcmp(name, "sparse")) return sparse_scheme(s, v, m);
    if (!strcmp(name, "mean") || !strcmp(name, "sum") || !strcmp(name, "route") || !strcmp(name, "capacity"))
        return mix_scheme(s, v, m, want_kv);
    return dense_scheme(s, v, m);
}

/* ---- the model ------------------------------------------------------------------------- */

/* The shape fields. Returns -1 if anything attention depends on (context, width, heads,
 * head_dim) is unusable, so that attention is not checked against garbage; vocab and layers
 * errors are reported without stopping the rest. */
static int model_shape(sema *s, moac_spec *m) {
    sema_scope *sc = &s->model;
    int bad = 0;
    int_field(s, sc, "vocab", 0, 1, 2, MOAC_MAX_VOCAB, &m->vocab);
    int_field(s, sc, "layers", 0, 1, 1, 4096, &m->layers);
    bad |= int_field(s, sc, "context", 0, 1, 1, 1 << 20, &m->context);
    bad |= int_field(s, sc, "width", 0, 1, 1, 1 << 20, &m->width);
    bad |= int_field(s, sc, "heads", 0, 1, 1, 1 << 16, &m->heads);
    if (bad) return -1;
    if (sema_lookup(sc, "head_dim")) return int_field(s, sc, "head_dim", 0, 1, 1, 1 << 16, &m->head_dim);
    if (m->width % m->heads) {
        moac_diag_error(s->diag, field_loc(s, sc, "heads"), "%d heads do not divide the width %d; set head_dim or change heads",
                        m->heads, m->width);
        return -1;
    }
    m->head_dim = m->width / m->heads;
    return 0;
}

static int model_parts(sema *s, moac_spec *m) {
    sema_scope *sc = &s->model;
    int bad = 0, err = 0;
    sema_val *v;
    m->norm_eps = 1e-5;
    if ((v = field(s, sc, "norm", &err))) {
        static const char *const norms[] = {"layernorm", NULL};
        if (want_call(s, v, "norm", norms) || opt_bool(s, v, "bias", 0, &m->norm_bias) ||
            opt_num(s, v, "eps", 1e-5, 1e-12, 1, &m->norm_eps))
            bad = 1;
    }
    m->mlp_hidden = 4 * m->width;
    if ((v = field(s, sc, "mlp", &err))) {
        static const char *const mlps[] = {"mlp", NULL};
        int act = 0;
        if (want_call(s, v, "mlp", mlps) || opt_int(s, v, "hidden", 4LL * m->width, 1, 1 << 24, &m->mlp_hidden) ||
            opt_choice(s, v, "act", 0, acts, &act))
            bad = 1;
        m->mlp_act = (moac_act)act;
    }
    m->rope_fraction = 1;
    m->rope_base = 10000;
    m->positions_loc = field_loc(s, sc, "positions");
    if ((v = field(s, sc, "positions", &err))) {
        static const char *const kinds[] = {"learned", "rope", "none", NULL};
        /* rope, bare or with arguments, is a call of the rope builtin: its arguments first. */
        if (sema_is_call(v, "rope")) {
            m->positions = MOAC_POS_ROPE;
            if (opt_num(s, v, "fraction", 1, 1e-9, 1, &m->rope_fraction) ||
                opt_num(s, v, "base", 10000, 1, 1e12, &m->rope_base))
                bad = 1;
        } else {
            int k = sema_want_choice(s, v, "positions", kinds);
            if (k < 0) bad = 1;
            else m->positions = (moac_positions)k;
        }
    }
    m->tied = 1;
    if ((v = field(s, sc, "tied", &err)) && sema_want_bool(s, v, "tied", &m->tied)) bad = 1;
    if ((v = field(s, sc, "bias", &err)) && sema_want_bool(s, v, "bias", &m->bias)) bad = 1;
    if (num_field(s, sc, "dropout", 0, 0, 0.999, &m->dropout)) bad = 1;
    return bad || err ? -1 : 0;
}

static int model_attention(sema *s, moac_spec *m) {
    int err = 0;
    sema_val *v = field(s, &s->model, "attention", &err);
    if (err) return -1;
    if (!v) {
        sema_val dflt = {.kind = SEMA_CALL, .loc = s->model_loc, .fn = sema_builtin_find("mha")};
        v = &dflt;
        m->attention = to_scheme(s, v, m, 0);
    } else {
        m->attention = to_scheme(s, v, m, 0);
    }
    if (!m->attention) return -1;
    if (m->attention->kind != MOAC_SCHEME_MIX) m->attention->label = "attn";
    return 0;
}

/* ---- the train block ------------------------------------------------------------------- */

/* A file name argument of tokens(): a non-empty string (required: the training file). */
static int token_path(sema *s, const sema_val *call, const char *p, int required, const char **out) {
    *out = NULL;
    sema_val *v = sema_arg(call, p);
    if (!v) {
        if (!required) return 0;
        moac_diag_error(s->diag, call->loc, "tokens() needs the training file first: tokens(\"train.bin\")");
        return -1;
    }
    if (sema_want_str(s, v, moac_arena_printf(s->arena, "'%s' of tokens()", p), out)) return -1;
    if (!**out) {
        moac_diag_error(s->diag, v->loc, "'%s' of tokens() is an empty file name", p);
        return -1;
    }
    return 0;
}

/* data = tokens("train.bin", val = "val.bin", vocab = V, dtype = u16 | u32): token files. The
 * vocab defaults to the model's and may be below it (nanoGPT pads GPT-2's 50257 to 50304), never
 * above (a token would have no embedding); dtype defaults to u16 when every token fits in 16
 * bits (vocab <= 65536), else u32. With a val file, split has nothing to split. */
static int tokens_data(sema *s, moac_spec *m, const sema_val *v) {
    moac_train_spec *t = &m->train;
    static const char *const dtypes[] = {"u16", "u32", NULL};
    int bad = token_path(s, v, "train", 1, &t->tokens_train) | token_path(s, v, "val", 0, &t->tokens_val);
    int vocab_bad = opt_int(s, v, "vocab", m->vocab, 2, MOAC_MAX_VOCAB, &t->tokens_vocab);
    bad |= vocab_bad;
    if (!vocab_bad && m->vocab >= 2 && t->tokens_vocab > m->vocab) {
        moac_diag_error(s->diag, sema_arg_loc(v, "vocab"), "tokens(vocab = %d) is above the model's vocab %d: tokens "
                        "from %d up would have no embedding; raise the model's vocab to %d or more", t->tokens_vocab,
                        m->vocab, m->vocab, t->tokens_vocab);
        bad = 1;
    }
    int dtype = t->tokens_vocab <= 65536 ? 0 : 1;
    int dtype_bad = opt_choice(s, v, "dtype", dtype, dtypes, &dtype);
    bad |= dtype_bad;
    if (!vocab_bad && !dtype_bad && dtype == 0 && t->tokens_vocab > 65536) {
        moac_diag_error(s->diag, sema_arg_loc(v, "dtype"), "dtype = u16 holds tokens up to 65535, but the vocab is %d; "
                        "use dtype = u32 (and files written as 32-bit tokens)", t->tokens_vocab);
        bad = 1;
    }
    t->token_bytes = dtype == 0 ? 2 : 4;
    if (t->tokens_val && sema_lookup(&s->train, "split")) {
        moac_diag_error(s->diag, field_loc(s, &s->train, "split"), "split has no effect when tokens() names a "
                        "validation file (val = \"%s\"); remove split, or remove val to split \"%s\"",
                        t->tokens_val, t->tokens_train);
        bad = 1;
    }
    t->data_loc = v->loc;
    return bad ? -1 : 0;
}

static int train_block(sema *s, moac_spec *m) {
    moac_train_spec *t = &m->train;
    sema_scope *sc = &s->train;
    int bad = 0, err = 0, tmp;
    sema_val *v;
    t->synth_pairs = 8;
    if ((v = field(s, sc, "data", &err))) {
        if (v->kind == SEMA_STR) {
            t->data = v->str;
            t->data_loc = v->loc;
        } else if (sema_is_call(v, "synthetic")) {
            static const char *const layouts[] = {"joined", "separate", NULL}; /* moac_synth_layout order */
            int layout;
            bad |= opt_int(s, v, "pairs", 8, 1, 1 << 16, &t->synth_pairs);
            bad |= opt_choice(s, v, "layout", MOAC_SYNTH_JOINED, layouts, &layout);
            t->synth_layout = (moac_synth_layout)layout;
        } else if (sema_is_call(v, "tokens")) {
            bad |= tokens_data(s, m, v) != 0;
        } else {
            moac_diag_error(s->diag, v->loc, "expected a file name (\"input.txt\"), tokens(\"train.bin\") or synthetic "
                            "for data, got %s",
                            sema_val_describe(s, v));
            bad = 1;
        }
    }
    if ((v = field(s, sc, "tokenizer", &err))) {
        static const char *const toks[] = {"char", "byte", NULL};
        int k = sema_want_choice(s, v, "tokenizer", toks);
        if (k < 0) bad = 1;
        else t->tokenizer = (moac_tokenizer)k;
    }
    bad |= num_field(s, sc, "split", 0.9, 0.01, 1, &t->split);
    bad |= int_field(s, sc, "batch", 12, 0, 1, 1 << 20, &t->batch);
    bad |= int_field(s, sc, "steps", 500, 0, 0, 1 << 30, &t->steps);
    bad |= num_field(s, sc, "clip", 1.0, 0, 1e12, &t->clip);
    bad |= int_field(s, sc, "eval_every", 100, 0, 0, 1 << 30, &t->eval_every);
    bad |= int_field(s, sc, "eval_batches", 20, 0, 1, 1 << 20, &t->eval_batches);
    int seed;
    bad |= int_field(s, sc, "seed", 1337, 0, 0, 2147483647, &seed);
    t->seed = seed;
    t->lr = 3e-4;
    t->beta1 = 0.9;
    t->beta2 = 0.99;
    t->weight_decay = 0.1;
    t->eps = 1e-8;
    if ((v = field(s, sc, "optimizer", &err))) {
        static const char *const opts[] = {"adamw", NULL};
        if (want_call(s, v, "optimizer", opts) || opt_num(s, v, "lr", 3e-4, 0, 10, &t->lr) ||
            opt_num(s, v, "weight_decay", 0.1, 0, 10, &t->weight_decay) || opt_num(s, v, "eps", 1e-8, 0, 1, &t->eps)) {
            bad = 1;
        } else if (sema_arg(v, "betas")) {
            sema_val *b = sema_arg(v, "betas");
            if (b->kind != SEMA_LIST || b->is_ratio || b->nitems != 2) {
                moac_diag_error(s->diag, b->loc, "betas must be a list of two numbers, e.g. [0.9, 0.99]");
                bad = 1;
            } else {
                bad |= sema_want_num(s, b->items[0], "beta1", 0, 0.999999, &t->beta1);
                bad |= sema_want_num(s, b->items[1], "beta2", 0, 0.999999, &t->beta2);
            }
        }
    }
    t->min_lr = t->lr / 10;
    if ((v = field(s, sc, "schedule", &err))) {
        static const char *const scheds[] = {"constant", "cosine", NULL};
        int k = sema_is_call(v, "cosine") ? 1 : sema_want_choice(s, v, "schedule", scheds);
        if (k < 0) bad = 1;
        t->schedule = k == 1 ? MOAC_LR_COSINE : MOAC_LR_CONSTANT;
        if (k == 1)
            bad |= opt_int(s, v, "warmup", 0, 0, 1 << 30, &t->warmup) |
                   opt_num(s, v, "min_lr", t->lr / 10, 0, 10, &t->min_lr);
    }
    (void)tmp;
    return bad || err ? -1 : 0;
}

/* Lowering cannot build what does not fit: counts past 2^63, a tensor of 2^40 elements or more
 * at the spec's batch (moac train's), or 2^40 parameters (16 TiB of training state). Checked
 * here so that `moac check` never accepts a spec the compiler then refuses. */
static void model_size(sema *s, const moac_spec *m, moac_loc at) {
    if (!moac_spec_stats_fit(m)) {
        moac_diag_error(s->diag, at, "model '%s' is too large: its parameter or FLOP count exceeds 2^63", m->name);
        return;
    }
    double params = moac_spec_params_wide(m), largest = moac_spec_largest_tensor(m, m->train.batch);
    if (params >= MOAC_MAX_TENSOR)
        moac_diag_error(s->diag, at, "model '%s' is too large: %.3g parameters, moac's limit is 2^40; lower the widths, "
                        "heads or layers", m->name, params);
    else if (largest >= MOAC_MAX_TENSOR)
        moac_diag_error(s->diag, at, "model '%s' at batch %d has a tensor of %.3g elements, over moac's limit of 2^40; "
                        "lower the batch, context or widths", m->name, m->train.batch, largest);
}

/* ---- driver ---------------------------------------------------------------------------- */

static void collect(sema *s, const moac_ast_unit *unit, const moac_ast_item **model, const moac_ast_item **train) {
    for (int f = 0; f < unit->nfiles; f++) {
        const moac_ast_file *file = unit->files[f];
        for (int i = 0; i < file->nitems; i++) {
            const moac_ast_item *item = &file->items[i];
            const moac_ast_item **slot = item->kind == MOAC_ITEM_MODEL ? model : item->kind == MOAC_ITEM_TRAIN ? train : NULL;
            if (item->kind == MOAC_ITEM_LET) scope_add(s, &s->lets, item->name, item->name_loc, item->value, "'let'");
            if (!slot) continue;
            if (*slot) {
                const char *what = item->kind == MOAC_ITEM_MODEL ? "model" : "train";
                moac_diag_error(s->diag, item->loc, "a spec has one %s block; this is a second one", what);
                moac_diag_note(s->diag, (*slot)->loc, "the first %s block is here", what);
                continue;
            }
            *slot = item;
        }
    }
}

moac_spec *moac_sema(moac_arena *a, const moac_ast_unit *unit, moac_diag *d) {
    if (!unit || unit->nfiles == 0) return NULL;
    int errors_before = d->errors;
    sema s = {.arena = a, .diag = d};
    const moac_ast_item *model = NULL, *train = NULL;
    collect(&s, unit, &model, &train);
    const moac_source *root = unit->files[unit->nfiles - 1]->src;
    if (!model) {
        moac_diag_file_error(d, root->path, "no model block; a spec describes one `model { ... }`");
        return NULL;
    }
    s.model_loc = model->loc;
    /* Both blocks' fields are in scope before anything is evaluated (fields may refer to each
     * other); problems are reported roughly in source order: model first, then train. */
    add_block(&s, &s.model, model, model_fields);
    if (train) add_block(&s, &s.train, train, train_fields);
    report_unknown_fields(&s, model, model_fields, "model");
    moac_spec *m = moac_arena_alloc(a, sizeof *m);
    m->name = model->name ? model->name : "model";
    m->src = root;
    int shape = model_shape(&s, m);
    int parts = model_parts(&s, m);
    if (shape == 0) model_attention(&s, m);
    (void)parts;
    if (train) report_unknown_fields(&s, train, train_fields, "train");
    train_block(&s, m);
    if (d->errors == errors_before && m->attention) model_size(&s, m, model->loc);
    /* Fields nobody asked for were still evaluated: report their errors too. */
    for (int i = 0; i < s.lets.count; i++) sema_binding_value(&s, &s.lets.items[i]);
    return d->errors > errors_before ? NULL : m;
}

moac_spec *moac_spec_load(moac_arena *a, const char *path, moac_diag *d) {
    moac_ast_unit *unit = moac_parse_unit(a, path, d);
    if (!unit || d->errors) return NULL;
    return moac_sema(a, unit, d);
}
