/* Panels and legends: what plot/chart.c lays out and plot/panel.c draws. Internal to plot/. */
#ifndef MOAC_PLOT_PANEL_H
#define MOAC_PLOT_PANEL_H
#include "plot/plot.h"

enum { MOAC_PLOT_COLOURS = 10 };
extern const char *const moac_plot_colours[MOAC_PLOT_COLOURS];

/* One line of a panel: component comp of a series, or (comp -1) the mean of its components with
 * a band from the lowest to the highest (a vector too wide for a line each: MoSA's heads). */
typedef struct moac_plot_line {
    const moac_plot_series *s;
    int comp;
    int colour;            /* index into moac_plot_colours */
    int dashed, dots;      /* dots: a marker at every point (evaluations) */
    int smooth;            /* a training line: --smooth draws it as a moving average */
    const char *cls;       /* the polyline's class: "train", "val", "metric", "share", ... */
    const char *run;       /* the run's label (data-run) */
} moac_plot_line;

typedef struct moac_plot_panel {
    double x, y, w, h;     /* the panel's box, title and tick labels included */
    const char *title;
    const char *key, *run; /* data-key and data-run of its <g>, for readers of the SVG */
    int log;               /* logarithmic y axis */
    int xlabel;            /* "step" under the x axis */
    int shared;            /* the y range is ylo..yhi (shared by a row of panels), not its lines' */
    double ylo, yhi;
    moac_plot_line *lines;
    int nlines, cap;
} moac_plot_panel;

typedef struct moac_plot_figure {
    moac_strbuf *b;        /* the SVG body */
    const moac_plot_opts *o;
    double y;              /* where the next row goes */
    double x0, x1;         /* the steps of every run, rounded out to ticks: every panel's x range */
    int panels;
} moac_plot_figure;

/* A legend entry: a line sample (or band, or dot) and its label. colour -1 is grey: a style. */
typedef struct moac_plot_key {
    const char *label;
    int colour, dashed, dots, band;
    int row;  /* starts a new row */
} moac_plot_key;

void moac_plot_panel_add(moac_plot_panel *p, moac_plot_line l);
void moac_plot_panel_free(moac_plot_panel *p);
/* Widens [*lo, *hi] to the finite values of l (positive ones only on a log axis). */
void moac_plot_line_range(const moac_plot_line *l, int log, double *lo, double *hi);
/* Draws p into f->b: frame, grid, ticks, title, lines. */
void moac_plot_panel_draw(moac_plot_figure *f, const moac_plot_panel *p);
/* Draws a legend across [x, x + width) from f->y, wrapping rows, and moves f->y below it. */
void moac_plot_legend(moac_plot_figure *f, double x, double width, const moac_plot_key *keys, int n);

#endif
