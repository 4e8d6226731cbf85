/* Memory planning: every materialised value (and emitter scratch) gets an offset in one arena.
 * A slot lives from the first step that touches it to the last; slots whose lives overlap get
 * disjoint ranges. Greedy by size (largest first) into the lowest offset that is free for the
 * whole life: simple, and close to the peak of live bytes on transformer graphs. */
#include <stdlib.h>

#include "backends/cpu/internal.h"

enum { ALIGN = 64 };

typedef struct placed {
    size_t lo, hi;
    int first, last;
} placed;

static const moac_slot *sort_base;
static int by_size(const void *a, const void *b) {
    const moac_slot *x = &sort_base[*(const int *)a], *y = &sort_base[*(const int *)b];
    if (x->bytes != y->bytes) return x->bytes < y->bytes ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

static int cmp_lo(const void *a, const void *b) {
    const placed *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

size_t moac_plan_memory(moac_slot *slots, int nslots, int nsteps) {
    int *order = malloc((size_t)(nslots ? nslots : 1) * sizeof *order);
    placed *done = malloc((size_t)(nslots ? nslots : 1) * sizeof *done);
    placed *clash = malloc((size_t)(nslots ? nslots : 1) * sizeof *clash);
    if (!order || !done || !clash) abort();
    int n = 0;
    for (int i = 0; i < nslots; i++) {
        if (slots[i].external || slots[i].bytes == 0) continue;
        if (slots[i].keep) slots[i].last = nsteps;
        if (slots[i].first > slots[i].last) slots[i].first = slots[i].last; /* never touched */
        order[n++] = i;
    }
    sort_base = slots;
    qsort(order, (size_t)n, sizeof *order, by_size);
    size_t total = 0;
    int ndone = 0;
    for (int o = 0; o < n; o++) {
        moac_slot *s = &slots[order[o]];
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
        if (at + need > total) total = at + need;
    }
    free(order);
    free(done);
    free(clash);
    return total;
}
