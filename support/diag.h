/* Diagnostics shared by every stage that reads user input (spec files, IR text, flags).
 *
 * A message is printed chibicc/clang style, with the source line and a caret under the span:
 *
 *   models/bad.moa:3:11: error: unknown name 'widht'; did you mean 'width'?
 *       3 |   heads = widht / 64
 *         |           ^~~~~
 *
 * Messages accumulate in a buffer (so tests can compare them byte for byte); the CLI prints the
 * buffer to stderr. Errors are counted; stages keep going after an error where they can, so that
 * one run reports several problems, up to max_errors. */
#ifndef MOAC_DIAG_H
#define MOAC_DIAG_H
#include "support/arena.h"
#include "support/readfile.h"
#include "support/strbuf.h"

/* A loaded source file (spec or IR text). Text is NUL-terminated and owned by the arena. */
typedef struct moac_source {
    const char *path;
    const char *text;
    size_t len;
} moac_source;

/* A location: 1-based line and column, and the length of the span to underline (>= 1). */
typedef struct moac_loc {
    const moac_source *src; /* NULL: no location (message names no file position) */
    int line, col, len;
} moac_loc;

typedef enum moac_diag_level {
    MOAC_DIAG_ERROR,
    MOAC_DIAG_WARNING,
    MOAC_DIAG_NOTE,
} moac_diag_level;

typedef struct moac_diag {
    moac_strbuf out;  /* everything reported so far, in order */
    int errors;
    int warnings;
    int max_errors;   /* stop recording after this many errors (default 20) */
} moac_diag;

void moac_diag_init(moac_diag *d);
void moac_diag_free(moac_diag *d);
void moac_diag_report(moac_diag *d, moac_diag_level level, moac_loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define moac_diag_error(d, loc, ...) moac_diag_report((d), MOAC_DIAG_ERROR, (loc), __VA_ARGS__)
#define moac_diag_note(d, loc, ...) moac_diag_report((d), MOAC_DIAG_NOTE, (loc), __VA_ARGS__)
/* An error about a whole file or the command line: "path: error: ...". path may be NULL. */
void moac_diag_file_error(moac_diag *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A warning about a whole file: "path: warning: ...". path may be NULL. */
void moac_diag_file_warning(moac_diag *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* True once max_errors were reported; a stage should then stop early. */
int moac_diag_full(const moac_diag *d);

/* Reads a whole text file into the arena through the bounded reader (support/readfile.h, with
 * lim: moac_limits_spec or moac_limits_ir). Reports "cannot read file: <why>" and returns NULL
 * when it cannot: a missing file, one that is not a regular file, one over the limit, NUL bytes. */
moac_source *moac_source_load(moac_arena *a, moac_diag *d, const char *path, const moac_read_limits *lim);
/* Wraps text already in memory (tests, the CLI's stdin). The text is copied. */
moac_source *moac_source_from_text(moac_arena *a, const char *path, const char *text);

/* "Did you mean": the candidate closest to name by edit distance, or NULL when none is close
 * enough to be a likely typo. */
const char *moac_suggest(const char *name, const char *const *candidates, size_t count);

#endif
