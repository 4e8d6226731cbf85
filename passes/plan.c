/* Pass 'plan' (passes/plan.h): liveness -> arena offsets. */
#include "passes/plan.h"

#include <stdlib.h>

enum { ALIGN = 64 };

typedef struct placed {
    size_t lo, hi;
    int first, last;
} placed;

typedef struct by_size_key {
    int64_t bytes;
    int index;
} by_size_key;

/* Largest first; equal sizes in list order. */
static int by_size(const void *a, const void *b) {
    const by_size_key *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return x->index - y->index;
}

static int cmp_lo(const void *a, const void *b) {
    const placed *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

size_t moac_plan_memory(moac_plan *p) {
    size_t cap = p->count ? (size_t)p->count : 1;
    by_size_key *order = malloc(cap * sizeof *order);
    placed *done = malloc(cap * sizeof *done), *clash = malloc(cap * sizeof *clash);
    if (!order || !done || !clash) abort();
    int n = 0;
    for (int i = 0; i < p->count; i++) {
        moac_buffer *s = &p->buffers[i];
        s->offset = 0;
        if (s->bytes == 0) continue;
        if (s->keep) s->last = p->steps;
        if (s->first > s->last) s->first = s->last; /* never touched */
        order[n++] = (by_size_key){s->bytes, i};
    }
    qsort(order, (size_t)n, sizeof *order, by_size);
    int ndone = 0;
    for (int o = 0; o < n; o++) {
        moac_buffer *s = &p->buffers[order[o].index];
        size_t need = ((size_t)s->bytes + ALIGN - 1) / ALIGN * ALIGN;
        int nclash = 0;
        for (int j = 0; j < ndone; j++)
            if (done[j].first <= s->last && s->first <= done[j].last) clash[nclash++] = done[j];
        qsort(clash, (size_t)nclash, sizeof *clash, cmp_lo);
        size_t at = 0;
        for (int j = 0; j < nclash; j++) {
            if (clash[j].lo >= at + need) break;
            if (clash[j].hi > at) at = clash[j].hi;
        }
        s->offset = at;
        done[ndone++] = (placed){at, at + need, s->first, s->last};
    }
    free(order);
    free(done);
    free(clash);
    return moac_plan_extent(p);
}

size_t moac_plan_extent(moac_plan *p) {
    p->peak_bytes = 0;
    for (int i = 0; i < p->count; i++) {
        size_t end = p->buffers[i].offset + (size_t)p->buffers[i].bytes;
        if (end > p->peak_bytes) p->peak_bytes = end;
    }
    return p->peak_bytes;
}

static void print_buffer(const moac_buffer *b, moac_strbuf *out) {
    if (!b->node) {
        moac_strbuf_puts(out, "kernel scratch");
        return;
    }
    if (b->node->name) moac_strbuf_printf(out, "%%%s = ", b->node->name);
    else moac_strbuf_printf(out, "%%%u = ", b->node->id);
    moac_strbuf_printf(out, "%s : ", moac_op_names()[b->node->op]);
    moac_type_print(out, &b->node->type);
}

void moac_plan_describe_peak(const moac_plan *p, moac_strbuf *out) {
    int steps = p->steps + 1, peak = 0;
    double *live = calloc((size_t)steps + 1, sizeof *live);
    if (!live) abort();
    for (int i = 0; i < p->count; i++) {
        const moac_buffer *b = &p->buffers[i];
        if (b->bytes == 0) continue;
        for (int t = b->first < 0 ? 0 : b->first; t <= b->last && t < steps; t++) live[t] += (double)b->bytes;
    }
    for (int t = 1; t < steps; t++)
        if (live[t] > live[peak]) peak = t;
    moac_strbuf_printf(out, "  at its peak (step %d of %d) %.2f GiB are live; the largest values then:\n", peak,
                       p->steps, live[peak] / 1073741824.0);
    char *shown = calloc((size_t)p->count + 1, 1);
    if (!shown) abort();
    for (int n = 0; n < 8; n++) {
        int best = -1;
        for (int i = 0; i < p->count; i++) {
            const moac_buffer *b = &p->buffers[i];
            if (shown[i] || b->first > peak || b->last < peak) continue;
            if (best < 0 || b->bytes > p->buffers[best].bytes) best = i;
        }
        if (best < 0) break;
        shown[best] = 1;
        moac_strbuf_printf(out, "    %8.3f GiB  ", (double)p->buffers[best].bytes / 1073741824.0);
        print_buffer(&p->buffers[best], out);
        moac_strbuf_putc(out, '\n');
    }
    free(shown);
    free(live);
}

typedef struct offset_key {
    size_t offset;
    int first, index;
} offset_key;

static int by_offset(const void *a, const void *b) {
    const offset_key *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->first != y->first) return x->first - y->first;
    return x->index - y->index;
}

void moac_plan_print(const moac_plan *p, const char *backend, moac_strbuf *out) {
    moac_strbuf_printf(out, "# plan for %s: %zu bytes of arena, %d buffers over %d steps\n", backend, p->peak_bytes,
                       p->count, p->steps);
    offset_key *order = malloc((p->count ? (size_t)p->count : 1) * sizeof *order);
    if (!order) abort();
    for (int i = 0; i < p->count; i++) order[i] = (offset_key){p->buffers[i].offset, p->buffers[i].first, i};
    qsort(order, (size_t)p->count, sizeof *order, by_offset);
    for (int k = 0; k < p->count; k++) {
        const moac_buffer *b = &p->buffers[order[k].index];
        if (b->bytes == 0) continue;
        moac_strbuf_printf(out, "#   @%-12zu %12lld bytes  steps %d..%d  ", b->offset, (long long)b->bytes, b->first,
                           b->last);
        print_buffer(b, out);
        moac_strbuf_putc(out, '\n');
    }
    free(order);
}
