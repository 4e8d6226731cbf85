/* Training data: text files tokenised by characters or bytes, token files (flat little-endian
 * u16/u32, nanoGPT's train.bin/val.bin, memory-mapped), or the built-in synthetic
 * associative-recall task, and the batches drawn from them.
 *
 * Batches are pure functions of (seed, split, step): a resumed run sees exactly the batches the
 * uninterrupted run would have (support/rng.h: MOAC_RNG_BATCH and MOAC_RNG_DATA streams). */
#ifndef MOAC_DATA_H
#define MOAC_DATA_H
#include <stddef.h>
#include <stdint.h>

#include "frontend/spec.h"
#include "support/diag.h"
#include "support/strbuf.h"

typedef enum moac_data_kind { MOAC_DATA_CHAR, MOAC_DATA_BYTE, MOAC_DATA_SYNTHETIC, MOAC_DATA_TOKENS } moac_data_kind;

typedef struct moac_dataset {
    moac_data_kind kind;
    int vocab;                /* tokens are in [0, vocab) */
    unsigned char chars[256]; /* CHAR: token i is byte chars[i] (sorted ascending) */
    int32_t *tokens;          /* CHAR/BYTE: the whole file, tokenised (malloc'd) */
    size_t ntokens, ntrain;   /* [0, ntrain) trains, [ntrain, ntokens) validates (TOKENS with a
                               * validation file: ntrain = the training file's, the rest the other's) */
    /* TOKENS: the files, mapped read-only (moac_dataset_free unmaps them): map[0] the training
     * file, map[1] the validation file or NULL (then the split of map[0] validates) */
    const unsigned char *map[2];
    size_t map_bytes[2];
    int token_bytes;          /* TOKENS: 2 (u16) or 4 (u32), little-endian */
    double entropy;           /* TOKENS: unigram entropy of the training split (counted by the scan) */
    int pairs;                /* SYNTHETIC: key-value pairs per sequence */
    moac_synth_layout layout; /* SYNTHETIC: a pair listed as one token (joined) or two (separate) */
    int context;              /* T the dataset was checked for (and the synthetic entropy uses) */
    const char *path;         /* for messages; the dataset's own copy ("synthetic" for the task) */
    /* CHAR/BYTE/TOKENS: where the text (or the training token file) came from, as a checkpoint
     * records it (docs/training.md) */
    char *given;              /* the path as the user gave it (own copy; path unless set otherwise) */
    char *abspath;            /* the absolute path of the file read (own copy) */
    uint64_t bytes;           /* its size */
    char sha256[65];          /* its content hash, as `sha256sum` prints it (TOKENS: "" unscanned) */
    double split;             /* the training fraction it was split with (TOKENS: 1 with a val file) */
    /* TOKENS with a validation file: the same record of it */
    char *val_given, *val_abspath;
    uint64_t val_bytes;
    char val_sha256[65];
} moac_dataset;

/* Token files: what the spec (or a checkpoint) says of them. */
typedef struct moac_token_source {
    const char *train;        /* the training file */
    const char *val;          /* the validation file; NULL: the last 1 - split of train validates */
    int vocab;                /* every token must be below it */
    int token_bytes;          /* 2 (u16) or 4 (u32) */
    double split;             /* without val: the training fraction */
} moac_token_source;

/* Reads and tokenises a text file. Fails, with a message naming the file and what to do, if it
 * is missing, unreadable, a directory, empty, binary (NUL bytes), has more distinct characters
 * than max_vocab (CHAR; BYTE needs max_vocab >= 256), or either split is shorter than one window
 * of context + 1 tokens. The first floor(split * n) tokens train, the rest validate.
 * fixed_chars (CHAR only, may be NULL): use this vocabulary (from a checkpoint: nfixed distinct
 * bytes, token i = fixed_chars[i]) instead of building one; a character outside it is an error
 * "path:line:column: error: ..." (column in bytes).
 * Returns 0, or -1 after reporting with *ds left empty (moac_dataset_free is safe either way). */
int moac_dataset_load_text(moac_dataset *ds, const char *path, moac_data_kind kind, double split, int max_vocab,
                           int context, const unsigned char *fixed_chars, int nfixed, moac_diag *d);
/* How much of a token file moac_dataset_load_tokens reads (each a linear pass over the mapping). */
enum {
    MOAC_TOKENS_MAP,   /* nothing: sizes only */
    MOAC_TOKENS_CHECK, /* every token checked against the vocab (moac check) */
    MOAC_TOKENS_TRAIN, /* checked, each file hashed (SHA-256, for the checkpoint's record), the training split
                        * counted (the unigram entropy) in the same pass: what training needs */
};
/* Maps token files (read-only, never read into memory: a corpus larger than memory trains) and
 * checks them, failing with a message naming the file and what to do if one is missing, not a
 * regular file, empty, not a whole number of tokens, or shorter (each split) than one window of
 * context + 1 tokens; then reads as much as scan says: a token >= vocab is an error naming the
 * file, the token's index, its byte offset and value. Returns 0, or -1 after reporting with *ds
 * left empty. */
int moac_dataset_load_tokens(moac_dataset *ds, const moac_token_source *src, int context, int scan, moac_diag *d);
/* "u16" or "u32" for a token width of 2 or 4 bytes. */
const char *moac_token_dtype_name(int token_bytes);
/* The synthetic associative-recall task (docs/training.md) in one of its two layouts:
 *   joined (a listed pair is one token): vocab >= 256, pairs in 1..15, context >= pairs + 3;
 *   separate (a key token, then a value token): vocab >= 53, pairs in 1..26, context >= 2 * pairs + 3
 * (the listing, ';' and one query with its answer); reports what to change otherwise, naming
 * spec_path (the spec whose model is too small; NULL: no file). */
int moac_dataset_synthetic(moac_dataset *ds, int pairs, moac_synth_layout layout, int vocab, int context,
                          const char *spec_path, moac_diag *d);
void moac_dataset_free(moac_dataset *ds);
/* Replaces ds->given (the path a checkpoint records as given by the user); val_given: the same
 * for a validation token file (NULL: leave it). */
void moac_dataset_set_given(moac_dataset *ds, const char *given);
void moac_dataset_set_val_given(moac_dataset *ds, const char *val_given);
/* The number of tokens of the synthetic task in this layout (53 separate, 256 joined). */
int moac_synthetic_vocab(moac_synth_layout layout);

/* One batch: x and y are [B, T] (y is x shifted by one: the next-token targets). answer, if not
 * NULL, is [B, T] with 1 where y is an answer the synthetic task scores (always 0 for text).
 * split: 0 train, 1 validation. step numbers the batch within its split (< 2^32).
 * Text and token files: row b is the window at a uniform offset in [0, split length - T - 1] of
 * its split, drawn from (seed, MOAC_RNG_BATCH stream of (split, step), index b); the split must
 * hold T + 1 tokens.
 * Synthetic: T >= listing + 2; content drawn from the MOAC_RNG_DATA stream of (split, step). */
void moac_dataset_batch(const moac_dataset *ds, int split, uint64_t seed, uint64_t step, int B, int T, int32_t *x,
                        int32_t *y, uint8_t *answer);

/* The unigram entropy of the training split in nats (the loss of a model that ignores
 * context); for SYNTHETIC, computed exactly (not sampled) for the targets of a sequence of
 * ds->context tokens: every key and value is marginally uniform, so the pooled distribution
 * over the T target positions follows from counting keys, values and the one ';'. */
double moac_dataset_unigram_entropy(const moac_dataset *ds);
/* A tokeniser without data, for generation: CHAR with a checkpoint's vocabulary (nchars
 * distinct bytes, token i = chars[i]) or BYTE (chars unused). Free with moac_dataset_free. */
void moac_dataset_vocab(moac_dataset *ds, moac_data_kind kind, const unsigned char *chars, int nchars);
/* Encodes NUL-terminated text into out (room for strlen(text) tokens): CHAR through the char
 * table, BYTE as bytes, SYNTHETIC as decode writes it (in the joined layout the text before the
 * first ';' is the listing, two characters a pair token). Returns the token count, or -1 after
 * reporting the first character that has no token (with its 1-based column). */
long moac_dataset_encode(const moac_dataset *ds, const char *text, int32_t *out, moac_diag *d);
/* Decodes tokens to text (CHAR: the char table; BYTE: bytes; SYNTHETIC: readable symbols). */
void moac_dataset_decode(const moac_dataset *ds, const int32_t *tokens, size_t n, moac_strbuf *out);

#endif
