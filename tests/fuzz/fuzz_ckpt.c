/* Fuzz harness: safetensors checkpoints (`moac train --resume`, `moac eval --ckpt`,
 * `moac generate --ckpt`).
 *
 * The input is written to a file and read by the safetensors reader; every tensor it returns
 * is read end to end (so ASan sees any bound the reader got wrong) and the metadata looked up.
 * Then the checkpoint loader checks it against a fixed small model (ckpt-model.moa, embedded at
 * build time) and, when it matches, loads weights, moments and metadata into the model's state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/moac.h"
#include "runtime/checkpoint.h"
#include "runtime/safetensors.h"
#include "runtime/state.h"
#include "tests/fuzz/fuzz.h"
#include "fuzz_ckpt_model.h" /* static const char fuzz_ckpt_model[]: ckpt-model.moa */

static moac_arena model_arena;
static moac_spec *spec;
static moac_state state;
static char path[600];

static void init(void) {
    moac_arena_init(&model_arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_ast_unit *unit = moac_parse_unit_text(&model_arena, "ckpt-model.moa", fuzz_ckpt_model, &d);
    spec = moac_sema(&model_arena, unit, &d);
    moac_pipeline p = {.train = 1};
    moac_graph *g = spec ? moac_pipeline_spec(&model_arena, spec, 0, &p, &d) : NULL;
    if (!g || moac_state_init(&state, g)) moac_fuzz_fail("the harness's model does not build", moac_strbuf_cstr(&d.out));
    moac_state_init_weights(&state, 1);
    moac_diag_free(&d);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", moac_fuzz_tmpdir());
}

/* Reads every byte the reader says a tensor has; a sum so the reads are not optimised away. */
static unsigned touch(const moac_st_tensor *t) {
    unsigned sum = (unsigned)strlen(t->name) + (unsigned)strlen(t->dtype) + (unsigned)t->rank;
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->nbytes; i++) sum += p[i];
    return sum;
}

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    moac_fuzz_accepted = 0;
    if (!spec) init();
    moac_fuzz_write(path, data, size);
    moac_diag d;
    moac_diag_init(&d);
    moac_safetensors *st = moac_safetensors_read(path, &d);
    if (!st && !d.errors) moac_fuzz_fail("the reader refused the file without saying why", NULL);
    if (st) {
        unsigned sum = 0;
        for (int i = 0; i < moac_safetensors_count(st); i++) {
            const moac_st_tensor *t = moac_safetensors_at(st, i);
            if (moac_safetensors_find(st, t->name) == NULL) moac_fuzz_fail("a listed tensor is not found", t->name);
            sum += touch(t);
        }
        const char *keys[] = {"format", "model", "step", "steps", "seed", "data", "vocab_chars", "spec"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            const char *v = moac_safetensors_meta(st, keys[k]);
            if (v) sum += (unsigned)strlen(v);
        }
        sink = sum;
        moac_safetensors_free(st);
    }
    moac_ckpt_info info;
    if (moac_checkpoint_load(path, spec, &state, &info, &d) == 0) {
        if (info.nchars < 0 || info.nchars > 256) moac_fuzz_fail("vocab_chars out of range", NULL);
        moac_fuzz_accepted = 1;
    } else if (!d.errors) {
        moac_fuzz_fail("the loader refused the checkpoint without saying why", NULL);
    }
    moac_diag_free(&d);
    return 0;
}
