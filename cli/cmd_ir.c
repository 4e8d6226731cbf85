/* moac ir FILE: the IR of a spec (lowered, then the passes), or of an IR text file (read,
 * verified, then the passes), printed as text or DOT after the passes the user asks for; with
 * --train, the training graph (autodiff after lowering: the loss and every param's gradient). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "cli/cli.h"
#include "runtime/json.h"

static const char help[] =
    "usage: moac ir FILE [--train] [--print-after=PASS | --print-after-all] [--format=text|dot]\n"
    "                    [--batch=N] [--summary [--target=host|golden]]\n"
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
    "  --summary            print one JSON object instead: nodes, and the cpu backend's schedule\n"
    "                       of the graph: kernels, functions (compiled; identical kernels share\n"
    "                       one), fused_ops (computed inside another kernel), fallback_ops (on\n"
    "                       the reference kernel), peak_bytes (the memory plan's arena)\n"
    "  --target=host|golden the machine the schedule is for: this one (default), or the pinned\n"
    "                       16 lanes and 8 threads of tests/golden/kernels.txt\n"
    "\n"
    "Passes, in order: lower (spec -> IR), autodiff (--train only), cse, dce, remat (recomputes\n"
    "large gathers in the backward; docs/architecture.md), attention_stats (hands each attention's\n"
    "softmax statistics to its joint backward as an attention_lse value), schedule (which nodes\n"
    "form one kernel on the cpu backend, as @k/@r/@view/@inline annotations, docs/ir.md), plan\n"
    "(the cpu's arena offsets for this machine, printed as # comments after the graph). The last\n"
    "three are the backend's: they run only when asked for with --print-after=attention_stats,\n"
    "schedule or plan, or --print-after-all, since backends schedule for themselves.\n"
    "MOAC_DEBUG=1 traces them on stderr.\n";

typedef struct ir_flags {
    int summary, golden_target;
} ir_flags;

static int parse_flags(int argc, char **argv, const char **path, moac_pipeline *p, long *batch, ir_flags *f) {
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
        } else if (!strcmp(argv[i], "--summary")) {
            f->summary = 1;
        } else if (moac_cli_flag_value(argc, argv, &i, "--target", &v)) {
            if (strcmp(v, "host") && strcmp(v, "golden"))
                return moac_cli_usage_error("ir", "--target must be host or golden, not '%s'", v);
            f->golden_target = !strcmp(v, "golden");
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
    if (f->summary && (p->print_after || p->print_after_all || p->dot))
        return moac_cli_usage_error("ir", "--summary prints JSON; it excludes --print-after, --print-after-all and "
                                          "--format=dot");
    if (p->print_after && p->print_after_all)
        return moac_cli_usage_error("ir", "--print-after and --print-after-all exclude each other");
    static const char *const backend_passes[] = {"attention_stats", "schedule", "plan"};
    for (size_t i = 0; p->print_after && i < sizeof backend_passes / sizeof *backend_passes; i++)
        if (!strcmp(p->print_after, backend_passes[i])) p->schedule = &moac_cpu_sched_rules;
    if (p->print_after_all)
        p->schedule = &moac_cpu_sched_rules;
    if (p->print_after && !strcmp(p->print_after, "autodiff") && !p->train)
        return moac_cli_usage_error("ir", "--print-after=autodiff needs --train (autodiff runs only then)");
    return 0;
}

/* --summary: the graph's size and the cpu backend's schedule of it, as one JSON object. */
static int print_summary(const moac_graph *g, int golden_target, moac_strbuf *out, moac_diag *d) {
    moac_target t = *moac_cli_target();
    if (golden_target) t.vec = 16, t.threads = 8;
    moac_cpu_stats st;
    if (moac_cpu_schedule_stats(g, &t, &st, d)) return -1;
    const moac_node *tokens = NULL; /* the first input: its first dimension is the batch */
    for (size_t i = 0; i < g->count && !tokens; i++)
        if (g->nodes[i]->op == MOAC_OP_INPUT) tokens = g->nodes[i];
    moac_strbuf_puts(out, "{\"graph\":");
    moac_json_put_string(out, g->name, strlen(g->name));
    moac_strbuf_printf(out, ",\"backend\":\"cpu\",\"target\":");
    char target[300];
    snprintf(target, sizeof target, "%s|%d lanes|%d threads", t.triple, t.vec, t.threads);
    moac_json_put_string(out, target, strlen(target));
    moac_strbuf_printf(out, ",\"batch\":%lld,\"nodes\":%zu,\"kernels\":%d,\"functions\":%d,\"fused_ops\":%d,"
                            "\"fallback_ops\":%d,\"peak_bytes\":%zu,\"outputs\":[",
                       tokens && tokens->type.rank > 0 ? (long long)tokens->type.dims[0] : 0LL, g->count, st.kernels,
                       st.functions, st.fused_nodes, st.fallback_nodes, st.arena_bytes);
    int first = 1;
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        if (n->op != MOAC_OP_OUTPUT) continue;
        if (!first) moac_strbuf_putc(out, ',');
        moac_json_put_string(out, n->s ? n->s : "", n->s ? strlen(n->s) : 0);
        first = 0;
    }
    moac_strbuf_puts(out, "]}\n");
    return 0;
}

int moac_cmd_ir(int argc, char **argv) {
    const char *path = NULL;
    long batch = 0;
    moac_strbuf dump;
    moac_strbuf_init(&dump);
    moac_pipeline p = {.dump = &dump};
    ir_flags f = {0};
    int flags = parse_flags(argc, argv, &path, &p, &batch, &f);
    if (flags) {
        moac_strbuf_free(&dump);
        return flags > 0 ? flags : MOAC_EXIT_OK;
    }
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_graph *g = moac_cli_load_graph(&arena, &diag, path, &p, batch);
    if (g && f.summary) {
        if (print_summary(g, f.golden_target, &dump, &diag)) g = NULL;
    } else if (g && !p.print_after && !p.print_after_all) {
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
