#include "backends/llvm/target.h"

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static moac_target host;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

/* Vector lanes from the feature string: "+avx512f" means 512-bit registers. */
static int lanes(const char *features) {
    if (strstr(features, "+avx512f")) return 16;
    if (strstr(features, "+avx2") || strstr(features, "+avx,")) return 8;
    return 4;
}

static int clamp_threads(long n) { return n > 0 ? (int)(n > 256 ? 256 : n) : 1; }

static void init_host(void) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    char *triple = LLVMGetDefaultTargetTriple();
    char *cpu = LLVMGetHostCPUName();
    char *features = LLVMGetHostCPUFeatures();
    host.kind = MOAC_TARGET_HOST;
    snprintf(host.triple, sizeof host.triple, "%s", triple);
    snprintf(host.cpu, sizeof host.cpu, "%s", cpu);
    snprintf(host.features, sizeof host.features, "%s", features);
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    host.vec = lanes(host.features);
    host.threads = clamp_threads(sysconf(_SC_NPROCESSORS_ONLN));
}

const moac_target *moac_target_host(void) {
    pthread_once(&host_once, init_host);
    return &host;
}

void moac_target_override(moac_target *t, const char *cpu, const char *features, int threads) {
    *t = *moac_target_host();
    if (cpu && *cpu) snprintf(t->cpu, sizeof t->cpu, "%s", cpu);
    if (features && *features) {
        snprintf(t->features, sizeof t->features, "%s", features);
        t->vec = lanes(t->features);
    }
    if (threads > 0) t->threads = clamp_threads(threads);
}

static pthread_once_t nvptx_once = PTHREAD_ONCE_INIT;

static void init_nvptx(void) {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
}

void moac_target_nvptx(moac_target *t, int sm) {
    pthread_once(&nvptx_once, init_nvptx);
    memset(t, 0, sizeof *t);
    t->kind = MOAC_TARGET_NVPTX;
    snprintf(t->triple, sizeof t->triple, "nvptx64-nvidia-cuda");
    snprintf(t->cpu, sizeof t->cpu, "sm_%d", sm);
    /* PTX ISA 8.0 is the first with sm_90; the driver JIT-compiles it for newer GPUs too */
    snprintf(t->features, sizeof t->features, "+ptx80");
    /* the emitters' vectors become ld/st.v4 where aligned and scalars elsewhere: a GPU thread
     * has no wide registers, so 4 lanes keeps the unrolled bodies small */
    t->vec = 4;
    t->threads = 1;
    t->fine_items = 1;
}

LLVMTargetMachineRef moac_target_machine(const moac_target *t, char *err, size_t errlen) {
    if (t->kind == MOAC_TARGET_NVPTX) pthread_once(&nvptx_once, init_nvptx);
    LLVMTargetRef target;
    char *msg = NULL;
    if (LLVMGetTargetFromTriple(t->triple, &target, &msg)) {
        snprintf(err, errlen, "LLVM has no target for '%s': %s", t->triple, msg ? msg : "?");
        LLVMDisposeMessage(msg);
        return NULL;
    }
    return LLVMCreateTargetMachine(target, t->triple, t->cpu, t->features, LLVMCodeGenLevelAggressive,
                                   LLVMRelocDefault,
                                   t->kind == MOAC_TARGET_NVPTX ? LLVMCodeModelDefault : LLVMCodeModelJITDefault);
}

const char *moac_target_key(const moac_target *t) {
    static __thread char key[1300];
    /* the matmul emitter splits work by the thread count, so code compiled for one thread count
     * is slower (not wrong) on another: threads are part of the target */
    snprintf(key, sizeof key, "%s|%s|%s|vec=%d|threads=%d%s", t->triple, t->cpu, t->features, t->vec, t->threads,
             t->tf32 ? "|tf32" : "");
    return key;
}
