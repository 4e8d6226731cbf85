/* `moac generate`: the evaluation graph at batch 1 gives the logits of the next token after a
 * window of at most `context` tokens; one token is chosen, appended, and the window slides.
 * Every position attends only to earlier ones, so the unused tail of a short window (filled
 * with token 0) does not change the logits read at its last real position; specs whose routing
 * chooses among the tokens of a whole window (capacity, MoSA) see that tail as part of the
 * window, as in training, where windows are always full. There is no KV cache: each token runs
 * the whole window again. */
#include "runtime/generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/pass.h"
#include "runtime/checkpoint.h"
#include "runtime/data.h"
#include "runtime/data_source.h"
#include "support/clock.h"
#include "support/rng.h"

typedef struct scored {
    double logit;
    int token;
} scored;

/* Descending logits; ties by ascending token, so the order (and the choice) is deterministic. */
static int by_logit(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->token - y->token;
}

/* The next token from the logits of tokens [0, V): the most likely one at temperature 0, else a
 * draw u in [0, 1) against the softmax of logits / temperature over the top_k most likely. */
static int choose(const double *logits, int V, const moac_generate_opts *o, uint64_t index, scored *buf) {
    for (int v = 0; v < V; v++) buf[v] = (scored){logits[v], v};
    qsort(buf, (size_t)V, sizeof *buf, by_logit);
    if (o->temperature <= 0) return buf[0].token;
    int k = o->top_k > 0 && o->top_k < V ? o->top_k : V;
    double total = 0;
    for (int i = 0; i < k; i++) total += exp((buf[i].logit - buf[0].logit) / o->temperature);
    double u = moac_rng_uniform(o->seed, moac_rng_stream(MOAC_RNG_SAMPLE, 0, 0), index) * total, acc = 0;
    for (int i = 0; i < k; i++) {
        acc += exp((buf[i].logit - buf[0].logit) / o->temperature);
        if (u < acc) return buf[i].token;
    }
    return buf[k - 1].token; /* u * total rounded up to the last bucket's edge */
}

/* Without --prompt: on the synthetic task, the listing, ';' and first query of the first
 * validation sequence (so the model's next token is an answer); on text, a newline if the
 * vocabulary has one, else its first token. */
static long default_prompt(const moac_dataset *ds, const moac_spec *spec, uint64_t seed, int32_t *out) {
    if (ds->kind == MOAC_DATA_SYNTHETIC) {
        int T = spec->context;
        int32_t *x = malloc((size_t)T * sizeof *x), *y = malloc((size_t)T * sizeof *y);
        uint8_t *answer = malloc((size_t)T);
        if (!x || !y || !answer) abort();
        moac_dataset_batch(ds, 1, seed, 0, 1, T, x, y, answer);
        long n = 0;
        while (n < T && !answer[n]) n++; /* x[n] is the first query */
        memcpy(out, x, (size_t)(n + 1) * sizeof *out);
        free(x);
        free(y);
        free(answer);
        return n + 1;
    }
    const unsigned char *nl = ds->kind == MOAC_DATA_CHAR ? memchr(ds->chars, '\n', (size_t)ds->vocab) : NULL;
    out[0] = ds->kind == MOAC_DATA_BYTE ? '\n' : nl ? (int32_t)(nl - ds->chars) : 0;
    return 1;
}

static void put_tokens(const moac_dataset *ds, const int32_t *t, size_t n) {
    moac_strbuf b;
    moac_strbuf_init(&b);
    moac_dataset_decode(ds, t, n, &b);
    fwrite(b.data, 1, b.len, stdout);
    fflush(stdout);
    moac_strbuf_free(&b);
}

int moac_generate(const moac_spec *spec, const moac_generate_opts *o, moac_diag *d) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_state state = {0};
    moac_dataset ds = {0};
    moac_ckpt_info info;
    moac_exec *exec = NULL;
    int32_t *tokens = NULL, *x = NULL, *y = NULL;
    scored *buf = NULL;
    int rc = 1, have_ds = 0, T = spec->context;
    moac_pipeline p = {.logits = 1, .log = o->compile ? o->compile->log : NULL,
                       .passes = o->compile ? o->compile->passes : NULL};
    moac_graph *g = moac_pipeline_spec(&arena, spec, 1, &p, d);
    if (!g) goto done;
    if (moac_state_init(&state, g)) {
        moac_diag_file_error(d, NULL, "out of memory for the model's parameters");
        goto done;
    }
    if (moac_checkpoint_load(o->ckpt, spec, &state, &info, d) || moac_data_tokens(&ds, spec, o->ckpt, &info, d)) goto done;
    have_ds = 1;
    size_t cap = (o->prompt ? strlen(o->prompt) : (size_t)T) + (size_t)o->tokens;
    tokens = malloc((cap + 1) * sizeof *tokens);
    if (!tokens) {
        moac_diag_file_error(d, NULL, "not enough memory to hold %zu tokens; ask for fewer with --tokens", cap);
        goto done;
    }
    x = calloc((size_t)T, sizeof *x);
    y = calloc((size_t)T, sizeof *y);
    buf = malloc((size_t)ds.vocab * sizeof *buf);
    if (!x || !y || !buf) abort();
    long n = o->prompt ? moac_dataset_encode(&ds, o->prompt, tokens, d) : default_prompt(&ds, spec, info.seed, tokens);
    if (n < 0) goto done;
    if (n == 0) {
        moac_diag_file_error(d, NULL, "the prompt is empty; give at least one character (or leave --prompt out)");
        goto done;
    }
    exec = moac_exec_new(g, o->backend, o->compile, o->quiet, d);
    if (!exec) goto done;
    put_tokens(&ds, tokens, (size_t)n);
    moac_interp_opts io = {.seed = info.seed, .step = 0, .training = 0};
    char err[256];
    double start = moac_seconds();
    for (long i = 0; i < o->tokens; i++, n++) {
        long w = n < T ? n : T;
        memcpy(x, tokens + n - w, (size_t)w * sizeof *x);
        memset(x + w, 0, (size_t)(T - w) * sizeof *x);
        if (moac_exec_run(exec, &state, x, y, &io, err, sizeof err)) {
            moac_diag_file_error(d, NULL, "%s", err);
            goto done;
        }
        const double *row = moac_exec_output(exec, "logits", NULL) + (w - 1) * spec->vocab;
        for (int v = 0; v < ds.vocab; v++)
            if (!isfinite(row[v])) {
                moac_diag_file_error(d, o->ckpt, "gives a non-finite logit (%g for token %d); the run that wrote it "
                                     "probably diverged", row[v], v);
                goto done;
            }
        /* only tokens the tokeniser can print: a model's vocab may be larger than its data's */
        tokens[n] = choose(row, ds.vocab, o, (uint64_t)i, buf);
        put_tokens(&ds, tokens + n, 1);
    }
    putchar('\n');
    double secs = moac_seconds() - start;
    if (!o->quiet)
        fprintf(stderr, "moac: %ld tokens in %.2f s (%.1f tokens/s; each runs a window of up to %d)\n", o->tokens,
                secs, secs > 0 ? (double)o->tokens / secs : 0.0, T);
    rc = 0;
done:
    moac_exec_free(exec);
    if (have_ds) moac_dataset_free(&ds);
    moac_state_free(&state);
    free(tokens);
    free(x);
    free(y);
    free(buf);
    moac_arena_free(&arena);
    return rc;
}
