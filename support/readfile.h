/* The one way moac reads a file it did not write itself (specs, includes, IR text, training data,
 * checkpoints): bounded, so that a path such as /dev/zero, /dev/urandom, a FIFO or a directory,
 * or a file far larger than any real input, gets a clear error at once instead of reading until
 * memory runs out (or, for a FIFO, waiting forever for a writer).
 *
 * Every reader accepts regular files only, up to a documented size (docs/architecture.md,
 * "Limits"); text readers also reject NUL bytes, found while reading, so a binary file stops at
 * the first one. Problems come back as a reason in words ("it is a character device, not a
 * regular file (...)"); the caller puts it into its own message, which names the file. */
#ifndef MOAC_READFILE_H
#define MOAC_READFILE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The limits, one per kind of input. Far above any real input, far below what would hurt. */
#define MOAC_LIMIT_SPEC_BYTES ((uint64_t)32 << 20)        /* a spec file, and each file it includes */
#define MOAC_LIMIT_IR_BYTES ((uint64_t)512 << 20)         /* IR text (moac ir, moac train x.ir) */
#define MOAC_LIMIT_DATA_BYTES ((uint64_t)1 << 30)         /* --data / train.data text (4 bytes a token in memory) */
#define MOAC_LIMIT_CHECKPOINT_BYTES ((uint64_t)64 << 30)  /* a safetensors checkpoint */
#define MOAC_LIMIT_TOKEN_BYTES ((uint64_t)1 << 44)        /* a token file (memory-mapped, not read: 16 TiB) */
#define MOAC_LIMIT_METRICS_BYTES ((uint64_t)2 << 30)      /* a run's metrics.jsonl (moac plot) */

typedef struct moac_read_limits {
    const char *what;   /* the kind of file in messages: "spec files", "training data", ... */
    uint64_t max_bytes;
    int text;           /* 1: NUL bytes are an error (the file must be text) */
} moac_read_limits;

extern const moac_read_limits moac_limits_spec, moac_limits_ir, moac_limits_data, moac_limits_checkpoint,
    moac_limits_tokens, moac_limits_metrics;

/* Reads the whole of path into a malloc'd buffer with a NUL after the last byte. Returns 0 and
 * sets *out, *len; or -1 with *out NULL and the reason in why (errno's text, and errno kept, for
 * a file that cannot be opened; errno is 0 for every other reason). */
int moac_file_read(const char *path, const moac_read_limits *lim, char **out, size_t *len, char *why,
                   size_t whylen);

/* Opens path for a reader that reads it piece by piece (checkpoints): the same regular-file and
 * size checks as moac_file_read, without reading it. Returns the stream and its size in *size,
 * or NULL with the reason in why. */
FILE *moac_file_open(const char *path, const moac_read_limits *lim, uint64_t *size, char *why, size_t whylen);
/* The same, as a read-only file descriptor (token files, which are memory-mapped): the
 * descriptor, or -1 with the reason in why (errno ENOENT kept for a missing file). */
int moac_file_open_fd(const char *path, const moac_read_limits *lim, uint64_t *size, char *why, size_t whylen);

#endif
