/* A fixed pool of worker threads for the CPU backend's kernels. The caller's thread takes the
 * first share itself; workers wait on a generation counter, spinning briefly (kernels follow one
 * another within microseconds) and then sleeping on a condition variable (between steps). */
#ifndef MOAC_CPU_POOL_H
#define MOAC_CPU_POOL_H
#include <stdint.h>

typedef void (*moac_kernel_fn)(void **bufs, int64_t lo, int64_t hi);
typedef struct moac_pool moac_pool;

moac_pool *moac_pool_new(int threads);
void moac_pool_free(moac_pool *p);
/* Runs fn over [0, items) split in contiguous equal shares, one per thread; returns when all are done. */
void moac_pool_run(moac_pool *p, moac_kernel_fn fn, void **bufs, int64_t items);

#endif
