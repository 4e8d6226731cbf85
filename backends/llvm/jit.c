#include "backends/llvm/jit.h"

#include <errno.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/clock.h"
#include "support/hash.h"
#include "support/readfile.h"

struct moac_jit {
    LLVMOrcLLJITRef jit;
};

static int take_error(LLVMErrorRef e, const char *what, char *err, size_t errlen) {
    if (!e) return 0;
    char *msg = LLVMGetErrorMessage(e);
    snprintf(err, errlen, "%s: %s", what, msg);
    LLVMDisposeErrorMessage(msg);
    return -1;
}

/* mkdir -p for the cache directory; failure just means no cache. */
static int make_dirs(const char *path) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* Optimises the module in place for tm at O3 (loop and SLP vectorisation on). */
static int optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm, char *err, size_t errlen) {
    LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
    char *dl = LLVMCopyStringRepOfTargetData(td);
    LLVMSetDataLayout(mod, dl);
    LLVMDisposeMessage(dl);
    LLVMDisposeTargetData(td);
    char *msg = NULL;
    if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
        snprintf(err, errlen, "internal error: the emitted LLVM module is invalid: %.2000s", msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return -1;
    }
    LLVMDisposeMessage(msg);
    LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
    LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
    LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
    LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
    LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, opts);
    LLVMDisposePassBuilderOptions(opts);
    return take_error(e, "LLVM optimisation failed", err, errlen);
}

static moac_jit *load_object(LLVMMemoryBufferRef obj, const moac_target *t, char *err, size_t errlen) {
    LLVMTargetMachineRef tm = moac_target_machine(t, err, errlen);
    if (!tm) {
        LLVMDisposeMemoryBuffer(obj);
        return NULL;
    }
    LLVMOrcLLJITBuilderRef builder = LLVMOrcCreateLLJITBuilder();
    LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(builder, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
    moac_jit *j = calloc(1, sizeof *j);
    if (!j) abort();
    if (take_error(LLVMOrcCreateLLJIT(&j->jit, builder), "cannot create the JIT", err, errlen)) {
        LLVMDisposeMemoryBuffer(obj);
        free(j);
        return NULL;
    }
    /* Generated code may call memset/memcpy (LLVM's loop idioms): resolve them in this process. */
    LLVMOrcDefinitionGeneratorRef gen;
    char prefix = LLVMOrcLLJITGetGlobalPrefix(j->jit);
    if (!take_error(LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(&gen, prefix, NULL, NULL), "", err, errlen))
        LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
    if (take_error(LLVMOrcLLJITAddObjectFile(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit), obj),
                   "cannot load the compiled kernels", err, errlen)) {
        moac_jit_free(j);
        return NULL;
    }
    return j;
}

/* A cache entry on disk: this header, then the payload (an object file or a schedule). The
 * checksum covers the header's other fields and the payload, so flipped bits, random bytes, a
 * moved offset or a truncated file are all caught before anything is used; the name binds the
 * entry to its key, so a file copied under another key's name is refused too. */
typedef struct entry_header {
    char magic[8];
    char name[40];    /* the entry's file name: key + extension */
    uint64_t len;     /* payload bytes */
    uint64_t sum;     /* moac_hash_bytes of the header up to here, then the payload */
} entry_header;

static const char entry_magic[8] = "MOACENT1";
static const moac_read_limits entry_limits = {"compile cache entries", (uint64_t)4 << 30, 0};

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static uint64_t entry_sum(const entry_header *h, const void *payload) {
    uint64_t sum = moac_hash_bytes(MOAC_HASH_SEED, h, offsetof(entry_header, sum));
    return moac_hash_bytes(sum, payload, (size_t)h->len);
}

void *moac_jit_cache_load(const char *path, size_t *len, const moac_log *log) {
    *len = 0;
    if (!*path || access(path, F_OK)) return NULL; /* no entry: a plain miss */
    char *buf, why[512];
    size_t n;
    const char *problem = NULL;
    entry_header h;
    if (moac_file_read(path, &entry_limits, &buf, &n, why, sizeof why)) {
        problem = why;
    } else {
        if (n >= sizeof h) memcpy(&h, buf, sizeof h);
        if (n < sizeof h || memcmp(h.magic, entry_magic, sizeof h.magic))
            problem = "not a moac cache entry";
        else if (h.len != n - sizeof h)
            problem = "its length is wrong (truncated or appended to)";
        else if (strncmp(h.name, base_name(path), sizeof h.name) || !memchr(h.name, 0, sizeof h.name))
            problem = "it belongs to another key";
        else if (entry_sum(&h, buf + sizeof h) != h.sum)
            problem = "checksum mismatch";
    }
    if (problem) {
        /* One line, then a fresh compile replaces the entry; never run what it holds. */
        moac_log_printf(log, "moac: warning: compile cache entry %s is damaged (%s); recompiling and replacing it\n",
                        path, problem);
        free(buf);
        remove(path);
        return NULL;
    }
    memmove(buf, buf + sizeof h, (size_t)h.len);
    *len = (size_t)h.len;
    return buf;
}

/* The cached object, checked (moac_jit_cache_load) and still required to be an ELF file. */
static LLVMMemoryBufferRef cache_read(const char *path, const moac_log *log) {
    size_t n;
    char *bytes = moac_jit_cache_load(path, &n, log);
    if (!bytes) return NULL;
    LLVMMemoryBufferRef buf = NULL;
    if (n >= 64 && !memcmp(bytes, "\177ELF", 4))
        buf = LLVMCreateMemoryBufferWithMemoryRangeCopy(bytes, n, base_name(path));
    free(bytes);
    return buf;
}

void moac_jit_cache_store(const char *path, const void *bytes, size_t len) {
    if (!*path || strlen(base_name(path)) >= sizeof ((entry_header *)0)->name) return;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (make_dirs(dir)) return;
    entry_header h = {.len = len};
    memcpy(h.magic, entry_magic, sizeof h.magic);
    snprintf(h.name, sizeof h.name, "%s", base_name(path));
    h.sum = entry_sum(&h, bytes);
    /* A temporary name, flushed to disk, then renamed over the entry: a crash at any point
     * leaves either the old entry or the whole new one, never half of one. */
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return;
    int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(bytes, 1, len, f) == len;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) remove(tmp);
}

const char *moac_jit_cache_path(const char *dir, const char *key, const char *ext, char *buf, size_t len) {
    if (!dir || !*dir || !key) {
        if (len) buf[0] = 0;
        return buf;
    }
    snprintf(buf, len, "%s/%s%s", dir, key, ext);
    return buf;
}

void moac_jit_key(const char *material, size_t len, const moac_target *t, const char *flags, char key[17]) {
    /* Everything the compiled code and the schedule depend on: the material (the graph's IR
     * text), the target (triple, CPU, features, vector width, threads: MOAC_CPU,
     * MOAC_CPU_FEATURES and MOAC_THREADS all land there), the caller's flags, the entry format,
     * moac's and LLVM's versions, and the executable itself. */
    uint64_t h = moac_hash_bytes(MOAC_HASH_SEED, material, len);
    const char *tk = moac_target_key(t);
    h = moac_hash_bytes(h, tk, strlen(tk) + 1);
    if (flags) h = moac_hash_bytes(h, flags, strlen(flags) + 1);
    const char *v = MOAC_VERSION_STRING "|" MOAC_LLVM_VERSION "|";
    h = moac_hash_bytes(h, v, strlen(v) + 1);
    h = moac_hash_bytes(h, entry_magic, sizeof entry_magic);
    /* The compiler itself: a rebuilt moac (new emitters) must not reuse an old one's code. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    struct stat st;
    if (n > 0) {
        exe[n] = 0;
        h = moac_hash_bytes(h, exe, (size_t)n);
        if (!stat(exe, &st)) {
            long long id[5] = {(long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec,
                               (long long)st.st_ino, (long long)st.st_dev};
            h = moac_hash_bytes(h, id, sizeof id);
        }
    }
    snprintf(key, 17, "%016llx", (unsigned long long)h);
}

moac_jit *moac_jit_load_cached(const char *path, const moac_target *t, const moac_log *log) {
    LLVMMemoryBufferRef obj = *path ? cache_read(path, log) : NULL;
    if (!obj) return NULL;
    char err[512];
    return load_object(obj, t, err, sizeof err);
}

moac_jit *moac_jit_compile(moac_cg *cg, const char *path, moac_jit_stats *stats, char *err, size_t errlen) {
    moac_jit_stats st = stats ? *stats : (moac_jit_stats){0};
    double t1 = moac_seconds();
    LLVMTargetMachineRef tm = moac_target_machine(cg->target, err, errlen);
    if (!tm) return NULL;
    char *msg = NULL;
    LLVMMemoryBufferRef obj = NULL;
    int bad = optimise(cg->mod, tm, err, errlen) ||
              LLVMTargetMachineEmitToMemoryBuffer(tm, cg->mod, LLVMObjectFile, &msg, &obj);
    if (bad && msg) snprintf(err, errlen, "LLVM code generation failed: %s", msg);
    LLVMDisposeMessage(msg);
    LLVMDisposeTargetMachine(tm);
    LLVMDisposeModule(cg->mod);
    cg->mod = NULL;
    if (bad) return NULL;
    if (path) moac_jit_cache_store(path, LLVMGetBufferStart(obj), LLVMGetBufferSize(obj));
    double t2 = moac_seconds();
    st.compile_s = t2 - t1;
    moac_jit *j = load_object(obj, cg->target, err, errlen);
    if (!j) return NULL;
    st.load_s = moac_seconds() - t2;
    if (stats) *stats = st;
    return j;
}

void *moac_jit_lookup(moac_jit *j, const char *name) {
    LLVMOrcExecutorAddress addr = 0;
    LLVMErrorRef e = LLVMOrcLLJITLookup(j->jit, &addr, name);
    if (e) {
        LLVMConsumeError(e);
        return NULL;
    }
    return (void *)(uintptr_t)addr;
}

void moac_jit_free(moac_jit *j) {
    if (!j) return;
    if (j->jit) LLVMOrcDisposeLLJIT(j->jit);
    free(j);
}

int moac_jit_verify(moac_cg *cg, char *err, size_t errlen) {
    char *msg = NULL;
    int bad = LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &msg);
    if (bad) snprintf(err, errlen, "internal error: the emitted LLVM module is invalid: %.2000s", msg ? msg : "?");
    LLVMDisposeMessage(msg);
    return bad ? -1 : 0;
}

char *moac_jit_emit_text(moac_cg *cg, int assembly, char *err, size_t errlen) {
    LLVMTargetMachineRef tm = moac_target_machine(cg->target, err, errlen);
    if (!tm) return NULL;
    char *out = NULL;
    if (!optimise(cg->mod, tm, err, errlen)) {
        if (!assembly) {
            char *s = LLVMPrintModuleToString(cg->mod);
            out = strdup(s);
            LLVMDisposeMessage(s);
        } else {
            LLVMMemoryBufferRef buf = NULL;
            char *msg = NULL;
            if (LLVMTargetMachineEmitToMemoryBuffer(tm, cg->mod, LLVMAssemblyFile, &msg, &buf)) {
                snprintf(err, errlen, "LLVM code generation failed: %s", msg ? msg : "?");
            } else {
                size_t n = LLVMGetBufferSize(buf);
                out = malloc(n + 1);
                if (!out) abort();
                memcpy(out, LLVMGetBufferStart(buf), n);
                out[n] = 0;
                LLVMDisposeMemoryBuffer(buf);
            }
            LLVMDisposeMessage(msg);
        }
    }
    LLVMDisposeTargetMachine(tm);
    LLVMDisposeModule(cg->mod);
    cg->mod = NULL;
    return out;
}
