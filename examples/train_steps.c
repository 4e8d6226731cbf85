/* Trains a tiny spec for a few steps on the CPU backend through the public header alone, and
 * checks that the loss falls: the library is usable without the `moac` command.
 *
 * Build against an installed moac (tests/examples/install_example.sh does exactly this):
 *
 *     cmake --install build --prefix PREFIX
 *     cc -std=c11 -I PREFIX/include examples/train_steps.c -L PREFIX/lib -lmoac -lmoac_generated \
 *        $(llvm-config-19 --ldflags) -lLLVM-19 -lm -lpthread -o train_steps
 *     ./train_steps
 *
 * The model learns to count: every sequence is a run of consecutive tokens (mod the vocabulary)
 * from its own start, the target of each token the next one. The batch is the same every step,
 * so five steps at a fixed learning rate lower its loss for sure. Exit status 0 when they do. */
#include <moac.h>
#include <stdio.h>
#include <stdlib.h>

static const char spec_text[] =
    "model counter {\n"
    "  vocab = 16\n  context = 16\n  width = 32\n  layers = 1\n  heads = 2\n"
    "  attention = mha()\n"
    "}\n"
    "train {\n"
    "  batch = 4\n  steps = 5\n  seed = 1\n"
    "  optimizer = adamw(lr = 1e-2, betas = [0.9, 0.99], weight_decay = 0.0)\n"
    "}\n";

/* The log: what the library has to say (here: the compile line), on stderr. */
static void to_stderr(void *ctx, const char *text) {
    (void)ctx;
    fputs(text, stderr);
}

int main(void) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    int rc = 1;
    moac_trainer *t = NULL;
    int32_t *x = NULL, *y = NULL;
    moac_ast_unit *unit = moac_parse_unit_text(&arena, "counter.moa", spec_text, &diag);
    moac_spec *spec = unit ? moac_sema(&arena, unit, &diag) : NULL;
    const moac_backend_ops *cpu = moac_backend_find("cpu");
    moac_log log = {.write = to_stderr};
    moac_compile_opts copts = {.log = &log}; /* no cache, this machine, all cores */
    if (spec && cpu) t = moac_trainer_new(spec, cpu, &(moac_trainer_opts){.compile = &copts}, &diag);
    if (!t) goto done;
    int B = moac_trainer_batch(t), T = moac_trainer_context(t);
    x = malloc((size_t)B * T * sizeof *x);
    y = malloc((size_t)B * T * sizeof *y);
    if (!x || !y) goto done;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < T; i++) {
            x[b * T + i] = (3 * b + i) % 16;
            y[b * T + i] = (3 * b + i + 1) % 16;
        }
    double first = 0, last = 0;
    for (int s = 0; s < 5; s++) {
        moac_step_result r;
        if (moac_trainer_step(t, x, y, &r, &diag)) goto done;
        printf("step %llu: loss %.4f (lr %.2e, grad norm %.3f)\n", (unsigned long long)r.step, r.loss, r.lr,
               r.grad_norm);
        if (s == 0) first = r.loss;
        last = r.loss;
    }
    if (!(last < first - 0.05)) {
        fprintf(stderr, "train_steps: the loss did not fall (%.4f -> %.4f)\n", first, last);
        goto done;
    }
    printf("the loss fell from %.4f to %.4f\n", first, last);
    rc = 0;
done:
    fputs(moac_strbuf_cstr(&diag.out), stderr);
    if (!cpu) fputs("train_steps: no cpu backend\n", stderr);
    moac_trainer_free(t);
    free(x);
    free(y);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}
