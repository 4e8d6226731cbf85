/* Grammar of moac spec files (see frontend/ast.h for the tree it builds).
 *
 * Newlines are not significant. Nodes are built by the helpers of frontend/ast.c; the scanner
 * (frontend/lexer.l) is reached through moac_yylex in frontend/parse.c, which also writes the
 * syntax error messages (moac_syntax_error) from the context kept here with moac_ctx_push/pop.
 *
 * Error recovery: after a syntax error the parser discards tokens until the token wrapper hands it
 * SYNC_FIELD (before the next line that starts a field of the current block, or its '}') or
 * SYNC_ITEM (before the next line that starts an item, or the end of file). Resynchronising on
 * line starts rather than on any name avoids cascades inside multi-line calls, and yyerrok after
 * the SYNC token lets the very next mistake be reported. */

%code requires {
#include "frontend/ast_build.h"
}

%code provides {
/* The token source of the parser: the scanner plus error-recovery synchronisation (parse.c). */
int moac_yylex(moac_yystype *lval, moac_yyltype *lloc, moac_parser *p);
}

%code {
/* A span runs from the start of its first symbol to the end of its last; an empty rule sits just
 * after the previous symbol. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                              \
    do {                                                                         \
        if (N) {                                                                 \
            (Cur) = YYRHSLOC(Rhs, 1);                                            \
            (Cur).last_line = YYRHSLOC(Rhs, N).last_line;                        \
            (Cur).last_column = YYRHSLOC(Rhs, N).last_column;                    \
            (Cur).end = YYRHSLOC(Rhs, N).end;                                    \
        } else {                                                                 \
            (Cur) = YYRHSLOC(Rhs, 0);                                            \
            (Cur).first_line = (Cur).last_line;                                  \
            (Cur).first_column = (Cur).last_column + 1;                          \
            (Cur).offset = (Cur).end;                                            \
            (Cur).bol = 0;                                                       \
        }                                                                        \
    } while (0)

static void moac_yyerror(moac_yyltype *loc, moac_parser *p, const char *msg);
}

%define api.prefix {moac_yy}
%define api.pure full
%define api.value.type {moac_yystype}
%define api.location.type {moac_yyltype}
%define api.token.prefix {TOK_}
%define parse.error custom
%define parse.lac full
%locations
%param {moac_parser *p}

%token INCLUDE "'include'" LET "'let'" MODEL "'model'" TRAIN "'train'"
%token TRUE "'true'" FALSE "'false'"
%token <str> NAME "identifier" STRING "string"
%token <numlit> NUMBER "number"
%token SYNC_FIELD SYNC_ITEM /* inserted by moac_yylex during error recovery only */

%type <item> let_head block_head
%type <vec> fields args exprs ratio
%type <str> field_head call_head
%type <arg> arg
%type <expr> expr sum term unary primary

%%

file
    : %empty
    | file item
    ;

item
    : INCLUDE STRING {
          moac_ast_item *it = moac_item_new(p, MOAC_ITEM_INCLUDE, &@1);
          it->name = $2;
          it->name_loc = moac_loc_from(p, &@2);
          moac_item_finish(p, it, NULL);
      }
    | let_head '=' expr { $1->value = $3; moac_item_finish(p, $1, NULL); }
    | block_head fields '}' { moac_item_finish(p, $1, $2); moac_ctx_reset(p, 0); }
    /* A block left open: keep what was parsed and go on with the next item. */
    | block_head fields error SYNC_ITEM {
          moac_item_finish(p, $1, $2);
          moac_ctx_reset(p, 0);
          p->resync = 0;
          yyerrok;
      }
    | error SYNC_ITEM { moac_ctx_reset(p, 0); p->resync = 0; yyerrok; }
    ;

let_head
    : LET NAME {
          $$ = moac_item_new(p, MOAC_ITEM_LET, &@1);
          $$->name = $2;
          $$->name_loc = moac_loc_from(p, &@2);
          p->field_name = $2;
      }
    ;

block_head
    : MODEL '{' { $$ = moac_item_new(p, MOAC_ITEM_MODEL, &@1); moac_ctx_push(p, MOAC_CTX_BLOCK, "model", &@2); }
    | MODEL NAME '{' {
          $$ = moac_item_new(p, MOAC_ITEM_MODEL, &@1);
          $$->name = $2;
          $$->name_loc = moac_loc_from(p, &@2);
          moac_ctx_push(p, MOAC_CTX_BLOCK, "model", &@3);
      }
    | TRAIN '{' { $$ = moac_item_new(p, MOAC_ITEM_TRAIN, &@1); moac_ctx_push(p, MOAC_CTX_BLOCK, "train", &@2); }
    ;

fields
    : %empty { $$ = moac_vec_new(p->arena); p->field_col = 0; }
    | fields field_head '=' expr separator {
          moac_ast_field *f = moac_vec_push(p->arena, $1, sizeof *f);
          f->name = $2;
          f->loc = moac_loc_from(p, &@2);
          f->value = $4;
          $$ = $1;
      }
    | fields error SYNC_FIELD { $$ = $1; moac_ctx_reset(p, 1); p->resync = 0; yyerrok; }
    ;

field_head
    : NAME { $$ = $1; p->field_name = $1; p->field_col = @1.first_column; }
    ;

separator
    : %empty
    | ','
    | ';'
    ;

expr
    : sum
    | ratio { $$ = moac_ast_items(p, MOAC_AST_RATIO, $1, &@$); }
    ;

/* a:b:c is one RATIO node with every part, not a nest of pairs. */
ratio
    : sum ':' sum {
          $$ = moac_vec_new(p->arena);
          *(moac_ast **)moac_vec_push(p->arena, $$, sizeof(moac_ast *)) = $1;
          *(moac_ast **)moac_vec_push(p->arena, $$, sizeof(moac_ast *)) = $3;
      }
    | ratio ':' sum { $$ = $1; *(moac_ast **)moac_vec_push(p->arena, $$, sizeof(moac_ast *)) = $3; }
    ;

sum
    : sum '+' term { $$ = moac_ast_binary(p, '+', $1, $3, &@$); }
    | sum '-' term { $$ = moac_ast_binary(p, '-', $1, $3, &@$); }
    | term
    ;

term
    : term '*' unary { $$ = moac_ast_binary(p, '*', $1, $3, &@$); }
    | term '/' unary { $$ = moac_ast_binary(p, '/', $1, $3, &@$); }
    | unary
    ;

unary
    : '-' unary { $$ = moac_ast_negate(p, $2, &@$); }
    | primary
    ;

primary
    : NUMBER { $$ = moac_ast_number(p, $1, &@1); }
    | STRING { $$ = moac_ast_leaf(p, MOAC_AST_STRING, &@1); $$->str = $1; }
    | TRUE { $$ = moac_ast_leaf(p, MOAC_AST_BOOL, &@1); $$->num = 1; }
    | FALSE { $$ = moac_ast_leaf(p, MOAC_AST_BOOL, &@1); $$->num = 0; }
    | NAME { $$ = moac_ast_leaf(p, MOAC_AST_NAME, &@1); $$->str = $1; }
    | call_head ')' { $$ = moac_ast_call(p, $1, NULL, &@$); moac_ctx_pop(p); }
    | call_head args ')' { $$ = moac_ast_call(p, $1, $2, &@$); moac_ctx_pop(p); }
    | call_head args ',' ')' { $$ = moac_ast_call(p, $1, $2, &@$); moac_ctx_pop(p); }
    | list_head ']' { $$ = moac_ast_items(p, MOAC_AST_LIST, NULL, &@$); moac_ctx_pop(p); }
    | list_head exprs ']' { $$ = moac_ast_items(p, MOAC_AST_LIST, $2, &@$); moac_ctx_pop(p); }
    | list_head exprs ',' ']' { $$ = moac_ast_items(p, MOAC_AST_LIST, $2, &@$); moac_ctx_pop(p); }
    | paren_head expr ')' { $$ = $2; moac_ctx_pop(p); }
    ;

call_head
    : NAME '(' { $$ = $1; moac_ctx_push(p, MOAC_CTX_CALL, $1, &@2); }
    ;

list_head
    : '[' { moac_ctx_push(p, MOAC_CTX_LIST, NULL, &@1); }
    ;

paren_head
    : '(' { moac_ctx_push(p, MOAC_CTX_PAREN, NULL, &@1); }
    ;

args
    : arg { $$ = moac_vec_new(p->arena); *(moac_ast_arg *)moac_vec_push(p->arena, $$, sizeof $1) = $1; }
    | args ',' arg { $$ = $1; *(moac_ast_arg *)moac_vec_push(p->arena, $$, sizeof $3) = $3; }
    ;

arg
    : expr { $$ = (moac_ast_arg){.name = NULL, .value = $1}; }
    | NAME '=' expr { $$ = (moac_ast_arg){.name = $1, .name_loc = moac_loc_from(p, &@1), .value = $3}; }
    ;

exprs
    : expr { $$ = moac_vec_new(p->arena); *(moac_ast **)moac_vec_push(p->arena, $$, sizeof $1) = $1; }
    | exprs ',' expr { $$ = $1; *(moac_ast **)moac_vec_push(p->arena, $$, sizeof $3) = $3; }
    ;

%%

/* parse.c sees token kinds (parser.h), not the parser's internal symbol numbers. */
static int token_of_symbol(yysymbol_kind_t sym) {
    for (int t = 0; t <= YYMAXUTOK; t++)
        if (t != TOK_MOAC_YYerror && t != TOK_MOAC_YYUNDEF && YYTRANSLATE(t) == sym) return t;
    return -1;
}

/* Hands the lookahead and the acceptable tokens to parse.c, which words the message. */
static int yyreport_syntax_error(const yypcontext_t *ctx, moac_parser *p) {
    enum { MAX_EXPECTED = 64 };
    yysymbol_kind_t expected[MAX_EXPECTED];
    int kinds[MAX_EXPECTED];
    int n = yypcontext_expected_tokens(ctx, expected, MAX_EXPECTED);
    for (int i = 0; i < n; i++) kinds[i] = token_of_symbol(expected[i]);
    moac_syntax_error(p, token_of_symbol(yypcontext_token(ctx)), kinds, n < 0 ? 0 : n);
    return 0;
}

/* Bison calls this only when its stack overflows (thousands of nested brackets). */
static void moac_yyerror(moac_yyltype *loc, moac_parser *p, const char *msg) {
    (void)msg;
    moac_diag_error(p->diag, moac_loc_from(p, loc), "expression is nested too deeply");
}
