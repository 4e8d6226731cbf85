/* The syntax tree of a spec file, as the parser (frontend/parser.y) builds it.
 *
 * The grammar is generic on purpose: a file is a list of items (include, let, model, train), a
 * block is a list of `name = expr` fields, and an expression is a number, string, bool, name,
 * call `f(a, key = b)`, list `[a, b]`, ratio `3:1:6` or arithmetic. What the names and calls mean
 * (attention schemes, mixtures, the train block) is decided by frontend/sema.c from its tables,
 * so that new compositions need no grammar change. */
#ifndef MOAC_AST_H
#define MOAC_AST_H
#include "support/arena.h"
#include "support/diag.h"

typedef enum moac_ast_kind {
    MOAC_AST_NUMBER, /* num; is_int when written without '.' or exponent */
    MOAC_AST_STRING, /* str (escapes resolved) */
    MOAC_AST_BOOL,   /* num is 0 or 1 */
    MOAC_AST_NAME,   /* str */
    MOAC_AST_CALL,   /* str = callee, args[nargs] */
    MOAC_AST_LIST,   /* items[nitems] */
    MOAC_AST_RATIO,  /* items[nitems], nitems >= 2: a:b:c */
    MOAC_AST_BINARY, /* op is one of + - * and /; lhs, rhs */
    MOAC_AST_NEGATE, /* lhs */
} moac_ast_kind;

typedef struct moac_ast moac_ast;

typedef struct moac_ast_arg {
    const char *name; /* NULL for a positional argument */
    moac_loc name_loc;
    moac_ast *value;
} moac_ast_arg;

struct moac_ast {
    moac_ast_kind kind;
    moac_loc loc; /* spans the whole expression where possible; at least its first token */
    double num;
    int is_int;
    const char *str;
    char op;
    moac_ast *lhs, *rhs;
    moac_ast_arg *args;
    int nargs;
    moac_ast **items;
    int nitems;
    int depth; /* 1 for a leaf, else 1 + the deepest operand; the parser rejects a depth over 200 */
};

typedef struct moac_ast_field {
    const char *name;
    moac_loc loc; /* the name */
    moac_ast *value;
} moac_ast_field;

typedef enum moac_item_kind {
    MOAC_ITEM_INCLUDE, /* name = the path as written */
    MOAC_ITEM_LET,     /* name = value */
    MOAC_ITEM_MODEL,   /* optional name; fields */
    MOAC_ITEM_TRAIN,   /* fields */
} moac_item_kind;

typedef struct moac_ast_item {
    moac_item_kind kind;
    moac_loc loc;      /* the keyword */
    const char *name;
    moac_loc name_loc;
    moac_ast *value;
    moac_ast_field *fields;
    int nfields;
} moac_ast_item;

typedef struct moac_ast_file {
    const moac_source *src;
    moac_ast_item *items;
    int nitems;
} moac_ast_file;

/* Parses one file. Syntax errors are reported to d (several per run: the parser recovers at the
 * next field or item) and the items that parsed are still returned. NULL only if src is NULL. */
moac_ast_file *moac_parse(moac_arena *a, const moac_source *src, moac_diag *d);

/* A spec with its includes resolved: the files in the order their items take effect
 * (an include's items come before the including file's). */
typedef struct moac_ast_unit {
    moac_ast_file **files;
    int nfiles;
} moac_ast_unit;

/* Loads path, parses it and every file it includes (paths relative to the including file).
 * Reports a missing or unreadable include at the include item, and an include cycle with the
 * chain of files. A file included twice (diamond) is read once. */
moac_ast_unit *moac_parse_unit(moac_arena *a, const char *path, moac_diag *d);
/* The same, for text already in memory (tests, stdin); includes resolve relative to the
 * directory of `path`. */
moac_ast_unit *moac_parse_unit_text(moac_arena *a, const char *path, const char *text, moac_diag *d);

/* Debug dump of an expression in source-like syntax (tests, error messages). */
void moac_ast_print(const moac_ast *e, moac_strbuf *out);

#endif
