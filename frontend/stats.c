/* Parameter, FLOP and KV-cache counts of a checked spec (the conventions are documented in
 * docs/language.md, "What `moac check` counts"). Parameter counts are also cross-checked in the
 * tests against the parameters the lowered IR actually declares. */
#include <math.h>
#include <stdint.h>

#include "frontend/spec.h"

const char *moac_scheme_kind_name(moac_scheme_kind k) {
    switch (k) {
    case MOAC_SCHEME_DENSE: return "dense";
    case MOAC_SCHEME_SPARSE: return "sparse";
    case MOAC_SCHEME_GROUP: return "group";
    case MOAC_SCHEME_MIX: return "mixture";
    }
    return "?";
}

const char *moac_mix_rule_name(moac_mix_rule r) {
    switch (r) {
    case MOAC_MIX_MEAN: return "mean";
    case MOAC_MIX_SUM: return "sum";
    case MOAC_MIX_ROUTE: return "route";
    case MOAC_MIX_CAPACITY: return "capacity";
    }
    return "?";
}

/* MoSA paper, per head at full context T: dense 8hh'T + 4h'T^2 (Q, K, V, O projections and the
 * two T x T products); sparse 8hh'k + 4h'k^2 + 2hT (router) + h'k (scaling by the router). */
moac_wide moac_dense_head_flops(moac_wide h, moac_wide hd, moac_wide T) { return 8 * h * hd * T + 4 * hd * T * T; }

moac_wide moac_sparse_head_flops(moac_wide h, moac_wide hd, moac_wide k, moac_wide T) {
    return 8 * h * hd * k + 4 * hd * k * k + 2 * h * T + hd * k;
}

static moac_wide router_params(const moac_spec *s, const moac_scheme *mix) {
    moac_wide E = mix->nbranches, C = s->width;
    if (mix->rule != MOAC_MIX_ROUTE && mix->rule != MOAC_MIX_CAPACITY) return 0;
    if (mix->router.hidden) return C * mix->router.hidden + (moac_wide)mix->router.hidden * E;
    return C * E + (mix->router.bias ? E : 0);
}

moac_wide moac_scheme_params(const moac_spec *s, const moac_scheme *sc) {
    moac_wide C = s->width, bias = s->bias;
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE: {
        moac_wide q = (moac_wide)sc->heads * sc->head_dim, kv = (moac_wide)sc->kv_heads * sc->head_dim;
        moac_wide n = C * q + 2 * C * kv + q * C + bias * (q + 2 * kv + C);
        return n + (sc->kv ? moac_scheme_params(s, sc->kv) : 0);
    }
    case MOAC_SCHEME_SPARSE:
        /* router W_r (h x E), W_QKV (E x h x 3h'), W_O (E x h' x h) */
        return C * sc->heads + (moac_wide)sc->heads * C * 3 * sc->head_dim + (moac_wide)sc->heads * sc->head_dim * C;
    case MOAC_SCHEME_GROUP: return 0;
    case MOAC_SCHEME_MIX: {
        moac_wide n = router_params(s, sc);
        for (int i = 0; i < sc->nbranches; i++) n += moac_scheme_params(s, sc->branches[i]);
        return n;
    }
    }
    return 0;
}

/* Forward FLOPs of one layer's attention at full context. Q/O cost 4hh'T per query head and K/V
 * 4hh'T per KV head, which is the paper's 8hh'T per head for MHA. Every branch of a mixture is
 * counted (soft mixtures run them all); routers are not (the paper's convention). */
static moac_wide scheme_flops(const moac_spec *s, const moac_scheme *sc) {
    moac_wide h = s->width, T = s->context;
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE:
        return 4 * h * sc->head_dim * T * (sc->heads + sc->kv_heads) + 4LL * sc->head_dim * T * T * sc->heads;
    case MOAC_SCHEME_SPARSE: return sc->heads * moac_sparse_head_flops(h, sc->head_dim, sc->k, T);
    case MOAC_SCHEME_GROUP: return 0;
    case MOAC_SCHEME_MIX: {
        moac_wide n = 0;
        for (int i = 0; i < sc->nbranches; i++) n += scheme_flops(s, sc->branches[i]);
        return n;
    }
    }
    return 0;
}

/* Cached K/V heads per token of a KV grouping over kv_heads projected heads. A capacity mixture
 * caches each token at its expert's size, so it costs the capacity-weighted mean; a hard route
 * is counted as if tokens spread evenly; a soft mixture must keep the full set. */
static double kv_heads_cached(const moac_scheme *kv, double kv_heads) {
    if (!kv) return kv_heads;
    if (kv->kind == MOAC_SCHEME_GROUP) return kv_heads / kv->group;
    double sum = 0;
    for (int i = 0; i < kv->nbranches; i++) {
        double b = kv_heads_cached(kv->branches[i], kv_heads);
        if (kv->rule == MOAC_MIX_CAPACITY) sum += kv->ratios[i] * b;
        else if (kv->rule == MOAC_MIX_ROUTE && kv->hard) sum += b / kv->nbranches;
        else sum = sum > b ? sum : b;
    }
    return sum;
}

double moac_scheme_kv_floats(const moac_spec *s, const moac_scheme *sc) {
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE: return 2.0 * sc->head_dim * kv_heads_cached(sc->kv, sc->kv_heads);
    case MOAC_SCHEME_SPARSE: return 2.0 * sc->head_dim * sc->heads * sc->k / s->context;
    case MOAC_SCHEME_GROUP: return 0;
    case MOAC_SCHEME_MIX: {
        double sum = 0;
        for (int i = 0; i < sc->nbranches; i++) {
            double b = moac_scheme_kv_floats(s, sc->branches[i]);
            if (sc->rule == MOAC_MIX_CAPACITY) sum += sc->ratios[i] * b;
            else if (sc->rule == MOAC_MIX_ROUTE && sc->hard) sum += b / sc->nbranches;
            else sum += b;
        }
        return sum;
    }
    }
    return 0;
}

static long long narrow(moac_wide v) { return v > INT64_MAX ? INT64_MAX : (long long)v; }

/* The counts in 128-bit arithmetic, so that no spec can overflow them. */
static void wide_stats(const moac_spec *s, moac_wide *params, moac_wide *nonemb, moac_wide *flops) {
    moac_wide C = s->width, L = s->layers, F = s->mlp_hidden, bias = s->bias;
    moac_wide norm = C * (1 + s->norm_bias);
    moac_wide mlp = 2 * C * F + bias * (F + C);
    moac_wide layer = 2 * norm + mlp + moac_scheme_params(s, s->attention);
    moac_wide wte = (moac_wide)s->vocab * C, wpe = s->positions == MOAC_POS_LEARNED ? (moac_wide)s->context * C : 0;
    moac_wide head = s->tied ? 0 : (moac_wide)s->vocab * C;
    *params = wte + wpe + L * layer + norm + head;
    *nonemb = *params - wpe;
    *flops = L * (scheme_flops(s, s->attention) + 4 * C * F * s->context);
}

int moac_spec_stats_fit(const moac_spec *s) {
    moac_wide params, nonemb, flops;
    wide_stats(s, &params, &nonemb, &flops);
    return params <= INT64_MAX && flops <= INT64_MAX;
}

moac_spec_stats moac_spec_stats_compute(const moac_spec *s) {
    moac_spec_stats st = {0};
    moac_wide params, nonemb, flops;
    wide_stats(s, &params, &nonemb, &flops);
    st.params = narrow(params);
    st.params_nonembedding = narrow(nonemb);
    st.flops_forward = narrow(flops);
    st.kv_bytes_per_token = (long long)llround(4.0 * s->layers * moac_scheme_kv_floats(s, s->attention));
    return st;
}

static double max2(double a, double b) { return a > b ? a : b; }

/* The largest tensor of one layer's attention at batch B, in elements: projections, the sparse
 * heads' gathered rows and router scores, routers' hidden layers and their weights. */
static double scheme_largest(const moac_spec *s, const moac_scheme *sc, double B) {
    double C = s->width, T = s->context, E = sc->heads, D = sc->head_dim;
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE: {
        double n = max2(B * T, C) * E * D;
        return sc->kv ? max2(n, scheme_largest(s, sc->kv, B)) : n;
    }
    case MOAC_SCHEME_SPARSE: return max2(B * E * sc->k * max2(C, D), max2(B * E * T, E * D * C));
    case MOAC_SCHEME_GROUP: return 0;
    case MOAC_SCHEME_MIX: {
        double n = max2(B * T, C) * max2(sc->router.hidden, sc->nbranches);
        for (int i = 0; i < sc->nbranches; i++) n = max2(n, scheme_largest(s, sc->branches[i], B));
        return n;
    }
    }
    return 0;
}

double moac_spec_largest_tensor(const moac_spec *s, long long batch) {
    double B = (double)batch, T = s->context, C = s->width;
    double widest = max2(max2(s->vocab, C), s->mlp_hidden); /* logits, the residual stream, the MLP */
    double n = max2(B * T, C) * widest;                     /* ... and their weights */
    n = max2(n, T * C);                                     /* learned positions */
    return max2(n, scheme_largest(s, s->attention, B));
}

double moac_spec_params_wide(const moac_spec *s) {
    moac_wide params, nonemb, flops;
    wide_stats(s, &params, &nonemb, &flops);
    return (double)params;
}
