/* moac plot RUN_DIR...: the metrics of training runs drawn as one SVG picture (plot/plot.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "plot/plot.h"

static const char help[] =
    "usage: moac plot RUN_DIR [RUN_DIR ...] [-o FILE.svg] [--log] [--smooth N] [--title TEXT]\n"
    "\n"
    "Draws the metrics.jsonl of training runs (the directories moac train --out DIR writes) as one\n"
    "SVG picture, panels stacked: the loss against steps, every run overlaid in its own colour and\n"
    "labelled by its directory's name (training as lines, validation dashed with dots); the other\n"
    "training metrics (learning rate, gradient norm, tokens/s, answer accuracy); and per run the\n"
    "routing of its mixtures over training, a panel per layer: MoAS router gate shares, mixSGA\n"
    "expert shares, MoSA selection scores, and the auxiliary losses. A RUN_DIR may also be a\n"
    "metrics.jsonl file itself.\n"
    "\n"
    "  -o FILE        the picture (default plot.svg in the current directory; - for stdout).\n"
    "                 SVG only; for a PNG: rsvg-convert -o plot.png plot.svg\n"
    "  --log          a logarithmic axis for the loss\n"
    "  --smooth N     draw training lines as a moving average over about N steps (each step\n"
    "                 stays, faint, behind it)\n"
    "  --title TEXT   the picture's title (default: the runs' names)\n"
    "\n"
    "A last line cut short (a run stopped while writing it) and values that are not finite (a\n"
    "diverged run) are left out with a warning; any other line that is not a JSON object of\n"
    "metrics is an error naming its file and line. docs/training.md, \"Pictures of a run\".\n";

/* A picture format other than SVG that a name asks for ("png" of "runs/plot.png"), or NULL. */
static const char *other_format(const char *path) {
    static const char *const formats[] = {"png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "pdf", "eps", "ps"};
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path, *dot = strrchr(base, '.');
    for (size_t i = 0; dot && dot != base && i < sizeof formats / sizeof *formats; i++)
        if (!strcasecmp(dot + 1, formats[i])) return dot + 1;
    return NULL;
}

int moac_cmd_plot(int argc, char **argv) {
    const char *out = "plot.svg";
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths) abort();
    int npaths = 0;
    moac_plot_opts o = {0};
    for (int i = 1; i < argc; i++) {
        const char *v;
        char *end;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(help, stdout);
            free(paths);
            return MOAC_EXIT_OK;
        }
        int rc = MOAC_EXIT_OK;
        if (!strcmp(argv[i], "--log")) {
            o.log = 1;
        } else if (moac_cli_flag_value(argc, argv, &i, "-o", &v) || moac_cli_flag_value(argc, argv, &i, "--output", &v)) {
            out = v;
        } else if (moac_cli_flag_value(argc, argv, &i, "--smooth", &v)) {
            long n = strtol(v, &end, 10);
            if (!*v || *end || n < 1 || n > 1000000)
                rc = moac_cli_usage_error("plot", "--smooth needs a whole number of steps from 1 to 1000000, not '%s'", v);
            o.smooth = (int)n;
        } else if (moac_cli_flag_value(argc, argv, &i, "--title", &v)) {
            o.title = v;
        } else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") || !strcmp(argv[i], "--smooth") ||
                   !strcmp(argv[i], "--title")) {
            rc = moac_cli_usage_error("plot", "%s needs a value", argv[i]);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            rc = moac_cli_usage_error("plot", "unknown option '%s'", argv[i]);
        } else {
            paths[npaths++] = argv[i];
        }
        if (rc) {
            free(paths);
            return rc;
        }
    }
    const char *ext = other_format(out);
    if (!npaths) {
        free(paths);
        return moac_cli_usage_error("plot", "no run directory given (the --out DIR of a moac train run)");
    }
    if (ext) {
        int stem = (int)(ext - 1 - out);
        free(paths);
        return moac_cli_usage_error("plot",
                                    "-o %s: moac plot writes SVG only (a PNG or PDF would need an image library, "
                                    "which moac does not depend on); write %.*s.svg and convert it, e.g. "
                                    "rsvg-convert -o %s %.*s.svg (Debian: librsvg2-bin)",
                                    out, stem, out, out, stem, out);
    }
    moac_diag diag;
    moac_diag_init(&diag);
    moac_plot_run *runs = calloc((size_t)npaths, sizeof *runs);
    if (!runs) abort();
    int failed = 0, drawn = 0;
    for (int i = 0; i < npaths; i++) {
        moac_plot_run_init(&runs[i]);
        if (moac_plot_run_load(&runs[i], paths[i], &diag)) failed = 1;
    }
    for (int i = 0; !failed && i < npaths; i++) {
        if (runs[i].lines) drawn++;
        else
            moac_diag_file_warning(&diag, runs[i].path, "has no metrics yet (the run has not finished a step); "
                                   "the run is left out");
    }
    if (!failed && !drawn) {
        moac_diag_file_error(&diag, "moac", "nothing to plot: no run has finished a step yet");
        failed = 1;
    }
    int panels = 0;
    if (!failed) {
        moac_strbuf svg;
        moac_strbuf_init(&svg);
        panels = moac_plot_svg(runs, npaths, &o, &svg);
        if (!panels) {
            moac_diag_file_error(&diag, "moac", "nothing to plot: the runs' lines hold no numbers besides \"step\"");
            failed = 1;
        } else {
            failed = moac_plot_save(out, moac_strbuf_cstr(&svg), svg.len, &diag);
        }
        moac_strbuf_free(&svg);
    }
    moac_cli_flush(&diag);
    if (!failed)
        fprintf(stderr, "moac: wrote %s: %d run%s, %d panel%s\n", strcmp(out, "-") ? out : "the picture to stdout",
                drawn, drawn == 1 ? "" : "s", panels, panels == 1 ? "" : "s");
    for (int i = 0; i < npaths; i++) moac_plot_run_free(&runs[i]);
    free(runs);
    free(paths);
    moac_diag_free(&diag);
    return failed ? MOAC_EXIT_INPUT : MOAC_EXIT_OK;
}
