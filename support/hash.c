#include "support/hash.h"

#include <string.h>

static const uint64_t prime = 1099511628211ull; /* FNV's 64-bit prime (odd: multiplying is invertible) */

uint64_t moac_hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * prime;
    }
    for (; i < n; i++) h = (h ^ s[i]) * prime;
    h ^= (uint64_t)n; /* pieces of different lengths that hash alike up to here still differ */
    /* murmur3's finaliser: spreads every input bit over the low bits hash tables use */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9a34f11db37ull;
    h ^= h >> 33;
    return h;
}
