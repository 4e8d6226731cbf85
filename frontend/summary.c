/* `moac check` output: a readable summary of a checked spec, and the same facts as JSON. */
#include <math.h>
#include <string.h>

#include "moac.h"

/* 10287744 -> "10,287,744" */
static void put_count(moac_strbuf *b, long long v) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    if (v < 0) moac_strbuf_putc(b, '-');
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) moac_strbuf_putc(b, ',');
        moac_strbuf_putc(b, digits[i]);
    }
}

static const char *gate_name(moac_gate g) { return g == MOAC_GATE_SOFTMAX ? "softmax" : "sigmoid"; }
static const char *act_name(moac_act a) { return a == MOAC_ACT_GELU ? "gelu" : "relu"; }

static void put_router(moac_strbuf *b, const moac_router *r) {
    if (r->hidden) moac_strbuf_printf(b, "mlp(%d, %s)", r->hidden, act_name(r->act));
    else moac_strbuf_printf(b, "linear%s%s", r->bias ? " with bias" : "", r->he_init ? ", He init" : "");
}

static void summary_scheme(moac_strbuf *b, const moac_spec *s, const moac_scheme *sc, int depth) {
    moac_strbuf_printf(b, "%*s%-8s ", 4 + 2 * depth, "", sc->label);
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE:
        moac_strbuf_printf(b, "dense: %d query heads over %d KV head%s, head_dim %d", sc->heads, sc->kv_heads,
                           sc->kv_heads == 1 ? "" : "s", sc->head_dim);
        if (sc->rope > 0) moac_strbuf_printf(b, ", RoPE on %g of each head", sc->rope);
        moac_strbuf_putc(b, '\n');
        if (sc->kv) summary_scheme(b, s, sc->kv, depth + 1);
        break;
    case MOAC_SCHEME_SPARSE:
        moac_strbuf_printf(b, "sparse: %d heads of %d, each selecting k = %d of %d tokens%s", sc->heads, sc->head_dim,
                           sc->k, s->context, sc->include_first ? " (always the first)" : "");
        if (sc->flop_match) moac_strbuf_printf(b, "; heads match the FLOPs of %d dense heads", sc->flop_match);
        moac_strbuf_putc(b, '\n');
        break;
    case MOAC_SCHEME_GROUP:
        moac_strbuf_printf(b, "KV grouping: mean of %d contiguous KV heads\n", sc->group);
        break;
    case MOAC_SCHEME_MIX:
        moac_strbuf_printf(b, "%s of %d branches", moac_mix_rule_name(sc->rule), sc->nbranches);
        if (sc->rule == MOAC_MIX_ROUTE || sc->rule == MOAC_MIX_CAPACITY) {
            moac_strbuf_printf(b, ", %s gates from a ", gate_name(sc->gate));
            put_router(b, &sc->router);
            moac_strbuf_puts(b, " router");
        }
        if (sc->hard) moac_strbuf_puts(b, ", hard top-1");
        if (sc->ratios) {
            moac_strbuf_puts(b, ", capacities");
            for (int i = 0; i < sc->nbranches; i++) moac_strbuf_printf(b, "%s%.3g", i ? ":" : " ", sc->ratios[i]);
        }
        if (sc->aux == MOAC_AUX_BALANCE) moac_strbuf_printf(b, ", balance loss x %g", sc->aux_weight);
        if (sc->aux == MOAC_AUX_CONSISTENCY) moac_strbuf_printf(b, ", consistency loss x %g", sc->aux_weight);
        moac_strbuf_putc(b, '\n');
        for (int i = 0; i < sc->nbranches; i++) summary_scheme(b, s, sc->branches[i], depth + 1);
        break;
    }
}

void moac_spec_summary(const moac_spec *s, const char *path, moac_strbuf *b) {
    moac_spec_stats st = moac_spec_stats_compute(s);
    moac_strbuf_printf(b, "%s: model '%s' is valid\n", path, s->name);
    moac_strbuf_printf(b, "  shape      vocab %d, context %d, width %d, %d layers, %d heads of %d\n", s->vocab,
                       s->context, s->width, s->layers, s->heads, s->head_dim);
    moac_strbuf_printf(b, "  block      layernorm%s, MLP %d %s, %s positions, %s embeddings, dropout %g\n",
                       s->norm_bias ? " with bias" : " without bias", s->mlp_hidden, act_name(s->mlp_act),
                       s->positions == MOAC_POS_LEARNED ? "learned" : s->positions == MOAC_POS_ROPE ? "RoPE" : "no",
                       s->tied ? "tied" : "untied", s->dropout);
    moac_strbuf_puts(b, "  attention  (every layer)\n");
    summary_scheme(b, s, s->attention, 0);
    moac_strbuf_puts(b, "  params     ");
    put_count(b, st.params);
    moac_strbuf_puts(b, " (non-embedding ");
    put_count(b, st.params_nonembedding);
    moac_strbuf_puts(b, ")\n  FLOPs      ");
    put_count(b, st.flops_forward);
    moac_strbuf_printf(b, " per forward pass at context %d\n  KV cache   ", s->context);
    put_count(b, st.kv_bytes_per_token);
    moac_strbuf_puts(b, " bytes per token (fp32, all layers)\n");
    const moac_train_spec *t = &s->train;
    moac_strbuf_puts(b, "  train      ");
    if (t->data) moac_strbuf_puts(b, t->data);
    else if (t->tokens_train)
        moac_strbuf_printf(b, "token files %s%s%s (%s, vocab %d)", t->tokens_train, t->tokens_val ? " and " : "",
                           t->tokens_val ? t->tokens_val : "", t->token_bytes == 4 ? "u32" : "u16", t->tokens_vocab);
    else moac_strbuf_printf(b, "synthetic recall task (%d pairs, %s)", t->synth_pairs,
                            t->synth_layout == MOAC_SYNTH_JOINED ? "joined" : "separate");
    moac_strbuf_printf(b, ", batch %d, %d steps, AdamW lr %g betas (%g, %g) wd %g, %s schedule, clip %g\n", t->batch,
                       t->steps, t->lr, t->beta1, t->beta2, t->weight_decay, t->schedule == MOAC_LR_CONSTANT ? "constant" : "cosine", t->clip);
}

static void json_scheme(moac_strbuf *b, const moac_scheme *sc) {
    moac_strbuf_puts(b, "{\"kind\":");
    moac_strbuf_put_quoted(b, moac_scheme_kind_name(sc->kind));
    moac_strbuf_puts(b, ",\"label\":");
    moac_strbuf_put_quoted(b, sc->label);
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE:
        moac_strbuf_printf(b, ",\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"rope\":", sc->heads, sc->kv_heads,
                           sc->head_dim);
        moac_strbuf_put_double(b, sc->rope);
        if (sc->kv) {
            moac_strbuf_puts(b, ",\"kv\":");
            json_scheme(b, sc->kv);
        }
        break;
    case MOAC_SCHEME_SPARSE:
        moac_strbuf_printf(b, ",\"heads\":%d,\"head_dim\":%d,\"k\":%d,\"include_first\":%s,\"rope\":", sc->heads,
                           sc->head_dim, sc->k, sc->include_first ? "true" : "false");
        moac_strbuf_put_double(b, sc->rope);
        break;
    case MOAC_SCHEME_GROUP: moac_strbuf_printf(b, ",\"size\":%d", sc->group); break;
    case MOAC_SCHEME_MIX:
        moac_strbuf_puts(b, ",\"rule\":");
        moac_strbuf_put_quoted(b, moac_mix_rule_name(sc->rule));
        if (sc->rule == MOAC_MIX_ROUTE || sc->rule == MOAC_MIX_CAPACITY) {
            moac_strbuf_printf(b, ",\"gate\":\"%s\",\"hard\":%s,\"router_hidden\":%d", gate_name(sc->gate),
                               sc->hard ? "true" : "false", sc->router.hidden);
        }
        if (sc->ratios) {
            moac_strbuf_puts(b, ",\"capacities\":[");
            for (int i = 0; i < sc->nbranches; i++) {
                if (i) moac_strbuf_putc(b, ',');
                moac_strbuf_put_double(b, sc->ratios[i]);
            }
            moac_strbuf_putc(b, ']');
        }
        if (sc->aux != MOAC_AUX_NONE) {
            moac_strbuf_printf(b, ",\"aux\":\"%s\",\"aux_weight\":", sc->aux == MOAC_AUX_BALANCE ? "balance" : "consistency");
            moac_strbuf_put_double(b, sc->aux_weight);
        }
        moac_strbuf_puts(b, ",\"branches\":[");
        for (int i = 0; i < sc->nbranches; i++) {
            if (i) moac_strbuf_putc(b, ',');
            json_scheme(b, sc->branches[i]);
        }
        moac_strbuf_putc(b, ']');
        break;
    }
    moac_strbuf_putc(b, '}');
}

void moac_spec_json(const moac_spec *s, const char *path, moac_strbuf *b) {
    moac_spec_stats st = moac_spec_stats_compute(s);
    moac_strbuf_puts(b, "{\"file\":");
    moac_strbuf_put_quoted(b, path);
    moac_strbuf_puts(b, ",\"name\":");
    moac_strbuf_put_quoted(b, s->name);
    moac_strbuf_printf(b, ",\"vocab\":%d,\"context\":%d,\"width\":%d,\"layers\":%d,\"heads\":%d,\"head_dim\":%d",
                       s->vocab, s->context, s->width, s->layers, s->heads, s->head_dim);
    moac_strbuf_printf(b, ",\"params\":%lld,\"params_nonembedding\":%lld,\"flops_forward\":%lld,"
                          "\"kv_bytes_per_token\":%lld",
                       st.params, st.params_nonembedding, st.flops_forward, st.kv_bytes_per_token);
    moac_strbuf_puts(b, ",\"attention\":");
    json_scheme(b, s->attention);
    moac_strbuf_puts(b, "}\n");
}
