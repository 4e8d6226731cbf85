/* Training data: char/byte tokenisation, the split, every load error, batches as pure functions
 * of (seed, split, step) that stay inside their split, token files (u16/u32, split or a
 * validation file, every malformed file located), the synthetic recall task, entropy and
 * decoding, and the real tinyshakespeare file. */
#include <dirent.h>
#include <math.h>
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

#include "runtime/data.h"
#include "support/rng.h"
#include "support/sha256.h"

static char dir[64];
static moac_diag diag;
static moac_dataset ds;

static int setup(void **state) {
    (void)state;
    strcpy(dir, "/tmp/moac-data-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    moac_diag_init(&diag);
    memset(&ds, 0, sizeof ds);
    return 0;
}

static int teardown(void **state) {
    (void)state;
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
    moac_dataset_free(&ds);
    moac_diag_free(&diag);
    return 0;
}

/* Writes n bytes to a file in the temp dir and returns its path. */
static const char *file_with(const char *name, const char *text, size_t n) {
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    FILE *f = fopen(p[k], "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
    return p[k];
}

static int has(const char *phrase) {
    const char *out = moac_strbuf_cstr(&diag.out);
    if (!strstr(out, phrase)) fprintf(stderr, "missing '%s' in: %s", phrase, out);
    return strstr(out, phrase) != NULL;
}

static int load(const char *path, moac_data_kind kind, double split, int vocab, int context) {
    moac_diag_free(&diag);
    moac_diag_init(&diag);
    moac_dataset_free(&ds);
    return moac_dataset_load_text(&ds, path, kind, split, vocab, context, NULL, 0, &diag);
}

/* The load must fail with one error naming the file and saying phrase, leaving ds empty. */
static void expect_load_error(const char *path, moac_data_kind kind, double split, int vocab, int context,
                              const char *phrase) {
    assert_int_equal(load(path, kind, split, vocab, context), -1);
    assert_int_equal(diag.errors, 1);
    assert_true(has(path));
    assert_true(has(phrase));
    assert_null(ds.tokens);
}

static void test_char_tokens(void **state) {
    (void)state;
    const char *text = "hello world\nhello moac\n";
    const char *p = file_with("a.txt", text, strlen(text));
    assert_int_equal(load(p, MOAC_DATA_CHAR, 0.5, 283, 4), 0);
    assert_int_equal(ds.kind, MOAC_DATA_CHAR);
    assert_int_equal(ds.vocab, 12); /* \n ' ' a c d e h l m o r w */
    assert_memory_equal(ds.chars, "\n acdehlmorw", 12);
    assert_int_equal(ds.ntokens, strlen(text));
    assert_int_equal(ds.ntrain, strlen(text) / 2); /* floor(0.5 * 23) = 11 */
    for (size_t i = 0; i < ds.ntokens; i++) assert_int_equal(ds.chars[ds.tokens[i]], (unsigned char)text[i]);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_dataset_decode(&ds, ds.tokens, ds.ntokens, &out);
    assert_string_equal(out.data, text);
    int32_t odd[2] = {-1, 12};
    moac_strbuf_clear(&out);
    moac_dataset_decode(&ds, odd, 2, &out);
    assert_string_equal(out.data, "??");
    moac_strbuf_free(&out);
}

static void test_byte_tokens(void **state) {
    (void)state;
    const char *text = "caf\xc3\xa9 \x01\xff!";
    const char *p = file_with("b.txt", text, strlen(text));
    assert_int_equal(load(p, MOAC_DATA_BYTE, 0.5, 256, 3), 0);
    assert_int_equal(ds.vocab, 256);
    for (size_t i = 0; i < ds.ntokens; i++) assert_int_equal(ds.tokens[i], (unsigned char)text[i]);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_dataset_decode(&ds, ds.tokens, ds.ntokens, &out);
    assert_string_equal(out.data, text);
    moac_strbuf_free(&out);
}

static void test_split(void **state) {
    (void)state;
    char text[100];
    memset(text, 'x', sizeof text);
    const char *p = file_with("s.txt", text, sizeof text);
    assert_int_equal(load(p, MOAC_DATA_CHAR, 0.9, 283, 8), 0);
    assert_int_equal(ds.ntrain, 90);
    assert_int_equal(load(p, MOAC_DATA_CHAR, 0.555, 283, 8), 0);
    assert_int_equal(ds.ntrain, 55);
    /* exactly one window (context + 1) in the validation split is enough */
    assert_int_equal(load(p, MOAC_DATA_CHAR, 0.9, 283, 9), 0);
}

static void test_load_errors(void **state) {
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    expect_load_error(path, MOAC_DATA_CHAR, 0.9, 283, 8, "cannot read training data: No such file or directory");
    expect_load_error(dir, MOAC_DATA_CHAR, 0.9, 283, 8, "it is a directory");
    expect_load_error(file_with("empty.txt", "", 0), MOAC_DATA_CHAR, 0.9, 283, 8, "the file is empty");
    expect_load_error(file_with("bin.txt", "hello\0world", 11), MOAC_DATA_CHAR, 0.5, 283, 2,
                      "looks binary (NUL byte at offset 5); moac trains on text");
    char many[200];
    for (int i = 0; i < 200; i++) many[i] = (char)(i % 90 + 33);
    expect_load_error(file_with("many.txt", many, sizeof many), MOAC_DATA_CHAR, 0.5, 64, 8,
                      "has 90 distinct characters but the model's vocab is 64; raise vocab in the spec or use "
                      "tokenizer = byte");
    expect_load_error(file_with("byte.txt", many, sizeof many), MOAC_DATA_BYTE, 0.5, 100, 8,
                      "tokenizer = byte needs vocab >= 256 but the model's vocab is 100");
    char text[130];
    memset(text, 'a', sizeof text);
    const char *p = file_with("short.txt", text, sizeof text);
    expect_load_error(p, MOAC_DATA_CHAR, 0.5, 283, 256,
                      "the training split has 65 tokens, fewer than one window of context + 1 = 257; use more data");
    expect_load_error(p, MOAC_DATA_CHAR, 0.9, 283, 20,
                      "the validation split has 13 tokens, fewer than one window of context + 1 = 21; use more data "
                      "or a lower split (now 0.9)");
    expect_load_error(p, MOAC_DATA_CHAR, 1.0, 283, 20, "the validation split has 0 tokens");
    if (geteuid() != 0) { /* root reads anything */
        chmod(p, 0);
        expect_load_error(p, MOAC_DATA_CHAR, 0.5, 283, 8, "Permission denied");
    }
}

static void test_fixed_chars(void **state) {
    (void)state;
    const unsigned char table[] = "\n abcdefz"; /* a checkpoint's table: more than the file uses */
    const char *p = file_with("f.txt", "abc\nfed\n", 8);
    assert_int_equal(moac_dataset_load_text(&ds, p, MOAC_DATA_CHAR, 0.5, 283, 2, table, 9, &diag), 0);
    assert_int_equal(ds.vocab, 9);
    assert_int_equal(ds.tokens[0], 2); /* 'a' */
    assert_int_equal(ds.tokens[3], 0); /* '\n' */
    moac_dataset_free(&ds);
    p = file_with("g.txt", "abc\nfxd\n", 8);
    assert_int_equal(moac_dataset_load_text(&ds, p, MOAC_DATA_CHAR, 0.5, 283, 2, table, 9, &diag), -1);
    assert_true(has(":2:2: error: character 'x' (byte 0x78) is not in the checkpoint's vocabulary of 9 characters"));
    assert_true(has("g.txt:2:2"));
    const unsigned char dup[] = "aa";
    assert_int_equal(moac_dataset_load_text(&ds, p, MOAC_DATA_CHAR, 0.5, 283, 2, dup, 2, &diag), -1);
    assert_true(has("lists byte 0x61 twice"));
}

/* A text whose training part uses only 'a'..'e' and whose validation part only 'X'..'Z'. */
static const char *two_alphabets(size_t n, size_t ntrain) {
    char *text = malloc(n);
    for (size_t i = 0; i < n; i++) text[i] = i < ntrain ? (char)('a' + (i * 7 + i / 3) % 5) : (char)('X' + i % 3);
    const char *p = file_with("two.txt", text, n);
    free(text);
    return p;
}

static void test_text_batches(void **state) {
    (void)state;
    enum { B = 6, T = 16 };
    const char *p = two_alphabets(1000, 900);
    assert_int_equal(load(p, MOAC_DATA_CHAR, 0.9, 283, T), 0);
    int32_t x[B * T], y[B * T], x2[B * T], y2[B * T];
    uint8_t ans[B * T];
    for (int split = 0; split < 2; split++) {
        size_t lo = split ? 900 : 0, len = split ? 100 : 900;
        for (uint64_t step = 0; step < 50; step++) {
            memset(ans, 7, sizeof ans);
            moac_dataset_batch(&ds, split, 1234, step, B, T, x, y, ans);
            for (int i = 0; i < B * T; i++) assert_int_equal(ans[i], 0);
            for (int b = 0; b < B; b++) {
                /* the documented draw: offset = below(seed, BATCH stream of (split, step), row) */
                uint64_t off = moac_rng_below(1234, moac_rng_stream(MOAC_RNG_BATCH, split, step), b, len - T);
                assert_memory_equal(x + b * T, ds.tokens + lo + off, T * sizeof *x);
                assert_memory_equal(y + b * T, ds.tokens + lo + off + 1, T * sizeof *y);
                for (int t = 0; t < T; t++) {
                    char c = (char)ds.chars[y[b * T + t]];
                    assert_true(split ? (c >= 'X' && c <= 'Z') : (c >= 'a' && c <= 'e'));
                }
            }
            /* the same (seed, split, step) gives the same batch, always */
            moac_dataset_batch(&ds, split, 1234, step, B, T, x2, y2, NULL);
            assert_memory_equal(x, x2, sizeof x);
            assert_memory_equal(y, y2, sizeof y);
        }
        moac_dataset_batch(&ds, split, 1234, 7, B, T, x, y, NULL);
        moac_dataset_batch(&ds, split, 1234, 8, B, T, x2, y2, NULL);
        assert_memory_not_equal(x, x2, sizeof x);
        moac_dataset_batch(&ds, split, 1235, 7, B, T, x2, y2, NULL);
        assert_memory_not_equal(x, x2, sizeof x);
    }
    /* a split of exactly T + 1 tokens: every window is the whole split */
    assert_int_equal(load(two_alphabets(200, 183), MOAC_DATA_CHAR, 0.915, 283, T), 0);
    assert_int_equal(ds.ntokens - ds.ntrain, T + 1);
    for (uint64_t step = 0; step < 20; step++) {
        moac_dataset_batch(&ds, 1, 9, step, B, T, x, y, NULL);
        for (int b = 0; b < B; b++) {
            assert_memory_equal(x + b * T, ds.tokens + ds.ntrain, T * sizeof *x);
            assert_int_equal(y[b * T + T - 1], ds.tokens[ds.ntokens - 1]);
        }
    }
}

/* ---- token files ---- */

/* Writes n tokens as little-endian u16 (width 2) or u32 (width 4), byte by byte, so the file's
 * layout does not depend on this machine's byte order; returns its path. */
static const char *token_file(const char *name, const uint32_t *tok, size_t n, int width) {
    unsigned char *bytes = malloc(n * (size_t)width + 1);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < width; k++) bytes[i * (size_t)width + (size_t)k] = (unsigned char)(tok[i] >> (8 * k));
    const char *p = file_with(name, (const char *)bytes, n * (size_t)width);
    free(bytes);
    return p;
}

/* A deterministic token sequence of n tokens below vocab, different in every position class. */
static uint32_t *pattern(size_t n, uint32_t vocab, uint32_t salt) {
    uint32_t *t = malloc(n * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = (uint32_t)((i * 7919u + i / 3 + salt) % vocab);
    return t;
}

static int load_tok(const char *train, const char *val, int vocab, int width, double split, int context, int scan) {
    moac_diag_free(&diag);
    moac_diag_init(&diag);
    moac_dataset_free(&ds);
    moac_token_source src = {train, val, vocab, width, split};
    return moac_dataset_load_tokens(&ds, &src, context, scan, &diag);
}

/* The load fails with one error naming the file and saying each phrase, leaving ds empty. */
static void expect_tok_error(const char *train, const char *val, int vocab, int width, double split, int context,
                             int scan, const char *file, const char *phrase, const char *phrase2) {
    assert_int_equal(load_tok(train, val, vocab, width, split, context, scan), -1);
    assert_int_equal(diag.errors, 1);
    char named[600];
    snprintf(named, sizeof named, "%s: error: ", file);
    assert_true(has(named));
    assert_true(has(phrase));
    if (phrase2) assert_true(has(phrase2));
    assert_null(ds.map[0]);
    assert_null(ds.map[1]);
}

/* Every row of a batch is the documented window of its split, read back here from the tokens
 * the test wrote (not from the mapping), and the same (seed, split, step) always gives it. */
static void check_token_batches(const uint32_t *split_tokens[2], const size_t len[2], int T) {
    enum { B = 5 };
    int32_t x[B * 64], y[B * 64], x2[B * 64], y2[B * 64];
    assert_true(T <= 64);
    for (int split = 0; split < 2; split++)
        for (uint64_t step = 0; step < 40; step++) {
            moac_dataset_batch(&ds, split, 99, step, B, T, x, y, NULL);
            for (int b = 0; b < B; b++) {
                uint64_t off = moac_rng_below(99, moac_rng_stream(MOAC_RNG_BATCH, split, step), b, len[split] - T);
                for (int t = 0; t < T; t++) {
                    assert_int_equal(x[b * T + t], split_tokens[split][off + t]);
                    assert_int_equal(y[b * T + t], split_tokens[split][off + t + 1]);
                }
            }
            moac_dataset_batch(&ds, split, 99, step, B, T, x2, y2, NULL);
            assert_memory_equal(x, x2, (size_t)B * T * sizeof *x);
            assert_memory_equal(y, y2, (size_t)B * T * sizeof *y);
        }
}

static double entropy_of(const uint32_t *t, size_t n, int vocab) {
    double *count = calloc((size_t)vocab, sizeof *count), h = 0;
    for (size_t i = 0; i < n; i++) count[t[i]]++;
    for (int v = 0; v < vocab; v++)
        if (count[v] > 0) h -= count[v] / (double)n * log(count[v] / (double)n);
    free(count);
    return h;
}

/* One u16 file split by `split`: sizes, the split, batches, the hash, the entropy. */
static void test_tokens_split(void **state) {
    (void)state;
    enum { N = 3001, V = 50257, T = 24 };
    uint32_t *tok = pattern(N, V, 0);
    tok[17] = V - 1; /* the largest token is allowed */
    const char *p = token_file("train.bin", tok, N, 2);
    assert_int_equal(load_tok(p, NULL, V, 2, 0.9, T, MOAC_TOKENS_TRAIN), 0);
    assert_int_equal(ds.kind, MOAC_DATA_TOKENS);
    assert_int_equal(ds.vocab, V);
    assert_int_equal(ds.ntokens, N);
    assert_int_equal(ds.ntrain, (size_t)floor(0.9 * N));
    assert_int_equal(ds.bytes, 2 * N);
    assert_null(ds.map[1]);
    const uint32_t *parts[2] = {tok, tok + ds.ntrain};
    size_t len[2] = {ds.ntrain, N - ds.ntrain};
    check_token_batches(parts, len, T);
    /* the hash a checkpoint records is the file's, as sha256sum prints it */
    unsigned char *bytes = malloc(2 * N);
    FILE *f = fopen(p, "rb");
    assert_int_equal(fread(bytes, 1, 2 * N, f), 2 * N);
    fclose(f);
    char want[65];
    moac_sha256_hex(bytes, 2 * N, want);
    assert_string_equal(ds.sha256, want);
    free(bytes);
    assert_float_equal(moac_dataset_unigram_entropy(&ds), entropy_of(tok, ds.ntrain, V), 1e-12);
    assert_true(ds.given && !strcmp(ds.given, p) && ds.abspath && ds.abspath[0] == '/');
    /* moac check's reading: the same checks, no hash */
    assert_int_equal(load_tok(p, NULL, V, 2, 0.9, T, MOAC_TOKENS_CHECK), 0);
    assert_string_equal(ds.sha256, "");
    free(tok);
}

/* u32 tokens above 65535, a separate validation file: each split reads its own file. */
static void test_tokens_val_file(void **state) {
    (void)state;
    enum { NT = 700, NV = 90, V = 100277, T = 32 };
    uint32_t *tr = pattern(NT, V, 1), *va = pattern(NV, V, 5);
    tr[3] = 70000; /* needs 32 bits */
    const char *pt = token_file("train.bin", tr, NT, 4), *pv = token_file("val.bin", va, NV, 4);
    assert_int_equal(load_tok(pt, pv, V, 4, 0.5, T, MOAC_TOKENS_TRAIN), 0);
    assert_int_equal(ds.ntrain, NT);
    assert_int_equal(ds.ntokens, NT + NV);
    assert_int_equal(ds.split, 1); /* nothing is split */
    assert_int_equal(ds.val_bytes, 4 * NV);
    assert_true(ds.val_given && !strcmp(ds.val_given, pv));
    assert_int_equal(strlen(ds.val_sha256), 64);
    assert_string_not_equal(ds.sha256, ds.val_sha256);
    const uint32_t *parts[2] = {tr, va};
    size_t len[2] = {NT, NV};
    check_token_batches(parts, len, T);
    assert_float_equal(moac_dataset_unigram_entropy(&ds), entropy_of(tr, NT, V), 1e-12);
    free(tr);
    free(va);
}

/* Token files draw batches exactly as text does: the byte tokenizer's tokens of a text and the
 * same tokens in a u16 file give the same batches. */
static void test_tokens_match_text(void **state) {
    (void)state;
    enum { N = 900, T = 16, B = 4 };
    char text[N];
    uint32_t tok[N];
    for (int i = 0; i < N; i++) tok[i] = (unsigned char)(text[i] = (char)('a' + (i * 13 + i / 7) % 26));
    assert_int_equal(load(file_with("t.txt", text, N), MOAC_DATA_BYTE, 0.8, 256, T), 0);
    int32_t xt[2][B * T], yt[2][B * T], xk[B * T], yk[B * T];
    for (int split = 0; split < 2; split++) moac_dataset_batch(&ds, split, 7, 3, B, T, xt[split], yt[split], NULL);
    assert_int_equal(load_tok(token_file("t.bin", tok, N, 2), NULL, 256, 2, 0.8, T, MOAC_TOKENS_TRAIN), 0);
    for (int split = 0; split < 2; split++) {
        moac_dataset_batch(&ds, split, 7, 3, B, T, xk, yk, NULL);
        assert_memory_equal(xk, xt[split], sizeof xk);
        assert_memory_equal(yk, yt[split], sizeof yk);
    }
}

static void test_tokens_errors(void **state) {
    (void)state;
    enum { V = 1000, T = 8 };
    uint32_t *tok = pattern(200, V, 0);
    const char *good = token_file("good.bin", tok, 200, 2);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.bin", dir);
    expect_tok_error(missing, NULL, V, 2, 0.9, T, MOAC_TOKENS_MAP, missing, "cannot read token file: No such file",
                     "relative to the directory moac runs in");
    expect_tok_error(good, missing, V, 2, 0.9, T, MOAC_TOKENS_MAP, missing, "cannot read token file", NULL);
    expect_tok_error(dir, NULL, V, 2, 0.9, T, MOAC_TOKENS_MAP, dir, "it is a directory", NULL);
    const char *empty = file_with("empty.bin", "", 0);
    expect_tok_error(empty, NULL, V, 2, 0.9, T, MOAC_TOKENS_MAP, empty, "the file is empty", "u16 tokens");
    const char *odd = file_with("odd.bin", "abcde", 5);
    expect_tok_error(odd, NULL, V, 2, 0.9, T, MOAC_TOKENS_MAP, odd, "is 5 bytes, not a whole number of 2-byte tokens",
                     "1 byte is left over");
    expect_tok_error(odd, NULL, V, 4, 0.9, T, MOAC_TOKENS_MAP, odd, "not a whole number of 4-byte tokens (dtype = u32)",
                     "1 byte is left over");
    const char *six = file_with("six.bin", "abcdef", 6);
    expect_tok_error(six, NULL, V, 4, 0.9, T, MOAC_TOKENS_MAP, six, "is 6 bytes", "2 bytes are left over");
    /* a token >= vocab: the file, its index, byte offset and value, in both kinds of scan */
    tok[123] = V;
    tok[150] = V + 5;
    const char *bad = token_file("bad.bin", tok, 200, 2);
    for (int scan = MOAC_TOKENS_CHECK; scan <= MOAC_TOKENS_TRAIN; scan++)
        expect_tok_error(bad, NULL, V, 2, 0.9, T, scan, bad, "token 1000 at index 123 (byte offset 246) is not below "
                         "the vocab 1000", "read as u16");
    expect_tok_error(good, bad, V, 2, 0.9, T, MOAC_TOKENS_TRAIN, bad, "token 1000 at index 123", NULL);
    assert_int_equal(load_tok(bad, NULL, V, 2, 0.9, T, MOAC_TOKENS_MAP), 0); /* sizes only: not read */
    /* past the first chunk of the scan (1 MiB): still located exactly */
    enum { BIG = 700000 };
    uint32_t *big = pattern(BIG, V, 3);
    big[654321] = 4242;
    const char *pb = token_file("big.bin", big, BIG, 2);
    expect_tok_error(pb, NULL, V, 2, 0.9, T, MOAC_TOKENS_TRAIN, pb, "token 4242 at index 654321 (byte offset 1308642)",
                     NULL);
    free(big);
    /* too short for one window of context + 1, per split */
    expect_tok_error(good, NULL, V, 2, 0.9, 20, MOAC_TOKENS_MAP, good, "the validation split has 20 tokens, fewer than "
                     "one window of context + 1 = 21", "lower split");
    expect_tok_error(good, NULL, V, 2, 0.05, 20, MOAC_TOKENS_MAP, good, "the training split has 10 tokens", NULL);
    const char *tiny = token_file("tiny.bin", tok, 8, 2);
    expect_tok_error(good, tiny, V, 2, 0.9, T, MOAC_TOKENS_MAP, tiny, "the validation file has 8 tokens, fewer than one "
                     "window of context + 1 = 9", NULL);
    expect_tok_error(tiny, good, V, 2, 0.9, T, MOAC_TOKENS_MAP, tiny, "the training file has 8 tokens", NULL);
    free(tok);
}

/* Checks one synthetic batch against the task's definition (docs/training.md). joined: keys
 * 1..15, values 16..30, the pair (k, v) is token 31 + 15 * (k - 1) + (v - 16); separate: keys
 * 1..26, values 27..52, a pair is listed as its key then its value. */
static void check_synthetic(const int32_t *x, const int32_t *y, const uint8_t *ans, int B, int T, int P, int joined) {
    int nk = joined ? 15 : 26, v0 = 1 + nk, p0 = 1 + 2 * nk, L = joined ? P : 2 * P;
    for (int b = 0; b < B; b++) {
        int32_t seq[256];
        memcpy(seq, x + b * T, T * sizeof *seq);
        seq[T] = y[b * T + T - 1];
        for (int t = 0; t + 1 < T; t++) assert_int_equal(y[b * T + t], x[b * T + t + 1]);
        int value_of[27] = {0}, seen[27] = {0};
        for (int i = 0; i < P; i++) {
            int k, v;
            if (joined) {
                assert_true(seq[i] >= p0 && seq[i] < p0 + nk * nk);
                k = 1 + (seq[i] - p0) / nk, v = v0 + (seq[i] - p0) % nk;
            } else {
                k = seq[2 * i], v = seq[2 * i + 1];
            }
            assert_true(k >= 1 && k <= nk);
            assert_false(seen[k]); /* listed keys are distinct */
            seen[k] = 1;
            assert_true(v >= v0 && v < v0 + nk);
            value_of[k] = v;
        }
        assert_int_equal(seq[L], 0);
        for (int t = L + 1; t <= T; t++) {
            int is_query = (t - L - 1) % 2 == 0;
            if (is_query) assert_true(seq[t] >= 1 && seq[t] <= nk && seen[seq[t]]);
            else assert_int_equal(seq[t], value_of[seq[t - 1]]); /* every answer is the listed value */
        }
        for (int t = 0; t < T; t++) {
            int expect = t >= L + 1 && (t - L - 1) % 2 == 0; /* x[t] a query, y[t] its answer */
            assert_int_equal(ans[b * T + t], expect);
        }
    }
}

/* Batches follow the definition, are pure functions of (seed, split, step), and differ across
 * steps and splits. */
static void check_synthetic_batches(int P, int T, int joined) {
    enum { B = 8 };
    int32_t x[B * 64], y[B * 64], x2[B * 64], y2[B * 64];
    uint8_t ans[B * 64], ans2[B * 64];
    size_t n = (size_t)B * T;
    for (int split = 0; split < 2; split++)
        for (uint64_t step = 0; step < 100; step++) {
            moac_dataset_batch(&ds, split, 42, step, B, T, x, y, ans);
            check_synthetic(x, y, ans, B, T, P, joined);
            moac_dataset_batch(&ds, split, 42, step, B, T, x2, y2, ans2);
            assert_memory_equal(x, x2, n * sizeof *x);
            assert_memory_equal(y, y2, n * sizeof *y);
            assert_memory_equal(ans, ans2, n);
        }
    moac_dataset_batch(&ds, 0, 42, 3, B, T, x, y, NULL);
    moac_dataset_batch(&ds, 0, 42, 4, B, T, x2, y2, NULL);
    assert_memory_not_equal(x, x2, n * sizeof *x);
    moac_dataset_batch(&ds, 1, 42, 3, B, T, x2, y2, NULL);
    assert_memory_not_equal(x, x2, n * sizeof *x);
}

static void test_synthetic_joined(void **state) {
    (void)state;
    assert_int_equal(moac_dataset_synthetic(&ds, 6, MOAC_SYNTH_JOINED, 283, 41, NULL, &diag), 0);
    assert_int_equal(ds.kind, MOAC_DATA_SYNTHETIC);
    assert_int_equal(ds.vocab, 256);
    check_synthetic_batches(6, 41, 1);
    /* the shortest context allowed, and all 15 keys */
    moac_dataset_free(&ds);
    assert_int_equal(moac_dataset_synthetic(&ds, 15, MOAC_SYNTH_JOINED, 256, 18, NULL, &diag), 0);
    check_synthetic_batches(15, 18, 1);
    moac_strbuf out;
    moac_strbuf_init(&out);
    /* ';', keys a and o, values 0 and E, pairs (a, 0), (a, E), (o, E), then out of range */
    int32_t toks[] = {0, 1, 15, 16, 30, 31, 45, 255, 256, -1};
    moac_dataset_decode(&ds, toks, 10, &out);
    assert_string_equal(out.data, ";ao0Ea0aEoE??");
    moac_strbuf_free(&out);
}

static void test_synthetic_separate(void **state) {
    (void)state;
    assert_int_equal(moac_dataset_synthetic(&ds, 6, MOAC_SYNTH_SEPARATE, 283, 41, NULL, &diag), 0);
    assert_int_equal(ds.vocab, 53);
    check_synthetic_batches(6, 41, 0);
    /* the shortest context allowed, and all 26 keys */
    moac_dataset_free(&ds);
    assert_int_equal(moac_dataset_synthetic(&ds, 26, MOAC_SYNTH_SEPARATE, 53, 55, NULL, &diag), 0);
    int32_t xs[2 * 55], ys[2 * 55];
    uint8_t as[2 * 55];
    moac_dataset_batch(&ds, 0, 1, 0, 2, 55, xs, ys, as);
    check_synthetic(xs, ys, as, 2, 55, 26, 0);
    moac_strbuf out;
    moac_strbuf_init(&out);
    int32_t toks[] = {0, 1, 26, 27, 36, 37, 52, 53};
    moac_dataset_decode(&ds, toks, 8, &out);
    assert_string_equal(out.data, ";az09AP?");
    moac_strbuf_free(&out);
}

static void test_synthetic_errors(void **state) {
    (void)state;
    assert_int_equal(moac_dataset_synthetic(&ds, 8, MOAC_SYNTH_SEPARATE, 52, 256, NULL, &diag), -1);
    assert_true(has("the synthetic task (layout = separate) uses 53 tokens"));
    assert_true(has("vocab is 52; set vocab = 53 or more"));
    assert_int_equal(moac_dataset_synthetic(&ds, 8, MOAC_SYNTH_JOINED, 255, 256, NULL, &diag), -1);
    assert_true(has("the synthetic task (layout = joined) uses 256 tokens"));
    assert_true(has("vocab is 255; set vocab = 256 or more in the spec, or use synthetic(layout = separate), "
                    "which needs 53"));
    /* The spec whose model is too small is named, so the user knows which file to change. */
    assert_int_equal(moac_dataset_synthetic(&ds, 8, MOAC_SYNTH_JOINED, 16, 256, "small.moa", &diag), -1);
    assert_true(has("small.moa: error: the synthetic task (layout = joined) uses 256 tokens"));
    assert_int_equal(moac_dataset_synthetic(&ds, 0, MOAC_SYNTH_SEPARATE, 64, 256, NULL, &diag), -1);
    assert_int_equal(moac_dataset_synthetic(&ds, 27, MOAC_SYNTH_SEPARATE, 64, 256, NULL, &diag), -1);
    assert_true(has("synthetic(pairs = 27): pairs must be between 1 and 26 (layout = separate has 26 keys)"));
    assert_int_equal(moac_dataset_synthetic(&ds, 16, MOAC_SYNTH_JOINED, 256, 256, NULL, &diag), -1);
    assert_true(has("synthetic(pairs = 16): pairs must be between 1 and 15 (layout = joined has 15 keys)"));
    assert_int_equal(moac_dataset_synthetic(&ds, 6, MOAC_SYNTH_SEPARATE, 64, 14, NULL, &diag), -1);
    assert_true(has("synthetic(pairs = 6, layout = separate) needs context >= 2 * pairs + 3 = 15"));
    assert_true(has("but context is 14"));
    assert_int_equal(moac_dataset_synthetic(&ds, 6, MOAC_SYNTH_JOINED, 256, 8, NULL, &diag), -1);
    assert_true(has("synthetic(pairs = 6, layout = joined) needs context >= pairs + 3 = 9"));
    assert_int_equal(diag.errors, 8);
    assert_int_equal(moac_dataset_synthetic(&ds, 6, MOAC_SYNTH_SEPARATE, 64, 15, NULL, &diag), 0);
    moac_dataset_free(&ds);
    assert_int_equal(moac_dataset_synthetic(&ds, 6, MOAC_SYNTH_JOINED, 256, 9, NULL, &diag), 0);
}

/* The exact synthetic entropy agrees with a large sample of targets. */
static void check_sampled_entropy(int P, moac_synth_layout layout) {
    enum { B = 64, T = 64 };
    assert_int_equal(moac_dataset_synthetic(&ds, P, layout, 256, T, NULL, &diag), 0);
    static int32_t x[B * T], y[B * T];
    double count[256] = {0}, total = 0, h = 0;
    for (uint64_t step = 0; step < 200; step++) {
        moac_dataset_batch(&ds, 0, 5, step, B, T, x, y, NULL);
        for (int i = 0; i < B * T; i++) count[y[i]]++, total++;
    }
    for (int i = 0; i < 256; i++)
        if (count[i]) h -= count[i] / total * log(count[i] / total);
    assert_float_equal(moac_dataset_unigram_entropy(&ds), h, 0.005);
    moac_dataset_free(&ds);
}

static void test_entropy(void **state) {
    (void)state;
    char text[100];
    for (int i = 0; i < 100; i++) text[i] = "abcd"[i % 4];
    assert_int_equal(load(file_with("e.txt", text, 100), MOAC_DATA_CHAR, 0.8, 283, 4), 0);
    assert_float_equal(moac_dataset_unigram_entropy(&ds), log(4.0), 1e-12);
    /* separate, pairs 1, T 5: targets are value ; key value key */
    moac_dataset_free(&ds);
    assert_int_equal(moac_dataset_synthetic(&ds, 1, MOAC_SYNTH_SEPARATE, 64, 5, NULL, &diag), 0);
    assert_float_equal(moac_dataset_unigram_entropy(&ds), 0.2 * log(5.0) + 0.8 * log(65.0), 1e-12);
    /* joined, pairs 2, T 5: targets are pair ; key value key: 1/5 each over 225 pairs, 1 ';',
     * 2/5 over 15 keys and 1/5 over 15 values */
    moac_dataset_free(&ds);
    assert_int_equal(moac_dataset_synthetic(&ds, 2, MOAC_SYNTH_JOINED, 256, 5, NULL, &diag), 0);
    double want = 0.2 * log(5.0 * 225) + 0.2 * log(5.0) + 0.4 * log(5.0 / 2 * 15) + 0.2 * log(5.0 * 15);
    assert_float_equal(moac_dataset_unigram_entropy(&ds), want, 1e-12);
    moac_dataset_free(&ds);
    check_sampled_entropy(8, MOAC_SYNTH_SEPARATE);
    check_sampled_entropy(8, MOAC_SYNTH_JOINED);
}

/* Real text kept in the repo (tests/data/README.md): its vocabulary is counted here, byte by
 * byte, independently of the loader, and its split and entropy must come out as for any text. */
static void test_shakespeare(void **state) {
    (void)state;
    const char *p = MOAC_SOURCE_ROOT "/tests/data/shakespeare-256k.txt";
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    int seen[256] = {0}, distinct = 0, c;
    size_t bytes = 0;
    while ((c = fgetc(f)) != EOF) {
        bytes++;
        if (!seen[c]++) distinct++;
    }
    fclose(f);
    int rc = load(p, MOAC_DATA_CHAR, 0.9, 283, 256);
    if (rc) fprintf(stderr, "%s", moac_strbuf_cstr(&diag.out));
    assert_int_equal(rc, 0);
    assert_int_equal(ds.vocab, distinct);
    assert_int_equal(ds.ntokens, bytes); /* ASCII: one character per byte */
    assert_true(ds.ntokens > 200000);
    assert_int_equal(ds.ntrain, (size_t)floor(0.9 * (double)ds.ntokens));
    double h = moac_dataset_unigram_entropy(&ds);
    assert_true(h > 3.2 && h < 3.4); /* English characters: about 3.3 nats */
    int32_t x[4 * 256], y[4 * 256];
    moac_dataset_batch(&ds, 1, 1, 0, 4, 256, x, y, NULL);
    moac_strbuf out;
    moac_strbuf_init(&out);
    moac_dataset_decode(&ds, x, 256, &out);
    assert_int_equal(out.len, 256);
    moac_strbuf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_char_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_byte_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fixed_chars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_val_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_match_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synthetic_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synthetic_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synthetic_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entropy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shakespeare, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
