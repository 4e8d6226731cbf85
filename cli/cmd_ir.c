/* moac ir FILE: the IR of a spec (lowered, then the passes), or of an IR text file (read,
 * verified, then the passes), printed as text or DOT after the passes the user asks for; with
 * --train, the training graph (autodiff after lowering: the loss and every param's gradient). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "cli/cli.h"

static const char help[] =
    "usage: moac ir FILE [--train] [--print-after=PASS | --print-after-all] [--format=text|dot]\n"
    "                    [--batch=N]\n"
    "\n"
    "Prints the forward IR of the spec FILE after all passes. FILE may also be IR text\n"
    "(a .ir file, as `moac ir` prints it): it is read, verified and run through the passes.\n"
    "\n"
    "  --train              print the training graph: the forward graph plus its backward\n"
    "                       graph, with an output grad.<param> for every parameter\n"
    "  --print-after=PASS   print the IR right after PASS instead of at the end\n"
    "  --print-after-all    print the IR after every pass, each headed by its name\n"
    "  --format=text|dot    IR text form (default; docs/ir.md) or Graphviz DOT\n"
    "  --batch=N            batch size of the graph (default: the spec's train batch)\n"
    "\n"
    "Passes, in order: lower (spec -> IR), autodiff (--train only), cse, dce, remat (recomputes\n"
    "large gathers in the backward; docs/architecture.md), schedule (which nodes form one kernel\n"
    "on the cpu backend, as @k/@r/@view/@inline annotations, docs/ir.md; it runs only when asked\n"
    "for with --print-after=schedule or --print-after-all, since backends schedule for themselves).\n"
    "MOAC_DEBUG=1 traces them on stderr.\n";

static int parse_flags(int argc, char **argv, const char **path, moac_pipeline *p, long *batch) {
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            return -1;
        }
        if (!strcmp(argv[i], "--print-after-all")) {
            p->print_after_all = 1;
        } else if (!strcmp(argv[i], "--train")) {
            p->train = 1;
        } else if (moac_cli_flag_value(argc, argv, &i, "--print-after", &v)) {
            if (!moac_pass_exists(v)) {
                int n;
                const char *const *names = moac_pass_names(&n);
                const char *hint = moac_suggest(v, names, (size_t)n);
                char list[256] = "";
                for (int k = 0; k < n; k++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", names[k]);
                return moac_cli_usage_error("ir", "no pass named '%s'%s%s%s (passes: %s)", v,
                                            hint ? "; did you mean '" : "", hint ? hint : "", hint ? "'?" : "", list);
            }
            p->print_after = v;
        } else if (moac_cli_flag_value(argc, argv, &i, "--format", &v)) {
            if (strcmp(v, "text") && strcmp(v, "dot"))
                return moac_cli_usage_error("ir", "--format must be text or dot, not '%s'", v);
            p->dot = !strcmp(v, "dot");
        } else if (moac_cli_flag_value(argc, argv, &i, "--batch", &v)) {
            char *end;
            *batch = strtol(v, &end, 10);
            if (*end || *batch < 1 || *batch > 1 << 20)
                return moac_cli_usage_error("ir", "--batch needs a whole number from 1 to 1048576, not '%s'", v);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return moac_cli_usage_error("ir", "unknown option '%s'", argv[i]);
        } else if (*path) {
            return moac_cli_usage_error("ir", "one file at a time ('%s' and '%s')", *path, argv[i]);
        } else {
            *path = argv[i];
        }
    }
    if (!*path) return moac_cli_usage_error("ir", "no file given");
    if (p->print_after && p->print_after_all)
        return moac_cli_usage_error("ir", "--print-after and --print-after-all exclude each other");
    if ((p->print_after && !strcmp(p->print_after, "schedule")) || p->print_after_all)
        p->schedule = &moac_cpu_sched_rules;
    if (p->print_after && !strcmp(p->print_after, "autodiff") && !p->train)
        return moac_cli_usage_error("ir", "--print-after=autodiff needs --train (autodiff runs only then)");
    return 0;
}

int moac_cmd_ir(int argc, char **argv) {
    const char *path = NULL;
    long batch = 0;
    moac_strbuf dump;
    moac_strbuf_init(&dump);
    moac_pipeline p = {.dump = &dump};
    int flags = parse_flags(argc, argv, &path, &p, &batch);
    if (flags) {
        moac_strbuf_free(&dump);
        return flags > 0 ? flags : MOAC_EXIT_OK;
    }
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_graph *g = moac_cli_load_graph(&arena, &diag, path, &p, batch);
    if (g && !p.print_after && !p.print_after_all) {
        if (p.dot) moac_ir_dot(g, &dump);
        else moac_ir_print(g, &dump);
    }
    if (g) fputs(moac_strbuf_cstr(&dump), stdout);
    moac_cli_flush(&diag);
    int rc = g ? MOAC_EXIT_OK : MOAC_EXIT_INPUT;
    moac_strbuf_free(&dump);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}
