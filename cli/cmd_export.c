/* moac export FILE --ckpt CKPT --pytorch DIR: a checkpoint as a self-contained PyTorch module
 * (export/export.h; docs/export.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "export/export.h"

static const char help[] =
    "usage: moac export FILE --ckpt CKPT --pytorch DIR [--check-batch N | --no-check]\n"
    "                        [--backend cpu|cuda|interp] [--device N] [--quiet]\n"
    "\n"
    "Writes the checkpoint CKPT of spec FILE as a PyTorch module that needs only torch (1.13 or\n"
    "later) and Python's standard library, generated from the spec's evaluation graph:\n"
    "\n"
    "  DIR/model.py           class Model(torch.nn.Module): forward(idx, targets=None) ->\n"
    "                         (logits, loss), Model.from_pretrained(DIR); parameters under\n"
    "                         moac's names; a safetensors reader\n"
    "  DIR/model.safetensors  the checkpoint's parameters (not its Adam moments)\n"
    "  DIR/model.ir           the IR model.py translates\n"
    "  DIR/check.safetensors  moac's outputs on random tokens: `python3 DIR/model.py` runs the\n"
    "                         module on them and compares (1e-5 relative)\n"
    "\n"
    "DIR must be new, empty, or an earlier export (which is written over); a directory holding\n"
    "anything else is refused and left as it is.\n"
    "\n"
    "  --check-batch N  sequences in check.safetensors (default 2)\n"
    "  --no-check       no check.safetensors (and no compile)\n"
    "  --backend NAME   the backend computing moac's outputs: cpu (default), cuda, or interp\n"
    "                   (the f64 reference interpreter)\n"
    "  --device N       the GPU of --backend cuda (default 0)\n"
    "  --quiet          no compile line\n";

static int export_spec(const char *path, moac_export_opts *o) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    int rc = MOAC_EXIT_INPUT;
    moac_spec *spec = moac_spec_load(&arena, path, &diag);
    moac_export_result r;
    if (spec && !moac_export_pytorch(spec, o, &r, &diag)) {
        moac_cli_flush(&diag); /* notes (a checkpoint of another model's name) before the result */
        printf("moac: exported '%s' (%lld parameters, step %llu) to %s: model.py, model.safetensors, model.ir%s\n",
               spec->name, r.params, (unsigned long long)r.step, o->dir, r.checked ? ", check.safetensors" : "");
        if (r.checked) printf("moac: compare the module with moac's outputs: python3 %s/model.py\n", o->dir);
        rc = MOAC_EXIT_OK;
    }
    moac_cli_flush(&diag);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}

int moac_cmd_export(int argc, char **argv) {
    moac_export_opts o = {.check_batch = 2, .compile = moac_cli_compile_opts()};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v;
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return MOAC_EXIT_OK;
        }
        if (!strcmp(argv[i], "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(argv[i], "--no-check")) {
            o.check_batch = 0;
        } else if (moac_cli_flag_value(argc, argv, &i, "--ckpt", &v)) {
            o.ckpt = v;
        } else if (moac_cli_flag_value(argc, argv, &i, "--pytorch", &v)) {
            if (!*v) return moac_cli_usage_error("export", "--pytorch needs a directory");
            o.dir = v;
        } else if (moac_cli_flag_value(argc, argv, &i, "--check-batch", &v)) {
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 4096)
                return moac_cli_usage_error("export", "--check-batch needs a whole number from 1 to 4096, not '%s'", v);
            o.check_batch = (int)n;
        } else if (moac_cli_flag_value(argc, argv, &i, "--backend", &v)) {
            if (moac_cli_backend("export", v, &o.backend)) return MOAC_EXIT_USAGE;
        } else if (moac_cli_flag_value(argc, argv, &i, "--device", &v)) {
            if (moac_cli_device("export", v)) return MOAC_EXIT_USAGE;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return moac_cli_usage_error("export", "unknown option '%s'", argv[i]);
        } else if (path) {
            return moac_cli_usage_error("export", "one spec file at a time ('%s' and '%s')", path, argv[i]);
        } else {
            path = argv[i];
        }
    }
    if (!path) return moac_cli_usage_error("export", "no spec file given");
    if (!o.ckpt) return moac_cli_usage_error("export", "which checkpoint? pass --ckpt CKPT (moac train writes one)");
    if (!o.dir) return moac_cli_usage_error("export", "export to what? pass --pytorch DIR");
    o.spec_path = path;
    return export_spec(path, &o);
}
