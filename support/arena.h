/* Bump allocator: everything of one compilation (AST, spec, IR graphs) lives in an arena and is
 * released with one moac_arena_free. Allocation never fails silently: out of memory aborts. */
#ifndef MOAC_ARENA_H
#define MOAC_ARENA_H
#include <stddef.h>

typedef struct moac_arena_chunk moac_arena_chunk;
typedef struct moac_arena {
    moac_arena_chunk *head;
    size_t bytes; /* total handed out, for reporting */
} moac_arena;

void moac_arena_init(moac_arena *a);
void moac_arena_free(moac_arena *a);
void *moac_arena_alloc(moac_arena *a, size_t size);             /* zeroed, 16-byte aligned */
void *moac_arena_dup(moac_arena *a, const void *p, size_t size);
char *moac_arena_strdup(moac_arena *a, const char *s);
char *moac_arena_strndup(moac_arena *a, const char *s, size_t n);
char *moac_arena_printf(moac_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
