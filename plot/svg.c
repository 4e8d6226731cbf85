/* The SVG writer (plot/svg.h) and saving a picture (moac_plot_save). */
#include "plot/svg.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plot/plot.h"
#include "runtime/json.h"

void moac_svg_num(moac_strbuf *b, double v) {
    if (!isfinite(v) || fabs(v) > 1e9) v = 0; /* never reached by a chart: its points are inside it */
    long t = lround(v * 10);
    if (t < 0) moac_strbuf_putc(b, '-'), t = -t;
    moac_strbuf_printf(b, "%ld", t / 10);
    if (t % 10) moac_strbuf_printf(b, ".%ld", t % 10);
}

/* The bytes of the UTF-8 character at s (at most n left) that XML can carry, or 0. */
static size_t xml_char(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return c >= 0x20 || c == '\t' || c == '\n' ? (c == 0x7f ? 0 : 1) : 0;
    size_t want = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
    if (!want || want > n || moac_utf8_check((const char *)s, want) != want) return 0;
    if (want == 3 && c == 0xef && s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf)) return 0; /* U+FFFE, U+FFFF */
    return want;
}

void moac_svg_escape(moac_strbuf *b, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    for (size_t i = 0; i < n;) {
        size_t k = xml_char(s + i, n - i);
        if (!k) {
            moac_strbuf_putc(b, '?');
            i++;
            continue;
        }
        switch (s[i]) {
        case '&': moac_strbuf_puts(b, "&amp;"); break;
        case '<': moac_strbuf_puts(b, "&lt;"); break;
        case '>': moac_strbuf_puts(b, "&gt;"); break;
        case '"': moac_strbuf_puts(b, "&quot;"); break;
        default: moac_strbuf_append(b, (const char *)s + i, k);
        }
        i += k;
    }
}

void moac_svg_text(moac_strbuf *b, double x, double y, const char *attrs, const char *s) {
    moac_strbuf_puts(b, "<text x=\"");
    moac_svg_num(b, x);
    moac_strbuf_puts(b, "\" y=\"");
    moac_svg_num(b, y);
    moac_strbuf_putc(b, '"');
    if (attrs && *attrs) moac_strbuf_printf(b, " %s", attrs);
    moac_strbuf_putc(b, '>');
    moac_svg_escape(b, s);
    moac_strbuf_puts(b, "</text>\n");
}

/* Widths in ems of a sans-serif font's characters, roughly (DejaVu Sans, Arial): enough to lay
 * out a legend without overlaps. */
static double char_em(unsigned char c) {
    if (c >= 0x80) return 0.62;
    if (strchr("il.,:;'|!jtf()[] ", c)) return 0.33;
    if (strchr("mwMW@%", c)) return 0.9;
    if (c >= 'A' && c <= 'Z') return 0.7;
    return 0.58;
}

double moac_svg_text_width(const char *s, double size) {
    double w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80) w += char_em(*p); /* one per character, not per byte */
    return w * size;
}

const char *moac_svg_fit(const char *s, double size, double width, char *buf, size_t n) {
    if (moac_svg_text_width(s, size) <= width) return s;
    double w = moac_svg_text_width("...", size);
    size_t i = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (p[i] && i + 4 < n) {
        size_t k = 1;
        while ((p[i + k] & 0xc0) == 0x80) k++; /* the whole character */
        if (w + char_em(p[i]) * size > width || i + k + 4 >= n) break;
        w += char_em(p[i]) * size;
        i += k;
    }
    memcpy(buf, s, i);
    memcpy(buf + i, "...", 4);
    return buf;
}

static const char *write_hint(int err) {
    switch (err) {
    case ENOSPC: return "free some disk space and try again";
    case EFBIG: return "the file size limit was reached (see ulimit -f)";
    case EACCES:
    case EPERM:
    case EROFS: return "check that the directory is writable, or give -o another file";
    case ENOENT:
    case ENOTDIR: return "check that the directory exists";
    default: return "check the path and the disk";
    }
}

int moac_plot_save(const char *path, const char *text, size_t len, moac_diag *d) {
    if (!strcmp(path, "-")) {
        if (fwrite(text, 1, len, stdout) != len || fflush(stdout)) {
            moac_diag_file_error(d, "stdout", "cannot write the picture (%s)", strerror(errno ? errno : EIO));
            return -1;
        }
        return 0;
    }
    struct stat sb;
    if (!stat(path, &sb) && S_ISDIR(sb.st_mode)) {
        moac_diag_file_error(d, path, "is a directory; give -o a file name, such as %s/plot.svg", path);
        return -1;
    }
    moac_strbuf tmp;
    moac_strbuf_init(&tmp);
    moac_strbuf_printf(&tmp, "%s.tmp-%ld", path, (long)getpid());
    const char *step = "creating a temporary file beside it";
    int err = 0, created = 0;
    FILE *f = fopen(moac_strbuf_cstr(&tmp), "wb");
    if (!f) {
        err = errno;
        goto fail;
    }
    created = 1;
    step = "writing";
    int ok = fwrite(text, 1, len, f) == len;
    if (!ok || fflush(f) || fsync(fileno(f))) {
        err = errno;
        fclose(f);
        goto fail;
    }
    if (fclose(f)) {
        err = errno;
        goto fail;
    }
    step = "renaming the temporary file";
    if (rename(moac_strbuf_cstr(&tmp), path)) {
        err = errno;
        goto fail;
    }
    moac_strbuf_free(&tmp);
    return 0;
fail:
    if (created) unlink(moac_strbuf_cstr(&tmp));
    moac_diag_file_error(d, path, "cannot write the picture (%s while %s); any earlier file there is unchanged; %s",
                         strerror(err ? err : EIO), step, write_hint(err));
    moac_strbuf_free(&tmp);
    return -1;
}
