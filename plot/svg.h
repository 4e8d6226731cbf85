/* The SVG writer under the charts (plot/chart.c): numbers in a compact, fixed form, text escaped
 * for XML. Internal to plot/. */
#ifndef MOAC_PLOT_SVG_H
#define MOAC_PLOT_SVG_H
#include "support/strbuf.h"

/* A coordinate to a tenth of a pixel, without a trailing ".0" ("12.5", "300", "-4.2"): the same
 * value always prints the same way, and a picture of thousands of points stays small. */
void moac_svg_num(moac_strbuf *b, double v);
/* s as XML character data or attribute text: &, <, >, " escaped; bytes that are not valid UTF-8
 * and control characters, which XML 1.0 cannot carry, as '?'. */
void moac_svg_escape(moac_strbuf *b, const char *s);
/* <text x= y= ATTRS>s</text>; attrs (may be NULL) is written as given. */
void moac_svg_text(moac_strbuf *b, double x, double y, const char *attrs, const char *s);
/* The width of s in a sans-serif font of this size, estimated (no font is read): for laying
 * out legends and cutting titles to fit. */
double moac_svg_text_width(const char *s, double size);
/* s cut to fit width (with "..." at the end), into buf. */
const char *moac_svg_fit(const char *s, double size, double width, char *buf, size_t n);

#endif
