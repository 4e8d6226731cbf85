/* Counter-based random numbers (Philox4x32-10, Salmon et al. 2011, as in PyTorch and JAX).
 * A number is a pure function of (seed, stream, index): no state to carry, the same on every
 * backend and thread, and a resumed run draws exactly what the uninterrupted run would have.
 *
 * Streams in use (moac_rng_stream builds them), so that no two uses ever share numbers:
 *   MOAC_RNG_INIT     site = parameter index            index = element
 *   MOAC_RNG_DROPOUT  site = dropout stream attribute   step = training step, index = element
 *   MOAC_RNG_BATCH    site = 0 train / 1 validation     step = step or eval batch, index = row
 *   MOAC_RNG_DATA     site = 0 train / 1 validation     step = step or eval batch, index = token draw
 *   MOAC_RNG_SAMPLE   site = 0                          step = 0, index = generated token (moac generate)
 *   MOAC_RNG_EXPORT   site = 0 tokens / 1 targets       step = 0, index = token (moac export's check) */
#ifndef MOAC_RNG_H
#define MOAC_RNG_H
#include <stdint.h>

typedef enum moac_rng_kind {
    MOAC_RNG_INIT = 1,
    MOAC_RNG_DROPOUT = 2,
    MOAC_RNG_BATCH = 3,
    MOAC_RNG_DATA = 4,
    MOAC_RNG_SAMPLE = 5,
    MOAC_RNG_EXPORT = 6,
} moac_rng_kind;

/* Philox4x32-10 of a 128-bit counter {c0, c1, c2, c3} under a 64-bit key. */
void moac_philox4x32(uint64_t key, const uint32_t ctr[4], uint32_t out[4]);
/* (kind << 56) | (site << 32 & 0xffffff) | step: one stream per kind, site and step. Sites must
 * be < 2^24 and steps < 2^32. */
uint64_t moac_rng_stream(moac_rng_kind kind, uint64_t site, uint64_t step);
/* Four random words of (seed, stream, index): counter {index lo, index hi, stream lo, stream hi}. */
void moac_rng_u32x4(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]);
/* Uniform in [0, 1) with 24 random bits (exactly representable in float). */
float moac_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal by Box-Muller from the first two words. */
double moac_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform integer in [0, n), n >= 1 (64-bit multiply-shift; bias below 2^-32). */
uint64_t moac_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n);

#endif
