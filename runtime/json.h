/* A small, strict JSON reader (RFC 8259) into an arena tree, and a string writer.
 *
 * Strict: no comments, trailing commas, NaN/Infinity, leading zeros or single quotes; strings
 * must be valid UTF-8 with no raw control characters; \uXXXX escapes (with surrogate pairs) are
 * decoded to UTF-8; an object may not repeat a key. Limits on size, nesting and node count keep
 * a hostile document (a safetensors header, a metadata file) from exhausting the stack or
 * memory. Errors give the byte offset where the problem is. */
#ifndef MOAC_JSON_H
#define MOAC_JSON_H
#include <stddef.h>
#include <stdint.h>

#include "support/arena.h"
#include "support/strbuf.h"

typedef enum moac_json_type {
    MOAC_JSON_NULL,
    MOAC_JSON_BOOL,
    MOAC_JSON_NUMBER,
    MOAC_JSON_STRING,
    MOAC_JSON_ARRAY,
    MOAC_JSON_OBJECT,
} moac_json_type;

typedef struct moac_json moac_json;
struct moac_json {
    moac_json_type type;
    size_t offset;        /* byte offset of the value's first character in the document */
    int boolean;          /* BOOL */
    double number;        /* NUMBER: the value (strtod) */
    int is_int;           /* NUMBER: written without fraction or exponent, and fits int64 */
    int64_t integer;      /* NUMBER with is_int: the exact value */
    const char *str;      /* STRING: decoded UTF-8, NUL-terminated; may hold "\u0000", so use len */
    size_t len;           /* STRING: bytes in str */
    size_t count;         /* ARRAY, OBJECT: number of members */
    moac_json **items;    /* ARRAY: elements; OBJECT: values, in document order */
    /* Members of an OBJECT carry their key (decoded like a string) and its offset. */
    const char *key;
    size_t key_len, key_offset;
};

typedef struct moac_json_limits {
    size_t max_bytes; /* longest document accepted */
    int max_depth;    /* deepest nesting of arrays and objects */
    size_t max_nodes; /* most values in one document (bounds the arena at ~100 bytes a value) */
} moac_json_limits;

/* Used when moac_json_parse is given NULL limits: 100 MB (the safetensors header limit),
 * depth 64, 2^21 values. */
extern const moac_json_limits moac_json_default_limits;

typedef struct moac_json_error {
    size_t offset; /* byte offset of the problem */
    char msg[160]; /* what is wrong, without the offset: "expected ':' after an object key" */
} moac_json_error;

/* Parses text[0, len) (need not be NUL-terminated) into a tree allocated in a. Returns the root,
 * or NULL with *err filled in. Nothing is allocated outside the arena. */
moac_json *moac_json_parse(moac_arena *a, const char *text, size_t len, const moac_json_limits *limits,
                           moac_json_error *err);

/* The member of an OBJECT with this key (NUL-terminated, so no embedded NULs), or NULL. */
const moac_json *moac_json_get(const moac_json *obj, const char *key);
/* "null", "boolean", "number", "string", "array", "object" (for messages). */
const char *moac_json_type_name(moac_json_type t);

/* Appends s[0, len) as a JSON string literal with quotes, escaping '"', '\\' and every control
 * character (also NUL). s should be valid UTF-8 (moac_utf8_check): JSON cannot carry raw bytes. */
void moac_json_put_string(moac_strbuf *b, const char *s, size_t len);
/* The length of the longest valid UTF-8 prefix of s[0, len): len when all of s is valid. Rejects
 * overlong forms, surrogates and code points above U+10FFFF. */
size_t moac_utf8_check(const char *s, size_t len);

#endif
