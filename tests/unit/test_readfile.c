/* The bounded file reader (support/readfile.c): the limit is exact (max bytes read, max + 1
 * refused, also for a file that says size 0), NUL bytes are refused in text mode only and named
 * by offset, non-regular files are refused without blocking, and a missing file keeps ENOENT;
 * and the 64-bit hash changes with every single-bit flip (the compile cache relies on it). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/hash.h"
#include "support/readfile.h"

static char dir[64], path[128];
static char *text, why[512];
static size_t len;

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/moac-readfile-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/f", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(text);
    text = NULL;
    unlink(path);
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    unlink(fifo);
    rmdir(dir);
    return 0;
}

static void write_file(const char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static int read_with(uint64_t max, int is_text) {
    free(text);
    text = NULL;
    moac_read_limits lim = {"test files", max, is_text};
    return moac_file_read(path, &lim, &text, &len, why, sizeof why);
}

static void test_limit_is_exact(void **state) {
    (void)state;
    write_file("0123456789", 10);
    assert_int_equal(read_with(10, 1), 0);
    assert_int_equal(len, 10);
    assert_string_equal(text, "0123456789");
    assert_int_equal(read_with(9, 1), -1);
    assert_null(text);
    assert_non_null(strstr(why, "it is 10 bytes, over moac's limit of 9 bytes for test files"));
    write_file("", 0);
    assert_int_equal(read_with(0, 1), 0);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
}

/* /proc files are regular but say size 0: the reader reads on, and still stops at the limit. */
static void test_size_zero_files(void **state) {
    (void)state;
    moac_read_limits lim = {"test files", 1 << 20, 1};
    assert_int_equal(moac_file_read("/proc/self/status", &lim, &text, &len, why, sizeof why), 0);
    assert_true(len > 0);
    assert_non_null(strstr(text, "Name:"));
    free(text);
    text = NULL;
    lim.max_bytes = 5;
    assert_int_equal(moac_file_read("/proc/self/status", &lim, &text, &len, why, sizeof why), -1);
    assert_non_null(strstr(why, "it is more than 5 bytes, over moac's limit of 5 bytes"));
}

static void test_nul_bytes(void **state) {
    (void)state;
    write_file("ab\0cd", 5);
    assert_int_equal(read_with(100, 1), -1);
    assert_non_null(strstr(why, "it contains a NUL byte (at byte 2); test files must be text"));
    assert_int_equal(read_with(100, 0), 0); /* binary data is fine where it is meant */
    assert_int_equal(len, 5);
    assert_memory_equal(text, "ab\0cd", 5);
}

static void test_not_regular(void **state) {
    (void)state;
    moac_read_limits lim = {"test files", 1 << 20, 0};
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *paths[] = {"/dev/zero", "/dev/urandom", fifo, dir};
    const char *kinds[] = {"a character device", "a character device", "a FIFO (named pipe)", "a directory"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(moac_file_read(paths[i], &lim, &text, &len, why, sizeof why), -1);
        char want[128];
        snprintf(want, sizeof want, "it is %s, not a regular file (moac reads test files", kinds[i]);
        assert_non_null(strstr(why, want));
        uint64_t size;
        assert_null(moac_file_open(paths[i], &lim, &size, why, sizeof why));
        assert_non_null(strstr(why, want));
        assert_int_equal(errno, 0);
    }
    snprintf(fifo, sizeof fifo, "%s/missing", dir);
    assert_int_equal(moac_file_read(fifo, &lim, &text, &len, why, sizeof why), -1);
    assert_int_equal(errno, ENOENT);
    assert_string_equal(why, strerror(ENOENT));
}

static void test_hash_sees_every_bit(void **state) {
    (void)state;
    unsigned char buf[77];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 37 + 11);
    uint64_t h = moac_hash_bytes(MOAC_HASH_SEED, buf, sizeof buf);
    assert_true(h == moac_hash_bytes(MOAC_HASH_SEED, buf, sizeof buf));
    for (size_t i = 0; i < sizeof buf; i++)
        for (int bit = 0; bit < 8; bit++) {
            buf[i] ^= (unsigned char)(1 << bit);
            assert_true(moac_hash_bytes(MOAC_HASH_SEED, buf, sizeof buf) != h);
            buf[i] ^= (unsigned char)(1 << bit);
        }
    assert_true(moac_hash_bytes(MOAC_HASH_SEED, buf, sizeof buf - 1) != h); /* truncated */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limit_is_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_zero_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_sees_every_bit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
