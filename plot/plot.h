/* Pictures of training runs (`moac plot`): the metrics.jsonl of run directories (moac train
 * --out DIR writes one JSON object per step and per evaluation) read into series, and drawn as
 * one SVG document: the loss of every run overlaid, the other training metrics, and per run the
 * routing of its mixtures over training (docs/training.md, "Pictures of a run").
 *
 * The stage after runtime/: it reads what training wrote and depends on nothing but support/ and
 * runtime/json. Like the rest of the library it prints nothing: errors and warnings go to a
 * moac_diag, the picture to a string buffer. The SVG is a function of the runs and the options
 * alone (no time, no absolute path, numbers printed in the C locale), so the same runs give the
 * same bytes. */
#ifndef MOAC_PLOT_H
#define MOAC_PLOT_H
#include <stddef.h>

#include "support/arena.h"
#include "support/diag.h"
#include "support/strbuf.h"

/* One key of one run: a number per step ("loss"), or an array of `width` numbers per step
 * ("h0.attn.gates"). An evaluation's values are "eval.<name>" ("eval.val_loss"). */
typedef struct moac_plot_series {
    const char *key;
    int width;      /* numbers per point */
    int line;       /* the line of the file where the key first appears */
    size_t count;   /* points, in increasing step order */
    size_t cap;
    double *step;   /* [count] */
    double *value;  /* [count * width]; NaN where the file had nan, inf or null */
} moac_plot_series;

typedef struct moac_plot_run {
    moac_arena arena;        /* keys, label, path */
    const char *label;       /* the run directory's name: the legend's label */
    const char *path;        /* the metrics file read */
    moac_plot_series *series; /* in order of first appearance in the file */
    size_t nseries, cap;
    size_t lines;            /* lines of metrics read (steps and evaluations) */
    size_t hint;             /* the series the last key went to: keys come in the same order */
} moac_plot_run;

void moac_plot_run_init(moac_plot_run *r);
void moac_plot_run_free(moac_plot_run *r);

/* Reads a run: a directory holding metrics.jsonl, or such a file itself. The label is the
 * directory's name. Returns 0, or -1 after reporting to d: no such directory, no metrics.jsonl
 * in it, a line that is not a JSON object of metrics (file:line:col), an array whose length
 * changes. A last line cut short (a run stopped while writing it) is left out with a warning,
 * values that are not finite with another; a run resumed from an earlier checkpoint logs some
 * steps twice, and the later lines are kept (a note says so). */
int moac_plot_run_load(moac_plot_run *r, const char *path, moac_diag *d);
/* The body of moac_plot_run_load on text already in memory, as the metrics file `path`. */
int moac_plot_run_parse(moac_plot_run *r, const char *path, const char *label, const char *text, size_t len,
                        moac_diag *d);
/* The series of a key, or NULL. */
const moac_plot_series *moac_plot_run_find(const moac_plot_run *r, const char *key);

typedef struct moac_plot_opts {
    int log;           /* a logarithmic axis for the loss */
    int smooth;        /* > 1: training lines also as an exponential moving average over ~N steps */
    const char *title; /* NULL: the runs' labels */
} moac_plot_opts;

/* Draws the runs that have any lines into b as one SVG document and returns its number of
 * panels (0: no run has anything to draw; nothing is written). */
int moac_plot_svg(const moac_plot_run *runs, int nruns, const moac_plot_opts *o, moac_strbuf *b);

/* Writes text to path atomically (a temporary file beside it, flushed, fsync'd and renamed),
 * so a failed write leaves any earlier file as it was; "-" writes to stdout. 0, or -1 after
 * reporting to d. */
int moac_plot_save(const char *path, const char *text, size_t len, moac_diag *d);

/* ---- axes (plot/scale.c) -------------------------------------------------------------------- */

enum { MOAC_PLOT_MAX_TICKS = 24 };

typedef struct moac_plot_axis {
    double lo, hi;      /* the range drawn: the data's, rounded out to ticks */
    int log;            /* base-10 logarithmic */
    int nticks;
    double ticks[MOAC_PLOT_MAX_TICKS];
    double step;        /* linear: the distance between ticks (1, 2 or 5 times a power of ten) */
} moac_plot_axis;

/* 1, 2 or 5 times a power of ten: the smallest such step that splits range into at most
 * `target` parts. */
double moac_plot_nice_step(double range, int target);
/* A linear axis over data in [lo, hi] with about `target` ticks; integer: ticks are whole
 * numbers (steps). An empty range (lo == hi) is widened around its value. */
void moac_plot_axis_linear(moac_plot_axis *ax, double lo, double hi, int target, int integer);
/* The same ticks over exactly [lo, hi], not rounded out: panels of different widths on one
 * range of steps. */
void moac_plot_axis_within(moac_plot_axis *ax, double lo, double hi, int target, int integer);
/* A logarithmic axis over positive data in [lo, hi]: ticks at powers of ten, or at 1, 2, 5 or
 * every digit times them when the data spans too few decades, else linear ticks. */
void moac_plot_axis_log(moac_plot_axis *ax, double lo, double hi, int target);
/* Where v lies on the axis: 0 at lo, 1 at hi. */
double moac_plot_axis_pos(const moac_plot_axis *ax, double v);
/* A tick's label: as many decimals as the step needs ("0.25", "1500"), scientific for very
 * small or large values ("2.0e-05"). */
void moac_plot_tick_label(const moac_plot_axis *ax, double v, char *buf, size_t n);

#endif
