/* Kernel-count goldens (tinygrad's check_schedule): for every model in models/ (not the include
 * files of models/common), the CPU backend's schedule of its forward graph (`moac ir FILE`) and
 * of its training graph (`moac ir FILE --train`), both at the spec's own batch, held against
 * tests/golden/kernels.txt, one line per model and graph:
 *
 *   mha forward kernels=95 functions=42 fused=25 fallback=0 peak_bytes=42467328
 *
 * kernels: kernel launches of one run; functions: distinct compiled functions (identical nodes
 * share one); fused: elementwise/layout nodes folded into another kernel; fallback: nodes run on
 * the reference kernel; peak_bytes: the arena of the memory plan (activations and scratch).
 * The schedule is computed by moac_cpu_schedule_stats — scheduling, fusion, every emitter and the
 * memory plan, no LLVM verifier, optimisation or code generation — for a fixed target (the host's
 * triple, 16 f32 lanes, 8 threads), since the matmul work split and the scratch sizes follow the
 * vector width and the thread count: the numbers are the same on every machine.
 *
 * A change that adds kernels (or fuses less, or grows the arena) fails this test until the
 * golden is updated on purpose. To accept the new numbers, regenerate the file and commit it
 * with the change that explains them:
 *
 *   MOAC_UPDATE_GOLDEN=1 ctest --test-dir build -R kernel_counts
 *   git diff tests/golden/kernels.txt
 *
 * (MOAC_UPDATE_GOLDEN also rewrites the golden IR of tests/cli/test_ir.sh.) A model added to
 * models/ without a line, or a line left for a model that is gone, fails as well. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/readfile.h"
#include "backends/cpu/cpu.h"
#include "moac.h"

static const char golden_path[] = "tests/golden/kernels.txt";

static const char golden_head[] =
    "# Kernel-count goldens: the CPU backend's schedule of every model's forward and training graph\n"
    "# at the spec's batch, for a fixed target (16 f32 lanes, 8 threads). Checked by\n"
    "# tests/unit/test_kernel_counts.c; regenerate on purpose with\n"
    "#   MOAC_UPDATE_GOLDEN=1 ctest --test-dir build -R kernel_counts\n";

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The model specs: the .moa files of models/, sorted (models/common is a directory of includes, not listed). */
static int model_files(char **paths, int max) {
    DIR *dir = opendir("models");
    if (!dir) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".moa")) continue;
        paths[n] = malloc(len + 8);
        if (!paths[n]) abort();
        snprintf(paths[n++], len + 8, "models/%s", e->d_name);
    }
    closedir(dir);
    qsort(paths, (size_t)n, sizeof *paths, by_name);
    return n;
}

/* The pinned target: the host's triple and features (only the module's triple string reads
 * them), with the vector width and thread count that decide the work split fixed. */
static moac_target golden_target(void) {
    moac_target t = *moac_target_host();
    t.vec = 16;
    t.threads = 8;
    return t;
}

/* Appends the golden line of one model's graph; returns 0, or -1 (reported) on any failure. */
static int schedule_line(const char *path, int train, moac_strbuf *out) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    int rc = -1;
    moac_spec *spec = moac_spec_load(&arena, path, &diag);
    moac_graph *g = spec ? moac_pipeline_spec(&arena, spec, 0, &(moac_pipeline){.train = train}, &diag) : NULL;
    moac_target t = golden_target();
    moac_cpu_stats st;
    if (g && !moac_cpu_schedule_stats(g, &t, &st, &diag)) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        moac_strbuf_printf(out, "%.*s %s kernels=%d functions=%d fused=%d fallback=%d peak_bytes=%zu\n",
                           (int)(strlen(base) - 4), base, train ? "train" : "forward", st.kernels, st.functions,
                           st.fused_nodes, st.fallback_nodes, st.arena_bytes);
        rc = 0;
    } else {
        fprintf(stderr, "%s (%s graph): no schedule:\n%s", path, train ? "training" : "forward",
                moac_strbuf_cstr(&diag.out));
    }
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    return rc;
}

/* The whole of a text file in the repo (a doc, a golden file), through moac's one bounded reader. */
static char *read_text(const char *path) {
    char *s, why[256];
    size_t len;
    return moac_file_read(path, &moac_limits_spec, &s, &len, why, sizeof why) ? NULL : s;
}

/* The line of text starting with key + ' ' (without its newline), or NULL. */
static const char *find_line(const char *text, const char *key, int *len) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p;) {
        const char *eol = strchr(p, '\n');
        int l = eol ? (int)(eol - p) : (int)strlen(p);
        if ((size_t)l > kl && !strncmp(p, key, kl) && p[kl] == ' ') {
            *len = l;
            return p;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

/* Compares the schedule lines with the golden both ways; returns the number of differences. */
static int compare(const char *golden, const char *actual) {
    int bad = 0;
    for (const char *p = actual; *p;) {
        const char *eol = strchr(p, '\n');
        int len = (int)(eol - p);
        const char *sp = strchr(p, ' '), *sp2 = strchr(sp + 1, ' ');
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(sp2 - p), p);
        int glen = 0;
        const char *g = find_line(golden, key, &glen);
        if (!g) {
            fprintf(stderr, "new in the schedule, not in %s: %.*s\n", golden_path, len, p);
            bad++;
        } else if (glen != len || strncmp(g, p, (size_t)len)) {
            fprintf(stderr, "schedule of %s changed:\n  golden: %.*s\n  now:    %.*s\n", key, glen, g, len, p);
            bad++;
        }
        p = eol + 1;
    }
    for (const char *p = golden; p && *p;) {
        const char *eol = strchr(p, '\n');
        int len = eol ? (int)(eol - p) : (int)strlen(p);
        const char *sp = memchr(p, ' ', (size_t)len), *sp2 = sp ? memchr(sp + 1, ' ', (size_t)(p + len - sp - 1)) : NULL;
        if (len && *p != '#') {
            char key[256];
            snprintf(key, sizeof key, "%.*s", sp2 ? (int)(sp2 - p) : len, p);
            int alen = 0;
            if (!sp2 || !find_line(actual, key, &alen)) {
                fprintf(stderr, "in %s but not in the schedule (a model or graph that is gone?): %.*s\n", golden_path,
                        len, p);
                bad++;
            }
        }
        p = eol ? eol + 1 : NULL;
    }
    return bad;
}

static void test_kernel_counts(void **state) {
    (void)state;
    char *paths[64];
    int n = model_files(paths, 64);
    assert_true(n >= 12);
    moac_strbuf actual;
    moac_strbuf_init(&actual);
    int failed = 0;
    for (int i = 0; i < n; i++) {
        for (int train = 0; train < 2; train++) failed += schedule_line(paths[i], train, &actual) != 0;
        free(paths[i]);
    }
    fputs(moac_strbuf_cstr(&actual), stdout);
    assert_int_equal(failed, 0);
    const char *update = getenv("MOAC_UPDATE_GOLDEN");
    if (update && *update && strcmp(update, "0")) {
        FILE *f = fopen(golden_path, "wb");
        assert_non_null(f);
        fputs(golden_head, f);
        fputs(moac_strbuf_cstr(&actual), f);
        assert_int_equal(fclose(f), 0);
        printf("wrote %s (MOAC_UPDATE_GOLDEN is set): review it with git diff and commit it\n", golden_path);
    }
    char *golden = read_text(golden_path);
    if (!golden) fprintf(stderr, "cannot read %s: create it with MOAC_UPDATE_GOLDEN=1 ctest -R kernel_counts\n", golden_path);
    assert_non_null(golden);
    int bad = compare(golden, moac_strbuf_cstr(&actual));
    if (bad)
        fprintf(stderr, "%d schedule line(s) differ from %s. If the change is intended, regenerate the golden with\n"
                        "  MOAC_UPDATE_GOLDEN=1 ctest --test-dir build -R kernel_counts\n"
                        "and commit it with the change that explains it.\n",
                bad, golden_path);
    free(golden);
    moac_strbuf_free(&actual);
    assert_int_equal(bad, 0);
}

/* The counts are the compile's own: moac_cpu_new on the host reports the same for a small graph
 * (so the golden cannot drift from what training runs). */
static void test_counts_match_compile(void **state) {
    (void)state;
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_spec *spec = moac_spec_load(&arena, "models/recall-tiny.moa", &diag);
    assert_non_null(spec);
    moac_graph *g = moac_pipeline_spec(&arena, spec, 1, NULL, &diag);
    assert_non_null(g);
    moac_cpu_stats planned;
    assert_int_equal(moac_cpu_schedule_stats(g, NULL, &planned, &diag), 0);
    moac_cpu *c = moac_cpu_new(g, NULL, &diag);
    if (!c) fprintf(stderr, "%s", moac_strbuf_cstr(&diag.out));
    assert_non_null(c);
    moac_cpu_stats built = moac_cpu_get_stats(c);
    assert_int_equal(planned.kernels, built.kernels);
    assert_int_equal(planned.functions, built.functions);
    assert_int_equal(planned.fused_nodes, built.fused_nodes);
    assert_int_equal(planned.fallback_nodes, built.fallback_nodes);
    assert_int_equal(planned.arena_bytes, built.arena_bytes);
    assert_true(planned.kernels > 0 && planned.functions > 0 && planned.functions <= planned.kernels);
    moac_cpu_free(c);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_counts),
        cmocka_unit_test(test_counts_match_compile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
