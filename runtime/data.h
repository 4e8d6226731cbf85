/* Training data: text files tokenised by characters or bytes, or the built-in synthetic
 * associative-recall task, and the batches drawn from them.
 *
 * Batches are pure functions of (seed, split, step): a resumed run sees exactly the batches the
 * uninterrupted run would have (support/rng.h: MOAC_RNG_BATCH and MOAC_RNG_DATA streams). */
#ifndef MOAC_DATA_H
#define MOAC_DATA_H
#include <stddef.h>
#include <stdint.h>

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
    const char *path;         /* for messages */
} moac_dataset;

/* Reads and tokenises a text file. Fails, with a message naming the file and what to do, if it
 * is missing, unreadable, empty, binary (NUL bytes), has more distinct characters than max_vocab
 * (CHAR), or either split is shorter than one window of context + 1 tokens.
 * fixed_chars (CHAR only, may be NULL): use this vocabulary (from a checkpoint) instead of
 * building one; a character outside it is an error naming its line. */
int moac_dataset_load_text(moac_dataset *ds, const char *path, moac_data_kind kind, double split, int max_vocab,
                           int context, const unsigned char *fixed_chars, int nfixed, moac_diag *d);
/* The synthetic associative-recall task (docs/training.md): needs vocab >= the task's tokens
 * and context >= one key-value listing plus a query; reports what to change otherwise. */
int moac_dataset_synthetic(moac_dataset *ds, int pairs, int vocab, int context, moac_diag *d);
void moac_dataset_free(moac_dataset *ds);

/* One batch: x and y are [B, T] (y is x shifted by one: the next-token targets). answer, if not
 * NULL, is [B, T] with 1 where y is an answer the synthetic task scores (always 0 for text).
 * split: 0 train, 1 validation. step numbers the batch within its split. */
void moac_dataset_batch(const moac_dataset *ds, int split, uint64_t seed, uint64_t step, int B, int T, int32_t *x,
                        int32_t *y, uint8_t *answer);

/* The unigram entropy of the training split in nats (the loss of a model that ignores
 * context); for SYNTHETIC, of the task's token distribution. */
double moac_dataset_unigram_entropy(const moac_dataset *ds);
/* Decodes tokens to text (CHAR: the char table; BYTE: bytes; SYNTHETIC: readable symbols). */
void moac_dataset_decode(const moac_dataset *ds, const int32_t *tokens, size_t n, moac_strbuf *out);

#endif
