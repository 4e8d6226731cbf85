/* SHA-256 (FIPS 180-4), for the content hash a checkpoint records of its training data: users
 * compare it with `sha256sum FILE`. support/hash.h is the fast non-cryptographic hash for tables
 * and cache checksums; this one is for identities a person may check with other tools. */
#ifndef MOAC_SHA256_H
#define MOAC_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct moac_sha256 {
    uint32_t h[8];
    uint64_t bytes;         /* message length so far */
    unsigned char buf[64];  /* a partial block */
    size_t nbuf;
} moac_sha256;

void moac_sha256_init(moac_sha256 *c);
void moac_sha256_update(moac_sha256 *c, const void *p, size_t n);
/* The digest; c must be initialised again before reuse. */
void moac_sha256_final(moac_sha256 *c, unsigned char out[32]);
/* The digest of n bytes as 64 lowercase hex digits and a NUL, as sha256sum prints it. */
void moac_sha256_hex(const void *p, size_t n, char out[65]);

#endif
