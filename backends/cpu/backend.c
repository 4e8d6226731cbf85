/* The CPU backend's table (backends/backend.h) over the moac_cpu_* API of cpu.h. */
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu.h"

/* The handle: the compiled graph, and the caller's graph for its name in messages. */
typedef struct cpu_impl {
    moac_cpu *cpu;
    const moac_graph *g;
} cpu_impl;

static void *compile(const moac_graph *g, const moac_compile_opts *o, moac_diag *d) {
    moac_cpu_opts co = {0};
    if (o)
        co = (moac_cpu_opts){.threads = o->threads, .target = o->target, .cache_dir = o->cache_dir, .log = o->log,
                             .profile = o->profile};
    moac_cpu *cpu = moac_cpu_new(g, &co, d);
    if (!cpu) return NULL;
    cpu_impl *c = malloc(sizeof *c);
    if (!c) abort();
    *c = (cpu_impl){cpu, g};
    return c;
}

static moac_cpu *cpu_of(const void *impl) { return ((const cpu_impl *)impl)->cpu; }

static size_t bytes_of(const moac_node *n) { return (size_t)moac_type_numel(&n->type) * 4; /* f32 or i32 */ }

static int bind(void *impl, const moac_node *n, void *data) { return moac_cpu_bind(cpu_of(impl), n->s, data); }

static int write(void *impl, const moac_node *n, const void *data) {
    void *buf = moac_cpu_buffer(cpu_of(impl), n->s);
    if (!buf) return -1;
    memcpy(buf, data, bytes_of(n));
    return 0;
}

static int run(void *impl, const moac_run_opts *o, char *err, size_t errlen) {
    return moac_cpu_run(cpu_of(impl), o, err, errlen);
}

static int read(const void *impl, const moac_node *n, float *dst) {
    const void *v = moac_cpu_result(cpu_of(impl), n->s);
    if (!v) return -1;
    int64_t count = moac_type_numel(&n->type);
    if (n->type.dtype == MOAC_I32)
        for (int64_t j = 0; j < count; j++) dst[j] = (float)((const int32_t *)v)[j];
    else
        memcpy(dst, v, bytes_of(n));
    return 0;
}

static int read_f64(const void *impl, const moac_node *n, double *dst) {
    const void *v = moac_cpu_result(cpu_of(impl), n->s);
    if (!v) return -1;
    int64_t count = moac_type_numel(&n->type);
    for (int64_t j = 0; j < count; j++)
        dst[j] = n->type.dtype == MOAC_I32 ? ((const int32_t *)v)[j] : ((const float *)v)[j];
    return 0;
}

static void describe(const void *impl, int detail, moac_strbuf *out) {
    moac_cpu_stats st = moac_cpu_get_stats(cpu_of(impl));
    const char *name = ((const cpu_impl *)impl)->g->name;
    if (detail)
        moac_strbuf_printf(out, "moac: cpu compile of '%s': cache key %.3f s, schedule+emit %.3f s, optimise+codegen "
                           "%.3f s, load %.3f s\n", name, st.jit.key_s, st.schedule_s, st.jit.compile_s, st.jit.load_s);
    else if (st.jit.cache_hit)
        moac_strbuf_printf(out, "compiled '%s' for the CPU in %.0f ms (compile cache hit %s; %d kernels)\n", name,
                           1e3 * (st.schedule_s + st.jit.key_s + st.jit.load_s), st.jit.key, st.kernels);
    else
        moac_strbuf_printf(out, "compiled '%s' for the CPU in %.2f s (%d kernels, %d ops fused; cached as %s)\n", name,
                           st.schedule_s + st.jit.key_s + st.jit.compile_s + st.jit.load_s, st.kernels,
                           st.fused_nodes, st.jit.key);
}

static char *emit(const moac_graph *g, const moac_compile_opts *o, const char *format, const char *kernel,
                  moac_diag *d) {
    int assembly = !strcmp(format, "asm");
    if (!assembly && strcmp(format, "llvm")) {
        moac_diag_file_error(d, NULL, "the cpu backend emits llvm or asm, not '%s'", format);
        return NULL;
    }
    return moac_cpu_emit(g, o ? o->target : NULL, assembly, kernel, d);
}

static void free_impl(void *impl) {
    if (!impl) return;
    moac_cpu_free(cpu_of(impl));
    free(impl);
}

const moac_backend_ops moac_cpu_backend = {
    .name = "cpu",
    .rules = &moac_cpu_sched_rules,
    .compile = compile,
    .bind = bind,
    .write = write,
    .run = run,
    .read = read,
    .read_f64 = read_f64,
    .describe = describe,
    .emit = emit,
    .free = free_impl,
};
