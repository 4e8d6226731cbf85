/* Pass 'plan': the memory plan. Every value a backend stores and every scratch buffer its kernels
 * ask for gets an offset in one arena, by liveness: buffers whose lives overlap get disjoint
 * ranges. The decision is made here, for every backend; a backend describes its buffers (sizes,
 * and the first and last of its kernel launches that touch each) and uses the offsets.
 *
 * The plan is a function of the scheduled graph, the backend and the target, so it is printed
 * (`moac ir --print-after=plan`, as comment lines the IR reader skips) but never parsed:
 * reading the graph back and planning again gives the same plan. */
#ifndef MOAC_PLAN_H
#define MOAC_PLAN_H
#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"
#include "support/strbuf.h"

typedef struct moac_buffer {
    int64_t bytes;
    int first, last;          /* the first and last step (kernel launch) that touch it; an
                                 untouched buffer has first > last */
    int keep;                 /* an output's: alive until the end */
    const moac_node *node;    /* the value it holds, or NULL for a kernel's scratch */
    size_t offset;            /* in the arena: set by moac_plan_memory */
} moac_buffer;

typedef struct moac_plan {
    moac_buffer *buffers;
    int count;
    int steps;                /* kernel launches, in order */
    size_t peak_bytes;        /* the arena: the end of the highest buffer */
} moac_plan;

/* Places every buffer (a keep buffer lives to the last step) greedily by size, largest first,
 * at the lowest 64-byte-aligned offset free for its whole life: simple, and close to the peak of
 * live bytes on transformer graphs. Sets each offset and returns p->peak_bytes. The order of
 * p->buffers breaks ties, so a backend that lists them in the same order gets the same plan. */
size_t moac_plan_memory(moac_plan *p);

/* Sets and returns p->peak_bytes from the offsets as they are (a plan read from a cache). */
size_t moac_plan_extent(moac_plan *p);

/* Why the arena is as large as it is: the step where the most bytes are live, and the largest
 * buffers live then (for out-of-memory messages and MOAC_DEBUG). */
void moac_plan_describe_peak(const moac_plan *p, moac_strbuf *out);

/* The plan as comment lines: a header with the peak, then one line per buffer in offset order
 * (value or scratch, its steps, offset, bytes). */
void moac_plan_print(const moac_plan *p, const char *backend, moac_strbuf *out);

#endif
