/* moac-bench-matmul: the machine's FMA peak and moac's generated matmul at the MoAS paper
 * model's shapes (M = 12 * 256 = 3072 rows), on 1 and 2 threads, as GFLOP/s and % of peak.
 *
 *   make -C build moac-bench-matmul && ./build/bench/moac-bench-matmul [reps]
 *   ./build/bench/moac-bench-matmul reps M N K ta tb     (one shape; a is [M,K] or [K,M] when ta)
 *
 * The peak is an LLVM-generated kernel of 24 independent <V x float> FMA chains (enough to cover
 * the FMA latency on two ports), per thread and on 2 threads at once. The matmul is emitted by
 * moac_emit_matmul for a single-node graph and run the way the runtime runs kernels: each
 * thread calls its contiguous share of [0, items), with a barrier between the pack and compute
 * kernels. A sample of outputs is checked against a double-precision dot product. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backends/cpu/emit.h"
#include "backends/llvm/jit.h"

typedef void (*kernel_fn)(void **bufs, int64_t lo, int64_t hi);

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) { return clock_s(CLOCK_MONOTONIC); }

/* ---- a tiny runtime: kernels in order, items split across threads, barrier between. ---- */

typedef struct run {
    int nk;
    kernel_fn fn[4];
    int64_t items[4];
    void **bufs[4];
    int threads, reps;
    pthread_barrier_t bar;
    double cpu[8];  /* per thread: CPU seconds inside kernels */
    double kcpu[4]; /* thread 0's CPU seconds in each kernel */
} run;

typedef struct worker {
    run *r;
    int t;
} worker;

static void *work(void *arg) {
    worker *w = arg;
    run *r = w->r;
    double cpu = 0;
    for (int rep = 0; rep < r->reps; rep++)
        for (int k = 0; k < r->nk; k++) {
            int64_t n = r->items[k], lo = n * w->t / r->threads, hi = n * (w->t + 1) / r->threads;
            double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
            if (lo < hi) r->fn[k](r->bufs[k], lo, hi);
            double dt = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
            cpu += dt;
            if (w->t == 0) r->kcpu[k] += dt;
            pthread_barrier_wait(&r->bar);
        }
    r->cpu[w->t] = cpu;
    return NULL;
}

/* Seconds per repetition: wall clock, and in *cpu the slowest thread's CPU time in kernels
 * (which does not count time the thread was descheduled: other processes share the machine). */
static double timed(run *r, int threads, int reps, double *cpu) {
    r->threads = threads;
    r->reps = reps;
    pthread_barrier_init(&r->bar, NULL, (unsigned)threads);
    pthread_t th[8];
    worker w[8];
    double t0 = now();
    for (int t = 1; t < threads; t++) {
        w[t] = (worker){r, t};
        pthread_create(&th[t], NULL, work, &w[t]);
    }
    w[0] = (worker){r, 0};
    work(&w[0]);
    for (int t = 1; t < threads; t++) pthread_join(th[t], NULL);
    double dt = now() - t0;
    pthread_barrier_destroy(&r->bar);
    double worst = 0;
    for (int t = 0; t < threads; t++) worst = r->cpu[t] > worst ? r->cpu[t] : worst;
    if (cpu) *cpu = worst / reps;
    return dt / reps;
}

/* ---- FMA peak ---------------------------------------------------------------------------- */

enum { CHAINS = 24, PEAK_ITERS = 1 << 22 };

/* peak(bufs, lo, hi): hi - lo iterations of CHAINS independent FMAs; buf[0] gives the operands
 * (so nothing folds) and receives the results (so nothing is dead). */
static double peak_gflops(int threads, double *wall_gflops) {
    moac_cg *cg = moac_cg_new("peak", NULL);
    moac_kfn k = moac_cg_kernel_begin(cg, "peak", 0, 1, (int[]){0});
    LLVMValueRef buf = moac_cg_arg(cg, &k, 0);
    LLVMTypeRef vt = LLVMVectorType(cg->f32, (unsigned)cg->vec);
    LLVMValueRef x = moac_cg_load(cg, vt, buf, moac_cg_i64(cg, 0));
    LLVMValueRef y = moac_cg_load(cg, vt, buf, moac_cg_i64(cg, cg->vec));
    LLVMValueRef acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = moac_cg_var(cg, &k, vt, moac_cg_load(cg, vt, buf, moac_cg_i64(cg, 0)));
    moac_loop l = moac_cg_for(cg, &k, k.lo, k.hi, 1);
    for (int c = 0; c < CHAINS; c++) moac_cg_set(cg, acc[c], moac_cg_fma(cg, moac_cg_get(cg, vt, acc[c]), x, y));
    moac_cg_end(cg, &l);
    /* Only the first thread stores (the compiler cannot know which thread that is). */
    LLVMBasicBlockRef first = moac_cg_if(cg, LLVMBuildICmp(cg->b, LLVMIntEQ, k.lo, moac_cg_i64(cg, 0), ""));
    for (int c = 0; c < CHAINS; c++)
        moac_cg_store(cg, moac_cg_get(cg, vt, acc[c]), buf, moac_cg_i64(cg, (c + 2) * cg->vec));
    moac_cg_endif(cg, first);
    moac_cg_kernel_end(cg, &k);
    int vec = cg->vec;
    char err[512];
    moac_jit *j = moac_jit_compile(cg, NULL, NULL, err, sizeof err);
    if (!j) {
        fprintf(stderr, "peak: %s\n", err);
        exit(1);
    }
    /* The threads share the buffer: all read it, one writes its end. */
    static float data[(CHAINS + 2) * 16];
    for (int i = 0; i < 2 * vec; i++) data[i] = i < vec ? 0.999999f : 1e-7f;
    void *bufs[1] = {data};
    kernel_fn fn = (kernel_fn)moac_jit_lookup(j, "peak");
    run r = {.nk = 1, .fn = {fn}, .items = {(int64_t)PEAK_ITERS * threads}, .bufs = {bufs}};
    (void)timed(&r, threads, 1, NULL); /* warm up (frequency ramp) */
    double best = 1e30, wall = 1e30;
    for (int trial = 0; trial < 5; trial++) {
        double cpu, w = timed(&r, threads, 1, &cpu);
        best = cpu < best ? cpu : best;
        wall = w < wall ? w : wall;
    }
    moac_jit_free(j);
    moac_cg_free(cg);
    double flops = 2.0 * CHAINS * vec * (double)PEAK_ITERS * threads;
    *wall_gflops = flops / wall * 1e-9;
    return flops / best * 1e-9;
}

/* ---- matmul ------------------------------------------------------------------------------ */

static int64_t scratch_bytes;
static int scratch_slot(void *planner, int64_t bytes) {
    (void)planner;
    scratch_bytes = bytes;
    return 3;
}

static float *rnd(int64_t n) {
    size_t bytes = (size_t)((n * 4 + 63) / 64 * 64);
    float *p = aligned_alloc(64, bytes);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

typedef struct shape {
    const char *what;
    int64_t m, n, k;
    int ta, tb;
} shape;

/* Times one 2-D matmul on 1 and 2 threads, prints a row; gflops[t] gets the figures. */
static void bench(const shape *s, int reps, const double peak[2], double gflops[2]) {
    moac_node a = {0}, b = {0}, y = {0};
    a.type = (moac_type){MOAC_F32, 2, {s->ta ? s->k : s->m, s->ta ? s->m : s->k}};
    b.type = (moac_type){MOAC_F32, 2, {s->tb ? s->n : s->k, s->tb ? s->k : s->n}};
    moac_node *args[2] = {&a, &b};
    y.op = MOAC_OP_MATMUL;
    y.nargs = 2;
    y.args = args;
    y.i[0] = s->ta;
    y.i[1] = s->tb;
    y.type = (moac_type){MOAC_F32, 2, {s->m, s->n}};
    moac_cg *cg = moac_cg_new("mm", NULL);
    cg->scratch = scratch_slot;
    moac_emit_ctx e = {.cg = cg, .node = &y, .out = 0, .in = {1, 2}, .prefix = "n0"};
    if (moac_emit_matmul(&e)) {
        printf("%-20s unsupported\n", s->what);
        exit(1);
    }
    run r = {.nk = cg->nkernels};
    char names[4][64];
    for (int i = 0; i < cg->nkernels; i++) {
        snprintf(names[i], sizeof names[i], "%s", cg->kernels[i].name);
        r.items[i] = cg->kernels[i].items;
    }
    char err[512];
    moac_jit *j = moac_jit_compile(cg, NULL, NULL, err, sizeof err);
    if (!j) {
        fprintf(stderr, "%s: %s\n", s->what, err);
        exit(1);
    }
    float *pa = rnd(s->m * s->k), *pb = rnd(s->k * s->n), *pc = rnd(s->m * s->n), *ps = rnd(scratch_bytes / 4 + 1);
    void *slots[4] = {pc, pa, pb, ps};
    void *bufs[4][12];
    for (int i = 0; i < r.nk; i++) {
        r.fn[i] = (kernel_fn)moac_jit_lookup(j, names[i]);
        for (int q = 0; q < cg->kernels[i].nslots; q++) bufs[i][q] = slots[cg->kernels[i].slots[q]];
        r.bufs[i] = bufs[i];
    }
    double flops = 2.0 * (double)s->m * (double)s->n * (double)s->k, g[2], gw[2], pack = 0;
    for (int t = 1; t <= 2; t++) {
        memset(r.kcpu, 0, sizeof r.kcpu);
        (void)timed(&r, t, 1, NULL);
        double best = 1e30, wall = 1e30;
        for (int trial = 0; trial < 3; trial++) {
            double cpu, w = timed(&r, t, reps, &cpu);
            best = cpu < best ? cpu : best;
            wall = w < wall ? w : wall;
        }
        g[t - 1] = flops / best * 1e-9;
        if (t == 1 && r.nk == 2) pack = r.kcpu[0] / (r.kcpu[0] + r.kcpu[1]);
        gw[t - 1] = flops / wall * 1e-9;
    }
    /* Spot check against double precision. */
    double worst = 0;
    for (int q = 0; q < 64; q++) {
        int64_t i = rand() % s->m, jj = rand() % s->n;
        double want = 0;
        for (int64_t p = 0; p < s->k; p++)
            want += (double)pa[s->ta ? p * s->m + i : i * s->k + p] * pb[s->tb ? jj * s->k + p : p * s->n + jj];
        double d = fabs(want - pc[i * s->n + jj]) / (sqrt((double)s->k) * 0.1 + 1e-6);
        if (d > worst) worst = d;
    }
    printf("%-20s %5lld %5lld %5lld %d %d | %6.1f %5.1f%% | %6.1f %5.1f%% | %6.1f %6.1f | %4.1f%% | %4lld%s\n", s->what,
           (long long)s->m, (long long)s->n, (long long)s->k, s->ta, s->tb, g[0], 100 * g[0] / peak[0], g[1],
           100 * g[1] / peak[1], gw[0], gw[1], 100 * pack, (long long)r.items[r.nk - 1], worst > 1e-4 ? "  WRONG" : "");
    fflush(stdout);
    gflops[0] = g[0];
    gflops[1] = g[1];
    moac_jit_free(j);
    moac_cg_free(cg);
    free(pa);
    free(pb);
    free(pc);
    free(ps);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1) reps = 1;
    setenv("MOAC_CACHE", "0", 0);
    const moac_target *host = moac_target_host();
    printf("target: %s, %d f32 lanes, %d threads\n", host->cpu, host->vec, host->threads);
    double pw[2], peak[2] = {peak_gflops(1, &pw[0]), peak_gflops(2, &pw[1])};
    printf("FMA peak (GFLOP/s by CPU time / wall clock): 1 thread %.1f / %.1f, 2 threads %.1f / %.1f\n", peak[0], pw[0],
           peak[1], pw[1]);
    printf("GFLOP/s by the slowest thread's CPU time (%% of that peak), then by wall clock\n");
    printf("%-20s %5s %5s %5s ta tb | %-13s | %-13s | %-13s | pack  | items\n", "shape", "M", "N", "K", "1 thread",
           "2 threads", "wall 1T 2T");
    if (argc == 7) {
        shape s = {"custom", atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoi(argv[5]), atoi(argv[6])};
        double g[2];
        bench(&s, reps, peak, g);
        return 0;
    }
    /* The MoAS paper model (width 384, MLP 1536, 6 heads of 64, router hidden 96 with 3 gates,
     * vocab 283 tied) at batch 12 x context 256 = 3072 rows. */
    static const shape shapes[] = {
        /* forward: x[3072, K] @ W[N, K]^T */
        {"fwd qkv", 3072, 1152, 384, 0, 1},
        {"fwd attn out", 3072, 384, 384, 0, 1},
        {"fwd mlp up", 3072, 1536, 384, 0, 1},
        {"fwd mlp down", 3072, 384, 1536, 0, 1},
        {"fwd logits (tied)", 3072, 283, 384, 0, 1},
        {"fwd kv (gqa)", 3072, 128, 384, 0, 1},
        {"fwd router w1", 3072, 96, 384, 0, 1},
        {"fwd kv (mqa)", 3072, 64, 384, 0, 1},
        {"fwd router w2", 3072, 3, 96, 0, 1},
        /* dX = dY[3072, N] @ W[N, K] */
        {"dX qkv", 3072, 384, 1152, 0, 0},
        {"dX mlp up", 3072, 384, 1536, 0, 0},
        {"dX mlp down", 3072, 1536, 384, 0, 0},
        {"dX logits", 3072, 384, 283, 0, 0},
        {"dX kv (gqa)", 3072, 384, 128, 0, 0},
        {"dX router w1", 3072, 384, 96, 0, 0},
        {"dX kv (mqa)", 3072, 384, 64, 0, 0},
        /* dW = dY[3072, N]^T @ X[3072, K] */
        {"dW qkv", 1152, 384, 3072, 1, 0},
        {"dW attn out", 384, 384, 3072, 1, 0},
        {"dW mlp up", 1536, 384, 3072, 1, 0},
        {"dW mlp down", 384, 1536, 3072, 1, 0},
        {"dW logits", 283, 384, 3072, 1, 0},
        {"dW kv (gqa)", 128, 384, 3072, 1, 0},
        {"dW router w1", 96, 384, 3072, 1, 0},
        {"dW kv (mqa)", 64, 384, 3072, 1, 0},
        {"dW router w2", 3, 96, 3072, 1, 0},
    };
    /* Summary: the whole list's flops over its total time (a training step's mix), and the worst. */
    double flops = 0, sec[2] = {0, 0}, worst[2] = {1e30, 1e30};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        double g[2], f = 2.0 * (double)s->m * (double)s->n * (double)s->k;
        bench(s, reps, peak, g);
        flops += f;
        for (int t = 0; t < 2; t++) {
            sec[t] += f / (g[t] * 1e9);
            if (s->m >= 64 && s->n >= 64 && g[t] < worst[t]) worst[t] = g[t];
        }
    }
    /* The summary divides by the higher of the two peak measurements (the conservative one). */
    double again[2] = {peak_gflops(1, &pw[0]), peak_gflops(2, &pw[1])};
    printf("FMA peak re-measured: 1 thread %.1f, 2 threads %.1f\n", again[0], again[1]);
    for (int t = 0; t < 2; t++) {
        double p = again[t] > peak[t] ? again[t] : peak[t];
        printf("%d thread%s: all shapes %.1f GFLOP/s = %.1f%% of peak %.1f; worst (M, N >= 64) %.1f%%\n", t + 1,
               t ? "s" : " ", flops / sec[t] * 1e-9, 100 * flops / sec[t] * 1e-9 / p, p, 100 * worst[t] / p);
    }
    return 0;
}
