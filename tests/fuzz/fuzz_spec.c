/* Fuzz harness: spec files with includes, down `moac check`'s path and on to the IR.
 *
 * The input is split into files at lines "#@file NAME" (tests/fuzz/README.md): text before the
 * first such line is the root file main.moa, else the first named file is the root. The files
 * are written to a private directory and the root is loaded as `moac check` loads it (parse,
 * includes, sema), then summarised (text and JSON). When the spec is accepted it is lowered at
 * its train batch, verified, differentiated and run through the passes, each verified (what
 * `moac ir --train` does; no LLVM). A spec that check accepts but lowering or a pass rejects is
 * a bug: the harness aborts. The one legitimate refusal after check is the tensor-size bound
 * (moac_lower_check_size), which is a located user error.
 *
 * A spec of hundreds of layers lowers to a graph of hundreds of thousands of nodes: linear work,
 * but beyond the 10 s timeout under the sanitizers (a 400-layer mean of 8 MQA branches: 180k
 * nodes, 0.8 s in a release build, over 15 s here). The harness lowers such a spec with fewer
 * layers — as many as keep the forward graph near MAX_GRAPH_NODES (training: about 3x) — which
 * still runs every pass on a graph large enough that a quadratic one times out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/moac.h"
#include "tests/fuzz/fuzz.h"

enum { MAX_FILES = 16, MAX_NAME = 64, MAX_INPUT = 1 << 16, MAX_GRAPH_NODES = 20000 };

static const char marker[] = "#@file ";

typedef struct piece {
    char name[MAX_NAME + 1];
    const char *text;
    size_t len;
} piece;

/* Names stay inside the input's directory and name files: letters, digits, '.', '_', '-', '/'
 * (not first or last), no ".." and no empty or "." component (a name "." or "a/." is the
 * directory itself, which cannot be written as a file). */
static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > MAX_NAME || s[0] == '/' || s[n - 1] == '/') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == '/';
        if (!plain || (c == '/' && s[i + 1] == '/') || (c == '.' && i + 1 < n && s[i + 1] == '.')) return 0;
        int starts = i == 0 || s[i - 1] == '/', ends = i + 1 == n || s[i + 1] == '/';
        if (c == '.' && starts && ends) return 0;
    }
    return 1;
}

/* One name a directory of the other ("a" and "a/b"): both cannot be files. */
static int names_clash(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > lb) return names_clash(b, a);
    return !strncmp(a, b, la) && (la == lb || b[la] == '/');
}

/* Splits the input into files; returns how many, or -1 for an input outside the convention. */
static int split(const char *text, size_t len, piece *out) {
    int n = 0;
    size_t start = 0;
    for (size_t at = 0; at <= len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (end - at >= sizeof marker - 1 && !memcmp(text + at, marker, sizeof marker - 1)) {
            if (n == 0 && at > 0) { /* text before the first marker: the root */
                snprintf(out[0].name, sizeof out[0].name, "main.moa");
                out[0].text = text, out[0].len = at, n = 1;
            } else if (n > 0) {
                out[n - 1].len = at - start;
            }
            if (n == MAX_FILES) return -1;
            size_t nlen = end - at - (sizeof marker - 1);
            if (!name_ok(text + at + sizeof marker - 1, nlen)) return -1;
            memcpy(out[n].name, text + at + sizeof marker - 1, nlen);
            out[n].name[nlen] = 0;
            for (int k = 0; k < n; k++)
                if (names_clash(out[k].name, out[n].name)) return -1;
            start = nl ? end + 1 : len;
            out[n].text = text + start;
            out[n].len = len - start;
            n++;
        }
        if (!nl) break;
        at = end + 1;
    }
    if (n == 0) { /* no marker: one file */
        snprintf(out[0].name, sizeof out[0].name, "main.moa");
        out[0].text = text, out[0].len = len, n = 1;
    } else {
        out[n - 1].len = len - start;
    }
    return n;
}

/* Lowering, autodiff and the passes, each verified; returns 0, or -1 for a reported user error
 * (the size bound); aborts on anything else. */
static int lower_and_differentiate(moac_arena *a, const moac_spec *spec, moac_diag *d) {
    if (moac_lower_check_size(spec, 0, d)) return -1;
    moac_spec fewer = *spec;
    if (spec->layers > 1) { /* nodes per layer, from a 1- and a 2-layer forward graph */
        fewer.layers = 1;
        size_t one = moac_lower_spec(a, &fewer, 0)->count;
        fewer.layers = 2;
        size_t per_layer = moac_lower_spec(a, &fewer, 0)->count - one;
        size_t most = per_layer ? MAX_GRAPH_NODES / per_layer : (size_t)spec->layers;
        fewer.layers = (size_t)spec->layers > most ? (int)(most ? most : 1) : spec->layers;
    }
    moac_pipeline p = {.train = 1};
    moac_graph *g = moac_pipeline_spec(a, &fewer, 0, &p, d);
    if (!g) moac_fuzz_fail("moac check accepted the spec but lowering, a pass or the verifier refused it",
                           moac_strbuf_cstr(&d->out));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    moac_fuzz_accepted = 0;
    if (size > MAX_INPUT) return 0;
    piece files[MAX_FILES];
    int n = split((const char *)data, size, files);
    if (n < 0) return 0;
    char dir[600], path[700], root[700]; /* names are at most MAX_NAME (64) bytes */
    snprintf(dir, sizeof dir, "%s/in", moac_fuzz_tmpdir());
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%.64s", dir, files[i].name);
        moac_fuzz_write(path, files[i].text, files[i].len);
    }
    snprintf(root, sizeof root, "%s/%.64s", dir, files[0].name);

    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_spec *spec = moac_spec_load(&arena, root, &diag);
    if (spec && diag.errors) moac_fuzz_fail("sema returned a spec and reported errors", moac_strbuf_cstr(&diag.out));
    if (!spec && !diag.errors) moac_fuzz_fail("sema refused the spec without saying why", NULL);
    if (spec) {
        moac_strbuf out;
        moac_strbuf_init(&out);
        moac_spec_summary(spec, root, &out);
        moac_spec_json(spec, root, &out);
        moac_strbuf_free(&out);
        if (lower_and_differentiate(&arena, spec, &diag) == 0) moac_fuzz_accepted = 1;
    }
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    moac_fuzz_remove_tree(dir);
    return 0;
}
