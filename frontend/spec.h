/* The checked, resolved description of a model: what sema (frontend/sema*.c) makes of a spec's
 * AST once every name, default and expression is evaluated and every rule is checked. Lowering
 * (passes/lower*.c) turns it into IR; stats (frontend/stats.c) count its parameters and FLOPs.
 *
 * Attention is a tree of schemes. Leaves are dense attention (Q heads over KV heads, optionally
 * reading a weight-shared KV grouping), sparse heads (top-k token selection by a router) and KV
 * groupings; inner nodes are mixtures (mean, sum, token-choice routing, expert-choice with
 * capacities). A mixture's branches are all attention (mixing outputs) or all KV groupings
 * (mixing K/V inside one attention, as mixSGA does). */
#ifndef MOAC_SPEC_H
#define MOAC_SPEC_H
#include "support/diag.h"

typedef enum moac_act { MOAC_ACT_GELU, MOAC_ACT_RELU } moac_act;
typedef enum moac_positions { MOAC_POS_LEARNED, MOAC_POS_ROPE, MOAC_POS_NONE } moac_positions;

typedef enum moac_scheme_kind {
    MOAC_SCHEME_DENSE,  /* causal attention, H query heads over G KV heads */
    MOAC_SCHEME_SPARSE, /* E heads each attending over its own top-k tokens (MoSA) */
    MOAC_SCHEME_GROUP,  /* KV grouping: mean of `group` contiguous KV heads (mixSGA expert) */
    MOAC_SCHEME_MIX,    /* a mixture of branches */
} moac_scheme_kind;

typedef enum moac_mix_rule {
    MOAC_MIX_MEAN,     /* (1/n) sum of branches */
    MOAC_MIX_SUM,      /* sum of branches (MoSA hybrid: dense + sparse) */
    MOAC_MIX_ROUTE,    /* token choice: gates = gate(router(x)), soft or hard top-1 */
    MOAC_MIX_CAPACITY, /* expert choice with capacity ratios, experts filled in order */
} moac_mix_rule;

typedef enum moac_gate { MOAC_GATE_SOFTMAX, MOAC_GATE_SIGMOID } moac_gate;
typedef enum moac_aux_kind { MOAC_AUX_NONE, MOAC_AUX_BALANCE, MOAC_AUX_CONSISTENCY } moac_aux_kind;

typedef struct moac_router {
    int hidden;   /* 0: linear router x·W (+ bias); else MLP W2·act(W1·x) */
    moac_act act;
    int bias;     /* linear router only: a learned bias (mixSGA's β) */
    int he_init;  /* weights drawn with std sqrt(2/fan_in) (mixSGA) instead of 0.02 */
} moac_router;

enum { MOAC_MAX_BRANCHES = 64 }; /* branches of one mixture (lowering keeps them on the stack) */

typedef struct moac_scheme moac_scheme;
struct moac_scheme {
    moac_scheme_kind kind;
    moac_loc loc;
    const char *label;      /* unique among siblings; names its parameters */
    int named;              /* the label is a let's name, as the user wrote it */
    /* DENSE and SPARSE */
    int heads, head_dim;
    double rope;            /* fraction of head_dim rotated; 0 = no RoPE */
    /* DENSE */
    int kv_heads;           /* KV heads of its own K/V projections */
    moac_scheme *kv;        /* GROUP or MIX of GROUPs over those projections; NULL = plain */
    /* GROUP */
    int group;
    /* SPARSE */
    int k;                  /* tokens each head selects at full context */
    double sparsity;        /* context / k as written (0 when k was given directly) */
    int include_first;
    int flop_match;         /* heads came from flop_match(n): n, else 0 */
    /* MIX */
    moac_mix_rule rule;
    int nbranches;
    moac_scheme **branches;
    moac_gate gate;
    moac_router router;
    int hard;               /* ROUTE: only the top-1 branch contributes, scaled by its gate */
    double *ratios;         /* CAPACITY: nbranches shares, normalised to sum 1 */
    moac_aux_kind aux;
    double aux_weight;      /* λ for balance, α for consistency */
};

typedef enum moac_lr_schedule { MOAC_LR_CONSTANT, MOAC_LR_COSINE } moac_lr_schedule;
typedef enum moac_tokenizer { MOAC_TOK_CHAR, MOAC_TOK_BYTE } moac_tokenizer;
/* The synthetic task's layouts (docs/training.md): a listed pair is one token, or a key then a value. */
typedef enum moac_synth_layout { MOAC_SYNTH_JOINED, MOAC_SYNTH_SEPARATE } moac_synth_layout;

/* The model's vocab is at most this (sema); a token file's tokens are below its own vocab, at most the model's. */
#define MOAC_MAX_VOCAB (1 << 24)

typedef struct moac_train_spec {
    const char *data;          /* text file; NULL = token files (tokens_train) or the built-in synthetic task */
    moac_loc data_loc;
    /* data = tokens("train.bin", val = "val.bin", vocab = V, dtype = u16 | u32): token files */
    const char *tokens_train;  /* the training token file; NULL when the data is not token files */
    const char *tokens_val;    /* the validation token file; NULL: the last 1 - split of tokens_train */
    int tokens_vocab;          /* every token is below it; at most the model's vocab (default: equal) */
    int token_bytes;           /* 2 (u16) or 4 (u32), little-endian */
    moac_tokenizer tokenizer;
    int synth_pairs;           /* synthetic associative recall: key-value pairs per sequence */
    moac_synth_layout synth_layout;
    double split;              /* fraction of the data used for training */
    int batch, steps;
    double lr, beta1, beta2, weight_decay, eps;
    moac_lr_schedule schedule;
    int warmup;
    double min_lr;
    double clip;               /* global-norm clip; 0 = none */
    int eval_every, eval_batches;
    long seed;
} moac_train_spec;

typedef struct moac_spec {
    const char *name;
    const moac_source *src;    /* the root file */
    int vocab, context, width, layers, heads, head_dim;
    int norm_bias;
    double norm_eps;
    int mlp_hidden;
    moac_act mlp_act;
    moac_positions positions;
    double rope_fraction, rope_base;
    moac_loc positions_loc;    /* the positions field (the model block when it is absent) */
    int tied;
    int bias;                  /* biases on the linear layers */
    double dropout;
    moac_scheme *attention;
    moac_train_spec train;
} moac_spec;

struct moac_ast_unit;
/* Evaluates and checks a parsed unit. Reports every problem it finds; returns NULL if any. */
moac_spec *moac_sema(moac_arena *a, const struct moac_ast_unit *unit, moac_diag *d);
/* Parse + includes + sema in one call. */
moac_spec *moac_spec_load(moac_arena *a, const char *path, moac_diag *d);

/* Counts, per the conventions in docs/language.md. */
typedef struct moac_spec_stats {
    long long params;              /* every parameter, tied weights once */
    long long params_nonembedding; /* nanoGPT: minus the position embeddings */
    long long flops_forward;       /* MoSA paper convention, full context, per sequence */
    long long kv_bytes_per_token;  /* fp32 K+V cache, summed over layers */
} moac_spec_stats;

/* Integer arithmetic wide enough that no spec's counts overflow (sema checks they fit 64 bits). */
typedef __int128 moac_wide;

moac_spec_stats moac_spec_stats_compute(const moac_spec *s);
/* 0 when a count would not fit in 64 bits (sema reports such a spec). */
int moac_spec_stats_fit(const moac_spec *s);
/* Elements of the largest tensor a graph of the spec holds at this batch (activations, weights,
 * the sparse heads' gathered rows). Lowering and sema refuse specs where it reaches
 * MOAC_MAX_TENSOR; sema also refuses MOAC_MAX_TENSOR parameters in all. */
#define MOAC_MAX_TENSOR 1099511627776.0 /* 2^40 */
double moac_spec_largest_tensor(const moac_spec *s, long long batch);
double moac_spec_params_wide(const moac_spec *s); /* the parameter count, not narrowed */
moac_wide moac_scheme_params(const moac_spec *s, const moac_scheme *sc);
double moac_scheme_kv_floats(const moac_spec *s, const moac_scheme *sc); /* per token per layer */
moac_wide moac_dense_head_flops(moac_wide width, moac_wide head_dim, moac_wide context);
moac_wide moac_sparse_head_flops(moac_wide width, moac_wide head_dim, moac_wide k, moac_wide context);

const char *moac_scheme_kind_name(moac_scheme_kind k);
const char *moac_mix_rule_name(moac_mix_rule r);

#endif
