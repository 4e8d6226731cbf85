/* Training data: text files tokenised by characters or bytes, or the built-in synthetic
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

typedef enum moac_data_kind { MOAC_DATA_CHAR, MOAC_DATA_BYTE, MOAC_DATA_SYNTHETIC } moac_data_kind;

typedef struct moac_dataset {
    moac_data_kind kind;
    int vocab;                /* tokens are in [0, vocab) */
    unsigned char chars[256]; /* CHAR: token i is byte chars[i] (sorted ascending) */
    int32_t *tokens;          /* CHAR/BYTE: the whole file, tokenised (malloc'd) */
    size_t ntokens, ntrain;   /* [0, ntrain) trains, [ntrain, ntokens) validates */
    int pairs;                /* SYNTHETIC: key-value pairs per sequence */
    moac_synth_layout layout; /* SYNTHETIC: a pair listed as one token (joined) or two (separate) */
    int context;              /* T the dataset was checked for (and the synthetic entropy uses) */
    const char *path;         /* for messages; the dataset's own copy ("synthetic" for the task) */
    /* CHAR/BYTE: where the text came from, as a checkpoint records it (docs/training.md) */
    char *given;              /* the path as the user gave it (own copy; path unless set otherwise) */
    char *abspath;            /* the absolute path of the file read (own copy) */
    uint64_t bytes;           /* its size */
    char sha256[65];          /* its content hash, as `sha256sum` prints it */
    double split;             /* the training fraction it was split with */
} moac_dataset;

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
/* The synthetic associative-recall task (docs/training.md) in one of its two layouts:
 *   joined (a listed pair is one token): vocab >= 256, pairs in 1..15, context >= pairs + 3;
 *   separate (a key token, then a value token): vocab >= 53, pairs in 1..26, context >= 2 * pairs + 3
 * (the listing, ';' and one query with its answer); reports what to change otherwise, naming
 * spec_path (the spec whose model is too small; NULL: no file). */
int moac_dataset_synthetic(moac_dataset *ds, int pairs, moac_synth_layout layout, int vocab, int context,
                          const char *spec_path, moac_diag *d);
void moac_dataset_free(moac_dataset *ds);
/* Replaces ds->given (the path a checkpoint records as given by the user). */
void moac_dataset_set_given(moac_dataset *ds, const char *given);
/* The number of tokens of the synthetic task in this layout (53 separate, 256 joined). */
int moac_synthetic_vocab(moac_synth_layout layout);

/* One batch: x and y are [B, T] (y is x shifted by one: the next-token targets). answer, if not
 * NULL, is [B, T] with 1 where y is an answer the synthetic task scores (always 0 for text).
 * split: 0 train, 1 validation. step numbers the batch within its split (< 2^32).
 * Text: row b is the window at a uniform offset in [0, split length - T - 1] of its split, drawn
 * from (seed, MOAC_RNG_BATCH stream of (split, step), index b); the split must hold T + 1 tokens.
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
