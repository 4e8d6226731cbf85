/* The IR of every model in models/ round-trips through its text form: print -> read -> print is
 * byte-identical, both straight after lowering and after all passes; and the reader's graph
 * passes the verifier. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "moac.h"

static void roundtrip(const moac_graph *g, const char *what) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag diag;
    moac_diag_init(&diag);
    moac_strbuf first, second;
    moac_strbuf_init(&first);
    moac_strbuf_init(&second);
    moac_ir_print(g, &first);
    moac_source *src = moac_source_from_text(&arena, what, moac_strbuf_cstr(&first));
    moac_graph *back = moac_ir_read(&arena, src, &diag);
    if (!back) fprintf(stderr, "%s", moac_strbuf_cstr(&diag.out));
    assert_non_null(back);
    assert_int_equal(moac_ir_verify(back, &diag, "after reading"), 0);
    moac_ir_print(back, &second);
    if (strcmp(moac_strbuf_cstr(&first), moac_strbuf_cstr(&second)))
        fprintf(stderr, "%s: print -> read -> print differs\n", what);
    assert_string_equal(moac_strbuf_cstr(&first), moac_strbuf_cstr(&second));
    moac_strbuf_free(&first);
    moac_strbuf_free(&second);
    moac_diag_free(&diag);
    moac_arena_free(&arena);
}

static void test_every_model(void **state) {
    (void)state;
    DIR *dir = opendir("models");
    assert_non_null(dir);
    int models = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".moa")) continue;
        char path[512];
        snprintf(path, sizeof path, "models/%s", e->d_name);
        moac_arena arena;
        moac_arena_init(&arena);
        moac_diag diag;
        moac_diag_init(&diag);
        moac_spec *spec = moac_spec_load(&arena, path, &diag);
        if (!spec) fprintf(stderr, "%s", moac_strbuf_cstr(&diag.out));
        assert_non_null(spec);
        moac_graph *lowered = moac_lower_spec(&arena, spec, 2);
        assert_int_equal(moac_ir_verify(lowered, &diag, "after lower"), 0);
        roundtrip(lowered, path);
        moac_graph *final = moac_pipeline_graph(lowered, NULL, &diag);
        assert_non_null(final);
        roundtrip(final, path);
        moac_diag_free(&diag);
        moac_arena_free(&arena);
        models++;
    }
    closedir(dir);
    assert_true(models >= 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_every_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
