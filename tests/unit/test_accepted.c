/* What `moac check` accepts, the compiler builds. Every spec of the repository — every models/ spec,
 * every .moa file under tests/ but tests/diag (whose specs must all be rejected), every ```moa block
 * of README.md and the docs/ markdown files — and the generated specs below (branch labels, RoPE) must pass
 * check, lower to the training graph (the IR verifier runs after every pass: lower, autodiff,
 * cse, dce, remat) and compile for the CPU backend: scheduling, fusion, every kernel's emitter
 * and LLVM's module verifier (moac_cpu_verify). Small specs are also compiled to native code
 * (LLVM -O3 and code generation, which costs seconds per model, so models/ stops at the
 * verifier: the compile of models/ is timed by the CLI tests).
 *
 * Markdown blocks: ```moa is a whole spec, checked as a file in models/ (so its includes
 * resolve like the models'); ```moa-fragment is a model field (e.g. `attention = ...`) checked
 * inside a small model block (vocab 64, context 32, width 64, 1 layer, 8 heads); ```moa-error
 * must be rejected by check. Any other ```moa... kind is an error of the document. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "support/readfile.h"
#include "backends/cpu/cpu.h"
#include "moac.h"
#include "support/clock.h"

static const char fragment_head[] =
    "model fragment {\n  vocab = 64  context = 32  width = 64  layers = 1  heads = 8\n";

typedef struct tally {
    int specs, native, rejected, failures;
} tally;

/* Checks, lowers, differentiates and compiles one spec (text NULL: read path). */
static void accept(tally *t, const char *path, const char *text, int native) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    double t0 = moac_seconds();
    const char *stage = "check";
    moac_spec *spec = NULL;
    if (!text) spec = moac_spec_load(&arena, path, &diag);
    else {
        moac_ast_unit *u = moac_parse_unit_text(&arena, path, text, &diag);
        if (u && !diag.errors) spec = moac_sema(&arena, u, &diag);
    }
    int ok = spec != NULL;
    if (ok) {
        stage = "lower + autodiff + passes (IR verifier)";
        moac_graph *g = moac_pipeline_spec(&arena, spec, 0, &(moac_pipeline){.train = 1}, &diag);
        ok = g != NULL;
        if (ok) {
            stage = "CPU backend";
            ok = moac_cpu_verify(g, &diag) == 0;
            if (ok && native) {
                stage = "CPU backend, native code";
                char *asm_text = moac_cpu_emit(g, NULL, 1, NULL, &diag);
                ok = asm_text != NULL;
                free(asm_text);
                t->native += ok;
            }
        }
    }
    t->specs++;
    printf("  %-52s %s (%.2f s)\n", path, ok ? (native ? "compiled" : "verified") : "FAILED", moac_seconds() - t0);
    if (!ok) {
        t->failures++;
        fprintf(stderr, "%s: accepted by nothing past %s:\n%s", path, stage, moac_strbuf_cstr(&diag.out));
        if (text) fprintf(stderr, "--- the spec:\n%s---\n", text);
    }
    moac_diag_free(&diag);
    moac_arena_free(&arena);
}

static void expect_rejected(tally *t, const char *path, const char *text) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_spec *spec = NULL;
    if (!text) spec = moac_spec_load(&arena, path, &diag);
    else {
        moac_ast_unit *u = moac_parse_unit_text(&arena, path, text, &diag);
        if (u && !diag.errors) spec = moac_sema(&arena, u, &diag);
    }
    if (spec || !diag.errors) {
        t->failures++;
        fprintf(stderr, "%s: expected check to reject it, but it was accepted\n", path);
    }
    t->rejected++;
    moac_diag_free(&diag);
    moac_arena_free(&arena);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Paths under dir (recursively) ending in ext, sorted; skip is a subdirectory left out. */
static int list_files(const char *dir, const char *ext, const char *skip, char **out, int n, int cap) {
    DIR *d = opendir(dir);
    if (!d) return n;
    struct dirent *e;
    int first = n;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            if (!skip || strcmp(path, skip)) n = list_files(path, ext, skip, out, n, cap);
            continue;
        }
        size_t len = strlen(path), el = strlen(ext);
        if (len > el && !strcmp(path + len - el, ext) && n < cap) out[n++] = strdup(path);
    }
    closedir(d);
    qsort(out + first, (size_t)(n - first), sizeof *out, by_name);
    return n;
}

static void test_repository_specs(void **state) {
    (void)state;
    tally t = {0};
    char *paths[256];
    /* models/common holds include files (lets, no model block): the models that include them
     * are the specs. */
    int n = list_files("models", ".moa", "models/common", paths, 0, 256);
    int models = n;
    n = list_files("tests", ".moa", "tests/diag", paths, n, 256);
    assert_true(models >= 12);
    assert_true(n > models);
    for (int i = 0; i < n; i++) {
        accept(&t, paths[i], NULL, i >= models); /* tests/ specs are tiny: native code too */
        free(paths[i]);
    }
    n = list_files("tests/diag", ".moa", NULL, paths, 0, 256);
    assert_true(n >= 40);
    for (int i = 0; i < n; i++) {
        expect_rejected(&t, paths[i], NULL);
        free(paths[i]);
    }
    printf("%d specs accepted and built (%d to native code), %d rejected as they must be\n", t.specs, t.native,
           t.rejected);
    assert_int_equal(t.failures, 0);
}

/* The whole of a text file in the repo (a doc, a golden file), through moac's one bounded reader. */
static char *read_text(const char *path) {
    char *s, why[256];
    size_t len;
    return moac_file_read(path, &moac_limits_spec, &s, &len, why, sizeof why) ? NULL : s;
}

/* The ```moa blocks of one markdown file; returns how many there were. */
static int doc_blocks(tally *t, const char *doc) {
    char *text = read_text(doc);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", doc);
        t->failures++;
        return 0;
    }
    const char *base = strrchr(doc, '/') ? strrchr(doc, '/') + 1 : doc;
    int blocks = 0, line = 0;
    char *p = text;
    while (*p) {
        char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        line++;
        if (len >= 6 && !strncmp(p, "```moa", 6)) {
            char kind[32];
            snprintf(kind, sizeof kind, "%.*s", (int)(len - 6 < 31 ? len - 6 : 31), p + 6);
            int start = line;
            moac_strbuf spec;
            moac_strbuf_init(&spec);
            if (!strcmp(kind, "-fragment")) moac_strbuf_puts(&spec, fragment_head);
            p = eol ? eol + 1 : p + len;
            while (*p) {
                eol = strchr(p, '\n');
                len = eol ? (size_t)(eol - p) : strlen(p);
                line++;
                if (len >= 3 && !strncmp(p, "```", 3)) break;
                moac_strbuf_append(&spec, p, len);
                moac_strbuf_puts(&spec, "\n");
                p = eol ? eol + 1 : p + len;
            }
            if (!strcmp(kind, "-fragment")) moac_strbuf_puts(&spec, "}\n");
            /* A file in models/, so that includes resolve as they do for the models. */
            char path[512];
            snprintf(path, sizeof path, "models/%s-line-%d.moa", base, start);
            blocks++;
            if (!strcmp(kind, "") || !strcmp(kind, "-fragment"))
                accept(t, path, moac_strbuf_cstr(&spec), !strcmp(kind, "-fragment")); /* fragments are small */
            else if (!strcmp(kind, "-error")) expect_rejected(t, path, moac_strbuf_cstr(&spec));
            else {
                fprintf(stderr, "%s:%d: unknown block kind ```moa%s (moa, moa-fragment or moa-error)\n", doc, start, kind);
                t->failures++;
            }
            moac_strbuf_free(&spec);
        }
        p = eol ? eol + 1 : p + len;
    }
    free(text);
    return blocks;
}

static void test_documentation_blocks(void **state) {
    (void)state;
    tally t = {0};
    char *docs[64];
    int n = list_files("docs", ".md", NULL, docs, 0, 63);
    docs[n++] = strdup("README.md");
    int blocks = 0, language = 0;
    for (int i = 0; i < n; i++) {
        int b = doc_blocks(&t, docs[i]);
        if (!strcmp(docs[i], "docs/language.md")) language = b;
        blocks += b;
        free(docs[i]);
    }
    printf("%d blocks: %d specs built, %d rejected as they must be\n", blocks, t.specs, t.rejected);
    assert_true(language >= 4);
    assert_true(t.rejected >= 1);
    assert_int_equal(t.failures, 0);
}

/* Specs made here: the branch-label cases (a let named like a numbered label, repeated kinds,
 * repeated lets, groupings) and RoPE with its documented arguments. */
static const char *const generated[][2] = {
    {"let mha1 = mha()", "route(mha1, mha, mha)"},
    {"", "route(mha, sparse(heads = 2, k = 4), sparse(heads = 2, k = 8))"},
    {"let mha2 = mqa()", "route(mha, mha, mha2, mha, aux = balance(weight = 0.01))"},
    {"let fast = mqa()\nlet slow = mha()", "mean(fast, fast, slow, mean(fast, slow, slow))"},
    {"let g2 = group(4)", "attn(kv = capacity(group(2), g2, group(2), ratio = 1:1:1, aux = consistency(alpha = 0.1)))"},
    {"let sparse2 = sparse(heads = 2, k = 4)", "sum(sparse(heads = 2, k = 8), sparse2, sparse(heads = 1, k = 4))"},
};

static void test_generated_specs(void **state) {
    (void)state;
    tally t = {0};
    for (size_t i = 0; i < sizeof generated / sizeof *generated; i++) {
        for (int rope = 0; rope < 2; rope++) {
            char text[1024], path[64];
            snprintf(text, sizeof text,
                     "%s\nmodel generated {\n  vocab = 32  context = 16  width = 32  layers = 1  heads = 4\n"
                     "  positions = %s\n  attention = %s\n}\ntrain { batch = 2 }\n",
                     generated[i][0], rope ? "rope(fraction = 0.5, base = 10000)" : "learned", generated[i][1]);
            snprintf(path, sizeof path, "generated-%zu%s.moa", i, rope ? "-rope" : "");
            accept(&t, path, text, 0);
        }
    }
    /* One of them to native code: the labels reach LLVM's symbol names too. */
    char text[512];
    snprintf(text, sizeof text, "%s\nmodel generated {\n  vocab = 32  context = 16  width = 32  layers = 1  heads = 4\n"
             "  positions = rope(fraction = 0.5)\n  attention = %s\n}\ntrain { batch = 2 }\n",
             generated[0][0], generated[0][1]);
    accept(&t, "generated-native.moa", text, 1);
    assert_int_equal(t.failures, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repository_specs),
        cmocka_unit_test(test_documentation_blocks),
        cmocka_unit_test(test_generated_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
