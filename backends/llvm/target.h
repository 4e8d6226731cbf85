/* The target hook of the LLVM emitter: what a module is compiled for. The emitters ask it for
 * vector width and data layout; the JIT (host) and the PTX writer (NVPTX) ask it for a
 * TargetMachine. */
#ifndef MOAC_LLVM_TARGET_H
#define MOAC_LLVM_TARGET_H
#include <llvm-c/TargetMachine.h>

typedef enum moac_target_kind { MOAC_TARGET_HOST, MOAC_TARGET_NVPTX } moac_target_kind;

typedef struct moac_target {
    moac_target_kind kind;
    char triple[128];
    char cpu[64];
    char features[1024];
    int vec;          /* f32 lanes of the widest vector register: 16 with AVX-512, 8 with AVX2, 4 otherwise */
    int threads;      /* worker threads the runtime uses (host) */
    int tf32;         /* NVPTX: matmuls with one TF32 product per tile (1) or three, f32-accurate (0) */
    int fine_items;   /* 1: elementwise kernels take one element per work item (a GPU thread each, so
                         neighbouring threads touch neighbouring addresses); 0: a row per item */
} moac_target;

/* The machine this process runs on: triple, CPU name and features from LLVM's host queries,
 * all its cores. */
const moac_target *moac_target_host(void);
/* The host with another CPU name, feature string (to reproduce another machine's code) or
 * thread count; NULL / "" / 0 keep the host's. The `moac` command fills these from MOAC_CPU,
 * MOAC_CPU_FEATURES and MOAC_THREADS (cli/env.c). */
void moac_target_override(moac_target *t, const char *cpu, const char *features, int threads);
/* NVIDIA GPUs of compute capability sm/10 (90: Hopper) through LLVM's NVPTX target, PTX ISA 8.0. */
void moac_target_nvptx(moac_target *t, int sm);
/* A TargetMachine for t at -O3 (caller disposes), or NULL with a message in err. */
LLVMTargetMachineRef moac_target_machine(const moac_target *t, char *err, size_t errlen);
/* A short stable string naming the target and everything of it the code depends on, for cache
 * keys: "x86_64-...|sapphirerapids|+avx512f,...|vec=16|threads=8". */
const char *moac_target_key(const moac_target *t);

#endif
