/* A 64-bit hash for hash tables (names in a spec's scopes), cache keys and the checksums of
 * compile-cache entries. FNV-1a over 8-byte words, then a final mix: every step is a bijection
 * of the state, so changing any one word (any single flipped bit or byte) always changes the
 * result; other damage goes unnoticed with probability about 2^-64. Not cryptographic: it
 * guards against accidents (bit rot, a truncated or overwritten file), not against an attacker
 * who can write the cache directory. */
#ifndef MOAC_HASH_H
#define MOAC_HASH_H
#include <stddef.h>
#include <stdint.h>

#define MOAC_HASH_SEED 14695981039346656037ull /* FNV-1a's offset basis */

/* The hash of n bytes at p, continuing from h (MOAC_HASH_SEED to start; a previous result to
 * chain several pieces). */
uint64_t moac_hash_bytes(uint64_t h, const void *p, size_t n);

#endif
