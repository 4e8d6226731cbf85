/* Axes: the range a panel draws and its ticks. Linear ticks step by 1, 2 or 5 times a power of
 * ten and the range is rounded out to whole ticks, so every tick label is short and the data
 * fills the panel; logarithmic ticks sit at powers of ten, or at 1-2-5 or every digit of each
 * decade when the data spans few decades (a loss from 5.7 down to 1.1 gets 1, 2, 5). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot/plot.h"

double moac_plot_nice_step(double range, int target) {
    if (!(range > 0) || !isfinite(range)) return 1;
    if (target < 1) target = 1;
    double rough = range / target, p = pow(10, floor(log10(rough))), f = rough / p;
    double m = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
    return m * p;
}

/* k * step without the negative zero that -0 * step gives */
static double tick_at(double k, double step) { return k == 0 ? 0 : k * step; }

void moac_plot_axis_linear(moac_plot_axis *ax, double lo, double hi, int target, int integer) {
    memset(ax, 0, sizeof *ax);
    if (!isfinite(lo) || !isfinite(hi)) lo = 0, hi = 1;
    if (lo > hi) {
        double t = lo;
        lo = hi, hi = t;
    }
    if (hi - lo <= fabs(hi) * 1e-12) { /* one value: a range around it */
        double d = integer || lo == 0 ? 1 : fabs(lo) * 0.05;
        lo -= d, hi += d;
    }
    if (target > MOAC_PLOT_MAX_TICKS - 3) target = MOAC_PLOT_MAX_TICKS - 3;
    double step = moac_plot_nice_step(hi - lo, target);
    if (integer && step < 1) step = 1;
    /* (hi - lo) / step <= target, so rounding out adds at most two ticks */
    double k0 = floor(lo / step + 1e-9), k1 = ceil(hi / step - 1e-9);
    if (k1 <= k0) k1 = k0 + 1;
    ax->step = step;
    ax->lo = tick_at(k0, step);
    ax->hi = tick_at(k1, step);
    for (double k = k0; k <= k1 && ax->nticks < MOAC_PLOT_MAX_TICKS; k++) ax->ticks[ax->nticks++] = tick_at(k, step);
}

void moac_plot_axis_within(moac_plot_axis *ax, double lo, double hi, int target, int integer) {
    moac_plot_axis_linear(ax, lo, hi, target, integer);
    if (!(lo < hi)) return; /* widened: as moac_plot_axis_linear made it */
    double step = ax->step;
    ax->lo = lo, ax->hi = hi, ax->nticks = 0;
    for (double k = ceil(lo / step - 1e-9); k <= floor(hi / step + 1e-9) && ax->nticks < MOAC_PLOT_MAX_TICKS; k++)
        ax->ticks[ax->nticks++] = tick_at(k, step);
}

/* m * 10^e rounded down (up) to a whole digit m of its decade */
static double digit_floor(double v) {
    double p = pow(10, floor(log10(v)));
    return floor(v / p + 1e-9) * p;
}

static double digit_ceil(double v) {
    double p = pow(10, floor(log10(v)));
    return ceil(v / p - 1e-9) * p;
}

/* The ticks of one mantissa set (digits of a decade) within [lo, hi], every `every`-th decade. */
static int log_ticks(double lo, double hi, const int *digits, int ndigits, int every, double *out) {
    int n = 0, e0 = (int)floor(log10(lo)), e1 = (int)floor(log10(hi));
    for (int e = e0; e <= e1; e++) {
        if ((e - e0) % every) continue;
        double p = pow(10, e);
        for (int i = 0; i < ndigits; i++) {
            double v = digits[i] * p;
            if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
            if (out && n < MOAC_PLOT_MAX_TICKS) out[n] = v;
            n++;
        }
    }
    return n;
}

void moac_plot_axis_log(moac_plot_axis *ax, double lo, double hi, int target) {
    memset(ax, 0, sizeof *ax);
    ax->log = 1;
    if (!(hi > 0) || !isfinite(hi)) hi = 10;
    if (!(lo > 0) || !isfinite(lo) || lo > hi) lo = hi / 10;
    if (hi <= lo * (1 + 1e-12)) lo /= 1.25, hi *= 1.25;
    lo = digit_floor(lo), hi = digit_ceil(hi);
    ax->lo = lo, ax->hi = hi;
    static const int one[] = {1}, three[] = {1, 2, 5}, nine[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const int *const sets[] = {one, three, nine};
    static const int sizes[] = {1, 3, 9};
    if (target < 3) target = 3;
    for (int s = 0; s < 3; s++) {
        int n = log_ticks(lo, hi, sets[s], sizes[s], 1, NULL);
        if (n < 3) continue;
        int every = s == 0 ? (n + target - 1) / target : 1; /* many decades: every k-th */
        if (s > 0 && n > MOAC_PLOT_MAX_TICKS) break;
        ax->nticks = log_ticks(lo, hi, sets[s], sizes[s], every, ax->ticks);
        if (ax->nticks > MOAC_PLOT_MAX_TICKS) ax->nticks = MOAC_PLOT_MAX_TICKS;
        return;
    }
    /* Less than a decade with fewer than three digits in it (4.1 to 4.6): linear ticks, drawn
     * at their logarithmic places. */
    double step = moac_plot_nice_step(hi - lo, target);
    ax->step = step;
    for (double k = ceil(lo / step - 1e-9); k * step <= hi * (1 + 1e-12) && ax->nticks < MOAC_PLOT_MAX_TICKS; k++)
        ax->ticks[ax->nticks++] = tick_at(k, step);
}

double moac_plot_axis_pos(const moac_plot_axis *ax, double v) {
    if (ax->log) return (log10(v) - log10(ax->lo)) / (log10(ax->hi) - log10(ax->lo));
    return (v - ax->lo) / (ax->hi - ax->lo);
}

void moac_plot_tick_label(const moac_plot_axis *ax, double v, char *buf, size_t n) {
    if (ax->log && ax->step == 0) {
        snprintf(buf, n, "%g", v);
        return;
    }
    double step = ax->step > 0 ? ax->step : 1;
    if (fabs(v) < step * 1e-6) v = 0;
    int dec = (int)-floor(log10(step) + 1e-9);
    if (dec < 0) dec = 0;
    double big = fmax(fabs(ax->lo), fabs(ax->hi));
    if (v != 0 && (dec > 4 || big >= 1e6)) {
        int digits = (int)(floor(log10(big) + 1e-9) - floor(log10(step) + 1e-9));
        digits = digits < 0 ? 0 : digits > 6 ? 6 : digits;
        snprintf(buf, n, "%.*e", digits, v);
    } else {
        snprintf(buf, n, "%.*f", v == 0 ? 0 : dec, v);
    }
}
