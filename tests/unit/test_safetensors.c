/* safetensors: write -> read round trips, the atomic write (no temp file left, an existing file
 * untouched when writing fails), and every malformed file the reader must refuse. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "runtime/safetensors.h"

static char dir[64];
static moac_diag diag;

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/moac-st-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    moac_diag_init(&diag);
    return 0;
}

/* Removes everything in the temp dir (tests make only plain files and empty directories). */
static int teardown(void **state) {
    (void)state;
    chmod(dir, 0755);
    DIR *dp = opendir(dir);
    struct dirent *e;
    char p[512];
    while (dp && (e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (unlink(p)) rmdir(p);
        }
    if (dp) closedir(dp);
    rmdir(dir);
    moac_diag_free(&diag);
    return 0;
}

static const char *in_dir(const char *name) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static int dir_entries(void) {
    DIR *dp = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dp)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dp);
    return n;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static int has(const char *phrase) {
    const char *out = moac_strbuf_cstr(&diag.out);
    if (!strstr(out, phrase)) fprintf(stderr, "missing '%s' in: %s", phrase, out);
    return strstr(out, phrase) != NULL;
}

/* ---- round trip ---- */

static float wte[12] = {0.5f, -1.25f, 3e-8f, 1e30f, 0, -0.0f, 7, 8, 9, 10, 11, 12};
static float bias[3] = {1, 2, 3};
static int64_t ids[4] = {0, -1, INT64_MAX, INT64_MIN};
static uint8_t mask[5] = {1, 0, 1, 1, 255};
static double scalar = 3.141592653589793;

static int sample(moac_st_tensor *t) {
    moac_st_tensor ts[] = {
        {"wte", "F32", 2, {4, 3}, wte, sizeof wte},
        {"mask", "U8", 1, {5}, mask, sizeof mask}, /* odd size: the next tensor is unaligned in the file */
        {"h0.ln.b", "F32", 1, {3}, bias, sizeof bias},
        {"ids", "I64", 2, {2, 2}, ids, sizeof ids},
        {"step", "F64", 0, {0}, &scalar, sizeof scalar},
        {"empty", "F32", 2, {0, 3}, NULL, 0},
    };
    memcpy(t, ts, sizeof ts);
    return (int)(sizeof ts / sizeof ts[0]);
}

static const moac_st_meta meta[] = {{"format", "pt"}, {"moac.step", "1200"}, {"note", "quote \" tab\t \xc3\xa9"}};

static void test_round_trip(void **state) {
    (void)state;
    moac_st_tensor t[8];
    int n = sample(t);
    const char *path = in_dir("ck.safetensors");
    assert_int_equal(moac_safetensors_write(path, t, n, meta, 3, &diag), 0);
    assert_int_equal(diag.errors, 0);
    assert_int_equal(dir_entries(), 1); /* no temp file left behind */

    /* the layout: header length a multiple of 8, padded with spaces, data right after it */
    size_t size;
    char *raw = read_bytes(path, &size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)(unsigned char)raw[i] << (8 * i);
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(size, 8 + hlen + sizeof wte + sizeof mask + sizeof bias + sizeof ids + sizeof scalar);
    assert_int_equal(raw[8], '{');
    size_t close = 8 + hlen - 1;
    while (raw[close] == ' ') close--;
    assert_int_equal(raw[close], '}');
    assert_memory_equal(raw + 8 + hlen, wte, sizeof wte);
    free(raw);

    moac_safetensors *st = moac_safetensors_read(path, &diag);
    assert_non_null(st);
    assert_int_equal(moac_safetensors_count(st), n);
    for (int i = 0; i < n; i++) {
        const moac_st_tensor *r = moac_safetensors_at(st, i);
        assert_string_equal(r->name, t[i].name); /* header order is the order given */
        assert_string_equal(r->dtype, t[i].dtype);
        assert_int_equal(r->rank, t[i].rank);
        for (int k = 0; k < r->rank; k++) assert_int_equal(r->dims[k], t[i].dims[k]);
        assert_int_equal(r->nbytes, t[i].nbytes);
        if (r->nbytes) assert_memory_equal(r->data, t[i].data, r->nbytes);
        assert_int_equal((uintptr_t)r->data % 16, 0); /* aligned even where the file is not */
        assert_ptr_equal(moac_safetensors_find(st, t[i].name), r);
    }
    assert_null(moac_safetensors_at(st, n));
    assert_null(moac_safetensors_find(st, "nope"));
    assert_string_equal(moac_safetensors_meta(st, "moac.step"), "1200");
    assert_string_equal(moac_safetensors_meta(st, "note"), meta[2].value);
    assert_null(moac_safetensors_meta(st, "absent"));
    moac_safetensors_free(st);
}

static void test_exact_header(void **state) {
    (void)state;
    float v[2] = {1, 2};
    moac_st_tensor t = {"a", "F32", 1, {2}, v, sizeof v};
    moac_st_meta m = {"k", "v"};
    const char *path = in_dir("a.safetensors");
    assert_int_equal(moac_safetensors_write(path, &t, 1, &m, 1, &diag), 0);
    size_t size;
    char *raw = read_bytes(path, &size);
    const char *json =
        "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;
    assert_int_equal((unsigned char)raw[0], padded);
    assert_memory_equal(raw + 8, json, jl);
    for (size_t i = jl; i < padded; i++) assert_int_equal(raw[8 + i], ' ');
    assert_int_equal(size, 8 + padded + 8);
    free(raw);
    /* no tensors and no metadata: "{}" padded */
    assert_int_equal(moac_safetensors_write(path, NULL, 0, NULL, 0, &diag), 0);
    moac_safetensors *st = moac_safetensors_read(path, &diag);
    assert_non_null(st);
    assert_int_equal(moac_safetensors_count(st), 0);
    moac_safetensors_free(st);
}

/* ---- atomic writes ---- */

static void test_write_missing_dir(void **state) {
    (void)state;
    moac_st_tensor t[8];
    int n = sample(t);
    const char *path = in_dir("no/such/dir/ck.safetensors");
    assert_int_equal(moac_safetensors_write(path, t, n, NULL, 0, &diag), -1);
    assert_true(has(path));
    assert_true(has("No such file or directory"));
    assert_true(has("check that the directory exists"));
    assert_int_equal(dir_entries(), 0);
}

/* A write that fails half way (here at the file size limit, as a full disk would) must remove
 * its temp file and leave the previous checkpoint exactly as it was. */
static void test_write_fails_keeps_old(void **state) {
    (void)state;
    const char *path = in_dir("ck.safetensors");
    write_bytes(path, "the previous checkpoint", 23);
    static float big[16384];
    moac_st_tensor t = {"big", "F32", 1, {16384}, big, sizeof big};
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN); /* get EFBIG instead of being killed */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = moac_safetensors_write(path, &t, 1, NULL, 0, &diag);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);
    assert_true(has(path));
    assert_true(has("File too large"));
    assert_true(has("unchanged"));
    assert_int_equal(dir_entries(), 1);
    size_t n;
    char *raw = read_bytes(path, &n);
    assert_int_equal(n, 23);
    assert_memory_equal(raw, "the previous checkpoint", 23);
    free(raw);
    /* and a write that succeeds replaces it */
    moac_diag_free(&diag);
    moac_diag_init(&diag);
    assert_int_equal(moac_safetensors_write(path, &t, 1, NULL, 0, &diag), 0);
    assert_int_equal(dir_entries(), 1);
    moac_safetensors *st = moac_safetensors_read(path, &diag);
    assert_non_null(st);
    moac_safetensors_free(st);
}

static void test_write_onto_directory(void **state) {
    (void)state;
    const char *path = in_dir("sub");
    assert_int_equal(mkdir(path, 0755), 0);
    write_bytes(in_dir("sub/keep"), "x", 1);
    moac_st_tensor t[8];
    int n = sample(t);
    assert_int_equal(moac_safetensors_write(path, t, n, NULL, 0, &diag), -1);
    assert_true(has(path));
    assert_int_equal(dir_entries(), 1); /* only sub: the temp file is gone */
    struct stat sb;
    assert_int_equal(stat(in_dir("sub/keep"), &sb), 0);
    unlink(in_dir("sub/keep"));
}

static void test_write_readonly_dir(void **state) {
    (void)state;
    if (geteuid() == 0) skip(); /* root writes anyway; the rlimit test covers the failure path */
    const char *path = in_dir("ck.safetensors");
    write_bytes(path, "old", 3);
    chmod(dir, 0555);
    moac_st_tensor t[8];
    int n = sample(t);
    assert_int_equal(moac_safetensors_write(path, t, n, NULL, 0, &diag), -1);
    chmod(dir, 0755);
    assert_true(has("Permission denied"));
    assert_true(has("writable"));
    assert_int_equal(dir_entries(), 1);
}

static void test_write_bad_input(void **state) {
    (void)state;
    float v[2] = {1, 2};
    const char *path = in_dir("x.safetensors");
    moac_st_tensor dup[2] = {{"a", "F32", 1, {2}, v, 8}, {"a", "F32", 1, {2}, v, 8}};
    assert_int_equal(moac_safetensors_write(path, dup, 2, NULL, 0, &diag), -1);
    assert_true(has("two tensors are named 'a'"));
    moac_st_tensor wrong = {"w", "F32", 1, {3}, v, 8};
    assert_int_equal(moac_safetensors_write(path, &wrong, 1, NULL, 0, &diag), -1);
    assert_true(has("tensor 'w'"));
    moac_st_tensor dt = {"d", "F31", 1, {2}, v, 8};
    assert_int_equal(moac_safetensors_write(path, &dt, 1, NULL, 0, &diag), -1);
    assert_true(has("unknown dtype 'F31'"));
    moac_st_tensor reserved = {"__metadata__", "F32", 1, {2}, v, 8};
    assert_int_equal(moac_safetensors_write(path, &reserved, 1, NULL, 0, &diag), -1);
    moac_st_meta m[2] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(moac_safetensors_write(path, NULL, 0, m, 2, &diag), -1);
    assert_true(has("metadata key 'k' is given twice"));
    moac_st_meta bad_utf8 = {"k", "\xff"};
    assert_int_equal(moac_safetensors_write(path, NULL, 0, &bad_utf8, 1, &diag), -1);
    assert_true(has("not UTF-8"));
    assert_int_equal(dir_entries(), 0);
}

/* ---- malformed files ---- */

/* Writes 8-byte length + header (as given, unpadded) + data, and expects the reader to refuse it
 * with a message naming the file and containing phrase. */
static void expect_bad_header(const char *header, size_t datalen, const char *phrase) {
    const char *path = in_dir("bad.safetensors");
    size_t hl = strlen(header), n = 8 + hl + datalen;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    write_bytes(path, buf, n);
    free(buf);
    moac_diag_free(&diag);
    moac_diag_init(&diag);
    moac_safetensors *st = moac_safetensors_read(path, &diag);
    if (st) fprintf(stderr, "accepted: %s\n", header);
    assert_null(st);
    assert_int_equal(diag.errors, 1);
    assert_true(has(path));
    assert_true(has(phrase));
}

static void test_bad_headers(void **state) {
    (void)state;
#define T(name, body) "\"" name "\":{" body "}"
#define OK8 "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"
    expect_bad_header("{" T("a", OK8), 8, "not valid JSON (unexpected end of input");
    expect_bad_header("{" T("a", OK8) ",}", 8, "got '}', at byte 54 of the header");
    expect_bad_header("[]", 0, "the header is a JSON array, not an object");
    expect_bad_header("{\"a\":5}", 0, "tensor 'a' is not an object");
    expect_bad_header("{" T("a", "\"shape\":[2],\"data_offsets\":[0,8]") "}", 8, "tensor 'a' has no \"dtype\"");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"data_offsets\":[0,8]") "}", 8, "has no \"shape\"");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[2]") "}", 8, "has no \"data_offsets\"");
    expect_bad_header("{" T("a", "\"dtype\":\"F31\",\"shape\":[2],\"data_offsets\":[0,8]") "}", 8,
                      "tensor 'a' has unknown dtype 'F31'");
    expect_bad_header("{" T("a", "\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]") "}", 8, "not a string");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]") "}", 8,
                      "tensor 'a' has shape [3] of F32, which is not the 8 bytes its data_offsets [0, 8] hold");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]") "}", 8,
                      "not a non-negative integer");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]") "}", 8,
                      "not a non-negative integer");
    expect_bad_header("{" T("a", "\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]") "}", 1,
                      "rank 9");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]") "}", 8, "begin <= end");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]") "}", 8, "begin <= end");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]") "}",
                      8, "which is not the 8 bytes");
    /* offsets out of bounds, overlapping, leaving holes or trailing bytes */
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]") "}", 8,
                      "past the end of the data (8 bytes); the file is truncated");
    expect_bad_header("{" T("a", OK8) "," T("b", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]") "}", 12,
                      "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    expect_bad_header("{" T("a", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") ","
                      T("b", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]") "}", 12,
                      "data bytes [4, 8) belong to no tensor");
    expect_bad_header("{" T("a", OK8) "}", 12, "data bytes [8, 12) belong to no tensor");
    /* names and metadata */
    expect_bad_header("{" T("a", OK8) "," T("a", OK8) "}", 8, "duplicate key \"a\"");
    expect_bad_header("{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is a number, not a string");
    expect_bad_header("{\"__metadata__\":[]}", 0, "\"__metadata__\" is a JSON array");
    expect_bad_header("{" T("a\\u0000b", OK8) "}", 8, "NUL character");
#undef T
#undef OK8
}

/* Corruptions of a real file: truncation anywhere, and a header length that lies. */
static void test_corrupted_file(void **state) {
    (void)state;
    moac_st_tensor t[8];
    int n = sample(t);
    const char *good = in_dir("good.safetensors"), *bad = in_dir("bad.safetensors");
    assert_int_equal(moac_safetensors_write(good, t, n, meta, 3, &diag), 0);
    size_t size;
    unsigned char *raw = (unsigned char *)read_bytes(good, &size);
    uint64_t hlen = raw[0] | (uint64_t)raw[1] << 8;
    struct {
        size_t keep;
        const char *phrase;
    } cuts[] = {
        {0, "too short for the 8-byte header length"},
        {5, "the file is 5 bytes, too short"},
        {8, "is larger than the file"},
        {8 + hlen / 2, "header length"},
        {8 + hlen, "past the end of the data"},
        {size - 1, "the file is truncated"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_bytes(bad, raw, cuts[i].keep);
        moac_diag_free(&diag);
        moac_diag_init(&diag);
        assert_null(moac_safetensors_read(bad, &diag));
        assert_true(has(bad));
        assert_true(has(cuts[i].phrase));
    }
    /* a header length larger than the file, small or absurd */
    uint64_t lies[] = {size - 7, (uint64_t)1 << 40, UINT64_MAX};
    for (size_t i = 0; i < 3; i++) {
        for (int k = 0; k < 8; k++) raw[k] = (unsigned char)(lies[i] >> (8 * k));
        write_bytes(bad, raw, size);
        moac_diag_free(&diag);
        moac_diag_init(&diag);
        assert_null(moac_safetensors_read(bad, &diag));
        assert_true(has("is larger than the file; the file is truncated or not safetensors"));
    }
    /* a header length shorter than the header: the JSON is cut */
    for (int k = 0; k < 8; k++) raw[k] = (unsigned char)((hlen - 8) >> (8 * k));
    write_bytes(bad, raw, size);
    moac_diag_free(&diag);
    moac_diag_init(&diag);
    assert_null(moac_safetensors_read(bad, &diag));
    assert_true(has("not valid JSON"));
    free(raw);
    /* not a file at all */
    moac_diag_free(&diag);
    moac_diag_init(&diag);
    assert_null(moac_safetensors_read(in_dir("missing.safetensors"), &diag));
    assert_true(has("missing.safetensors: error: cannot read: No such file or directory"));
    assert_null(moac_safetensors_read(dir, &diag));
    assert_true(has("is a directory"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_fails_keeps_old, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_onto_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_readonly_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupted_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
