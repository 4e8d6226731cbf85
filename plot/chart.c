/* The picture (moac_plot_svg): panels stacked in one SVG, 960 pixels wide, every panel on the
 * same range of steps.
 *
 *   1. loss: every run's training loss (its lm_loss where the run has auxiliary losses, so runs
 *      of different schemes compare on the same loss; else loss) as a line in the run's colour,
 *      its validation loss dashed with a dot per evaluation;
 *   2. the other training metrics, a small panel each, runs overlaid: learning rate, gradient
 *      norm, tokens/s, answer accuracy, and any other number a line holds;
 *   3. per run, its routing: each per-layer vector (h<l>.<rest> holding an array: MoAS gates,
 *      mixSGA expert shares, MoSA selection scores, whatever a scheme logs) as a row of small
 *      panels, one per layer, a line per component on a y range the row shares; MoSA's
 *      mean_score is drawn dashed in the panels of its selected_score; per-layer numbers
 *      (auxiliary losses) as a panel with a line per layer.
 * Which metric is which is read from its key alone, so a new scheme's metrics are drawn (under
 * their key) without a change here; the table below only gives known ones their words. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot/panel.h"
#include "plot/svg.h"

enum { WIDTH = 960, MARGIN = 16, GAP = 12, COLS = 4, BIG_H = 300, SMALL_H = 170, MANY = MOAC_PLOT_COLOURS };

/* Words for the metrics moac's lowering names (passes/lower_attention.c, lower.c, train.c). */
static const struct {
    const char *name, *title, *item;
} known[] = {
    {"gates", "router gate share of each branch, mean over the batch (MoAS routing)", "branch"},
    {"shares", "share of tokens each KV expert takes (mixSGA)", "expert"},
    {"selected_score", "router score of the tokens each head selects (solid) and of all tokens (dashed) (MoSA)", "head"},
    {"balance", "load-balance loss", NULL},
    {"consistency", "router consistency loss", NULL},
    {"lr", "learning rate", NULL},
    {"grad_norm", "gradient norm", NULL},
    {"tokens_per_s", "throughput (tokens/s)", NULL},
    {"eval.accuracy", "answer accuracy", NULL},
};

static const char *last_part(const char *key) {
    const char *dot = strrchr(key, '.');
    return dot && strncmp(key, "eval.", 5) ? dot + 1 : key;
}

static int known_index(const char *key) {
    const char *name = last_part(key);
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(known[i].name, name)) return (int)i;
    return -1;
}

/* "h3.attn.gates" -> 3 and "attn.gates"; -1 for a key without a layer. */
static int layer_of(const char *key, const char **rest) {
    *rest = key;
    if (key[0] != 'h' || !isdigit((unsigned char)key[1])) return -1;
    char *end;
    long l = strtol(key + 1, &end, 10);
    if (*end != '.' || !end[1] || l > 1000000) return -1;
    *rest = end + 1;
    return (int)l;
}

static int is_loss(const char *key) {
    return !strcmp(key, "loss") || !strcmp(key, "lm_loss") || !strcmp(key, "eval.val_loss") ||
           !strcmp(key, "eval.answers");
}

static void *grow(void *p, size_t n, size_t size) {
    void *q = realloc(p, n * size);
    if (!q) abort();
    return q;
}

/* ---- the loss and the other metrics ------------------------------------------------------- */

static void loss_panel(moac_plot_figure *f, const moac_plot_run *runs, const int *use, int n, const char **labels) {
    moac_plot_key *keys = calloc((size_t)n + 2, sizeof *keys);
    if (!keys) abort();
    int nk = 0;
    for (int i = 0; i < n; i++) keys[nk++] = (moac_plot_key){labels[i], i, 0, 0, 0, 0};
    char smooth[96];
    snprintf(smooth, sizeof smooth, "training, moving average over %d steps (faint: each step)", f->o->smooth);
    keys[nk++] = (moac_plot_key){f->o->smooth > 1 ? smooth : "training", -1, 0, 0, 0, 1};
    keys[nk++] = (moac_plot_key){"validation", -1, 1, 1, 0, 0};
    moac_plot_legend(f, MARGIN, WIDTH - 2 * MARGIN, keys, nk);
    free(keys);
    moac_plot_panel p = {.x = MARGIN, .y = f->y, .w = WIDTH - 2 * MARGIN, .h = BIG_H, .key = "loss", .log = f->o->log,
                         .xlabel = 1};
    p.title = f->o->log ? "loss (log scale)" : "loss";
    for (int i = 0; i < n; i++) {
        const moac_plot_run *r = &runs[use[i]];
        const moac_plot_series *train = moac_plot_run_find(r, "lm_loss");
        if (!train) train = moac_plot_run_find(r, "loss");
        if (train && train->width == 1)
            moac_plot_panel_add(&p, (moac_plot_line){train, 0, i, 0, 0, 1, "train", labels[i]});
        const moac_plot_series *val = moac_plot_run_find(r, "eval.val_loss");
        if (val && val->width == 1) moac_plot_panel_add(&p, (moac_plot_line){val, 0, i, 1, 1, 0, "val", labels[i]});
    }
    moac_plot_panel_draw(f, &p);
    moac_plot_panel_free(&p);
    f->y += BIG_H + GAP;
}

/* Panel k of a grid of n at the current row: up to COLS a row, and never wider than half the
 * picture. */
static void grid_cell(const moac_plot_figure *f, int k, int n, moac_plot_panel *p) {
    int cols = n < 2 ? 2 : n < COLS ? n : COLS;
    double w = (WIDTH - 2.0 * MARGIN - (cols - 1) * GAP) / cols;
    p->x = MARGIN + (k % cols) * (w + GAP);
    p->y = f->y + (k / cols) * (SMALL_H + GAP);
    p->w = w;
    p->h = SMALL_H;
}

static void grid_done(moac_plot_figure *f, int n) {
    if (n) f->y += ((n + COLS - 1) / COLS) * (SMALL_H + GAP);
}

static void caption(moac_plot_figure *f, const char *text, int size) {
    char cut[512], attrs[64];
    snprintf(attrs, sizeof attrs, "font-size=\"%d\"%s", size, size > 12 ? " font-weight=\"bold\"" : "");
    moac_svg_text(f->b, MARGIN, f->y + size + 2, attrs, moac_svg_fit(text, size, WIDTH - 2 * MARGIN, cut, sizeof cut));
    f->y += size + 8;
}

/* Every number without a layer that is not a loss, in order of first appearance, runs overlaid. */
static void metric_panels(moac_plot_figure *f, const moac_plot_run *runs, const int *use, int n, const char **labels) {
    const char **keys = NULL;
    int nkeys = 0;
    for (int i = 0; i < n; i++) {
        const moac_plot_run *r = &runs[use[i]];
        for (size_t k = 0; k < r->nseries; k++) {
            const moac_plot_series *s = &r->series[k];
            const char *rest;
            if (s->width != 1 || is_loss(s->key) || layer_of(s->key, &rest) >= 0) continue;
            int seen = 0;
            for (int j = 0; j < nkeys && !seen; j++) seen = !strcmp(keys[j], s->key);
            if (seen) continue;
            keys = grow(keys, (size_t)nkeys + 1, sizeof *keys);
            keys[nkeys++] = s->key;
        }
    }
    if (!nkeys) return;
    caption(f, "training metrics (the runs' colours as above; evaluations dashed, with dots)", 12);
    for (int k = 0; k < nkeys; k++) {
        moac_plot_panel p = {.key = keys[k]};
        grid_cell(f, k, nkeys, &p);
        int ki = known_index(keys[k]);
        p.title = ki >= 0 ? known[ki].title : keys[k];
        int eval = !strncmp(keys[k], "eval.", 5);
        for (int i = 0; i < n; i++) {
            const moac_plot_series *s = moac_plot_run_find(&runs[use[i]], keys[k]);
            if (s && s->width == 1)
                moac_plot_panel_add(&p, (moac_plot_line){s, 0, i, eval, eval, !eval, "metric", labels[i]});
        }
        moac_plot_panel_draw(f, &p);
        moac_plot_panel_free(&p);
    }
    grid_done(f, nkeys);
    free(keys);
}

/* ---- routing: per run, per-layer metrics ------------------------------------------------- */

/* The series of one name over layers: "attn.gates" in h0, h1, ... */
typedef struct group {
    const char *rest;
    int vector, width;
    int n;
    int *layer;                       /* ascending; -1: a key without a layer */
    const moac_plot_series **s, **partner; /* partner: the mean_score of a selected_score */
    int folded;                       /* drawn in another group's panels */
} group;

static group *find_group(group *g, int n, const char *rest, int vector) {
    for (int i = 0; i < n; i++)
        if (g[i].vector == vector && !strcmp(g[i].rest, rest)) return &g[i];
    return NULL;
}

static int build_groups(const moac_plot_run *r, group **out) {
    group *g = NULL;
    int n = 0;
    for (size_t k = 0; k < r->nseries; k++) {
        const moac_plot_series *s = &r->series[k];
        const char *rest;
        int layer = layer_of(s->key, &rest), vector = s->width > 1;
        if (!strncmp(s->key, "eval.", 5) || (layer < 0 && !vector)) continue; /* the metric panels' */
        if (layer < 0) rest = s->key;
        group *x = layer < 0 ? NULL : find_group(g, n, rest, vector);
        if (!x) {
            g = grow(g, (size_t)n + 1, sizeof *g);
            x = &g[n++];
            memset(x, 0, sizeof *x);
            x->rest = rest, x->vector = vector;
        }
        x->layer = grow(x->layer, (size_t)x->n + 1, sizeof *x->layer);
        x->s = grow(x->s, (size_t)x->n + 1, sizeof *x->s);
        x->partner = grow(x->partner, (size_t)x->n + 1, sizeof *x->partner);
        int at = x->n++;
        while (at > 0 && x->layer[at - 1] > layer) { /* keep layers ascending */
            x->layer[at] = x->layer[at - 1], x->s[at] = x->s[at - 1];
            at--;
        }
        x->layer[at] = layer, x->s[at] = s, x->partner[at] = NULL;
        if (s->width > x->width) x->width = s->width;
    }
    /* MoSA: the mean score of all tokens belongs next to the score of the selected ones */
    for (int i = 0; i < n; i++) {
        size_t len = strlen(g[i].rest), tail = strlen("selected_score");
        if (len < tail || strcmp(g[i].rest + len - tail, "selected_score")) continue;
        char want[512];
        snprintf(want, sizeof want, "%.*smean_score", (int)(len - tail), g[i].rest);
        group *m = find_group(g, n, want, g[i].vector);
        if (!m) continue;
        m->folded = 1;
        for (int a = 0; a < g[i].n; a++)
            for (int b = 0; b < m->n; b++)
                if (m->layer[b] == g[i].layer[a] && m->s[b]->width == g[i].s[a]->width) g[i].partner[a] = m->s[b];
    }
    *out = g;
    return n;
}

static void free_groups(group *g, int n) {
    for (int i = 0; i < n; i++) {
        free(g[i].layer);
        free(g[i].s);
        free(g[i].partner);
    }
    free(g);
}

/* One row of panels, a panel per layer, a line per component (or a mean and band when there are
 * more components than colours), on the y range of the whole row. */
static void vector_rows(moac_plot_figure *f, const group *g, const char *run) {
    int ki = known_index(g->rest), many = g->width > MANY, partner = 0;
    for (int a = 0; a < g->n; a++) partner |= g->partner[a] != NULL;
    const char *item = ki >= 0 && known[ki].item ? known[ki].item : NULL;
    char text[640];
    snprintf(text, sizeof text, "%s%s: %s", g->layer[0] >= 0 ? "h*." : "", g->rest, ki >= 0 ? known[ki].title : "per step");
    caption(f, text, 12);
    moac_plot_key keys[MANY + 2];
    char names[MANY][48], mean[96];
    int nk = 0;
    if (many) {
        snprintf(mean, sizeof mean, "mean over the %d %ss%s (band: lowest to highest)", g->width, item ? item : "value",
                 partner ? " of the selected tokens" : "");
        keys[nk++] = (moac_plot_key){mean, 0, 0, 0, 1, 0};
        if (partner) keys[nk++] = (moac_plot_key){"the same of all tokens", 1, 1, 0, 1, 0};
    } else {
        for (int c = 0; c < g->width; c++) {
            if (item) snprintf(names[c], sizeof names[c], "%s %d", item, c);
            else snprintf(names[c], sizeof names[c], "[%d]", c);
            keys[nk++] = (moac_plot_key){names[c], c, 0, 0, 0, 0};
        }
        if (partner) {
            keys[nk++] = (moac_plot_key){"selected tokens", -1, 0, 0, 0, 1};
            keys[nk++] = (moac_plot_key){"all tokens", -1, 1, 0, 0, 0};
        }
    }
    moac_plot_legend(f, MARGIN, WIDTH - 2 * MARGIN, keys, nk);
    double lo = INFINITY, hi = -INFINITY;
    moac_plot_panel *panels = calloc(g->n > 0 ? (size_t)g->n : 1, sizeof *panels);
    char (*titles)[32] = calloc(g->n > 0 ? (size_t)g->n : 1, sizeof *titles);
    if (!panels || !titles) abort();
    for (int a = 0; a < g->n; a++) {
        moac_plot_panel *p = &panels[a];
        grid_cell(f, a, g->n, p);
        p->key = g->s[a]->key, p->run = run, p->shared = 1;
        if (g->layer[a] >= 0) snprintf(titles[a], sizeof titles[a], "layer %d", g->layer[a]);
        p->title = g->layer[a] >= 0 ? titles[a] : g->s[a]->key;
        const moac_plot_series *both[2] = {g->s[a], g->partner[a]};
        for (int k = 0; k < 2; k++) {
            if (!both[k]) continue;
            if (many || both[k]->width > MANY)
                moac_plot_panel_add(p, (moac_plot_line){both[k], -1, k, k, 0, 1, "share", run});
            else
                for (int c = 0; c < both[k]->width; c++)
                    moac_plot_panel_add(p, (moac_plot_line){both[k], c, c, k, 0, 1, "share", run});
        }
        for (int i = 0; i < p->nlines; i++) moac_plot_line_range(&p->lines[i], 0, &lo, &hi);
    }
    for (int a = 0; a < g->n; a++) {
        panels[a].ylo = lo, panels[a].yhi = hi;
        moac_plot_panel_draw(f, &panels[a]);
        moac_plot_panel_free(&panels[a]);
    }
    grid_done(f, g->n);
    free(panels);
    free(titles);
}

/* The per-layer numbers of a run (auxiliary losses), a panel each, a line per layer. */
static void scalar_row(moac_plot_figure *f, group *const *g, int n, const char *run) {
    if (!n) return;
    caption(f, "per layer: auxiliary losses and other numbers", 12);
    int layers = 0;
    for (int i = 0; i < n; i++) layers = g[i]->n > layers ? g[i]->n : layers;
    moac_plot_key keys[MANY];
    char names[MANY][32];
    int nk = 0;
    for (int a = 0; a < layers && nk < MANY; a++, nk++) {
        snprintf(names[nk], sizeof names[nk], "layer %d", g[0]->n > a ? g[0]->layer[a] : a);
        keys[nk] = (moac_plot_key){names[nk], a, 0, 0, 0, 0};
    }
    moac_plot_legend(f, MARGIN, WIDTH - 2 * MARGIN, keys, nk);
    char (*titles)[96] = calloc(n > 0 ? (size_t)n : 1, sizeof *titles);
    if (!titles) abort();
    for (int i = 0; i < n; i++) {
        moac_plot_panel p = {.run = run};
        grid_cell(f, i, n, &p);
        int ki = known_index(g[i]->rest);
        if (ki >= 0) snprintf(titles[i], sizeof titles[i], "%s", known[ki].title);
        else snprintf(titles[i], sizeof titles[i], "h*.%s", g[i]->rest);
        p.title = titles[i];
        p.key = g[i]->s[0]->key;
        for (int a = 0; a < g[i]->n; a++)
            moac_plot_panel_add(&p, (moac_plot_line){g[i]->s[a], 0, a, 0, 0, 1, "layer", run});
        moac_plot_panel_draw(f, &p);
        moac_plot_panel_free(&p);
    }
    free(titles);
    grid_done(f, n);
}

static void routing(moac_plot_figure *f, const moac_plot_run *r, const char *label) {
    group *g;
    int n = build_groups(r, &g), shown = 0;
    for (int i = 0; i < n; i++) shown += !g[i].folded;
    if (shown) {
        char text[320];
        snprintf(text, sizeof text, "%s: routing and per-layer metrics", label);
        f->y += 6;
        caption(f, text, 14);
    }
    group **scalars = calloc((size_t)n + 1, sizeof *scalars);
    if (!scalars) abort();
    int ns = 0;
    for (int i = 0; i < n; i++) {
        if (g[i].folded) continue;
        if (g[i].vector) vector_rows(f, &g[i], label);
        else scalars[ns++] = &g[i];
    }
    scalar_row(f, scalars, ns, label);
    free(scalars);
    free_groups(g, n);
}

/* ---- the document ---------------------------------------------------------------------- */

int moac_plot_svg(const moac_plot_run *runs, int nruns, const moac_plot_opts *o, moac_strbuf *out) {
    static const moac_plot_opts none = {0};
    if (!o) o = &none;
    int *use = calloc((size_t)nruns + 1, sizeof *use), n = 0;
    const char **labels = calloc((size_t)nruns + 1, sizeof *labels);
    if (!use || !labels) abort();
    moac_plot_figure f = {.o = o, .x0 = INFINITY, .x1 = -INFINITY};
    moac_arena names; /* labels made here */
    moac_arena_init(&names);
    for (int i = 0; i < nruns; i++) {
        if (!runs[i].lines) continue;
        use[n] = i;
        /* two runs of one name (runs/a/moas, runs/b/moas) are told apart by their paths */
        labels[n] = runs[i].label;
        for (int j = 0; j < nruns; j++)
            if (j != i && runs[j].lines && !strcmp(runs[j].label, runs[i].label)) {
                size_t len = strlen(runs[i].path), tail = strlen("/metrics.jsonl");
                if (len > tail && !strcmp(runs[i].path + len - tail, "/metrics.jsonl")) len -= tail;
                labels[n] = moac_arena_strndup(&names, runs[i].path, len);
                break;
            }
        n++;
        for (size_t k = 0; k < runs[i].nseries; k++) {
            const moac_plot_series *s = &runs[i].series[k];
            if (!s->count) continue;
            f.x0 = fmin(f.x0, s->step[0]);
            f.x1 = fmax(f.x1, s->step[s->count - 1]);
        }
    }
    if (!n || !(f.x0 <= f.x1)) {
        free(use);
        free(labels);
        moac_arena_free(&names);
        return 0;
    }
    moac_plot_axis ax; /* the full width's ticks; narrower panels take fewer on the same range */
    moac_plot_axis_linear(&ax, f.x0, f.x1, 9, 1);
    f.x0 = ax.lo, f.x1 = ax.hi;
    moac_strbuf body;
    moac_strbuf_init(&body);
    f.b = &body;
    f.y = MARGIN;
    moac_strbuf title;
    moac_strbuf_init(&title);
    if (o->title) {
        moac_strbuf_puts(&title, o->title);
    } else {
        moac_strbuf_puts(&title, "moac plot: ");
        for (int i = 0; i < n; i++) moac_strbuf_printf(&title, "%s%s", i ? ", " : "", labels[i]);
    }
    caption(&f, moac_strbuf_cstr(&title), 16);
    f.y += 4;
    loss_panel(&f, runs, use, n, labels);
    metric_panels(&f, runs, use, n, labels);
    for (int i = 0; i < n; i++) routing(&f, &runs[use[i]], labels[i]);

    double height = ceil(f.y + MARGIN - GAP);
    moac_strbuf_printf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" "
                            "font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\" font-size=\"11\">\n<title>",
                       WIDTH, height, WIDTH, height);
    moac_svg_escape(out, moac_strbuf_cstr(&title));
    moac_strbuf_puts(out, "</title>\n<defs>\n");
    for (int c = 0; c <= MOAC_PLOT_COLOURS; c++) /* a dot per colour, and a grey one */
        moac_strbuf_printf(out, "<marker id=\"dot%d\" viewBox=\"0 0 6 6\" refX=\"3\" refY=\"3\" markerWidth=\"6\" "
                                "markerHeight=\"6\" markerUnits=\"userSpaceOnUse\"><circle cx=\"3\" cy=\"3\" r=\"2.5\" "
                                "fill=\"%s\"/></marker>\n",
                           c, c < MOAC_PLOT_COLOURS ? moac_plot_colours[c] : "#555555");
    moac_strbuf_printf(out, "</defs>\n<rect width=\"%d\" height=\"%.0f\" fill=\"white\"/>\n", WIDTH, height);
    moac_strbuf_append(out, body.data ? body.data : "", body.len);
    moac_strbuf_puts(out, "</svg>\n");
    moac_strbuf_free(&body);
    moac_strbuf_free(&title);
    free(use);
    free(labels);
    moac_arena_free(&names);
    return f.panels;
}
