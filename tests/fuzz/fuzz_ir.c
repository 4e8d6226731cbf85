/* Fuzz harness: IR text (`moac ir saved.ir`, `moac train saved.ir`).
 *
 * The input is read as IR text and verified. A graph that verifies must round-trip: printed,
 * read back and verified again, and printed identically (docs/ir.md). Then it runs through the
 * passes as `moac ir FILE --train` runs them (autodiff when it has a loss, cse, dce, remat): a
 * pass may refuse the graph with a reported error (autodiff on a graph without a loss), but a
 * pass whose output does not verify is a bug, and the harness aborts. A scheduled graph (@k/@r/
 * @view/@inline annotations) must pass moac_sched_check to verify; the passes then run on it with
 * the annotations cleared, and passes 'attention_stats' and 'schedule' on their result must make
 * a schedule that verifies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "include/moac.h"
#include "passes/schedule.h"
#include "tests/fuzz/fuzz.h"

enum { MAX_INPUT = 1 << 18 };

static moac_graph *read_verified(moac_arena *a, const char *text, moac_diag *d) {
    moac_source *src = moac_source_from_text(a, "fuzz.ir", text);
    moac_graph *g = moac_ir_read(a, src, d);
    if (g && d->errors) moac_fuzz_fail("the reader returned a graph and reported errors", moac_strbuf_cstr(&d->out));
    if (!g && !d->errors) moac_fuzz_fail("the reader refused the text without saying why", NULL);
    if (!g || moac_ir_verify(g, d, "as read")) return NULL;
    return g;
}

static void round_trip(moac_arena *a, const moac_graph *g) {
    moac_strbuf first, second;
    moac_strbuf_init(&first);
    moac_strbuf_init(&second);
    moac_ir_print(g, &first);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *again = read_verified(a, moac_strbuf_cstr(&first), &d);
    if (!again) {
        fprintf(stderr, "%s\n--- printed text:\n%s", moac_strbuf_cstr(&d.out), moac_strbuf_cstr(&first));
        moac_fuzz_fail("a verified graph, printed, does not read back and verify", NULL);
    }
    moac_ir_print(again, &second);
    if (strcmp(moac_strbuf_cstr(&first), moac_strbuf_cstr(&second))) {
        fprintf(stderr, "--- first print:\n%s--- second print:\n%s", moac_strbuf_cstr(&first),
                moac_strbuf_cstr(&second));
        moac_fuzz_fail("print -> read -> print is not identical", NULL);
    }
    moac_strbuf_free(&first);
    moac_strbuf_free(&second);
    moac_diag_free(&d);
}

/* The passes one by one, so that a pass's refusal (reported) and a pass's broken output (a bug)
 * are told apart. */
static moac_graph *run_passes(moac_graph *g, moac_diag *d) {
    int n;
    const moac_pass *passes = moac_passes(&n);
    int has_loss = moac_graph_find(g, "loss") != NULL;
    for (int i = 0; i < n; i++) {
        if (passes[i].train_only && !has_loss) continue;
        int errors = d->errors;
        if (passes[i].run(&g, d)) {
            if (d->errors == errors) moac_fuzz_fail("a pass refused the graph without saying why", passes[i].name);
            return NULL;
        }
        char stage[64];
        snprintf(stage, sizeof stage, "after pass '%s'", passes[i].name);
        if (moac_ir_verify(g, d, stage))
            moac_fuzz_fail("a pass made a graph that does not verify", moac_strbuf_cstr(&d->out));
    }
    return g;
}

/* Rules of a backend that renders everything and fuses all the shared rule allows: the widest
 * schedule the pass can make (the CPU's rules need LLVM, which the harness does not link). */
static int every_node(const moac_node *n) { return n != NULL; }
static int every_join(const moac_node *const *group, int count) { return group && (count == 2 || count == 3); }
static const moac_sched_rules wide = {"fuzz", every_node, moac_sched_fusable, every_join, NULL};

/* Passes 'attention_stats' and 'schedule' on the passes' result: each must verify (the schedule
 * with moac_sched_check) and the schedule be renderable. */
static void schedule(moac_graph *g, moac_diag *d) {
    moac_attention_stats(g, &wide, d);
    if (moac_ir_verify(g, d, "after pass 'attention_stats'"))
        moac_fuzz_fail("pass 'attention_stats' made a graph that does not verify", moac_strbuf_cstr(&d->out));
    if (moac_schedule(g, &wide, d)) moac_fuzz_fail("pass 'schedule' refused an unscheduled graph", moac_strbuf_cstr(&d->out));
    if (moac_ir_verify(g, d, "after pass 'schedule'") || moac_sched_check_rules(g, &wide, d))
        moac_fuzz_fail("pass 'schedule' made a schedule that does not verify", moac_strbuf_cstr(&d->out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    moac_fuzz_accepted = 0;
    /* the reader stops at a NUL byte with an error (support/readfile.c): text never holds one */
    if (size > MAX_INPUT || memchr(data, 0, size)) return 0;
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_graph *g = read_verified(&arena, text, &diag);
    if (g) {
        round_trip(&arena, g);
        /* moac runs no pass on a scheduled graph; its passes still get the graph underneath. */
        moac_sched_clear(g);
        if ((g = run_passes(g, &diag))) schedule(g, &diag);
        moac_fuzz_accepted = 1;
    }
    moac_diag_free(&diag);
    moac_arena_free(&arena);
    free(text);
    return 0;
}
