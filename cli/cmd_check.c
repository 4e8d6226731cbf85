/* moac check FILE [--json]: parse and check a spec, then summarise it. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "runtime/data_source.h"

static const char help[] =
    "usage: moac check FILE [--json]\n"
    "\n"
    "Parses and checks the spec FILE (with its includes). On success prints a summary: shape,\n"
    "attention tree, parameter count (tied weights once; non-embedding = minus position\n"
    "embeddings), forward FLOPs at full context (MoSA paper convention) and KV-cache bytes per\n"
    "token. On errors prints each one with file:line:col and exits 1. Token files the spec\n"
    "names (data = tokens(...)) are checked as training checks them: each must exist, hold whole\n"
    "tokens, at least one window of context + 1 per split, and only tokens below the vocab.\n"
    "\n"
    "  --json    print one JSON object instead (width, layers, heads, params,\n"
    "            params_nonembedding, flops_forward, kv_bytes_per_token, attention, ...)\n";

int moac_cmd_check(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return MOAC_EXIT_OK;
        }
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (argv[i][0] == '-' && argv[i][1]) return moac_cli_usage_error("check", "unknown option '%s'", argv[i]);
        else if (path) return moac_cli_usage_error("check", "one spec file at a time ('%s' and '%s')", path, argv[i]);
        else path = argv[i];
    }
    if (!path) return moac_cli_usage_error("check", "no spec file given");
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_spec *spec = moac_spec_load(&arena, path, &diag);
    int rc = MOAC_EXIT_OK;
    /* token files that cannot train are refused here too, with training's messages */
    if (spec && moac_data_check(spec, &diag)) spec = NULL;
    if (spec) {
        moac_strbuf out;
        moac_strbuf_init(&out);
        if (json) moac_spec_json(spec, path, &out);
        else moac_spec_summary(spec, path, &out);
        fputs(moac_strbuf_cstr(&out), stdout);
        moac_strbuf_free(&out);
    } else {
        rc = MOAC_EXIT_INPUT;
    }
    moac_cli_flush(&diag);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}
