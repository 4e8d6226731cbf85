/* moac verify FILE: the graph of a spec (or IR text) on two backends with the same random inputs
 * and weights, every output compared (runtime/verify.h): is a backend right? */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/verify.h"

static const char help[] =
    "usage: moac verify FILE [--backend NAME] [--against NAME] [--train] [--batch N] [--tolerance X]\n"
    "                        [--seed S] [--device N]\n"
    "\n"
    "Runs the graph of the spec FILE (or an IR text file) on two backends with the same random\n"
    "inputs and parameters and prints, for every output, the largest difference relative to the\n"
    "reference's largest value. Exits 1 when any output differs by more than the tolerance.\n"
    "\n"
    "  --backend NAME   the backend under test (default cpu)\n"
    "  --against NAME   the reference (default interp, the f64 interpreter; cpu to hold cuda\n"
    "                   against the CPU)\n"
    "  --train          the training graph: the loss and the gradient of every parameter, with\n"
    "                   dropout on\n"
    "  --batch N        batch size of the graph (default 1: the interpreter is slow)\n"
    "  --tolerance X    the largest relative error accepted (default 1e-4)\n"
    "  --seed S         the inputs' and dropout's random stream (default 7)\n"
    "  --device N       the GPU of a cuda backend (default 0)\n";

int moac_cmd_verify(int argc, char **argv) {
    const char *path = NULL;
    const moac_backend_ops *be = moac_backend_default(), *ref = moac_backend_find("interp");
    moac_pipeline p = {0};
    long batch = 1;
    double tol = 1e-4;
    unsigned long long seed = 7;
    for (int i = 1; i < argc; i++) {
        const char *v;
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return MOAC_EXIT_OK;
        }
        if (!strcmp(argv[i], "--train")) {
            p.train = 1;
        } else if (moac_cli_flag_value(argc, argv, &i, "--backend", &v)) {
            if (moac_cli_backend("verify", v, &be)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--against", &v)) {
            if (moac_cli_backend("verify", v, &ref)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--device", &v)) {
            if (moac_cli_device("verify", v)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--batch", &v)) {
            batch = strtol(v, &end, 10);
            if (!*v || *end || batch < 1 || batch > 1 << 20)
                return moac_cli_usage_error("verify", "--batch needs a whole number from 1 to 1048576, not '%s'", v);
        } else if (moac_cli_flag_value(argc, argv, &i, "--tolerance", &v)) {
            tol = strtod(v, &end);
            if (!*v || *end || !(tol >= 0 && tol <= 1))
                return moac_cli_usage_error("verify", "--tolerance needs a number from 0 to 1, not '%s'", v);
        } else if (moac_cli_flag_value(argc, argv, &i, "--seed", &v)) {
            seed = strtoull(v, &end, 10);
            if (!*v || *end || *v == '-') return moac_cli_usage_error("verify", "--seed needs a whole number, not '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return moac_cli_usage_error("verify", "unknown option '%s'", argv[i]);
        } else if (path) {
            return moac_cli_usage_error("verify", "one file at a time ('%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) return moac_cli_usage_error("verify", "no file given");
    if (be == ref) return moac_cli_usage_error("verify", "--backend and --against are both '%s'", be->name);
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    int rc = MOAC_EXIT_INPUT;
    moac_graph *g = moac_cli_load_graph(&arena, &diag, path, &p, batch);
    moac_verify_result r = {0};
    moac_run_opts run = {.seed = seed, .step = 1, .training = p.train};
    if (g && !moac_verify(g, be, ref, moac_cli_compile_opts(), &run, seed, &r, &diag)) {
        int bad = 0;
        printf("%s: %s against %s, %d outputs\n", g->name, be->name, ref->name, r.count);
        for (int i = 0; i < r.count; i++) {
            const moac_verify_output *o = &r.outputs[i];
            int over = !(o->rel_err <= tol);
            bad += over;
            printf("  %-40s %10lld  rel err %.2e%s", o->name, (long long)o->numel, o->rel_err, over ? "  TOO LARGE" : "");
            if (over) printf(" (element %lld: %.9g, reference %.9g)", (long long)o->worst_at, o->got, o->want);
            printf("\n");
        }
        printf("worst %.2e, tolerance %.0e: %s\n", r.worst, tol, bad ? "FAILED" : "ok");
        rc = bad ? MOAC_EXIT_INPUT : MOAC_EXIT_OK;
    }
    free(r.outputs);
    moac_cli_flush(&diag);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}
