/* An independent reader agrees: files moac writes are read by tests/ref/read_safetensors.py (only
 * Python's json and numpy, as the HF/PyTorch tooling would see them) and every tensor's bytes
 * match what was written. Needs /usr/bin/python3 with numpy (scripts/setup.sh installs it). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/json.h"
#include "runtime/safetensors.h"

static char dir[64];

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/moac-stpy-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    const char *names[] = {"ck.safetensors", "expected.json"};
    char p[512];
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

/* Exit status of the reference reader on the file and expectations in dir. */
static int run_reader(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/read_safetensors.py %s/ck.safetensors %s/expected.json",
             MOAC_SOURCE_ROOT, dir, dir);
    int st = system(cmd);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

typedef struct expect_tensor {
    moac_st_tensor t;
    double values[16]; /* as the reader should see them (exact in double for every dtype used) */
} expect_tensor;

static void write_expected(const expect_tensor *e, int n, const moac_st_meta *meta, int nmeta) {
    moac_strbuf b;
    moac_strbuf_init(&b);
    moac_strbuf_puts(&b, "{\"metadata\": {");
    for (int i = 0; i < nmeta; i++) {
        if (i) moac_strbuf_puts(&b, ", ");
        moac_json_put_string(&b, meta[i].key, strlen(meta[i].key));
        moac_strbuf_puts(&b, ": ");
        moac_json_put_string(&b, meta[i].value, strlen(meta[i].value));
    }
    moac_strbuf_puts(&b, "}, \"tensors\": [");
    for (int i = 0; i < n; i++) {
        const moac_st_tensor *t = &e[i].t;
        moac_strbuf_printf(&b, "%s{\"name\": ", i ? ", " : "");
        moac_json_put_string(&b, t->name, strlen(t->name));
        moac_strbuf_printf(&b, ", \"dtype\": \"%s\", \"shape\": [", t->dtype);
        int64_t count = 1;
        for (int k = 0; k < t->rank; k++) {
            moac_strbuf_printf(&b, "%s%lld", k ? ", " : "", (long long)t->dims[k]);
            count *= t->dims[k];
        }
        moac_strbuf_puts(&b, "], \"values\": [");
        for (int64_t k = 0; k < count; k++) {
            if (k) moac_strbuf_puts(&b, ", ");
            double v = e[i].values[k];
            /* integers as integers (I64 extremes are not exact as doubles: written from the data) */
            if (!strcmp(t->dtype, "I64")) moac_strbuf_printf(&b, "%lld", (long long)((const int64_t *)t->data)[k]);
            else if (!strcmp(t->dtype, "F32") || !strcmp(t->dtype, "F64")) moac_strbuf_put_double(&b, v);
            else moac_strbuf_printf(&b, "%lld", (long long)v);
        }
        moac_strbuf_puts(&b, "]}");
    }
    moac_strbuf_puts(&b, "]}\n");
    char p[512];
    snprintf(p, sizeof p, "%s/expected.json", dir);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(b.data, f);
    fclose(f);
    moac_strbuf_free(&b);
}

static void test_python_reads_moac_files(void **state) {
    (void)state;
    if (system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
        fail_msg("/usr/bin/python3 with numpy is needed (apt-get install python3-numpy; see scripts/setup.sh)");
    static float w[6] = {0.5f, -1.25f, 1e-40f /* subnormal */, 1e30f, -0.0f, 3.14159274f};
    static uint8_t m[3] = {0, 1, 255};
    static int64_t ids[4] = {0, -1, INT64_MAX, INT64_MIN};
    static int32_t ci[2] = {-7, 2147483647};
    static double s = 0.1;
    expect_tensor e[] = {
        {{"h0.attn.wq", "F32", 2, {2, 3}, w, sizeof w}, {0}},
        {{"mask", "U8", 1, {3}, m, sizeof m}, {0, 1, 255}},
        {{"ids", "I64", 2, {2, 2}, ids, sizeof ids}, {0}},
        {{"counts", "I32", 1, {2}, ci, sizeof ci}, {-7, 2147483647}},
        {{"adam.m.h0.attn.wq", "F64", 0, {0}, &s, sizeof s}, {0.1}},
        {{"empty", "F32", 2, {0, 4}, NULL, 0}, {0}},
    };
    for (int k = 0; k < 6; k++) e[0].values[k] = w[k];
    int n = (int)(sizeof e / sizeof e[0]);
    moac_st_tensor t[8];
    for (int i = 0; i < n; i++) t[i] = e[i].t;
    moac_st_meta meta[] = {{"format", "pt"}, {"moac.spec", "model \"x\" { vocab = 65 }\n"}, {"note", "caf\xc3\xa9"}};
    char path[512];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    moac_diag d;
    moac_diag_init(&d);
    assert_int_equal(moac_safetensors_write(path, t, n, meta, 3, &d), 0);
    moac_diag_free(&d);
    write_expected(e, n, meta, 3);
    assert_int_equal(run_reader(), 0);

    /* the reader is not a rubber stamp: a flipped bit in the data fails it */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -10, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -10, SEEK_END), 0);
    fputc(c ^ 1, f);
    fclose(f);
    assert_int_equal(run_reader(), 1);
    /* and so does an expectation that differs from what was written */
    assert_int_equal(moac_safetensors_write(path, t, n, meta, 3, &d), 0);
    e[3].values[0] = -8;
    write_expected(e, n, meta, 3);
    assert_int_equal(run_reader(), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_python_reads_moac_files, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
