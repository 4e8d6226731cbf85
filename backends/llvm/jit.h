/* Compiling an emitted module to native code and loading it: the new pass manager at O3 for the
 * target's TargetMachine (CPU name and features, so AVX-512 is used where the host has it), an
 * object file in memory, ORC LLJIT to link and load it.
 *
 * The compile cache: the object file is stored under the cache directory by a key the caller
 * computes with moac_jit_key from everything that determines the code — the IR graph's text, the
 * target, the flags and the identity of the moac executable itself (so a rebuilt compiler never
 * reuses an older one's code) — so a second run of the same spec skips emission, optimisation and
 * code generation entirely. The directory is the caller's (moac_compile_opts.cache_dir; the
 * `moac` command's: $MOAC_CACHE_DIR, else $XDG_CACHE_HOME/moac, else ~/.cache/moac, none with
 * MOAC_CACHE=0, cli/env.c). Entries are written atomically and carry a checksum
 * that is verified on load; a damaged entry is reported, recompiled and replaced, never run. */
#ifndef MOAC_LLVM_JIT_H
#define MOAC_LLVM_JIT_H
#include <stddef.h>

#include "backends/llvm/cg.h"
#include "support/log.h"

typedef struct moac_jit moac_jit;

typedef struct moac_jit_stats {
    double key_s;     /* time to compute the cache key */
    double compile_s;  /* optimisation + code generation (0 on a cache hit) */
    double load_s;     /* linking the object into the JIT */
    int cache_hit;
    char key[17];      /* 64-bit hash in hex */
} moac_jit_stats;

/* The cache key (16 hex digits) of `material` (e.g. the IR text) for target t and flags. */
void moac_jit_key(const char *material, size_t len, const moac_target *t, const char *flags, char key[17]);
/* The path of cache entry key + ext (".o", ".plan") in dir, or "" when dir is NULL or "" (no
 * cache). */
const char *moac_jit_cache_path(const char *dir, const char *key, const char *ext, char *buf, size_t len);
/* Loads the cached object at path ("": none), or NULL when there is none (or it is damaged:
 * said on log, removed). */
moac_jit *moac_jit_load_cached(const char *path, const moac_target *t, const moac_log *log);
/* Compiles cg's module (which it consumes: cg->mod is NULL afterwards), stores the object at
 * path (unless NULL or "") and loads it. NULL with a message in err on failure. stats may be
 * NULL. */
moac_jit *moac_jit_compile(moac_cg *cg, const char *path, moac_jit_stats *stats, char *err, size_t errlen);
/* Writes bytes to a cache file atomically (temporary name, fsync, rename) behind a header with
 * their length, the file's name and a checksum; failures are ignored (no cache is not an error). */
void moac_jit_cache_store(const char *path, const void *bytes, size_t len);
/* The payload of cache file path (malloc'd, *len bytes), or NULL when there is none. An entry
 * that fails its checks (checksum, length, name) is reported in one warning line on log and
 * removed, and NULL returned: the caller recompiles and stores a fresh one. */
void *moac_jit_cache_load(const char *path, size_t *len, const moac_log *log);
/* The address of function `name`, or NULL. */
void *moac_jit_lookup(moac_jit *j, const char *name);
void moac_jit_free(moac_jit *j);

/* The optimised module as LLVM IR text, or as the target's assembly (for `moac emit`); the
 * module is consumed. Returns a malloc'd string, or NULL with err. */
char *moac_jit_emit_text(moac_cg *cg, int assembly, char *err, size_t errlen);
/* Runs LLVM's verifier on cg's module without optimising or generating code: 0, or -1 with err. */
int moac_jit_verify(moac_cg *cg, char *err, size_t errlen);

#endif
