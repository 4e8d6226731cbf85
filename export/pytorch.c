/* model.py from a spec's evaluation graph (export/pytorch.h): a header, the fixed part of
 * export/model_template.py with the model's constants and its graph function put in.
 *
 * graph() is the IR walked in order, one statement per value, from emit_op's switch: every op
 * of ir/ops.def is a case there (the switch has no default, so a new op does not compile until
 * it is given a translation or a place among the refused ones). The translations follow the
 * reference interpreter's kernels (backends/interp/kernels_*.c); the ops that take more than a
 * line are functions of the template (_attention, _rope, _topk, _capacity_route, ...). The
 * values that need the targets (the losses and what only they read) come last, after
 * `if targets is None: return out`, so logits alone cost no loss. A value is deleted after its
 * last use (`; del tN` on its last reader's line), so an inference holds only the live values,
 * as moac's memory plan does, rather than every value of the graph until it returns. */
#include "export/pytorch.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "export/template.h"
#include "moac.h"

typedef struct gen {
    const moac_graph *g[2];     /* the same graph at two batch sizes */
    int64_t batch[2];
    const moac_pytorch_info *info;
    moac_strbuf *out;
    moac_diag *d;
    char **expr;                /* each value's Python expression: idx, targets, P["name"], tN */
    const moac_node *at;        /* the value being written (errors name it) */
    int bad;
} gen;

static void __attribute__((format(printf, 2, 3))) fail(gen *G, const char *fmt, ...) {
    if (G->bad++) return; /* the first problem is the one to fix */
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    moac_diag_file_error(G->d, G->info->spec_path, "export: %s", msg);
}

/* ---- writing sizes, numbers and names ---------------------------------------------------- */

/* A size that may follow the batch: v[k] at batch[k]. Equal: the number; in proportion: B or
 * B * m; anything else is not a shape model.py can compute. */
static void put_size(gen *G, int64_t v0, int64_t v1) {
    if (v0 == v1) {
        moac_strbuf_printf(G->out, "%lld", (long long)v0);
        return;
    }
    int64_t m = v0 / G->batch[0];
    if (v0 % G->batch[0] == 0 && m > 0 && v1 == m * G->batch[1]) {
        if (m == 1) moac_strbuf_puts(G->out, "B");
        else moac_strbuf_printf(G->out, "B * %lld", (long long)m);
        return;
    }
    fail(G, "value %%%u (%s) has a size of %lld at batch %lld but %lld at batch %lld, which model.py cannot "
         "compute from its batch", G->at->id, moac_op_info_get(G->at->op)->name, (long long)v0,
         (long long)G->batch[0], (long long)v1, (long long)G->batch[1]);
}

/* The i-th int attribute of the value being written, which must not depend on the batch. */
static int64_t same_int(gen *G, int i) {
    const moac_node *n1 = G->g[1]->nodes[G->at->id];
    if (G->at->i[i] != n1->i[i])
        fail(G, "value %%%u (%s) has an attribute that changes with the batch (%lld, %lld)", G->at->id,
             moac_op_info_get(G->at->op)->name, (long long)G->at->i[i], (long long)n1->i[i]);
    return G->at->i[i];
}

/* A tuple of sizes (a list attribute, or the value's type) in Python's syntax: (a, b), (a,), (). */
static void put_dims(gen *G, const int64_t *a, const int64_t *b, int n) {
    moac_strbuf_putc(G->out, '(');
    for (int k = 0; k < n; k++) {
        if (k) moac_strbuf_puts(G->out, ", ");
        put_size(G, a[k], b[k]);
    }
    if (n == 1) moac_strbuf_putc(G->out, ',');
    moac_strbuf_putc(G->out, ')');
}

static void put_list(gen *G) {
    const moac_node *n1 = G->g[1]->nodes[G->at->id];
    put_dims(G, G->at->l, n1->l, G->at->nl);
}

static void put_shape(gen *G) {
    const moac_node *n1 = G->g[1]->nodes[G->at->id];
    put_dims(G, G->at->type.dims, n1->type.dims, G->at->type.rank);
}

/* A float as Python reads it back exactly (shortest round trip; inf and nan spelled out). */
static void put_float(moac_strbuf *b, double v) {
    if (isnan(v)) moac_strbuf_puts(b, "float(\"nan\")");
    else if (isinf(v)) moac_strbuf_puts(b, v < 0 ? "float(\"-inf\")" : "float(\"inf\")");
    else moac_strbuf_put_double(b, v);
}

/* Text for a comment line: control characters would end it, so they become '?'. */
static void put_comment_text(moac_strbuf *b, const char *s) {
    for (; *s; s++) moac_strbuf_putc(b, (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

static const char *arg(gen *G, int k) { return G->expr[G->at->args[k]->id]; }

/* ---- names nn.Module can hold ------------------------------------------------------------- */

/* torch.nn.Module's own attributes (torch 1.13 and 2.x): a submodule or parameter of one of these
 * names is refused by add_module / register_parameter, so model.py could not be built. */
static const char *const module_names[] = {
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train",
    "training", "type", "xpu", "zero_grad",
};

/* Each dotted part of a parameter name becomes a submodule (the last one the parameter), so that
 * state_dict() keys are moac's names: no part may be one of nn.Module's attributes or start with
 * '_' (its private ones), and no name may be the module path of another. */
static void check_param_names(gen *G) {
    const moac_graph *g = G->g[0];
    for (size_t i = 0; i < g->count && !G->bad; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_PARAM) continue;
        G->at = n;
        for (const char *p = n->s; *p;) {
            size_t len = strcspn(p, ".");
            int reserved = len == 0 || *p == '_';
            for (size_t k = 0; !reserved && k < sizeof module_names / sizeof *module_names; k++)
                reserved = strlen(module_names[k]) == len && !strncmp(p, module_names[k], len);
            if (reserved)
                fail(G, "parameter '%s': '%.*s' is a name torch.nn.Module keeps for itself, so model.py cannot hold "
                     "a submodule of that name; rename what it comes from in the spec (a let's name labels a "
                     "branch)", n->s, (int)len, p);
            p += len + (p[len] == '.');
        }
        for (size_t j = 0; j < g->count && !G->bad; j++) {
            const moac_node *m = g->nodes[j];
            size_t len = strlen(n->s);
            if (m->op == MOAC_OP_PARAM && !strncmp(m->s, n->s, len) && m->s[len] == '.')
                fail(G, "parameter '%s' is also the module holding parameter '%s'; model.py cannot have both", n->s,
                     m->s);
        }
    }
}

/* ---- one statement per value ----------------------------------------------------------------- */

static void binary(gen *G, const char *op) { moac_strbuf_printf(G->out, "%s %s %s", arg(G, 0), op, arg(G, 1)); }

static void call1(gen *G, const char *fn) { moac_strbuf_printf(G->out, "%s(%s)", fn, arg(G, 0)); }

/* The right-hand side of value n (G->at). */
static void emit_op(gen *G, const moac_node *n) {
    moac_strbuf *o = G->out;
    switch (n->op) {
    case MOAC_OP_FULL:
        moac_strbuf_puts(o, "torch.full(");
        put_shape(G);
        moac_strbuf_puts(o, ", ");
        put_float(o, n->f[0]);
        moac_strbuf_printf(o, ", dtype=torch.%s, device=idx.device)", n->type.dtype == MOAC_I32 ? "long" : "float32");
        return;
    case MOAC_OP_ADD: binary(G, "+"); return;
    case MOAC_OP_SUB: binary(G, "-"); return;
    case MOAC_OP_MUL: binary(G, "*"); return;
    case MOAC_OP_SCALE:
        moac_strbuf_printf(o, "%s * ", arg(G, 0));
        put_float(o, n->f[0]);
        return;
    case MOAC_OP_SQUARE: moac_strbuf_printf(o, "%s * %s", arg(G, 0), arg(G, 0)); return;
    case MOAC_OP_RELU: call1(G, "torch.relu"); return;
    case MOAC_OP_GELU: call1(G, "F.gelu"); return; /* the exact (erf) form by default */
    case MOAC_OP_SIGMOID: call1(G, "torch.sigmoid"); return;
    case MOAC_OP_DROPOUT: /* identity in eval mode; in training torch's own random draws */
        moac_strbuf_printf(o, "F.dropout(%s, ", arg(G, 0));
        put_float(o, n->f[0]);
        moac_strbuf_puts(o, ", training)");
        return;
    case MOAC_OP_BCE_LOGITS: moac_strbuf_printf(o, "_bce_logits(%s, %s)", arg(G, 0), arg(G, 1)); return;
    case MOAC_OP_RESHAPE:
        moac_strbuf_printf(o, "%s.reshape", arg(G, 0));
        put_list(G);
        return;
    case MOAC_OP_TRANSPOSE:
        moac_strbuf_printf(o, "%s.permute", arg(G, 0));
        put_list(G); /* axes, which never follow the batch (put_size keeps equal numbers) */
        return;
    case MOAC_OP_SLICE:
        moac_strbuf_printf(o, "%s.narrow(%lld, ", arg(G, 0), (long long)same_int(G, 0));
        put_size(G, n->i[1], G->g[1]->nodes[n->id]->i[1]);
        moac_strbuf_puts(o, ", ");
        put_size(G, n->i[2], G->g[1]->nodes[n->id]->i[2]);
        moac_strbuf_putc(o, ')');
        return;
    case MOAC_OP_CONCAT:
        moac_strbuf_puts(o, "torch.cat([");
        for (int a = 0; a < n->nargs; a++) moac_strbuf_printf(o, "%s%s", a ? ", " : "", arg(G, a));
        moac_strbuf_printf(o, "], dim=%lld)", (long long)same_int(G, 0));
        return;
    case MOAC_OP_REDUCE_SUM:
    case MOAC_OP_REDUCE_MEAN:
        moac_strbuf_printf(o, "%s.%s(dim=", arg(G, 0), n->op == MOAC_OP_REDUCE_SUM ? "sum" : "mean");
        put_list(G);
        moac_strbuf_printf(o, ", keepdim=%s)", same_int(G, 0) ? "True" : "False");
        return;
    case MOAC_OP_SOFTMAX: moac_strbuf_printf(o, "torch.softmax(%s, dim=-1)", arg(G, 0)); return;
    case MOAC_OP_LAYERNORM: /* biased variance over the last axis, as moac's */
        moac_strbuf_printf(o, "F.layer_norm(%s, %s.shape[-1:], %s, %s, ", arg(G, 0), arg(G, 0), arg(G, 1),
                           n->nargs == 3 ? arg(G, 2) : "None");
        put_float(o, n->f[0]);
        moac_strbuf_putc(o, ')');
        return;
    case MOAC_OP_MATMUL: {
        int ta = (int)same_int(G, 0), tb = (int)same_int(G, 1);
        if (!ta && tb && n->args[1]->type.rank == 2) { /* a projection by a weight stored [out, in] */
            moac_strbuf_printf(o, "F.linear(%s, %s)", arg(G, 0), arg(G, 1));
            return;
        }
        moac_strbuf_printf(o, "torch.matmul(%s%s, %s%s)", arg(G, 0), ta ? ".transpose(-1, -2)" : "", arg(G, 1),
                           tb ? ".transpose(-1, -2)" : "");
        return;
    }
    case MOAC_OP_EMBED: moac_strbuf_printf(o, "F.embedding(%s, %s)", arg(G, 1), arg(G, 0)); return;
    case MOAC_OP_ATTENTION:
        moac_strbuf_printf(o, "_attention(%s, %s, %s, %s, ", arg(G, 0), arg(G, 1), arg(G, 2),
                           same_int(G, 0) ? "True" : "False");
        put_float(o, n->f[0]);
        moac_strbuf_putc(o, ')');
        return;
    case MOAC_OP_ROPE: { /* the rotated dims as the interpreter rounds them (C's round) */
        int64_t r = (int64_t)round(n->f[0] * (double)n->args[0]->type.dims[3]);
        moac_strbuf_printf(o, "_rope(%s, %s, %lld, ", arg(G, 0), n->nargs == 2 ? arg(G, 1) : "None", (long long)r);
        put_float(o, n->f[1]);
        moac_strbuf_putc(o, ')');
        return;
    }
    case MOAC_OP_GROUP_MEAN:
        moac_strbuf_printf(o, "_group_mean(%s, %lld)", arg(G, 0), (long long)same_int(G, 0));
        return;
    case MOAC_OP_REPEAT_HEADS:
        moac_strbuf_printf(o, "%s.repeat_interleave(%lld, dim=1)", arg(G, 0), (long long)same_int(G, 0));
        return;
    case MOAC_OP_CROSS_ENTROPY: { /* the mean over every position */
        int64_t V = n->args[0]->type.dims[n->args[0]->type.rank - 1];
        moac_strbuf_printf(o, "F.cross_entropy(%s.reshape(-1, %lld), %s.reshape(-1))", arg(G, 0), (long long)V,
                           arg(G, 1));
        return;
    }
    case MOAC_OP_TOPK:
        moac_strbuf_printf(o, "_topk(%s, %lld, %s)", arg(G, 0), (long long)same_int(G, 0),
                           same_int(G, 1) ? "True" : "False");
        return;
    case MOAC_OP_TAKE: moac_strbuf_printf(o, "torch.gather(%s, -1, %s)", arg(G, 0), arg(G, 1)); return;
    case MOAC_OP_GATHER_ROWS: moac_strbuf_printf(o, "_gather_rows(%s, %s)", arg(G, 0), arg(G, 1)); return;
    case MOAC_OP_SCATTER_ROWS:
        moac_strbuf_printf(o, "_scatter_rows(%s, %s, ", arg(G, 0), arg(G, 1));
        put_size(G, n->i[0], G->g[1]->nodes[n->id]->i[0]);
        moac_strbuf_putc(o, ')');
        return;
    case MOAC_OP_ONEHOT_ARGMAX: call1(G, "_onehot_argmax"); return;
    case MOAC_OP_CAPACITY_ROUTE:
        moac_strbuf_printf(o, "_capacity_route(%s, ", arg(G, 0));
        put_list(G);
        moac_strbuf_putc(o, ')');
        return;
    /* Inputs, params and outputs are not statements of their own (see write_graph). */
    case MOAC_OP_INPUT:
    case MOAC_OP_PARAM:
    case MOAC_OP_OUTPUT:
        return;
    /* Never in a spec's evaluation graph: elementwise ops lowering does not use, and the ops the
     * autodiff and backend passes add. A translation nothing tests would be a guess. */
    case MOAC_OP_DIV:
    case MOAC_OP_NEG:
    case MOAC_OP_EXP:
    case MOAC_OP_LOG:
    case MOAC_OP_GELU_GRAD:
    case MOAC_OP_RELU_GRAD:
    case MOAC_OP_SOFTMAX_GRAD:
    case MOAC_OP_NORMALIZE:
    case MOAC_OP_LAYERNORM_GRAD:
    case MOAC_OP_ATTENTION_GRAD:
    case MOAC_OP_ATTENTION_LSE:
    case MOAC_OP_ROPE_GRAD:
    case MOAC_OP_EMBED_GRAD:
    case MOAC_OP_CROSS_ENTROPY_GRAD:
    case MOAC_OP_TAKE_GRAD:
    case MOAC_OP_PAD:
    case MOAC_OP_BROADCAST:
    case MOAC_OP_COUNT:
        break;
    }
    fail(G, "op '%s' (value %%%u) has no PyTorch form: moac export translates the ops of a spec's evaluation "
         "graph, and this one is not among them", n->op < MOAC_OP_COUNT ? moac_op_info_get(n->op)->name : "?", n->id);
}

/* ---- the whole file ---------------------------------------------------------------------------- */

/* The two graphs must be one graph: the same values, ops, operands and attributes but sizes. */
static void check_same_graph(gen *G) {
    const moac_graph *a = G->g[0], *b = G->g[1];
    if (a->count != b->count) {
        fail(G, "the evaluation graph has %zu values at batch %lld but %zu at batch %lld", a->count,
             (long long)G->batch[0], b->count, (long long)G->batch[1]);
        return;
    }
    for (size_t i = 0; i < a->count && !G->bad; i++) {
        const moac_node *x = a->nodes[i], *y = b->nodes[i];
        int same = x->op == y->op && x->nargs == y->nargs && x->nl == y->nl && x->type.rank == y->type.rank &&
                   x->type.dtype == y->type.dtype && !memcmp(x->f, y->f, sizeof x->f) &&
                   (x->s ? y->s && !strcmp(x->s, y->s) : !y->s);
        for (int k = 0; same && k < x->nargs; k++) same = x->args[k]->id == y->args[k]->id;
        if (!same)
            fail(G, "the evaluation graph differs at value %%%zu between batch %lld and %lld beyond its sizes", i,
                 (long long)G->batch[0], (long long)G->batch[1]);
    }
}

static const moac_node *find_output(const moac_graph *g, const char *name) {
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->op == MOAC_OP_OUTPUT && !strcmp(g->nodes[i]->s, name)) return g->nodes[i];
    return NULL;
}

static void write_header(gen *G, const moac_graph *g, int64_t T) {
    moac_strbuf *o = G->out;
    const moac_pytorch_info *in = G->info;
    moac_strbuf_printf(o, "# model.py: model '%s' as a PyTorch module, written by moac %s (moac export --pytorch).\n#\n",
                       g->name, moac_version());
    moac_strbuf_puts(o, "#   spec        ");
    put_comment_text(o, in->spec_path);
    if (in->ckpt_path) {
        moac_strbuf_puts(o, "\n#   checkpoint  ");
        put_comment_text(o, in->ckpt_path);
        moac_strbuf_printf(o, ", step %llu of %llu", (unsigned long long)in->step, (unsigned long long)in->steps);
    }
    moac_strbuf_puts(o, "\n#   weights     model.safetensors beside this file, under moac's parameter names\n");
    if (in->check) {
        moac_strbuf_puts(o, "#   check       check.safetensors: ");
        put_comment_text(o, in->check);
        moac_strbuf_putc(o, '\n');
    }
    moac_strbuf_printf(o, "#   graph       model.ir: the IR translated below, at batch %lld (tN is its %%N)\n#\n",
                       (long long)G->batch[0]);
    moac_strbuf_printf(o,
        "# It needs torch (1.13 or later) and Python's standard library, nothing else:\n"
        "#\n"
        "#   sys.path.insert(0, DIR); from model import Model\n"
        "#   model = Model.from_pretrained(DIR)      # the weights, eval mode (no dropout)\n"
        "#   logits, loss = model(idx, targets)      # token ids [B, T], T <= %lld; targets optional\n"
        "#\n"
        "#   python3 DIR/model.py                    # this module against moac's outputs (check.safetensors)\n"
        "#\n"
        "# moac export writes this file again, so edit a copy (docs/export.md).\n",
        (long long)T);
}

static void write_constants(gen *G, const moac_graph *g, int64_t T, int64_t V) {
    moac_strbuf *o = G->out;
    moac_strbuf_puts(o, "MODEL = ");
    moac_strbuf_put_quoted(o, g->name);
    moac_strbuf_printf(o, "\nMOAC_VERSION = \"%s\"\nVOCAB = %lld\nBLOCK_SIZE = %lld  # the context: every window "
                       "is this long (shorter ones are padded)\n\n", moac_version(), (long long)V, (long long)T);
    moac_strbuf_puts(o, "# The graph's outputs, by moac's names: outputs() returns them all (forward() logits and loss).\n"
                        "OUTPUTS = (");
    int k = 0;
    for (size_t i = 0; i < g->count; i++)
        if (g->nodes[i]->op == MOAC_OP_OUTPUT) {
            moac_strbuf_puts(o, k++ ? ", " : "");
            moac_strbuf_put_quoted(o, g->nodes[i]->s);
        }
    moac_strbuf_puts(o, k == 1 ? ",)\n\n" : ")\n\n");
    moac_strbuf_puts(o, "# Each parameter: moac's name, shape, initial fill and std (fill + std * N(0, 1)), in the "
                        "graph's order.\nPARAMS = (\n");
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_PARAM) continue;
        G->at = n;
        moac_strbuf_puts(o, "    (");
        moac_strbuf_put_quoted(o, n->s);
        moac_strbuf_puts(o, ", ");
        put_shape(G);
        moac_strbuf_puts(o, ", ");
        put_float(o, n->f[0]);
        moac_strbuf_puts(o, ", ");
        put_float(o, n->f[1]);
        moac_strbuf_puts(o, "),\n");
    }
    moac_strbuf_puts(o, ")\n");
}

/* Does value i depend on the targets? */
static char *targets_reach(const moac_graph *g) {
    char *need = calloc(g->count + 1, 1);
    if (!need) abort();
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        need[i] = n->op == MOAC_OP_INPUT && !strcmp(n->s, "targets");
        for (int k = 0; k < n->nargs && !need[i]; k++) need[i] = need[n->args[k]->id];
    }
    return need;
}

static void write_graph(gen *G) {
    const moac_graph *g = G->g[0];
    moac_strbuf *o = G->out;
    size_t n = g->count;
    char *need = targets_reach(g);
    /* Emission order: what does not need the targets, then what does (both in graph order, so
     * every operand comes first); pos[i] is value i's place in it, last[i] its last reader's. */
    size_t *order = malloc((n + 1) * sizeof *order), *pos = malloc((n + 1) * sizeof *pos);
    size_t *last = calloc(n + 1, sizeof *last);
    if (!order || !pos || !last) abort();
    size_t m = 0, first_needing = n;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            if (need[i] == pass) {
                if (pass && first_needing == n) first_needing = m;
                pos[i] = m;
                order[m++] = i;
            }
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i]->nargs; k++)
            if (pos[i] > last[g->nodes[i]->args[k]->id]) last[g->nodes[i]->args[k]->id] = pos[i];
    moac_strbuf_printf(o,
        "def graph(P, idx, targets, training):\n"
        "    \"\"\"moac's evaluation graph, model.ir beside this file: a statement per value (tN is %%N there),\n"
        "    B the batch. P: the parameters by moac's names; idx, targets: int64 [B, BLOCK_SIZE], targets\n"
        "    None for logits alone (the values that need them come last); training: dropout on.\"\"\"\n"
        "    B = idx.shape[0]\n"
        "    out = {}\n");
    for (size_t p = 0; p < n && !G->bad; p++) {
        const moac_node *x = g->nodes[order[p]];
        G->at = x;
        if (p == first_needing) moac_strbuf_puts(o, "    if targets is None:\n        return out\n");
        if (x->op == MOAC_OP_INPUT || x->op == MOAC_OP_PARAM) continue;
        if (x->op == MOAC_OP_OUTPUT) {
            moac_strbuf_puts(o, "    out[");
            moac_strbuf_put_quoted(o, x->s);
            moac_strbuf_printf(o, "] = %s", arg(G, 0));
        } else {
            moac_strbuf_printf(o, "    %s = ", G->expr[x->id]);
            emit_op(G, x);
        }
        /* the values whose last reader this is go on the same line, so each line is one value */
        int dels = 0;
        for (int k = 0; k < x->nargs; k++) {
            const moac_node *a = x->args[k];
            int dup = 0;
            for (int j = 0; j < k; j++) dup |= x->args[j] == a;
            if (dup || last[a->id] != p || a->op == MOAC_OP_INPUT || a->op == MOAC_OP_PARAM) continue;
            moac_strbuf_printf(o, "%s%s", dels++ ? ", " : "; del ", G->expr[a->id]);
        }
        if (x->op != MOAC_OP_OUTPUT) {
            moac_strbuf_puts(o, "  # ");
            moac_strbuf_puts(o, x->type.dtype == MOAC_I32 ? "int " : "");
            put_shape(G);
        }
        moac_strbuf_putc(o, '\n');
    }
    if (first_needing == n) moac_strbuf_puts(o, "    if targets is None:\n        return out\n");
    moac_strbuf_puts(o, "    return out\n");
    free(order);
    free(pos);
    free(last);
    free(need);
}

/* The template without its leading comment, split at its two marker lines. */
static int template_parts(const char *parts[3], size_t lens[3]) {
    const char *t = moac_pytorch_template, *end = t + moac_pytorch_template_len;
    static const char *const marks[3] = {"#@START@\n", "#@CONSTANTS@\n", "#@GRAPH@\n"};
    const char *at[3];
    for (int k = 0; k < 3; k++) {
        at[k] = strstr(t, marks[k]);
        if (!at[k] || at[k] >= end) return -1;
    }
    for (int k = 0; k < 3; k++) {
        parts[k] = at[k] + strlen(marks[k]);
        lens[k] = (size_t)((k < 2 ? at[k + 1] : end) - parts[k]);
    }
    return 0;
}

int moac_pytorch_source(const moac_graph *const g[2], const int64_t batch[2], const moac_pytorch_info *info,
                        moac_strbuf *out, moac_diag *d) {
    gen G = {.g = {g[0], g[1]}, .batch = {batch[0], batch[1]}, .info = info, .out = out, .d = d, .at = NULL};
    const char *parts[3];
    size_t lens[3];
    int rc = template_parts(parts, lens);
    assert(rc == 0); /* export/model_template.py has its markers: a build problem otherwise */
    (void)rc;
    check_same_graph(&G);
    const moac_node *logits = find_output(g[0], "logits");
    const moac_node *tokens = moac_graph_find(g[0], "tokens");
    if (!G.bad && (!logits || !tokens || tokens->op != MOAC_OP_INPUT || tokens->type.rank != 2))
        fail(&G, "graph '%s' has no logits output or no tokens input [B, T]: it is not an evaluation graph",
             g[0]->name);
    if (G.bad) return -1;
    check_param_names(&G);
    moac_arena names;
    moac_arena_init(&names);
    G.expr = moac_arena_alloc(&names, (g[0]->count + 1) * sizeof *G.expr);
    for (size_t i = 0; i < g[0]->count && !G.bad; i++) {
        const moac_node *n = g[0]->nodes[i];
        G.at = n;
        if (n->op == MOAC_OP_INPUT && !strcmp(n->s, "tokens")) G.expr[i] = "idx";
        else if (n->op == MOAC_OP_INPUT && !strcmp(n->s, "targets")) G.expr[i] = "targets";
        else if (n->op == MOAC_OP_INPUT)
            fail(&G, "the graph reads an input '%s', which model.py has no way to compute (only tokens and targets)",
                 n->s);
        else if (n->op == MOAC_OP_PARAM) G.expr[i] = moac_arena_printf(&names, "P[\"%s\"]", n->s);
        else G.expr[i] = moac_arena_printf(&names, "t%zu", i);
    }
    int64_t T = tokens->type.dims[1], V = logits->type.dims[logits->type.rank - 1];
    if (!G.bad) {
        write_header(&G, g[0], T);
        moac_strbuf_append(out, parts[0], lens[0]);
        write_constants(&G, g[0], T, V);
        moac_strbuf_append(out, parts[1], lens[1]);
        write_graph(&G);
        moac_strbuf_append(out, parts[2], lens[2]);
    }
    moac_arena_free(&names);
    return G.bad ? -1 : 0;
}
