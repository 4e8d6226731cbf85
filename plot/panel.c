/* Drawing one panel (plot/panel.h): axes from plot/scale.c, lines as SVG polylines. A line of
 * more points than twice the panel's width in pixels keeps, of each pixel column, only its
 * lowest and highest point, so a run of 100,000 steps draws the same shape (spikes included) in
 * a file of a few hundred kilobytes. */
#include "plot/panel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot/svg.h"

/* matplotlib's "tab10": ten colours that stay apart on screen and paper */
const char *const moac_plot_colours[MOAC_PLOT_COLOURS] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

static const char *colour_of(int c) { return c < 0 ? "#555555" : moac_plot_colours[c % MOAC_PLOT_COLOURS]; }

void moac_plot_panel_add(moac_plot_panel *p, moac_plot_line l) {
    if (!l.s) return;
    if (p->nlines == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->lines = realloc(p->lines, (size_t)p->cap * sizeof *p->lines);
        if (!p->lines) abort();
    }
    p->lines[p->nlines++] = l;
}

void moac_plot_panel_free(moac_plot_panel *p) {
    free(p->lines);
    p->lines = NULL;
    p->nlines = p->cap = 0;
}

/* Point i of a line: its component; or over the finite components their mean (mode 0), lowest
 * (-1) or highest (1). NaN when there is none. */
static double value_at(const moac_plot_line *l, size_t i, int mode) {
    const double *v = l->s->value + i * (size_t)l->s->width;
    if (l->comp >= 0) return l->comp < l->s->width ? v[l->comp] : NAN;
    double acc = 0;
    int n = 0;
    for (int k = 0; k < l->s->width; k++) {
        if (!isfinite(v[k])) continue;
        if (mode == 0) acc += v[k];
        else if (!n || (mode < 0 ? v[k] < acc : v[k] > acc)) acc = v[k];
        n++;
    }
    return !n ? NAN : mode ? acc : acc / n;
}

static void widen(double *lo, double *hi, double v, int log) {
    if (!isfinite(v) || (log && v <= 0)) return;
    if (v < *lo) *lo = v;
    if (v > *hi) *hi = v;
}

void moac_plot_line_range(const moac_plot_line *l, int log, double *lo, double *hi) {
    for (size_t i = 0; l->s && i < l->s->count; i++) {
        if (l->comp >= 0) {
            widen(lo, hi, value_at(l, i, 0), log);
        } else {
            widen(lo, hi, value_at(l, i, -1), log);
            widen(lo, hi, value_at(l, i, 1), log);
        }
    }
}

typedef struct area {
    double px, py, pw, ph;
    moac_plot_axis ax, ay;
} area;

typedef struct points {
    double *x, *y;
    size_t n;
} points;

/* keep: 0 both the lowest and highest point of each pixel column, in their order; -1 only the
 * top one (smallest y on screen), 1 only the bottom one. */
static void thin(points *p, double width, int keep) {
    if ((double)p->n <= 2 * width) return;
    size_t o = 0;
    for (size_t i = 0; i < p->n;) {
        size_t j = i, top = i, bottom = i;
        double col = floor(p->x[i]);
        for (; j < p->n && floor(p->x[j]) == col; j++) {
            if (p->y[j] < p->y[top]) top = j;
            if (p->y[j] > p->y[bottom]) bottom = j;
        }
        size_t first = keep < 0 ? top : keep > 0 ? bottom : top < bottom ? top : bottom;
        size_t second = top < bottom ? bottom : top;
        p->x[o] = p->x[first], p->y[o] = p->y[first], o++;
        if (!keep && second != first) p->x[o] = p->x[second], p->y[o] = p->y[second], o++;
        i = j;
    }
    p->n = o;
}

/* The screen points of a line (mode as in value_at), as a moving average when smooth > 1: an
 * exponential one with alpha = 2 / (N + 1), corrected for its start (Adam's bias correction)
 * so the first steps are not pulled towards zero. */
static points line_points(const area *a, const moac_plot_line *l, int mode, int smooth) {
    points p = {malloc((l->s->count + 1) * sizeof(double)), malloc((l->s->count + 1) * sizeof(double)), 0};
    if (!p.x || !p.y) abort();
    double alpha = smooth > 1 ? 2.0 / (smooth + 1) : 1, avg = 0, weight = 0;
    for (size_t i = 0; i < l->s->count; i++) {
        double v = value_at(l, i, mode);
        if (!isfinite(v) || (a->ay.log && v <= 0)) continue;
        if (smooth > 1) {
            avg = (1 - alpha) * avg + alpha * v;
            weight = (1 - alpha) * weight + alpha;
            v = avg / weight;
        }
        p.x[p.n] = a->px + moac_plot_axis_pos(&a->ax, l->s->step[i]) * a->pw;
        p.y[p.n] = a->py + a->ph - moac_plot_axis_pos(&a->ay, v) * a->ph;
        p.n++;
    }
    thin(&p, a->pw, -mode); /* the highest values are the top of the screen */
    return p;
}

static void put_points(moac_strbuf *b, const points *p, int backwards) {
    for (size_t k = 0; k < p->n; k++) {
        size_t i = backwards ? p->n - 1 - k : k;
        if (k || backwards) moac_strbuf_putc(b, ' ');
        moac_svg_num(b, p->x[i]);
        moac_strbuf_putc(b, ',');
        moac_svg_num(b, p->y[i]);
    }
}

static void free_points(points *p) {
    free(p->x);
    free(p->y);
}

static void polyline(moac_plot_figure *f, const moac_plot_line *l, const points *p, const char *cls, int faint) {
    moac_strbuf *b = f->b;
    const char *c = colour_of(l->colour);
    moac_strbuf_printf(b, "<polyline class=\"%s\" data-run=\"", cls);
    moac_svg_escape(b, l->run ? l->run : "");
    moac_strbuf_puts(b, "\" data-key=\"");
    moac_svg_escape(b, l->s->key);
    if (l->comp >= 0 && l->s->width > 1) moac_strbuf_printf(b, "\" data-comp=\"%d", l->comp);
    moac_strbuf_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"", c, faint ? "1" : "1.5");
    if (faint) moac_strbuf_puts(b, " stroke-opacity=\"0.3\"");
    if (l->dashed) moac_strbuf_puts(b, " stroke-dasharray=\"5 3\"");
    if (l->dots) {
        int m = l->colour < 0 ? MOAC_PLOT_COLOURS : l->colour % MOAC_PLOT_COLOURS;
        moac_strbuf_printf(b, " marker-start=\"url(#dot%d)\" marker-mid=\"url(#dot%d)\" marker-end=\"url(#dot%d)\"", m, m, m);
    }
    moac_strbuf_puts(b, " points=\"");
    put_points(b, p, 0);
    moac_strbuf_puts(b, "\"/>\n");
    if (p->n == 1 && !l->dots) { /* one step: a line of one point is invisible */
        moac_strbuf_puts(b, "<circle cx=\"");
        moac_svg_num(b, p->x[0]);
        moac_strbuf_puts(b, "\" cy=\"");
        moac_svg_num(b, p->y[0]);
        moac_strbuf_printf(b, "\" r=\"2.5\" fill=\"%s\"/>\n", c);
    }
}

static void draw_line(moac_plot_figure *f, const area *a, const moac_plot_line *l) {
    if (l->comp < 0) { /* the band under the mean: highest points forwards, lowest back */
        points top = line_points(a, l, 1, 0), bottom = line_points(a, l, -1, 0);
        if (top.n && bottom.n) {
            moac_strbuf_puts(f->b, "<polygon class=\"band\" data-run=\"");
            moac_svg_escape(f->b, l->run ? l->run : "");
            moac_strbuf_puts(f->b, "\" data-key=\"");
            moac_svg_escape(f->b, l->s->key);
            moac_strbuf_printf(f->b, "\" fill=\"%s\" fill-opacity=\"0.15\" points=\"", colour_of(l->colour));
            put_points(f->b, &top, 0);
            put_points(f->b, &bottom, 1);
            moac_strbuf_puts(f->b, "\"/>\n");
        }
        free_points(&top);
        free_points(&bottom);
    }
    int smooth = l->smooth && f->o->smooth > 1 ? f->o->smooth : 0;
    points raw = line_points(a, l, 0, 0);
    if (smooth) {
        points avg = line_points(a, l, 0, smooth);
        polyline(f, l, &raw, "raw", 1);
        polyline(f, l, &avg, l->cls, 0);
        free_points(&avg);
    } else {
        polyline(f, l, &raw, l->cls, 0);
    }
    free_points(&raw);
}

static void tick_text(moac_plot_figure *f, double x, double y, const char *anchor, const moac_plot_axis *ax, double v) {
    char label[48], attrs[64];
    moac_plot_tick_label(ax, v, label, sizeof label);
    snprintf(attrs, sizeof attrs, "text-anchor=\"%s\" fill=\"#444\"", anchor);
    moac_svg_text(f->b, x, y, attrs, label);
}

void moac_plot_panel_draw(moac_plot_figure *f, const moac_plot_panel *p) {
    moac_strbuf *b = f->b;
    area a = {.px = p->x + 52, .py = p->y + 22, .pw = p->w - 52 - 18, .ph = p->h - 22 - (p->xlabel ? 34 : 20)};
    int xt = (int)(a.pw / 90), yt = (int)(a.ph / 40);
    moac_plot_axis_within(&a.ax, f->x0, f->x1, xt < 3 ? 3 : xt, 1);
    double lo = INFINITY, hi = -INFINITY;
    if (p->shared) lo = p->ylo, hi = p->yhi;
    else
        for (int i = 0; i < p->nlines; i++) moac_plot_line_range(&p->lines[i], p->log, &lo, &hi);
    int empty = !(lo <= hi);
    if (empty) lo = 1, hi = 2;
    yt = yt < 2 ? 2 : yt > 8 ? 8 : yt;
    if (p->log) moac_plot_axis_log(&a.ay, lo, hi, yt);
    else moac_plot_axis_linear(&a.ay, lo, hi, yt, 0);

    moac_strbuf_puts(b, "<g class=\"panel\"");
    if (p->key) {
        moac_strbuf_puts(b, " data-key=\"");
        moac_svg_escape(b, p->key);
        moac_strbuf_putc(b, '"');
    }
    if (p->run) {
        moac_strbuf_puts(b, " data-run=\"");
        moac_svg_escape(b, p->run);
        moac_strbuf_putc(b, '"');
    }
    moac_strbuf_puts(b, ">\n");
    char cut[256];
    /* bold text is about a tenth wider than the estimate */
    moac_svg_text(b, a.px, p->y + 14, "font-weight=\"bold\"",
                  moac_svg_fit(p->title, 11, (p->x + p->w - a.px) / 1.12, cut, sizeof cut));
    /* grid lines at the ticks, one path */
    moac_strbuf_puts(b, "<path stroke=\"#e5e5e5\" fill=\"none\" d=\"");
    for (int i = 0; i < a.ay.nticks; i++) {
        double y = a.py + a.ph - moac_plot_axis_pos(&a.ay, a.ay.ticks[i]) * a.ph;
        moac_strbuf_puts(b, "M");
        moac_svg_num(b, a.px);
        moac_strbuf_putc(b, ' ');
        moac_svg_num(b, y);
        moac_strbuf_puts(b, "h");
        moac_svg_num(b, a.pw);
    }
    for (int i = 0; i < a.ax.nticks; i++) {
        double x = a.px + moac_plot_axis_pos(&a.ax, a.ax.ticks[i]) * a.pw;
        moac_strbuf_puts(b, "M");
        moac_svg_num(b, x);
        moac_strbuf_putc(b, ' ');
        moac_svg_num(b, a.py);
        moac_strbuf_puts(b, "v");
        moac_svg_num(b, a.ph);
    }
    moac_strbuf_puts(b, "\"/>\n<rect fill=\"none\" stroke=\"#999\" x=\"");
    moac_svg_num(b, a.px);
    moac_strbuf_puts(b, "\" y=\"");
    moac_svg_num(b, a.py);
    moac_strbuf_puts(b, "\" width=\"");
    moac_svg_num(b, a.pw);
    moac_strbuf_puts(b, "\" height=\"");
    moac_svg_num(b, a.ph);
    moac_strbuf_puts(b, "\"/>\n");
    for (int i = 0; i < a.ay.nticks; i++)
        tick_text(f, a.px - 5, a.py + a.ph - moac_plot_axis_pos(&a.ay, a.ay.ticks[i]) * a.ph + 4, "end", &a.ay,
                  a.ay.ticks[i]);
    for (int i = 0; i < a.ax.nticks; i++)
        tick_text(f, a.px + moac_plot_axis_pos(&a.ax, a.ax.ticks[i]) * a.pw, a.py + a.ph + 14, "middle", &a.ax,
                  a.ax.ticks[i]);
    if (p->xlabel) moac_svg_text(b, a.px + a.pw / 2, a.py + a.ph + 29, "text-anchor=\"middle\"", "step");
    if (empty)
        moac_svg_text(b, a.px + a.pw / 2, a.py + a.ph / 2, "text-anchor=\"middle\" fill=\"#888\"",
                      "no finite values to draw");
    for (int i = 0; i < p->nlines; i++) draw_line(f, &a, &p->lines[i]);
    moac_strbuf_puts(b, "</g>\n");
    f->panels++;
}

void moac_plot_legend(moac_plot_figure *f, double x, double width, const moac_plot_key *keys, int n) {
    moac_strbuf *b = f->b;
    double cx = x, cy = f->y + 12;
    for (int i = 0; i < n; i++) {
        const moac_plot_key *k = &keys[i];
        double w = 24 + 5 + moac_svg_text_width(k->label, 11) + 16;
        if ((k->row || cx + w > x + width) && cx > x) cx = x, cy += 18;
        const char *c = colour_of(k->colour);
        moac_strbuf_puts(b, "<g class=\"legend\">");
        if (k->band) {
            moac_strbuf_puts(b, "<rect x=\"");
            moac_svg_num(b, cx);
            moac_strbuf_puts(b, "\" y=\"");
            moac_svg_num(b, cy - 9);
            moac_strbuf_printf(b, "\" width=\"24\" height=\"10\" fill=\"%s\" fill-opacity=\"0.15\"/>", c);
        }
        moac_strbuf_puts(b, "<path d=\"M");
        moac_svg_num(b, cx);
        moac_strbuf_putc(b, ' ');
        moac_svg_num(b, cy - 4);
        moac_strbuf_printf(b, "h24\" stroke=\"%s\" stroke-width=\"1.5\"%s/>", c,
                           k->dashed ? " stroke-dasharray=\"5 3\"" : "");
        if (k->dots) {
            moac_strbuf_puts(b, "<circle cx=\"");
            moac_svg_num(b, cx + 12);
            moac_strbuf_puts(b, "\" cy=\"");
            moac_svg_num(b, cy - 4);
            moac_strbuf_printf(b, "\" r=\"2.5\" fill=\"%s\"/>", c);
        }
        moac_strbuf_puts(b, "\n");
        moac_svg_text(b, cx + 29, cy, NULL, k->label);
        moac_strbuf_puts(b, "</g>\n");
        cx += w;
    }
    f->y = cy + 10;
}
