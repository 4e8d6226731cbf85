/* The backend table (backends/backend.h): the registry, and the graph-level entry points on both
 * backends — writes and reads checked by name and size, the interpreter's f64 results kept whole
 * by moac_read_f64, binding only where the backend reads caller memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/backend.h"
#include "ir/ir.h"

static const char ir[] = "graph \"t\" {\n  %a = input() name=\"a\" : f32[2,3]\n  %y = mul(%a, %a) : f32[2,3]\n"
                         "  %o = output(%y) name=\"y\" : f32[2,3]\n}\n";

static void test_registry(void **state) {
    (void)state;
    assert_ptr_equal(moac_backend_find("cpu"), &moac_cpu_backend);
    assert_ptr_equal(moac_backend_find("interp"), &moac_interp_backend);
    assert_ptr_equal(moac_backend_default(), &moac_cpu_backend);
    assert_null(moac_backend_find("gpu"));
    assert_null(moac_backend_find(""));
    moac_strbuf names;
    moac_strbuf_init(&names);
    moac_backend_names(&names);
    assert_string_equal(moac_strbuf_cstr(&names), "cpu, interp, cuda");
    moac_strbuf_free(&names);
    /* every backend has what the runtime calls unconditionally */
    const moac_backend_ops *all[] = {&moac_cpu_backend, &moac_interp_backend, &moac_cuda_backend};
    for (int i = 0; i < 3; i++) {
        assert_non_null(all[i]->rules);
        assert_non_null(all[i]->compile);
        assert_non_null(all[i]->write);
        assert_non_null(all[i]->run);
        assert_non_null(all[i]->read);
        assert_non_null(all[i]->read_f64);
        assert_non_null(all[i]->free);
    }
    assert_null(moac_interp_backend.emit);
    assert_null(moac_interp_backend.bind);
    assert_null(moac_cuda_backend.bind); /* weights are copied to the device */
    assert_non_null(moac_cuda_backend.emit);
    assert_non_null(moac_cuda_backend.optim_attach); /* the training state stays on the GPU */
    assert_null(moac_cpu_backend.optim_attach);
    assert_ptr_equal(moac_backend_find("cuda"), &moac_cuda_backend);
}

/* Runs y = a * a on be; fills y (f32) and y64 (f64). */
static void run_on(const moac_backend_ops *be, const float *a, float *y, double *y64) {
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "t.ir", ir), &d);
    assert_non_null(g);
    moac_compiled *c = moac_compile(g, be, NULL, &d);
    assert_non_null(c);
    assert_ptr_equal(moac_compiled_backend(c), be);
    char err[128];
    assert_int_equal(moac_read(c, "y", y, 6), -1); /* nothing to read before a run */
    assert_int_equal(moac_write(c, "a", a, 5), -1); /* wrong size */
    assert_int_equal(moac_write(c, "b", a, 6), -1); /* no such input */
    assert_int_equal(moac_write(c, "y", a, 6), -1); /* an output is not written */
    assert_int_equal(moac_write(c, "a", a, 6), 0);
    assert_int_equal(moac_run(c, NULL, err, sizeof err), 0);
    assert_int_equal(moac_read(c, "y", y, 5), -1);
    assert_int_equal(moac_read(c, "a", y, 6), -1); /* an input is not an output */
    assert_int_equal(moac_read(c, "y", y, 6), 0);
    assert_int_equal(moac_read_f64(c, "y", y64, 6), 0);
    /* bind: in place where the backend can, refused where it cannot */
    float b[6] = {1, 2, 3, 4, 5, 6};
    if (be->bind) {
        assert_int_equal(moac_bind(c, "a", b, 6), 0);
        assert_int_equal(moac_run(c, NULL, err, sizeof err), 0);
        float yb[6];
        assert_int_equal(moac_read(c, "y", yb, 6), 0);
        for (int i = 0; i < 6; i++) assert_true(yb[i] == b[i] * b[i]);
    } else {
        assert_int_equal(moac_bind(c, "a", b, 6), -1);
    }
    moac_compiled_free(c);
    moac_diag_free(&d);
    moac_arena_free(&arena);
}

static void test_both_backends(void **state) {
    (void)state;
    const float a[6] = {0.1f, -0.3f, 1.7f, 3.0f, -2.5f, 0.7f};
    float yc[6], yi[6];
    double yc64[6], yi64[6];
    run_on(&moac_cpu_backend, a, yc, yc64);
    run_on(&moac_interp_backend, a, yi, yi64);
    for (int i = 0; i < 6; i++) {
        assert_true(yc[i] == a[i] * a[i]);               /* f32 arithmetic */
        assert_true(yc64[i] == (double)yc[i]);           /* widened exactly */
        assert_true(yi64[i] == (double)a[i] * (double)a[i]); /* the oracle's double, not narrowed */
        assert_true(yi[i] == (float)yi64[i]);
    }
}

static void test_cpu_emit(void **state) {
    (void)state;
    moac_arena arena;
    moac_arena_init(&arena);
    moac_diag d;
    moac_diag_init(&d);
    moac_graph *g = moac_ir_read(&arena, moac_source_from_text(&arena, "t.ir", ir), &d);
    char *text = moac_cpu_backend.emit(g, NULL, "llvm", NULL, &d);
    assert_non_null(text);
    assert_non_null(strstr(text, "define void @n"));
    free(text);
    assert_null(moac_cpu_backend.emit(g, NULL, "ptx", NULL, &d));
    assert_non_null(strstr(moac_strbuf_cstr(&d.out), "emits llvm or asm, not 'ptx'"));
    moac_diag_free(&d);
    moac_arena_free(&arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_both_backends),
        cmocka_unit_test(test_cpu_emit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
