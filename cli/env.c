/* The environment variables of the `moac` command, read here and nowhere in the library (the
 * library takes them as options: moac_compile_opts, moac_pipeline.log), so the command behaves
 * as it always has and a program using the library is not steered by its environment:
 *
 *   MOAC_THREADS       worker threads of the CPU backend (default: all cores)
 *   MOAC_CPU           the CPU name LLVM generates code for (default: this machine's)
 *   MOAC_CPU_FEATURES  its feature string, e.g. +avx2,+fma (default: this machine's)
 *   MOAC_CACHE=0       no compile cache
 *   MOAC_CACHE_DIR     the compile cache (default: $XDG_CACHE_HOME/moac, else ~/.cache/moac)
 *   MOAC_PROFILE=1     the time per kernel kind, when a run ends; =2 also the 30 costliest kernels
 *                      one by one, with their nodes' types
 *   MOAC_TF32=1        --backend cuda: matmuls in TF32 (faster, ~1e-3) instead of f32-accurate 3xTF32
 *   MOAC_HOST_OPTIMIZER=1  --backend cuda: gradients read back, clip and AdamW on the host (as the CPU
 *                      backend does) instead of on the GPU; for comparisons
 *   MOAC_DEBUG=1       each pass's node count, the compile phases, the activations' peak
 *   MOAC_PASSES=+fuse_projections,+concat_pads  optional passes (the fusions, off by default) turned
 *                      on (+NAME) or off (-NAME); a name that is not one is a usage error
 *
 * A flag variable is on when set to anything but "" or "0". Everything goes to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/llvm/target.h"
#include "cli/cli.h"
#include "passes/pass.h"

static int flag(const char *name) {
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0");
}

static int profile_level(void) {
    const char *v = getenv("MOAC_PROFILE");
    return !flag("MOAC_PROFILE") ? 0 : !strcmp(v, "2") ? 2 : 1;
}

static void to_stderr(void *ctx, const char *text) {
    (void)ctx;
    fputs(text, stderr);
}

static struct {
    int ready;
    moac_log log;
    moac_target target;
    char cache_dir[1024];
    moac_compile_opts opts;
} env;

static void cache_dir(char *dir, size_t len) {
    const char *off = getenv("MOAC_CACHE");
    dir[0] = 0;
    if (off && !strcmp(off, "0")) return;
    const char *d = getenv("MOAC_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (d && *d) snprintf(dir, len, "%s", d);
    else if (xdg && *xdg) snprintf(dir, len, "%s/moac", xdg);
    else if (home && *home) snprintf(dir, len, "%s/.cache/moac", home);
}

/* MOAC_PASSES: each entry must name an optional pass (passes/pass.h), else the command stops
 * here with a usage error, before it builds anything. */
static const char *passes_list(void) {
    const char *v = getenv("MOAC_PASSES");
    char why[512];
    if (!v || !*v) return NULL;
    if (moac_pass_list_check(v, why, sizeof why)) {
        fprintf(stderr, "moac: MOAC_PASSES: %s (a comma list of +NAME or -NAME)\n", why);
        exit(MOAC_EXIT_USAGE);
    }
    return v;
}

static void read_env(void) {
    if (env.ready) return;
    env.ready = 1;
    env.log = (moac_log){.write = to_stderr, .debug = flag("MOAC_DEBUG")};
    const char *threads = getenv("MOAC_THREADS");
    moac_target_override(&env.target, getenv("MOAC_CPU"), getenv("MOAC_CPU_FEATURES"), threads ? atoi(threads) : 0);
    cache_dir(env.cache_dir, sizeof env.cache_dir);
    env.opts = (moac_compile_opts){.target = &env.target, .cache_dir = env.cache_dir, .log = &env.log,
                                   .profile = profile_level(), .tf32 = flag("MOAC_TF32"),
                                   .host_optimizer = flag("MOAC_HOST_OPTIMIZER"),
                                   .passes = passes_list()};
}

const moac_compile_opts *moac_cli_compile_opts(void) {
    read_env();
    return &env.opts;
}

int moac_cli_device(const char *cmd, const char *value) {
    char *end;
    long n = strtol(value, &end, 10);
    if (!*value || *end || n < 0 || n > 1023)
        return moac_cli_usage_error(cmd, "--device needs a GPU number (0, 1, ...), not '%s'", value);
    read_env();
    env.opts.device = (int)n;
    return 0;
}

const moac_log *moac_cli_log(void) {
    read_env();
    return &env.log;
}

const moac_target *moac_cli_target(void) {
    read_env();
    return &env.target;
}
