#include "support/rng.h"

#include <math.h>

void moac_philox4x32(uint64_t key, const uint32_t ctr[4], uint32_t out[4]) {
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

uint64_t moac_rng_stream(moac_rng_kind kind, uint64_t site, uint64_t step) {
    return ((uint64_t)kind << 56) | ((site & 0xffffffu) << 32) | (step & 0xffffffffu);
}

void moac_rng_u32x4(uint64_t seed, uint64_t stream, uint64_t index, uint32_t out[4]) {
    const uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    moac_philox4x32(seed, ctr, out);
}

float moac_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t w[4];
    moac_rng_u32x4(seed, stream, index, w);
    return (float)(w[0] >> 8) * (1.0f / 16777216.0f);
}

double moac_rng_normal(uint64_t seed, uint64_t stream, uint64_t index) {
    uint32_t w[4];
    moac_rng_u32x4(seed, stream, index, w);
    /* u1 in (0, 1] so the log is finite; u2 in [0, 1). */
    double u1 = ((double)w[0] + 1.0) / 4294967296.0, u2 = (double)w[1] / 4294967296.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t moac_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t n) {
    uint32_t w[4];
    moac_rng_u32x4(seed, stream, index, w);
    uint64_t r = ((uint64_t)w[0] << 32) | w[1];
    return (uint64_t)(((unsigned __int128)r * n) >> 64);
}
