/* Text generation behind `moac generate`: a trained checkpoint continues a prompt one token at a
 * time, sampling from its next-token distribution (or taking the most likely token). */
#ifndef MOAC_GENERATE_H
#define MOAC_GENERATE_H
#include <stdint.h>

#include "frontend/spec.h"
#include "runtime/exec.h"

typedef struct moac_generate_opts {
    const char *ckpt;
    const char *prompt;   /* NULL: the default prompt (docs/training.md, "Generating text") */
    long tokens;          /* how many tokens to add */
    double temperature;   /* 0: always the most likely token (greedy) */
    int top_k;            /* sample among the k most likely tokens; 0: among all */
    uint64_t seed;        /* the sampling stream: the same seed gives the same text */
    const moac_backend_ops *backend; /* NULL: the default (cpu) */
    const moac_compile_opts *compile; /* NULL: the defaults; its log also gets the passes' debugging lines */
    int quiet;            /* no compile or speed lines on stderr */
} moac_generate_opts;

/* Prints the prompt and its continuation on stdout as they are produced. Returns 0, or 1 after
 * reporting a user error (checkpoint, prompt) to d. */
int moac_generate(const moac_spec *spec, const moac_generate_opts *o, moac_diag *d);

#endif
