/* moac: the command-line driver. Each subcommand parses its flags and calls the library. */
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char usage[] =
    "usage: moac <command> [options]\n"
    "\n"
    "moac compiles specs of transformers whose attention mixes schemes (MHA/GQA/MQA routing,\n"
    "grouped-KV experts, sparse heads) to native code (LLVM) for training and inference.\n"
    "\n"
    "commands:\n"
    "  check FILE [--json]    parse and check a spec; print a summary (params, FLOPs, KV cache)\n"
    "  ir FILE [options]      print the IR of a spec (or of an IR text file), after any pass\n"
    "  train FILE [options]   train a spec (synthetic task by default, or --data text)\n"
    "  eval FILE --ckpt CKPT  validation loss (and answer accuracy) of a checkpoint\n"
    "  generate FILE --ckpt CKPT  continue a prompt with a checkpoint (sampling or greedy)\n"
    "  emit FILE --llvm|--asm|--ptx  the LLVM IR, assembly or PTX a backend generates\n"
    "  verify FILE [options]  one graph on two backends (cpu and interp, cuda and cpu) compared\n"
    "  export FILE --ckpt CKPT --pytorch DIR  a checkpoint as a self-contained PyTorch module\n"
    "  plot RUN_DIR... [-o FILE.svg]  loss curves and routing of runs, as an SVG picture\n"
    "\n"
    "Run 'moac <command> --help' for a command's options; 'moac --version' for versions.\n"
    "Specs: docs/language.md. IR: docs/ir.md.\n";

static const struct {
    const char *name;
    int (*run)(int, char **);
} commands[] = {
    {"check", moac_cmd_check},
    {"ir", moac_cmd_ir},
    {"train", moac_cmd_train},
    {"eval", moac_cmd_eval},
    {"generate", moac_cmd_generate},
    {"emit", moac_cmd_emit},
    {"verify", moac_cmd_verify},
    {"plot", moac_cmd_plot},
    {"export", moac_cmd_export},
};

void moac_cli_flush(moac_diag *d) {
    fputs(moac_strbuf_cstr(&d->out), stderr);
    moac_strbuf_clear(&d->out);
}

int moac_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("moac: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'moac %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
    return MOAC_EXIT_USAGE;
}

moac_graph *moac_cli_load_graph(moac_arena *a, moac_diag *d, const char *path, moac_pipeline *p, long batch) {
    size_t n = strlen(path);
    if (!p->log) p->log = moac_cli_log(); /* MOAC_DEBUG's pass lines */
    if (!p->passes) p->passes = moac_cli_compile_opts()->passes; /* MOAC_PASSES */
    if (n < 3 || strcmp(path + n - 3, ".ir")) {
        moac_spec *spec = moac_spec_load(a, path, d);
        return spec ? moac_pipeline_spec(a, spec, batch, p, d) : NULL;
    }
    moac_source *src = moac_source_load(a, d, path, &moac_limits_ir);
    moac_graph *read = src ? moac_ir_read(a, src, d) : NULL;
    if (!read || moac_ir_verify(read, d, "as read")) return NULL;
    if (p->print_after && !strcmp(p->print_after, "lower")) {
        moac_diag_file_error(d, path, "is IR text already; the 'lower' pass runs only on specs");
        return NULL;
    }
    return moac_pipeline_graph(read, p, d);
}

int moac_cli_backend(const char *cmd, const char *name, const moac_backend_ops **out) {
    if ((*out = moac_backend_find(name))) return 0;
    moac_strbuf names;
    moac_strbuf_init(&names);
    moac_backend_names(&names);
    moac_cli_usage_error(cmd, "unknown backend '%s' (available: %s)", name, moac_strbuf_cstr(&names));
    moac_strbuf_free(&names);
    return MOAC_EXIT_USAGE;
}

int moac_cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value) {
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n)) return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] == 0 && *i + 1 < argc) {
        *value = argv[++*i];
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    /* A file size limit (ulimit -f) would kill moac mid-write with SIGXFSZ and no word; ignored,
     * the write fails with EFBIG instead and the writer reports it (the old file stays). */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? MOAC_EXIT_USAGE : MOAC_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("moac %s (LLVM %s)\n", moac_version(), moac_llvm_version());
        return MOAC_EXIT_OK;
    }
    const char *names[sizeof commands / sizeof *commands];
    size_t count = sizeof commands / sizeof *commands;
    for (size_t i = 0; i < count; i++) {
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
        names[i] = commands[i].name;
    }
    const char *hint = moac_suggest(argv[1], names, count);
    if (hint) return moac_cli_usage_error(NULL, "unknown command '%s'; did you mean '%s'?", argv[1], hint);
    return moac_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
}
