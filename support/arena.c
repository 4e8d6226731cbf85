#include "support/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct moac_arena_chunk {
    moac_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

enum { MOAC_ARENA_CHUNK = 64 * 1024 };

void moac_arena_init(moac_arena *a) { a->head = NULL; a->bytes = 0; }

void moac_arena_free(moac_arena *a) {
    moac_arena_chunk *c = a->head;
    while (c) {
        moac_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->bytes = 0;
}

void *moac_arena_alloc(moac_arena *a, size_t size) {
    size = (size + 15) & ~(size_t)15;
    if (size == 0) size = 16;
    moac_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        size_t cap = size > MOAC_ARENA_CHUNK ? size : MOAC_ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c) {
            fprintf(stderr, "moac: out of memory (arena chunk of %zu bytes)\n", cap);
            abort();
        }
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += size;
    a->bytes += size;
    memset(p, 0, size);
    return p;
}

void *moac_arena_dup(moac_arena *a, const void *p, size_t size) {
    void *q = moac_arena_alloc(a, size);
    if (size) memcpy(q, p, size);
    return q;
}

char *moac_arena_strndup(moac_arena *a, const char *s, size_t n) {
    char *q = moac_arena_alloc(a, n + 1);
    memcpy(q, s, n);
    q[n] = 0;
    return q;
}

char *moac_arena_strdup(moac_arena *a, const char *s) { return moac_arena_strndup(a, s, strlen(s)); }

char *moac_arena_printf(moac_arena *a, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *q = moac_arena_alloc(a, (size_t)n + 1);
    vsnprintf(q, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return q;
}
