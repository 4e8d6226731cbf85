/* Parameter, FLOP and KV-cache counts of a checked spec (the conventions are documented in
 * docs/language.md, "What `moac check` counts"). Parameter counts are also cross-checked in the
 * tests against the parameters the lowered IR actually declares. */
#include <math.h>

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
long long moac_dense_head_flops(long long h, long long hd, long long T) { return 8 * h * hd * T + 4 * hd * T * T; }

long long moac_sparse_head_flops(long long h, long long hd, long long k, long long T) {
    return 8 * h * hd * k + 4 * hd * k * k + 2 * h * T + hd * k;
}

static long long router_params(const moac_spec *s, const moac_scheme *mix) {
    long long E = mix->nbranches, C = s->width;
    if (mix->rule != MOAC_MIX_ROUTE && mix->rule != MOAC_MIX_CAPACITY) return 0;
    if (mix->router.hidden) return C * mix->router.hidden + (long long)mix->router.hidden * E;
    return C * E + (mix->router.bias ? E : 0);
}

long long moac_scheme_params(const moac_spec *s, const moac_scheme *sc) {
    long long C = s->width, bias = s->bias;
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE: {
        long long q = (long long)sc->heads * sc->head_dim, kv = (long long)sc->kv_heads * sc->head_dim;
        long long n = C * q + 2 * C * kv + q * C + bias * (q + 2 * kv + C);
        return n + (sc->kv ? moac_scheme_params(s, sc->kv) : 0);
    }
    case MOAC_SCHEME_SPARSE:
        /* router W_r (h x E), W_QKV (E x h x 3h'), W_O (E x h' x h) */
        return C * sc->heads + (long long)sc->heads * C * 3 * sc->head_dim + (long long)sc->heads * sc->head_dim * C;
    case MOAC_SCHEME_GROUP: return 0;
    case MOAC_SCHEME_MIX: {
        long long n = router_params(s, sc);
        for (int i = 0; i < sc->nbranches; i++) n += moac_scheme_params(s, sc->branches[i]);
        return n;
    }
    }
    return 0;
}

/* Forward FLOPs of one layer's attention at full context. Q/O cost 4hh'T per query head and K/V
 * 4hh'T per KV head, which is the paper's 8hh'T per head for MHA. Every branch of a mixture is
 * counted (soft mixtures run them all); routers are not (the paper's convention). */
static long long scheme_flops(const moac_spec *s, const moac_scheme *sc) {
    long long h = s->width, T = s->context;
    switch (sc->kind) {
    case MOAC_SCHEME_DENSE:
        return 4 * h * sc->head_dim * T * (sc->heads + sc->kv_heads) + 4LL * sc->head_dim * T * T * sc->heads;
    case MOAC_SCHEME_SPARSE: return sc->heads * moac_sparse_head_flops(h, sc->head_dim, sc->k, T);
    case MOAC_SCHEME_GROUP: return 0;
    case MOAC_SCHEME_MIX: {
        long long n = 0;
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

moac_spec_stats moac_spec_stats_compute(const moac_spec *s) {
    moac_spec_stats st = {0};
    long long C = s->width, L = s->layers, F = s->mlp_hidden, bias = s->bias;
    long long norm = C * (1 + s->norm_bias);
    long long mlp = 2 * C * F + bias * (F + C);
    long long layer = 2 * norm + mlp + moac_scheme_params(s, s->attention);
    long long wte = (long long)s->vocab * C, wpe = s->positions == MOAC_POS_LEARNED ? (long long)s->context * C : 0;
    long long head = s->tied ? 0 : (long long)s->vocab * C;
    st.params = wte + wpe + L * layer + norm + head;
    st.params_nonembedding = st.params - wpe;
    st.flops_forward = L * (scheme_flops(s, s->attention) + 4 * C * F * s->context);
    st.kv_bytes_per_token = (long long)llround(4.0 * L * moac_scheme_kv_floats(s, s->attention));
    return st;
}
