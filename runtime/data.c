/* realpath is XSI (the build asks for plain POSIX 2008) */
#define _XOPEN_SOURCE 700

#include "runtime/data.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "support/readfile.h"
#include "support/rng.h"
#include "support/sha256.h"

/* The synthetic task's tokens (docs/training.md). Both layouts number ';' 0, then the keys, then
 * the values; the joined layout adds one token per (key, value) pair after them.
 *   separate: keys a..z, values 0..9 A..P (53 tokens): a pair is listed as a key, then a value.
 *   joined:   keys a..o, values 0..9 A..E, then the 225 pairs (256 tokens): a pair is one token. */
typedef struct syn_layout {
    int nkeys, nvals, vocab;
    int joined;
} syn_layout;
static const syn_layout syn_layouts[] = {
    [MOAC_SYNTH_JOINED] = {15, 15, 1 + 15 + 15 + 15 * 15, 1},
    [MOAC_SYNTH_SEPARATE] = {26, 26, 1 + 26 + 26, 0},
};
enum { SYN_SEP = 0, SYN_KEY0 = 1, SYN_MAX_VOCAB = 256 };
static const char syn_key_symbols[] = "abcdefghijklmnopqrstuvwxyz";
static const char syn_val_symbols[] = "0123456789ABCDEFGHIJKLMNOP";

static const syn_layout *layout_of(const moac_dataset *ds) { return &syn_layouts[ds->layout]; }
static int syn_val0(const syn_layout *l) { return SYN_KEY0 + l->nkeys; }
static int syn_pair0(const syn_layout *l) { return syn_val0(l) + l->nvals; }
/* Where the listing ends: the ';' position (a joined pair takes one position, a separate one two). */
static int syn_listing_len(const syn_layout *l, int pairs) { return l->joined ? pairs : 2 * pairs; }

int moac_synthetic_vocab(moac_synth_layout layout) { return syn_layouts[layout].vocab; }

void moac_dataset_free(moac_dataset *ds) {
    free(ds->tokens);
    for (int i = 0; i < 2; i++)
        if (ds->map[i]) munmap((void *)ds->map[i], ds->map_bytes[i]);
    free((char *)ds->path); /* always our own copy (see set_path) */
    free(ds->given);
    free(ds->abspath);
    free(ds->val_given);
    free(ds->val_abspath);
    memset(ds, 0, sizeof *ds);
}

static char *copy_of(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) abort();
    memcpy(p, s, n);
    return p;
}

/* The dataset keeps its own copy of the path, so it may outlive the caller's string. */
static void set_path(moac_dataset *ds, const char *path) { ds->path = copy_of(path); }

void moac_dataset_set_given(moac_dataset *ds, const char *given) {
    free(ds->given);
    ds->given = copy_of(given);
}

void moac_dataset_set_val_given(moac_dataset *ds, const char *val_given) {
    if (!val_given) return;
    free(ds->val_given);
    ds->val_given = copy_of(val_given);
}

/* The file's absolute path, for the checkpoint's record: realpath, or (if the file went away
 * since it was read) the working directory joined with path. */
static char *absolute_path(const char *path) {
    char *real = realpath(path, NULL);
    if (real) return real;
    char cwd[4096];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd)) return copy_of(path);
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *p = malloc(n);
    if (!p) abort();
    snprintf(p, n, "%s/%s", cwd, path);
    return p;
}

/* Reads the whole file through the bounded reader (regular files up to MOAC_LIMIT_DATA_BYTES;
 * bytes of any value, the byte tokenizer takes binary files); on failure reports why, with what
 * to do, and returns -1. */
static int read_all(const char *path, unsigned char **out, size_t *len, moac_diag *d) {
    char *text, why[512];
    if (moac_file_read(path, &moac_limits_data, &text, len, why, sizeof why)) {
        int missing = errno == ENOENT;
        moac_diag_file_error(d, path, "cannot read training data: %s%s", why,
                             missing ? " (data paths are relative to the directory moac runs in)" : "");
        return -1;
    }
    *out = (unsigned char *)text;
    return 0;
}

/* 1-based line and byte column of offset in text, for messages. */
static void line_col(const unsigned char *text, size_t offset, size_t *line, size_t *col) {
    *line = 1;
    size_t start = 0;
    for (size_t i = 0; i < offset; i++)
        if (text[i] == '\n') ++*line, start = i + 1;
    *col = offset - start + 1;
}

static const char *show_byte(unsigned char c, char buf[32]) {
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 32, "character '%c' (byte 0x%02x)", c, c);
    else snprintf(buf, 32, "byte 0x%02x", c);
    return buf;
}

/* Maps every byte to its token; for CHAR builds the sorted table or uses the fixed one. */
static int tokenise(moac_dataset *ds, const unsigned char *text, size_t n, int max_vocab,
                    const unsigned char *fixed_chars, int nfixed, moac_diag *d) {
    int map[256];
    const char *path = ds->path;
    if (ds->kind == MOAC_DATA_BYTE) {
        if (max_vocab < 256) {
            moac_diag_file_error(d, path, "tokenizer = byte needs vocab >= 256 but the model's vocab is %d; raise "
                                 "vocab in the spec or use tokenizer = char", max_vocab);
            return -1;
        }
        ds->vocab = 256;
        for (int i = 0; i < 256; i++) map[i] = i;
    } else if (fixed_chars) {
        for (int i = 0; i < 256; i++) map[i] = -1;
        for (int i = 0; i < nfixed; i++) {
            if (map[fixed_chars[i]] >= 0) {
                moac_diag_file_error(d, path, "the checkpoint's character table lists byte 0x%02x twice; the "
                                     "checkpoint is corrupt", fixed_chars[i]);
                return -1;
            }
            map[fixed_chars[i]] = i;
            ds->chars[i] = fixed_chars[i];
        }
        ds->vocab = nfixed;
    } else {
        int present[256] = {0};
        for (size_t i = 0; i < n; i++) present[text[i]] = 1;
        ds->vocab = 0;
        for (int c = 0; c < 256; c++) {
            map[c] = present[c] ? ds->vocab : -1;
            if (present[c]) ds->chars[ds->vocab++] = (unsigned char)c;
        }
    }
    if (ds->vocab > max_vocab) {
        moac_diag_file_error(d, path, "has %d distinct characters but the model's vocab is %d; raise vocab in the "
                             "spec or use tokenizer = byte", ds->vocab, max_vocab);
        return -1;
    }
    ds->tokens = malloc(n * sizeof *ds->tokens);
    if (!ds->tokens) {
        moac_diag_file_error(d, path, "out of memory tokenising %zu bytes", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (map[text[i]] < 0) {
            size_t line, col;
            char where[64], what[32];
            line_col(text, i, &line, &col);
            snprintf(where, sizeof where, ":%zu:%zu", line, col);
            moac_strbuf loc;
            moac_strbuf_init(&loc);
            moac_strbuf_printf(&loc, "%s%s", path, where);
            moac_diag_file_error(d, moac_strbuf_cstr(&loc), "%s is not in the checkpoint's vocabulary of %d "
                                 "characters; resume on the text the checkpoint was trained on, or train from "
                                 "scratch", show_byte(text[i], what), nfixed);
            moac_strbuf_free(&loc);
            return -1;
        }
        ds->tokens[i] = map[text[i]];
    }
    ds->ntokens = n;
    return 0;
}

static int check_split(moac_dataset *ds, double split, int context, moac_diag *d) {
    if (!(split > 0 && split <= 1)) {
        moac_diag_file_error(d, ds->path, "split = %g must be in (0, 1]: the fraction of the data used for training",
                             split);
        return -1;
    }
    ds->ntrain = (size_t)floor(split * (double)ds->ntokens);
    if (ds->ntrain > ds->ntokens) ds->ntrain = ds->ntokens;
    size_t need = (size_t)context + 1, nval = ds->ntokens - ds->ntrain;
    if (ds->ntrain < need || nval < need) {
        int train = ds->ntrain < need;
        moac_diag_file_error(d, ds->path, "the %s split has %zu tokens, fewer than one window of context + 1 = %zu; "
                             "use more data or a %s split (now %g)", train ? "training" : "validation",
                             train ? ds->ntrain : nval, need, train ? "higher" : "lower", split);
        return -1;
    }
    return 0;
}

int moac_dataset_load_text(moac_dataset *ds, const char *path, moac_data_kind kind, double split, int max_vocab,
                           int context, const unsigned char *fixed_chars, int nfixed, moac_diag *d) {
    assert(kind == MOAC_DATA_CHAR || kind == MOAC_DATA_BYTE);
    memset(ds, 0, sizeof *ds);
    ds->kind = kind;
    ds->context = context;
    set_path(ds, path);
    if (context < 1) {
        moac_diag_file_error(d, path, "context = %d must be at least 1", context);
        moac_dataset_free(ds);
        return -1;
    }
    if (kind == MOAC_DATA_CHAR && fixed_chars && (nfixed < 1 || nfixed > 256)) {
        moac_diag_file_error(d, path, "the checkpoint's character table has %d entries (1 to 256 expected); the "
                             "checkpoint is corrupt", nfixed);
        moac_dataset_free(ds);
        return -1;
    }
    unsigned char *text = NULL;
    size_t n = 0;
    int rc = read_all(path, &text, &n, d);
    if (!rc && n == 0) {
        moac_diag_file_error(d, path, "the file is empty; moac trains on text");
        rc = -1;
    }
    const unsigned char *nul = rc ? NULL : memchr(text, 0, n);
    if (nul) {
        moac_diag_file_error(d, path, "looks binary (NUL byte at offset %zu); moac trains on text",
                             (size_t)(nul - text));
        rc = -1;
    }
    if (!rc) rc = tokenise(ds, text, n, max_vocab, kind == MOAC_DATA_CHAR ? fixed_chars : NULL, nfixed, d);
    if (!rc) rc = check_split(ds, split, context, d);
    if (!rc) { /* what a checkpoint records of its data */
        ds->given = copy_of(path);
        ds->abspath = absolute_path(path);
        ds->bytes = n;
        ds->split = split;
        moac_sha256_hex(text, n, ds->sha256);
    }
    free(text);
    if (rc) moac_dataset_free(ds);
    return rc;
}

/* ---- token files ---- */

const char *moac_token_dtype_name(int token_bytes) { return token_bytes == 4 ? "u32" : "u16"; }

/* Token i of a little-endian u16/u32 array, whatever the host's byte order. */
static uint32_t token_at(const unsigned char *p, int width, size_t i) {
    p += i * (size_t)width;
    uint32_t t = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    if (width == 4) t |= (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return t;
}

/* Maps one token file read-only after the bounded reader's checks (a regular file within
 * MOAC_LIMIT_TOKEN_BYTES) and checks its size: not empty, a whole number of tokens. */
static int map_token_file(moac_dataset *ds, int which, const char *path, moac_diag *d) {
    char why[512];
    uint64_t size = 0;
    int fd = moac_file_open_fd(path, &moac_limits_tokens, &size, why, sizeof why);
    if (fd < 0) {
        int missing = errno == ENOENT;
        moac_diag_file_error(d, path, "cannot read token file: %s%s", why,
                             missing ? " (data paths are relative to the directory moac runs in)" : "");
        return -1;
    }
    const char *dtype = moac_token_dtype_name(ds->token_bytes);
    int rc = -1;
    if (size == 0)
        moac_diag_file_error(d, path, "the file is empty; a token file holds flat little-endian %s tokens (nanoGPT's "
                             "train.bin; scripts/tokenize.py writes them)", dtype);
    else if (size % (uint64_t)ds->token_bytes)
        moac_diag_file_error(d, path, "is %llu bytes, not a whole number of %d-byte tokens (dtype = %s): %llu byte%s "
                             "left over at the end; was it written with another dtype, or cut short?",
                             (unsigned long long)size, ds->token_bytes, dtype,
                             (unsigned long long)(size % (uint64_t)ds->token_bytes),
                             size % (uint64_t)ds->token_bytes == 1 ? " is" : "s are");
    else
        rc = 0;
    if (!rc) {
        void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            moac_diag_file_error(d, path, "cannot memory-map token file: %s", strerror(errno));
            rc = -1;
        } else {
            ds->map[which] = m;
            ds->map_bytes[which] = (size_t)size;
        }
    }
    close(fd); /* the mapping stays valid without the descriptor */
    return rc;
}

/* The tokens of one split: the training file, the validation file, or a part of the one file. */
static void token_span(const moac_dataset *ds, int split, const unsigned char **base, size_t *len) {
    if (split == 0) {
        *base = ds->map[0];
        *len = ds->ntrain;
    } else {
        *base = ds->map[1] ? ds->map[1] : ds->map[0] + ds->ntrain * (size_t)ds->token_bytes;
        *len = ds->ntokens - ds->ntrain;
    }
}

/* Both splits must hold a window of context + 1 tokens; with one file, as check_split splits. */
static int check_token_splits(moac_dataset *ds, const moac_token_source *src, moac_diag *d) {
    if (!src->val) return check_split(ds, src->split, ds->context, d);
    size_t need = (size_t)ds->context + 1;
    for (int split = 0; split < 2; split++) {
        const unsigned char *base;
        size_t len;
        token_span(ds, split, &base, &len);
        if (len >= need) continue;
        moac_diag_file_error(d, split ? src->val : src->train, "the %s file has %zu tokens, fewer than one window of "
                             "context + 1 = %zu; use more data or a smaller context", split ? "validation" : "training",
                             len, need);
        return -1;
    }
    return 0;
}

/* One pass over a mapped file, in chunks that stay in cache between the hash and the check:
 * every token below vocab; if sha256 is not NULL, the file's SHA-256 and its first `counted`
 * tokens added to count. */
static int scan_token_file(moac_dataset *ds, int which, const char *path, size_t counted, uint64_t *count,
                           char *sha256, moac_diag *d) {
    const unsigned char *base = ds->map[which];
    int w = ds->token_bytes;
    size_t n = ds->map_bytes[which] / (size_t)w, chunk = ((size_t)1 << 20) / (size_t)w;
    uint32_t vocab = (uint32_t)ds->vocab;
    moac_sha256 c;
    moac_sha256_init(&c);
    posix_madvise((void *)base, ds->map_bytes[which], POSIX_MADV_SEQUENTIAL);
    for (size_t lo = 0; lo < n; lo += chunk) {
        size_t hi = lo + chunk < n ? lo + chunk : n;
        if (sha256) moac_sha256_update(&c, base + lo * (size_t)w, (hi - lo) * (size_t)w);
        uint32_t worst = 0;
        for (size_t i = lo; i < hi; i++) {
            uint32_t t = token_at(base, w, i);
            worst = t > worst ? t : worst;
        }
        if (worst >= vocab) {
            size_t i = lo;
            while (token_at(base, w, i) < vocab) i++;
            moac_diag_file_error(d, path, "token %u at index %zu (byte offset %zu) is not below the vocab %d; was the "
                                 "file written by another tokenizer, or as another dtype (read as %s)? Set "
                                 "tokens(vocab = ..., dtype = ...) to the tokenizer's", token_at(base, w, i), i,
                                 i * (size_t)w, ds->vocab, moac_token_dtype_name(w));
            return -1;
        }
        for (size_t i = lo; sha256 && i < hi && i < counted; i++) count[token_at(base, w, i)]++;
    }
    /* batches read windows at random offsets from here on */
    posix_madvise((void *)base, ds->map_bytes[which], POSIX_MADV_RANDOM);
    if (!sha256) return 0;
    unsigned char digest[32];
    moac_sha256_final(&c, digest);
    for (int i = 0; i < 32; i++) snprintf(sha256 + 2 * i, 3, "%02x", digest[i]);
    return 0;
}

static double entropy_of_counts(const uint64_t *count, int n, size_t total) {
    double h = 0;
    for (int i = 0; i < n; i++)
        if (count[i]) h -= (double)count[i] / (double)total * log((double)count[i] / (double)total);
    return h;
}

/* Every token of both files checked; for training also both hashed, the training split counted. */
static int scan_tokens(moac_dataset *ds, const moac_token_source *src, int scan, moac_diag *d) {
    int full = scan == MOAC_TOKENS_TRAIN;
    uint64_t *count = full ? calloc((size_t)ds->vocab, sizeof *count) : NULL;
    if (full && !count) {
        moac_diag_file_error(d, src->train, "out of memory counting %d token kinds", ds->vocab);
        return -1;
    }
    int rc = scan_token_file(ds, 0, src->train, ds->ntrain, count, full ? ds->sha256 : NULL, d);
    if (!rc && ds->map[1]) rc = scan_token_file(ds, 1, src->val, 0, count, full ? ds->val_sha256 : NULL, d);
    if (!rc && full) ds->entropy = entropy_of_counts(count, ds->vocab, ds->ntrain);
    free(count);
    return rc;
}

int moac_dataset_load_tokens(moac_dataset *ds, const moac_token_source *src, int context, int scan, moac_diag *d) {
    assert(src->token_bytes == 2 || src->token_bytes == 4);
    memset(ds, 0, sizeof *ds);
    ds->kind = MOAC_DATA_TOKENS;
    ds->context = context;
    ds->vocab = src->vocab;
    ds->token_bytes = src->token_bytes;
    ds->entropy = NAN;
    set_path(ds, src->train);
    int rc = 0;
    if (context < 1) {
        moac_diag_file_error(d, src->train, "context = %d must be at least 1", context);
        rc = -1;
    }
    if (!rc && (src->vocab < 1 || src->vocab > MOAC_MAX_VOCAB)) {
        moac_diag_file_error(d, src->train, "vocab %d is not from 1 to %d", src->vocab, MOAC_MAX_VOCAB);
        rc = -1;
    }
    if (!rc) rc = map_token_file(ds, 0, src->train, d);
    if (!rc && src->val) rc = map_token_file(ds, 1, src->val, d);
    if (!rc) {
        size_t w = (size_t)ds->token_bytes, n0 = ds->map_bytes[0] / w;
        ds->ntokens = n0 + ds->map_bytes[1] / w;
        ds->ntrain = n0; /* with one file, check_split sets the split */
        rc = check_token_splits(ds, src, d);
    }
    if (!rc && scan != MOAC_TOKENS_MAP) rc = scan_tokens(ds, src, scan, d);
    if (!rc) { /* what a checkpoint records of its data */
        ds->given = copy_of(src->train);
        ds->abspath = absolute_path(src->train);
        ds->bytes = ds->map_bytes[0];
        ds->split = src->val ? 1 : src->split;
        if (src->val) {
            ds->val_given = copy_of(src->val);
            ds->val_abspath = absolute_path(src->val);
            ds->val_bytes = ds->map_bytes[1];
        }
    }
    if (rc) moac_dataset_free(ds);
    return rc;
}

int moac_dataset_synthetic(moac_dataset *ds, int pairs, moac_synth_layout layout, int vocab, int context,
                          const char *spec_path, moac_diag *d) {
    memset(ds, 0, sizeof *ds);
    assert(layout == MOAC_SYNTH_JOINED || layout == MOAC_SYNTH_SEPARATE);
    const syn_layout *l = &syn_layouts[layout];
    const char *name = l->joined ? "joined" : "separate";
    int listing = syn_listing_len(l, pairs), need = listing + 3;
    if (vocab < l->vocab) {
        if (l->joined)
            moac_diag_file_error(d, spec_path, "the synthetic task (layout = joined) uses %d tokens (';', keys a-o, values "
                                 "0-9 A-E, and one token per key-value pair) but the model's vocab is %d; set vocab = "
                                 "%d or more in the spec, or use synthetic(layout = separate), which needs %d",
                                 l->vocab, vocab, l->vocab, syn_layouts[MOAC_SYNTH_SEPARATE].vocab);
        else
            moac_diag_file_error(d, spec_path, "the synthetic task (layout = separate) uses %d tokens (';', keys a-z, "
                                 "values 0-9 A-P) but the model's vocab is %d; set vocab = %d or more in the spec",
                                 l->vocab, vocab, l->vocab);
        return -1;
    }
    if (pairs < 1 || pairs > l->nkeys) {
        moac_diag_file_error(d, spec_path, "synthetic(pairs = %d): pairs must be between 1 and %d (layout = %s has %d keys)",
                             pairs, l->nkeys, name, l->nkeys);
        return -1;
    }
    if (context < need) {
        moac_diag_file_error(d, spec_path, "synthetic(pairs = %d, layout = %s) needs context >= %s + 3 = %d (the listing, "
                             "';' and a query with its answer) but context is %d; raise context or lower pairs",
                             pairs, name, l->joined ? "pairs" : "2 * pairs", need, context);
        return -1;
    }
    ds->kind = MOAC_DATA_SYNTHETIC;
    ds->layout = layout;
    ds->vocab = l->vocab;
    ds->pairs = pairs;
    ds->context = context;
    set_path(ds, "synthetic");
    return 0;
}

/* Writes token v at position t of row b's (T+1)-token sequence: x holds positions 0..T-1, y
 * positions 1..T (the next-token targets). */
static void put(int32_t *x, int32_t *y, int T, int b, int t, int32_t v) {
    if (t < T) x[(size_t)b * T + t] = v;
    if (t >= 1) y[(size_t)b * T + t - 1] = v;
}

/* Every draw of a batch is moac_rng_below(seed, stream, k++, n) with k counting the draws of the
 * whole batch, rows in order; docs/training.md lists the order within a row. */
static void synthetic_batch(const moac_dataset *ds, int split, uint64_t seed, uint64_t step, int B, int T, int32_t *x,
                            int32_t *y, uint8_t *answer) {
    uint64_t stream = moac_rng_stream(MOAC_RNG_DATA, (uint64_t)split, step), k = 0;
    const syn_layout *l = layout_of(ds);
    int P = ds->pairs, L = syn_listing_len(l, P), val0 = syn_val0(l), pair0 = syn_pair0(l);
    assert(T >= L + 2);
    for (int b = 0; b < B; b++) {
        int keys[26], vals[26];
        for (int i = 0; i < l->nkeys; i++) keys[i] = i;
        for (int i = 0; i < P; i++) {
            /* A partial Fisher-Yates shuffle: the listed keys are distinct and in random order. */
            int j = i + (int)moac_rng_below(seed, stream, k++, (uint64_t)(l->nkeys - i));
            int tmp = keys[i];
            keys[i] = keys[j], keys[j] = tmp;
            vals[i] = (int)moac_rng_below(seed, stream, k++, (uint64_t)l->nvals);
            if (l->joined) {
                put(x, y, T, b, i, pair0 + keys[i] * l->nvals + vals[i]);
            } else {
                put(x, y, T, b, 2 * i, SYN_KEY0 + keys[i]);
                put(x, y, T, b, 2 * i + 1, val0 + vals[i]);
            }
        }
        put(x, y, T, b, L, SYN_SEP);
        for (int t = L + 1; t <= T; t += 2) {
            int q = (int)moac_rng_below(seed, stream, k++, (uint64_t)P);
            put(x, y, T, b, t, SYN_KEY0 + keys[q]);
            if (t + 1 <= T) {
                put(x, y, T, b, t + 1, val0 + vals[q]);
                if (answer) answer[(size_t)b * T + t] = 1; /* x[t] is the query, y[t] its value */
            }
        }
    }
}

void moac_dataset_batch(const moac_dataset *ds, int split, uint64_t seed, uint64_t step, int B, int T, int32_t *x,
                        int32_t *y, uint8_t *answer) {
    assert(split == 0 || split == 1);
    if (answer) memset(answer, 0, (size_t)B * (size_t)T);
    if (ds->kind == MOAC_DATA_SYNTHETIC) {
        synthetic_batch(ds, split, seed, step, B, T, x, y, answer);
        return;
    }
    uint64_t stream = moac_rng_stream(MOAC_RNG_BATCH, (uint64_t)split, step);
    if (ds->kind == MOAC_DATA_TOKENS) {
        const unsigned char *base;
        size_t len;
        token_span(ds, split, &base, &len);
        assert(len >= (size_t)T + 1);
        for (int b = 0; b < B; b++) {
            /* the same draw as for text: offset in [0, len - T - 1] */
            size_t off = (size_t)moac_rng_below(seed, stream, (uint64_t)b, len - (size_t)T);
            int32_t *xr = x + (size_t)b * T, *yr = y + (size_t)b * T;
            for (int t = 0; t < T; t++) xr[t] = (int32_t)token_at(base, ds->token_bytes, off + (size_t)t);
            memcpy(yr, xr + 1, (size_t)(T - 1) * sizeof *yr);
            yr[T - 1] = (int32_t)token_at(base, ds->token_bytes, off + (size_t)T);
        }
        return;
    }
    size_t lo = split ? ds->ntrain : 0, hi = split ? ds->ntokens : ds->ntrain;
    assert(hi - lo >= (size_t)T + 1);
    for (int b = 0; b < B; b++) {
        /* offset in [0, len - T - 1]: the window's T + 1 tokens stay inside the split */
        size_t off = lo + (size_t)moac_rng_below(seed, stream, (uint64_t)b, hi - lo - (size_t)T);
        memcpy(x + (size_t)b * T, ds->tokens + off, (size_t)T * sizeof *x);
        memcpy(y + (size_t)b * T, ds->tokens + off + 1, (size_t)T * sizeof *y);
    }
}

/* Entropy in nats of a distribution given by counts with this total. */
static double entropy(const double *count, int n, double total) {
    double h = 0;
    for (int i = 0; i < n; i++)
        if (count[i] > 0) h -= count[i] / total * log(count[i] / total);
    return h;
}

double moac_dataset_unigram_entropy(const moac_dataset *ds) {
    double count[SYN_MAX_VOCAB] = {0};
    if (ds->kind == MOAC_DATA_TOKENS) return ds->entropy; /* counted by the scan */
    if (ds->kind != MOAC_DATA_SYNTHETIC) {
        for (size_t i = 0; i < ds->ntrain; i++) count[ds->tokens[i]] += 1;
        return entropy(count, ds->vocab, (double)ds->ntrain);
    }
    /* Exact, not sampled: every listed key, query key, listed value and answer value is
     * marginally uniform over its symbols (and so is a joined pair over all pairs), so the pooled
     * distribution of the T targets (sequence positions 1..T) follows from counting which kind of
     * token each position holds. */
    const syn_layout *l = layout_of(ds);
    int T = ds->context, L = syn_listing_len(l, ds->pairs), nkey = 0, nval = 0, npair = 0, nsep = 0;
    for (int t = 1; t <= T; t++) {
        if (t == L) nsep++;
        else if (t < L && l->joined) npair++;
        else if (t < L ? t % 2 : (t - L - 1) % 2) nval++;
        else nkey++;
    }
    count[SYN_SEP] = nsep;
    for (int i = 0; i < l->nkeys; i++) count[SYN_KEY0 + i] = nkey / (double)l->nkeys;
    for (int i = 0; i < l->nvals; i++) count[syn_val0(l) + i] = nval / (double)l->nvals;
    if (l->joined)
        for (int i = 0; i < l->nkeys * l->nvals; i++) count[syn_pair0(l) + i] = npair / (double)(l->nkeys * l->nvals);
    return entropy(count, l->vocab, (double)T);
}

void moac_dataset_decode(const moac_dataset *ds, const int32_t *tokens, size_t n, moac_strbuf *out) {
    for (size_t i = 0; i < n; i++) {
        int32_t t = tokens[i];
        char c = '?'; /* a token the dataset cannot produce */
        if (t >= 0 && t < ds->vocab && ds->kind == MOAC_DATA_SYNTHETIC) {
            const syn_layout *l = layout_of(ds);
            int v0 = syn_val0(l), p0 = syn_pair0(l);
            if (t >= p0) { /* a joined pair reads as its key and value */
                moac_strbuf_putc(out, syn_key_symbols[(t - p0) / l->nvals]);
                c = syn_val_symbols[(t - p0) % l->nvals];
            } else {
                c = t == SYN_SEP ? ';' : t < v0 ? syn_key_symbols[t - SYN_KEY0] : syn_val_symbols[t - v0];
            }
        } else if (t >= 0 && t < ds->vocab && ds->kind != MOAC_DATA_TOKENS) { /* token files have no text */
            if (ds->kind == MOAC_DATA_CHAR) c = (char)ds->chars[t];
            else c = (char)t;
        }
        moac_strbuf_putc(out, c);
    }
}

void moac_dataset_vocab(moac_dataset *ds, moac_data_kind kind, const unsigned char *chars, int nchars) {
    assert(kind == MOAC_DATA_CHAR || kind == MOAC_DATA_BYTE);
    memset(ds, 0, sizeof *ds);
    ds->kind = kind;
    ds->vocab = kind == MOAC_DATA_BYTE ? 256 : nchars;
    if (kind == MOAC_DATA_CHAR) memcpy(ds->chars, chars, (size_t)nchars);
    set_path(ds, kind == MOAC_DATA_BYTE ? "bytes" : "characters");
}

/* The token of one synthetic symbol outside a joined listing (';', a key or a value), or -1. */
static int syn_symbol_token(const syn_layout *l, char c) {
    if (c == ';') return SYN_SEP;
    const char *k = c ? memchr(syn_key_symbols, c, (size_t)l->nkeys) : NULL;
    if (k) return SYN_KEY0 + (int)(k - syn_key_symbols);
    const char *v = c ? memchr(syn_val_symbols, c, (size_t)l->nvals) : NULL;
    return v ? syn_val0(l) + (int)(v - syn_val_symbols) : -1;
}

/* Synthetic text as decode prints it; in the joined layout, the characters before the first ';'
 * are the listing, read two at a time (key, value) as one pair token each. */
static long encode_synthetic(const moac_dataset *ds, const char *text, int32_t *out, moac_diag *d) {
    const syn_layout *l = layout_of(ds);
    const char *sep = strchr(text, ';');
    size_t listing = l->joined ? (sep ? (size_t)(sep - text) : strlen(text)) : 0;
    long n = 0;
    for (size_t i = 0; text[i]; i++) {
        if (i < listing) {
            int k = syn_symbol_token(l, text[i]), v = text[i + 1] ? syn_symbol_token(l, text[i + 1]) : -1;
            if (k < SYN_KEY0 || k >= syn_val0(l) || v < syn_val0(l) || i + 1 >= listing) {
                moac_diag_file_error(d, NULL, "the prompt's listing (before ';') must be key-value pairs such as "
                                     "'c7a0' (keys a-%c, values 0-9 A-%c); column %zu does not start one",
                                     syn_key_symbols[l->nkeys - 1], syn_val_symbols[l->nvals - 1], i + 1);
                return -1;
            }
            out[n++] = syn_pair0(l) + (k - SYN_KEY0) * l->nvals + (v - syn_val0(l));
            i++;
            continue;
        }
        int t = syn_symbol_token(l, text[i]);
        if (t < 0) {
            moac_diag_file_error(d, NULL, "the prompt's character '%c' (column %zu) is not a symbol of the synthetic "
                                 "task: ';', keys a-%c, values 0-9 A-%c", text[i], i + 1,
                                 syn_key_symbols[l->nkeys - 1], syn_val_symbols[l->nvals - 1]);
            return -1;
        }
        out[n++] = t;
    }
    return n;
}

long moac_dataset_encode(const moac_dataset *ds, const char *text, int32_t *out, moac_diag *d) {
    if (ds->kind == MOAC_DATA_SYNTHETIC) return encode_synthetic(ds, text, out, d);
    long n = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        const unsigned char *hit = ds->kind == MOAC_DATA_BYTE ? c : memchr(ds->chars, *c, (size_t)ds->vocab);
        if (!hit) {
            char what[32];
            moac_diag_file_error(d, NULL, "the prompt's %s (column %ld) is not in the model's vocabulary (the %d "
                                 "characters of its training data)", show_byte(*c, what),
                                 (long)(c - (const unsigned char *)text) + 1, ds->vocab);
            return -1;
        }
        out[n++] = ds->kind == MOAC_DATA_BYTE ? *c : (int32_t)(hit - ds->chars);
    }
    return n;
}
