/* The commands that run a spec's model: moac train FILE (train it), moac eval FILE --ckpt CKPT
 * (evaluate a checkpoint), moac generate FILE --ckpt CKPT (continue a prompt with it). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "runtime/generate.h"
#include "runtime/train.h"

static const char train_help[] =
    "usage: moac train FILE [--data PATH] [--steps N] [--until N] [--backend cpu|cuda|interp]\n"
    "                       [--device N] [--out DIR] [--resume CKPT] [--batch N] [--quiet]\n"
    "\n"
    "Trains the spec FILE on its train block's data: a text file, token files (data =\n"
    "tokens(\"train.bin\", val = \"val.bin\"): flat little-endian u16/u32, memory-mapped; make\n"
    "them with scripts/tokenize.py), or, without --data and `data`, the built-in synthetic\n"
    "associative-recall task, with answer accuracy.\n"
    "\n"
    "  --data PATH      a text file (overrides the spec's data, token files included; tokenizer\n"
    "                   from the spec); on --resume the checkpoint's recorded data is used, and\n"
    "                   --data must be it (token files: leave --data out)\n"
    "  --steps N        number of optimizer steps in all (overrides the spec's steps; on --resume\n"
    "                   the checkpoint's plan is kept unless given; 0 writes the initial checkpoint)\n"
    "  --until N        stop after step N with a checkpoint, as Ctrl-C would (train in parts)\n"
    "  --batch N        sequences per step (overrides the spec's batch; batches depend on it,\n"
    "                   so keep it the same when resuming for identical losses)\n"
    "  --backend NAME   cpu (default: native code from LLVM, f32, all cores or MOAC_THREADS),\n"
    "                   cuda (an NVIDIA GPU through its driver; PTX from LLVM, f32) or\n"
    "                   interp (the reference interpreter: f64, slow, the oracle)\n"
    "  --device N       the GPU of --backend cuda (default 0)\n"
    "  --out DIR        where ckpt.safetensors and metrics.jsonl go (default: runs/<spec name>)\n"
    "  --resume CKPT    continue from a checkpoint; the losses match the uninterrupted run\n"
    "  --quiet          print only errors and the final line\n"
    "\n"
    "A progress bar shows on a terminal, plain lines otherwise. Ctrl-C writes a checkpoint and\n"
    "stops (exit status 130); a second Ctrl-C stops at once. An existing checkpoint in --out is\n"
    "never overwritten by a new run: resume it or choose another directory. A run locks --out\n"
    "(moac.lock): a second run there is refused while the first is alive.\n";

static const char eval_help[] =
    "usage: moac eval FILE --ckpt CKPT [--data PATH] [--batches N] [--batch N]\n"
    "                 [--backend cpu|cuda|interp] [--device N]\n"
    "\n"
    "Prints the validation loss of the checkpoint CKPT of spec FILE (and the answer accuracy on\n"
    "the synthetic task), over the same validation batches training evaluates on. Without --data\n"
    "it reads the data the checkpoint records (and checks its size and sha256); --data must be\n"
    "that same data.\n";

static const char generate_help[] =
    "usage: moac generate FILE --ckpt CKPT [--prompt TEXT] [--tokens N] [--temperature T]\n"
    "                          [--top-k K] [--seed S] [--backend cpu|cuda|interp] [--device N] [--quiet]\n"
    "\n"
    "Continues TEXT with the checkpoint CKPT of spec FILE, one token at a time, and prints the\n"
    "prompt and its continuation on stdout. The tokens are the checkpoint's: its characters (or\n"
    "bytes), or the synthetic task's symbols (joined layout: a listing such as 'c7a0mBd3;' then\n"
    "queries; the model's next token after a query is its answer).\n"
    "\n"
    "  --prompt TEXT    the text to continue (default: a newline for text models; for the\n"
    "                   synthetic task, the listing and first query of a validation sequence)\n"
    "  --tokens N       how many tokens to add (default 200)\n"
    "  --temperature T  0 takes the most likely token every time; higher is more random\n"
    "                   (default 0.8)\n"
    "  --top-k K        sample among the K most likely tokens only; 0: all (default 200)\n"
    "  --seed S         the sampling stream: the same seed gives the same text (default 1)\n"
    "  --backend NAME   cpu (default), cuda (--device N: which GPU) or interp\n"
    "  --quiet          no compile or speed lines on stderr\n";

static volatile sig_atomic_t stop_requested;

static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

static int parse_count(const char *cmd, const char *flag, const char *v, long lo, long *out) {
    char *end;
    *out = lo; /* defined on the error path too (the compiler cannot see that callers stop there) */
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < lo || n > 1000000000L)
        return moac_cli_usage_error(cmd, "%s needs a whole number >= %ld, not '%s'", flag, lo, v);
    *out = n;
    return 0;
}

/* The one non-flag argument, the spec file. Returns 0 or the usage exit status. */
static int take_path(const char *cmd, const char *arg, const char **path) {
    if (arg[0] == '-' && arg[1]) return moac_cli_usage_error(cmd, "unknown option '%s'", arg);
    if (*path) return moac_cli_usage_error(cmd, "one spec file at a time ('%s' and '%s')", *path, arg);
    *path = arg;
    return 0;
}

typedef int (*spec_job)(moac_arena *a, const moac_spec *spec, const char *path, void *opts, moac_diag *d);

/* Loads the spec at path and runs job on it; prints every diagnostic. Returns the exit status. */
static int with_spec(const char *path, spec_job job, void *opts) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_spec *spec = moac_spec_load(&arena, path, &diag);
    moac_cli_flush(&diag);
    int rc = spec ? job(&arena, spec, path, opts, &diag) : MOAC_EXIT_INPUT;
    moac_cli_flush(&diag);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}

static const char *default_out(moac_arena *a, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 4 && !strcmp(base + n - 4, ".moa")) n -= 4;
    return moac_arena_printf(a, "runs/%.*s", (int)n, base);
}

static int train_job(moac_arena *a, const moac_spec *spec, const char *path, void *opts, moac_diag *d) {
    moac_train_opts *o = opts;
    if (!o->out_dir) o->out_dir = default_out(a, path);
    o->progress = isatty(STDERR_FILENO);
    signal(SIGINT, on_sigint);
    int rc = moac_train(spec, o, d);
    signal(SIGINT, SIG_DFL);
    return rc;
}

static int eval_job(moac_arena *a, const moac_spec *spec, const char *path, void *opts, moac_diag *d) {
    (void)a, (void)path;
    return moac_eval(spec, opts, d);
}

int moac_cmd_train(int argc, char **argv) {
    moac_train_opts o = {.steps = -1, .stop = &stop_requested, .compile = moac_cli_compile_opts()};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(train_help, stdout);
            return MOAC_EXIT_OK;
        }
        if (!strcmp(argv[i], "--quiet")) o.quiet = 1;
        else if (moac_cli_flag_value(argc, argv, &i, "--data", &v)) o.data = v;
        else if (moac_cli_flag_value(argc, argv, &i, "--out", &v)) o.out_dir = v;
        else if (moac_cli_flag_value(argc, argv, &i, "--resume", &v)) o.resume = v;
        else if (moac_cli_flag_value(argc, argv, &i, "--steps", &v)) {
            if (parse_count("train", "--steps", v, 0, &o.steps)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--batch", &v)) {
            long n;
            if (parse_count("train", "--batch", v, 1, &n)) return MOAC_EXIT_USAGE;
            o.batch = (int)n;
        } else if (moac_cli_flag_value(argc, argv, &i, "--until", &v)) {
            if (parse_count("train", "--until", v, 1, &o.until)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--backend", &v)) {
            if (moac_cli_backend("train", v, &o.backend)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--device", &v)) {
            if (moac_cli_device("train", v)) return MOAC_EXIT_USAGE;
        } else if (take_path("train", argv[i], &path)) {
            return MOAC_EXIT_USAGE;
        }
    }
    if (!path) return moac_cli_usage_error("train", "no spec file given");
    return with_spec(path, train_job, &o);
}

int moac_cmd_eval(int argc, char **argv) {
    moac_eval_opts o = {.compile = moac_cli_compile_opts()};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(eval_help, stdout);
            return MOAC_EXIT_OK;
        }
        if (moac_cli_flag_value(argc, argv, &i, "--ckpt", &v)) o.ckpt = v;
        else if (moac_cli_flag_value(argc, argv, &i, "--data", &v)) o.data = v;
        else if (moac_cli_flag_value(argc, argv, &i, "--batches", &v)) {
            if (parse_count("eval", "--batches", v, 1, &n)) return MOAC_EXIT_USAGE;
            o.batches = (int)n;
        } else if (moac_cli_flag_value(argc, argv, &i, "--batch", &v)) {
            if (parse_count("eval", "--batch", v, 1, &n)) return MOAC_EXIT_USAGE;
            o.batch = (int)n;
        } else if (moac_cli_flag_value(argc, argv, &i, "--backend", &v)) {
            if (moac_cli_backend("eval", v, &o.backend)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--device", &v)) {
            if (moac_cli_device("eval", v)) return MOAC_EXIT_USAGE;
        } else if (take_path("eval", argv[i], &path)) {
            return MOAC_EXIT_USAGE;
        }
    }
    if (!path) return moac_cli_usage_error("eval", "no spec file given");
    if (!o.ckpt) return moac_cli_usage_error("eval", "which checkpoint? pass --ckpt CKPT");
    return with_spec(path, eval_job, &o);
}

static int generate_job(moac_arena *a, const moac_spec *spec, const char *path, void *opts, moac_diag *d) {
    (void)a, (void)path;
    return moac_generate(spec, opts, d);
}

static int parse_number(const char *cmd, const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= lo && x <= hi))
        return moac_cli_usage_error(cmd, "%s needs a number from %g to %g, not '%s'", flag, lo, hi, v);
    *out = x;
    return 0;
}

int moac_cmd_generate(int argc, char **argv) {
    moac_generate_opts o = {.tokens = 200, .temperature = 0.8, .top_k = 200, .seed = 1,
                            .compile = moac_cli_compile_opts()};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        long n;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(generate_help, stdout);
            return MOAC_EXIT_OK;
        }
        if (!strcmp(argv[i], "--quiet")) o.quiet = 1;
        else if (moac_cli_flag_value(argc, argv, &i, "--ckpt", &v)) o.ckpt = v;
        else if (moac_cli_flag_value(argc, argv, &i, "--prompt", &v)) o.prompt = v;
        else if (moac_cli_flag_value(argc, argv, &i, "--tokens", &v)) {
            if (parse_count("generate", "--tokens", v, 1, &o.tokens)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--temperature", &v)) {
            if (parse_number("generate", "--temperature", v, 0, 100, &o.temperature)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--top-k", &v)) {
            if (parse_count("generate", "--top-k", v, 0, &n)) return MOAC_EXIT_USAGE;
            o.top_k = (int)n;
        } else if (moac_cli_flag_value(argc, argv, &i, "--seed", &v)) {
            if (parse_count("generate", "--seed", v, 0, &n)) return MOAC_EXIT_USAGE;
            o.seed = (uint64_t)n;
        } else if (moac_cli_flag_value(argc, argv, &i, "--backend", &v)) {
            if (moac_cli_backend("generate", v, &o.backend)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--device", &v)) {
            if (moac_cli_device("generate", v)) return MOAC_EXIT_USAGE;
        } else if (take_path("generate", argv[i], &path)) {
            return MOAC_EXIT_USAGE;
        }
    }
    if (!path) return moac_cli_usage_error("generate", "no spec file given");
    if (!o.ckpt) return moac_cli_usage_error("generate", "which checkpoint? pass --ckpt CKPT (moac train writes one)");
    return with_spec(path, generate_job, &o);
}
