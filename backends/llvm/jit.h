/* Compiling an emitted module to native code and loading it: the new pass manager at O3 for the
 * target's TargetMachine (CPU name and features, so AVX-512 is used where the host has it), an
 * object file in memory, ORC LLJIT to link and load it.
 *
 * The compile cache: the object file is stored under the cache directory keyed by a hash of the
 * unoptimised module text, the target and the flags (which is everything that determines it), so
 * a second run of the same spec skips optimisation and code generation entirely.
 * Directory: $MOAC_CACHE_DIR, else $XDG_CACHE_HOME/moac, else ~/.cache/moac; MOAC_CACHE=0 turns
 * it off. A damaged cache entry is recompiled and replaced, never trusted. */
#ifndef MOAC_LLVM_JIT_H
#define MOAC_LLVM_JIT_H
#include <stddef.h>

#include "backends/llvm/cg.h"

typedef struct moac_jit moac_jit;

typedef struct moac_jit_stats {
    double emit_s;     /* time to print and hash the module (the cache key) */
    double compile_s;  /* optimisation + code generation (0 on a cache hit) */
    double load_s;     /* linking the object into the JIT */
    int cache_hit;
    char key[17];      /* 64-bit hash in hex */
} moac_jit_stats;

/* Compiles cg's module (which it consumes: cg->mod is NULL afterwards) and loads it. NULL with a
 * message in err on failure. stats may be NULL. */
moac_jit *moac_jit_compile(moac_cg *cg, const char *flags, moac_jit_stats *stats, char *err, size_t errlen);
/* The address of function `name`, or NULL. */
void *moac_jit_lookup(moac_jit *j, const char *name);
void moac_jit_free(moac_jit *j);

/* The optimised module as LLVM IR text, or as the target's assembly (for `moac emit`); the
 * module is consumed. Returns a malloc'd string, or NULL with err. */
char *moac_jit_emit_text(moac_cg *cg, int assembly, char *err, size_t errlen);

/* The cache directory in use ("" when the cache is off). */
const char *moac_jit_cache_dir(void);

#endif
