/* The spec evaluator: resolves names (model fields, train fields, lets, builtins), evaluates
 * arithmetic, and binds call arguments to the builtin's parameters. It knows nothing about what
 * a scheme or a mixture is; sema_model.c gives the values their meaning. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "frontend/sema.h"
#include "support/hash.h"

/* Every constructor a spec can call. Parameters are in positional order. */
static const sema_builtin builtins[] = {
    {"attn", {"heads", "kv_heads", "head_dim", "rope", "kv"}, 0, "dense causal attention"},
    {"mha", {"heads", "head_dim", "rope"}, 0, "multi-head attention: kv_heads = heads"},
    {"gqa", {"kv_heads", "heads", "head_dim", "rope"}, 0, "grouped-query attention"},
    {"mqa", {"heads", "head_dim", "rope"}, 0, "multi-query attention: one KV head"},
    {"group", {"size"}, 0, "weight-shared KV grouping: mean of `size` contiguous KV heads"},
    {"sparse", {"heads", "head_dim", "sparsity", "k", "include_first", "rope"}, 0,
     "heads that attend over their own top-k tokens, chosen by a router"},
    {"flop_match", {"dense_heads"}, 0, "as many sparse heads as cost `dense_heads` dense heads"},
    {"mean", {NULL}, 1, "average of the branches"},
    {"sum", {NULL}, 1, "sum of the branches"},
    {"route", {"gate", "router", "mode", "aux"}, 1, "token-choice routing over the branches"},
    {"capacity", {"ratio", "gate", "router", "aux"}, 1, "expert-choice routing with capacity ratios"},
    {"linear", {"bias", "init"}, 0, "a linear router"},
    {"mlp", {"hidden", "act"}, 0, "an MLP (the model's, or a router)"},
    {"balance", {"weight", "loss"}, 0, "MoAS load-balance loss: MSE of mean gates to uniform"},
    {"consistency", {"alpha", "loss"}, 0, "mixSGA consistency loss: BCE of gates to assignment"},
    {"layernorm", {"bias", "eps"}, 0, "LayerNorm"},
    {"rope", {"fraction", "base"}, 0, "rotary position embedding"},
    {"adamw", {"lr", "betas", "weight_decay", "eps"}, 0, "AdamW optimiser"},
    {"cosine", {"warmup", "min_lr"}, 0, "linear warm-up, then cosine decay to min_lr"},
    {"synthetic", {"pairs", "layout"}, 0, "the built-in associative-recall task"},
    {"tokens", {"train", "val", "vocab", "dtype"}, 0, "token files (flat little-endian u16 or u32, nanoGPT's .bin)"},
};

/* Bare words with a meaning of their own (options of the builtins above). */
static const char *const symbols[] = {
    "softmax", "sigmoid", "gelu", "relu", "soft", "hard", "learned", "none",
    "constant", "mse", "bce", "char", "byte", "he", "normal", "joined", "separate",
    "u16", "u32", NULL,
};

const sema_builtin *sema_builtin_find(const char *name) {
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        if (!strcmp(builtins[i].name, name)) return &builtins[i];
    return NULL;
}

static int builtin_nparams(const sema_builtin *b) {
    int n = 0;
    while (n < 8 && b->params[n]) n++;
    return n;
}

static sema_val *new_val(sema *s, sema_val_kind kind, moac_loc loc) {
    sema_val *v = moac_arena_alloc(s->arena, sizeof *v);
    v->kind = kind;
    v->loc = loc;
    return v;
}

static uint64_t name_hash(const char *name) {
    return moac_hash_bytes(MOAC_HASH_SEED, name, strlen(name));
}

sema_binding *sema_lookup(sema_scope *scope, const char *name) {
    if (!scope->index_cap) return NULL;
    size_t mask = (size_t)scope->index_cap - 1;
    for (size_t h = (size_t)name_hash(name) & mask;; h = (h + 1) & mask) {
        int at = scope->index[h];
        if (!at) return NULL;
        if (!strcmp(scope->items[at - 1].name, name)) return &scope->items[at - 1];
    }
}

static void index_put(sema_scope *scope, int item) {
    size_t mask = (size_t)scope->index_cap - 1, h = (size_t)name_hash(scope->items[item].name) & mask;
    while (scope->index[h]) h = (h + 1) & mask;
    scope->index[h] = item + 1;
}

sema_binding *sema_scope_insert(sema *s, sema_scope *scope, const char *name) {
    if (scope->count == scope->cap) { /* doubling: the arena keeps old copies, at most as much again */
        int cap = scope->cap ? scope->cap * 2 : 16;
        sema_binding *grown = moac_arena_alloc(s->arena, sizeof *grown * (size_t)cap);
        if (scope->count) memcpy(grown, scope->items, sizeof *grown * (size_t)scope->count);
        scope->items = grown;
        scope->cap = cap;
    }
    sema_binding *b = &scope->items[scope->count++];
    memset(b, 0, sizeof *b);
    b->name = name;
    if (2 * scope->count > scope->index_cap) {
        scope->index_cap = scope->index_cap ? scope->index_cap * 2 : 32;
        scope->index = moac_arena_alloc(s->arena, sizeof *scope->index * (size_t)scope->index_cap); /* zeroed */
        for (int i = 0; i < scope->count; i++) index_put(scope, i);
    } else {
        index_put(scope, scope->count - 1);
    }
    return b;
}

sema_val *sema_binding_value(sema *s, sema_binding *b) {
    if (b->state == 2) return b->value;
    if (b->state == 1) {
        moac_diag_error(s->diag, b->loc, "'%s' is defined in terms of itself", b->name);
        b->state = 2;
        return b->value = NULL;
    }
    b->state = 1;
    sema_val *v = sema_eval(s, b->expr);
    if (v && b->is_let && v->kind == SEMA_CALL && !v->label) {
        /* A let names what it defines: `let fast = mqa()` labels that branch "fast". */
        sema_val *copy = moac_arena_dup(s->arena, v, sizeof *v);
        copy->label = b->name;
        v = copy;
    }
    b->value = v;
    b->state = 2;
    return v;
}

static int is_symbol(const char *name) {
    for (int i = 0; symbols[i]; i++)
        if (!strcmp(symbols[i], name)) return 1;
    return 0;
}

static void add_names(const char **names, size_t *n, size_t cap, const sema_scope *scope) {
    for (int i = 0; i < scope->count && *n < cap; i++) names[(*n)++] = scope->items[i].name;
}

static void unknown_name(sema *s, const moac_ast *e) {
    const char *names[256];
    size_t n = 0;
    add_names(names, &n, 200, &s->model);
    add_names(names, &n, 200, &s->train);
    add_names(names, &n, 200, &s->lets);
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) names[n++] = builtins[i].name;
    for (int i = 0; symbols[i]; i++) names[n++] = symbols[i];
    const char *hint = moac_suggest(e->str, names, n);
    if (hint) moac_diag_error(s->diag, e->loc, "unknown name '%s'; did you mean '%s'?", e->str, hint);
    else moac_diag_error(s->diag, e->loc, "unknown name '%s'", e->str);
}

static sema_val *eval_name(sema *s, const moac_ast *e) {
    sema_binding *b = sema_lookup(&s->model, e->str);
    if (!b) b = sema_lookup(&s->train, e->str);
    if (!b) b = sema_lookup(&s->lets, e->str);
    if (b) return sema_binding_value(s, b);
    const sema_builtin *fn = sema_builtin_find(e->str);
    if (fn) { /* a bare builtin name is that builtin with its defaults */
        sema_val *v = new_val(s, SEMA_CALL, e->loc);
        v->fn = fn;
        return v;
    }
    if (is_symbol(e->str)) {
        sema_val *v = new_val(s, SEMA_SYMBOL, e->loc);
        v->str = e->str;
        return v;
    }
    unknown_name(s, e);
    return NULL;
}

static sema_val *eval_call(sema *s, const moac_ast *e) {
    const sema_builtin *fn = sema_builtin_find(e->str);
    if (!fn) {
        const char *names[64];
        size_t n = 0;
        for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++) names[n++] = builtins[i].name;
        const char *hint = moac_suggest(e->str, names, n);
        moac_loc loc = e->loc;
        loc.len = (int)strlen(e->str);
        if (hint) moac_diag_error(s->diag, loc, "unknown function '%s'; did you mean '%s'?", e->str, hint);
        else moac_diag_error(s->diag, loc, "unknown function '%s'", e->str);
        return NULL;
    }
    sema_val *v = new_val(s, SEMA_CALL, e->loc);
    v->fn = fn;
    int nparams = builtin_nparams(fn), npos = 0, ok = 1;
    if (fn->variadic) v->items = moac_arena_alloc(s->arena, sizeof *v->items * (size_t)(e->nargs + 1));
    for (int i = 0; i < e->nargs; i++) {
        const moac_ast_arg *arg = &e->args[i];
        sema_val *av = sema_eval(s, arg->value);
        if (!av) { ok = 0; continue; }
        int slot = -1;
        if (!arg->name) {
            if (fn->variadic) { v->items[v->nitems++] = av; continue; }
            if (npos >= nparams) {
                moac_diag_error(s->diag, arg->value->loc, "too many arguments to '%s' (it takes %d)",
                                fn->name, nparams);
                ok = 0;
                continue;
            }
            slot = npos++;
        } else {
            for (int p = 0; p < nparams; p++)
                if (!strcmp(fn->params[p], arg->name)) slot = p;
            if (slot < 0) {
                const char *hint = moac_suggest(arg->name, fn->params, (size_t)nparams);
                if (hint)
                    moac_diag_error(s->diag, arg->name_loc, "'%s' has no parameter '%s'; did you mean '%s'?",
                                    fn->name, arg->name, hint);
                else
                    moac_diag_error(s->diag, arg->name_loc, "'%s' has no parameter '%s'", fn->name, arg->name);
                ok = 0;
                continue;
            }
        }
        if (v->slots[slot]) {
            moac_diag_error(s->diag, arg->name ? arg->name_loc : arg->value->loc,
                            "argument '%s' of '%s' is given twice", fn->params[slot], fn->name);
            ok = 0;
            continue;
        }
        v->slots[slot] = av;
        v->slot_loc[slot] = arg->name ? arg->name_loc : arg->value->loc;
    }
    return ok ? v : NULL;
}

static sema_val *eval_arith(sema *s, const moac_ast *e) {
    sema_val *a = sema_eval(s, e->lhs);
    sema_val *b = e->kind == MOAC_AST_BINARY ? sema_eval(s, e->rhs) : NULL;
    if (!a || (e->kind == MOAC_AST_BINARY && !b)) return NULL;
    const sema_val *bad = a->kind != SEMA_NUM ? a : (b && b->kind != SEMA_NUM) ? b : NULL;
    if (bad) {
        moac_diag_error(s->diag, bad->loc, "arithmetic needs numbers, got %s", sema_val_describe(s, bad));
        return NULL;
    }
    sema_val *v = new_val(s, SEMA_NUM, e->loc);
    if (e->kind == MOAC_AST_NEGATE) {
        v->num = -a->num;
        v->is_int = a->is_int;
        return v;
    }
    v->is_int = a->is_int && b->is_int;
    switch (e->op) {
    case '+': v->num = a->num + b->num; break;
    case '-': v->num = a->num - b->num; break;
    case '*': v->num = a->num * b->num; break;
    case '/':
        if (b->num == 0) {
            moac_diag_error(s->diag, e->rhs->loc, "division by zero");
            return NULL;
        }
        v->num = a->num / b->num;
        v->is_int = v->is_int && fmod(a->num, b->num) == 0;
        break;
    default: return NULL;
    }
    if (v->is_int && fabs(v->num) > 9007199254740992.0) {
        moac_diag_error(s->diag, e->loc, "integer result too large");
        return NULL;
    }
    return v;
}

static sema_val *eval_node(sema *s, const moac_ast *e);

sema_val *sema_eval(sema *s, const moac_ast *e) {
    if (!e) return NULL;
    if (s->depth >= SEMA_MAX_EVAL_DEPTH) {
        if (!s->too_deep)
            moac_diag_error(s->diag, e->loc, "this value is nested too deeply through names (more than %d levels "
                            "of lets and expressions); define it with fewer intermediate lets", SEMA_MAX_EVAL_DEPTH);
        s->too_deep = 1;
        return NULL;
    }
    s->depth++;
    sema_val *v = eval_node(s, e);
    s->depth--;
    return v;
}

static sema_val *eval_node(sema *s, const moac_ast *e) {
    switch (e->kind) {
    case MOAC_AST_NUMBER: {
        sema_val *v = new_val(s, SEMA_NUM, e->loc);
        v->num = e->num;
        v->is_int = e->is_int;
        return v;
    }
    case MOAC_AST_STRING: {
        sema_val *v = new_val(s, SEMA_STR, e->loc);
        v->str = e->str;
        return v;
    }
    case MOAC_AST_BOOL: {
        sema_val *v = new_val(s, SEMA_BOOL, e->loc);
        v->num = e->num;
        return v;
    }
    case MOAC_AST_NAME: return eval_name(s, e);
    case MOAC_AST_CALL: return eval_call(s, e);
    case MOAC_AST_LIST:
    case MOAC_AST_RATIO: {
        sema_val *v = new_val(s, SEMA_LIST, e->loc);
        v->is_ratio = e->kind == MOAC_AST_RATIO;
        v->items = moac_arena_alloc(s->arena, sizeof *v->items * (size_t)(e->nitems + 1));
        for (int i = 0; i < e->nitems; i++) {
            sema_val *item = sema_eval(s, e->items[i]);
            if (!item) return NULL;
            v->items[v->nitems++] = item;
        }
        return v;
    }
    case MOAC_AST_BINARY:
    case MOAC_AST_NEGATE: return eval_arith(s, e);
    }
    return NULL;
}

const char *sema_val_describe(sema *s, const sema_val *v) {
    switch (v->kind) {
    case SEMA_NUM: {
        moac_strbuf b;
        moac_strbuf_init(&b);
        if (v->is_int) moac_strbuf_printf(&b, "%.0f", v->num);
        else moac_strbuf_put_double(&b, v->num);
        const char *out = moac_arena_printf(s->arena, "number %s", moac_strbuf_cstr(&b));
        moac_strbuf_free(&b);
        return out;
    }
    case SEMA_STR: return moac_arena_printf(s->arena, "string \"%s\"", v->str);
    case SEMA_BOOL: return v->num ? "true" : "false";
    case SEMA_LIST: return v->is_ratio ? "a ratio" : "a list";
    case SEMA_SYMBOL: return moac_arena_printf(s->arena, "'%s'", v->str);
    case SEMA_CALL: return moac_arena_printf(s->arena, "%s()", v->fn->name);
    }
    return "a value";
}

int sema_want_num(sema *s, const sema_val *v, const char *what, double lo, double hi, double *out) {
    if (v->kind != SEMA_NUM) {
        moac_diag_error(s->diag, v->loc, "expected a number for %s, got %s", what, sema_val_describe(s, v));
        return -1;
    }
    if (!(v->num >= lo && v->num <= hi)) {
        moac_strbuf b;
        moac_strbuf_init(&b);
        moac_strbuf_puts(&b, "between ");
        moac_strbuf_put_double(&b, lo);
        moac_strbuf_puts(&b, " and ");
        moac_strbuf_put_double(&b, hi);
        moac_diag_error(s->diag, v->loc, "%s must be %s, got %s", what, moac_strbuf_cstr(&b),
                        sema_val_describe(s, v));
        moac_strbuf_free(&b);
        return -1;
    }
    *out = v->num;
    return 0;
}

int sema_want_int(sema *s, const sema_val *v, const char *what, long long lo, long long hi, long long *out) {
    if (v->kind != SEMA_NUM || !v->is_int) {
        if (v->kind == SEMA_NUM && v->num == floor(v->num) && fabs(v->num) < 9007199254740992.0) {
            /* 4.0 written with a point is still a whole number */
        } else {
            moac_diag_error(s->diag, v->loc, "expected a whole number for %s, got %s", what,
                            sema_val_describe(s, v));
            return -1;
        }
    }
    if (v->num < (double)lo || v->num > (double)hi) {
        if (hi >= 1000000000000LL)
            moac_diag_error(s->diag, v->loc, "%s must be at least %lld, got %s", what, lo, sema_val_describe(s, v));
        else
            moac_diag_error(s->diag, v->loc, "%s must be between %lld and %lld, got %s", what, lo, hi,
                            sema_val_describe(s, v));
        return -1;
    }
    *out = (long long)v->num;
    return 0;
}

int sema_want_bool(sema *s, const sema_val *v, const char *what, int *out) {
    if (v->kind != SEMA_BOOL) {
        moac_diag_error(s->diag, v->loc, "expected true or false for %s, got %s", what, sema_val_describe(s, v));
        return -1;
    }
    *out = v->num != 0;
    return 0;
}

int sema_want_str(sema *s, const sema_val *v, const char *what, const char **out) {
    if (v->kind != SEMA_STR) {
        moac_diag_error(s->diag, v->loc, "expected a string for %s, got %s", what, sema_val_describe(s, v));
        return -1;
    }
    *out = v->str;
    return 0;
}

int sema_is_call(const sema_val *v, const char *name) {
    return v && v->kind == SEMA_CALL && !strcmp(v->fn->name, name);
}

int sema_want_choice(sema *s, const sema_val *v, const char *what, const char *const *choices) {
    const char *word = NULL;
    if (v->kind == SEMA_SYMBOL) word = v->str;
    if (v->kind == SEMA_CALL && v->nitems == 0) {
        int any = 0;
        for (int i = 0; i < 8; i++) any |= v->slots[i] != NULL;
        if (!any) word = v->fn->name;
    }
    if (word)
        for (int i = 0; choices[i]; i++)
            if (!strcmp(choices[i], word)) return i;
    moac_strbuf b;
    moac_strbuf_init(&b);
    for (int i = 0; choices[i]; i++) {
        if (i) moac_strbuf_puts(&b, choices[i + 1] ? ", " : " or ");
        moac_strbuf_puts(&b, choices[i]);
    }
    moac_diag_error(s->diag, v->loc, "expected %s for %s, got %s", moac_strbuf_cstr(&b), what,
                    sema_val_describe(s, v));
    moac_strbuf_free(&b);
    return -1;
}

sema_val *sema_arg(const sema_val *call, const char *param) {
    for (int i = 0; i < 8 && call->fn->params[i]; i++)
        if (!strcmp(call->fn->params[i], param)) return call->slots[i];
    return NULL;
}

moac_loc sema_arg_loc(const sema_val *call, const char *param) {
    for (int i = 0; i < 8 && call->fn->params[i]; i++)
        if (!strcmp(call->fn->params[i], param) && call->slots[i]) return call->slot_loc[i];
    return call->loc;
}
