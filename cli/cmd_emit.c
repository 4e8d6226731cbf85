/* moac emit FILE: the code a backend (the CPU's, by default) generates for a spec (or an IR text file): the
 * optimised LLVM IR of every kernel, or the target's assembly (--ptx: the cuda backend's PTX,
 * which needs no GPU to write), optionally only the kernels
 * whose names start with --kernel. Kernels are named n<id>_<op>[_<part>] after the IR node they
 * implement (see `moac ir`), so `--kernel n42_` shows everything node %42 became. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: moac emit FILE (--llvm | --asm | --ptx) [--kernel NAME] [--train] [--batch=N] [--backend cpu|cuda]\n"
    "\n"
    "Prints the code a backend (the CPU's by default) generates for the spec FILE (or an IR text file):\n"
    "\n"
    "  --llvm          optimised LLVM IR (the default)\n"
    "  --asm           assembly: for this machine's CPU (MOAC_CPU / MOAC_CPU_FEATURES override it), or\n"
    "                  with --backend cuda the PTX for sm_90 (no GPU needed)\n"
    "  --ptx           the same as --backend cuda --asm\n"
    "  --kernel NAME   only the kernels whose name starts with NAME (e.g. n42_ or n42_gemm)\n"
    "  --train         the training graph (forward + backward) instead of the forward graph\n"
    "  --batch=N       batch size of the graph (default: the spec's train batch)\n"
    "  --backend NAME  the backend whose code to show: cpu (default), cuda (NVPTX); interp generates none\n"
    "\n"
    "Kernels are named n<id>_<op> after the node of `moac ir` (with the same flags) they compute.\n";

int moac_cmd_emit(int argc, char **argv) {
    const char *path = NULL, *kernel = NULL;
    int assembly = 0, modes = 0, ptx = 0;
    const moac_backend_ops *be = moac_backend_default();
    long batch = 0;
    moac_pipeline p = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return MOAC_EXIT_OK;
        }
        if (!strcmp(argv[i], "--llvm")) {
            assembly = 0, modes++;
        } else if (!strcmp(argv[i], "--asm")) {
            assembly = 1, modes++;
        } else if (!strcmp(argv[i], "--ptx")) {
            assembly = 1, modes++, ptx = 1;
        } else if (!strcmp(argv[i], "--train")) {
            p.train = 1;
        } else if (moac_cli_flag_value(argc, argv, &i, "--kernel", &v)) {
            if (!*v) return moac_cli_usage_error("emit", "--kernel needs a name (a prefix such as n42_)");
            kernel = v;
        } else if (moac_cli_flag_value(argc, argv, &i, "--backend", &v)) {
            if (moac_cli_backend("emit", v, &be)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--batch", &v)) {
            char *end;
            batch = strtol(v, &end, 10);
            if (*end || batch < 1 || batch > 1 << 20)
                return moac_cli_usage_error("emit", "--batch needs a whole number from 1 to 1048576, not '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return moac_cli_usage_error("emit", "unknown option '%s'", argv[i]);
        } else if (path) {
            return moac_cli_usage_error("emit", "one file at a time ('%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) return moac_cli_usage_error("emit", "no file given");
    if (modes > 1) return moac_cli_usage_error("emit", "--llvm, --asm and --ptx exclude each other");
    if (ptx && be != moac_backend_default() && be != moac_backend_find("cuda"))
        return moac_cli_usage_error("emit", "--ptx is the cuda backend's code, not the %s backend's", be->name);
    if (ptx) be = moac_backend_find("cuda");
    if (!be->emit)
        return moac_cli_usage_error("emit", "the %s backend generates no code to show; use --backend cpu", be->name);
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_graph *g = moac_cli_load_graph(&arena, &diag, path, &p, batch);
    char *text = g ? be->emit(g, moac_cli_compile_opts(), assembly ? "asm" : "llvm", kernel, &diag) : NULL;
    if (text) fputs(text, stdout);
    free(text);
    moac_cli_flush(&diag);
    int rc = text ? MOAC_EXIT_OK : MOAC_EXIT_INPUT;
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}
