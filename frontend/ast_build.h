/* Internal interface of the spec parser: what the generated scanner (frontend/lexer.l) and parser
 * (frontend/parser.y) share with frontend/ast.c (node builders) and frontend/parse.c (driver,
 * syntax error messages, include resolution). Nothing outside frontend/ should include this. */
#ifndef MOAC_AST_BUILD_H
#define MOAC_AST_BUILD_H
#include <stddef.h>

#include "frontend/ast.h"

/* Bison's location type. Columns are 1-based byte columns; offsets index the source text so that
 * messages can quote a token as written and spans can be measured exactly. */
typedef struct moac_yyltype {
    int first_line, first_column;
    int last_line, last_column; /* of the last byte of the span */
    size_t offset, end;         /* [offset, end) in the source text */
    int bol;                    /* the span starts with the first token of its line */
} moac_yyltype;

typedef struct moac_numlit {
    double value;
    int is_int;
} moac_numlit;

/* A growable array in the arena (items, fields, arguments, list elements). */
typedef struct moac_vec {
    void *data;
    int len, cap;
} moac_vec;

/* Bison's semantic value type; the member names are the grammar's type tags. */
typedef union moac_yystype {
    const char *str;     /* NAME, STRING (escapes resolved) */
    moac_numlit numlit;  /* NUMBER */
    moac_ast *expr;
    moac_vec *vec;
    moac_ast_item *item; /* an item whose head (keyword, name) was parsed */
    moac_ast_arg arg;
} moac_yystype;

/* What the parser is inside of, innermost last, for messages such as "expected ')' to close the
 * call to 'mlp'". Kept by grammar actions; reset when error recovery unwinds to a field or item. */
typedef enum moac_ctx_kind { MOAC_CTX_BLOCK, MOAC_CTX_CALL, MOAC_CTX_LIST, MOAC_CTX_PAREN } moac_ctx_kind;
typedef struct moac_ctx {
    moac_ctx_kind kind;
    const char *name; /* the callee, or "model" / "train" for a block */
    moac_yyltype open; /* the opening bracket */
} moac_ctx;
enum { MOAC_CTX_MAX = 64 }; /* deeper nesting is counted but not remembered */

/* A token as the scanner returned it, kept for error messages and for replaying after recovery. */
typedef struct moac_token {
    int kind; /* a bison token kind (parser.h) */
    moac_yystype val;
    moac_yyltype loc;
} moac_token;

/* The state of one moac_parse call, shared by the scanner (as its extra data) and the parser. */
typedef struct moac_parser {
    moac_arena *arena;
    moac_diag *diag;
    const moac_source *src;
    void *scanner; /* yyscan_t */

    /* Scanner position: where the next token starts. */
    int line, col;
    size_t offset;
    int at_bol;               /* no token yet on the current line */
    int end_line, end_col;    /* just after the last token: where "end of file" is reported */
    size_t bad_end;           /* just after the last bad character */

    moac_vec items;           /* moac_ast_item, appended as each item is reduced */

    moac_ctx ctx[MOAC_CTX_MAX];
    int depth;
    const char *field_name;   /* the field (or let) being parsed, for messages */
    int field_col;            /* column of the latest field name of the current block, 0 if none */
    int too_deep;             /* "nested too deeply" was reported */

    /* Error recovery (see moac_yylex in parse.c). */
    int quiet;                /* 1: the scanner reported an error; 2: at the next sync point */
    moac_token prev, cur;     /* the last two tokens scanned (cur: the lookahead at an error) */
    int resync;               /* a syntax error was reported; no recovery rule reduced since */
    moac_token queue[2];      /* tokens to hand out before scanning more */
    int nqueue;
    int synced;               /* sync_offset is valid */
    size_t sync_offset;       /* the last token given a SYNC in front */
} moac_parser;

/* Expressions nested deeper than this are rejected, so that recursive walks stay safe. */
enum { MOAC_AST_MAX_DEPTH = 200 };

/* ast.c: node builders. Every node is allocated in p->arena with its location from `l`. */
moac_loc moac_loc_from(const moac_parser *p, const moac_yyltype *l);
void *moac_vec_push(moac_arena *a, moac_vec *v, size_t elem_size);
moac_vec *moac_vec_new(moac_arena *a);
moac_ast *moac_ast_leaf(moac_parser *p, moac_ast_kind kind, const moac_yyltype *l);
moac_ast *moac_ast_number(moac_parser *p, moac_numlit n, const moac_yyltype *l);
moac_ast *moac_ast_binary(moac_parser *p, char op, moac_ast *lhs, moac_ast *rhs, const moac_yyltype *l);
moac_ast *moac_ast_negate(moac_parser *p, moac_ast *operand, const moac_yyltype *l);
moac_ast *moac_ast_call(moac_parser *p, const char *callee, moac_vec *args, const moac_yyltype *l);
/* kind is MOAC_AST_LIST or MOAC_AST_RATIO; items holds moac_ast pointers (NULL: empty list). */
moac_ast *moac_ast_items(moac_parser *p, moac_ast_kind kind, moac_vec *items, const moac_yyltype *l);
moac_ast_item *moac_item_new(moac_parser *p, moac_item_kind kind, const moac_yyltype *keyword);
/* Appends the finished item to the file; fields holds moac_ast_field (may be NULL). */
void moac_item_finish(moac_parser *p, moac_ast_item *it, moac_vec *fields);

/* parse.c: the context stack and syntax errors. */
void moac_ctx_push(moac_parser *p, moac_ctx_kind kind, const char *name, const moac_yyltype *open);
void moac_ctx_pop(moac_parser *p);
void moac_ctx_reset(moac_parser *p, int depth);
/* Reports a syntax error: `found` is the lookahead and `expected` the tokens the parser could
 * accept there (bison token kinds, -1 for none), then starts error recovery. */
void moac_syntax_error(moac_parser *p, int found, const int *expected, int nexpected);

#endif
