/* Internals of semantic analysis, shared by the evaluator (sema_eval.c: values, names, calls)
 * and the model builder (sema_model.c: values -> moac_spec, with every rule checked). */
#ifndef MOAC_SEMA_H
#define MOAC_SEMA_H
#include "frontend/ast.h"
#include "frontend/spec.h"

typedef enum sema_val_kind {
    SEMA_NUM, SEMA_STR, SEMA_BOOL, SEMA_LIST, SEMA_SYMBOL, SEMA_CALL,
} sema_val_kind;

/* A builtin constructor: its parameters in positional order. A variadic builtin (a mixture)
 * takes its positional arguments as branches and its parameters by name only. */
typedef struct sema_builtin {
    const char *name;
    const char *params[8];
    int variadic;
    const char *doc; /* one line, for `did you mean` notes and docs */
} sema_builtin;

typedef struct sema_val sema_val;
struct sema_val {
    sema_val_kind kind;
    moac_loc loc;
    double num;
    int is_int;
    const char *str;             /* STR text; SYMBOL name */
    sema_val **items;            /* LIST items, or CALL branches (variadic positional args) */
    int nitems;
    int is_ratio;                /* LIST written as a:b:c */
    const sema_builtin *fn;      /* CALL */
    sema_val *slots[8];          /* CALL: argument per fn->params entry, NULL = default */
    moac_loc slot_loc[8];
    const char *label;           /* the let that named it, if any */
};

typedef struct sema_binding {
    const char *name;
    moac_loc loc;
    const moac_ast *expr;
    sema_val *value;
    int state; /* 0 not evaluated, 1 evaluating (cycle check), 2 done */
    int is_let; /* a let labels the scheme it defines */
} sema_binding;

/* Bindings in definition order, with a hash index by name: a spec may have 100,000s of lets, so
 * growth is geometric and lookup is O(1) (a linear scan and a copy every 16 bindings made 32,000
 * lets take 1.9 GB and 7 s). */
typedef struct sema_scope {
    sema_binding *items;
    int count, cap;
    int *index;     /* open addressing: 1 + the item's position, 0 empty */
    int index_cap;  /* a power of two, at least twice count */
} sema_scope;

typedef struct sema {
    moac_arena *arena;
    moac_diag *diag;
    sema_scope model, train, lets;
    const char *model_name;
    moac_loc model_loc;
    int have_model;
    int depth;     /* sema_eval calls in progress: bounded, so a long chain of lets cannot overflow the stack */
    int too_deep;  /* the depth error was reported */
    int schemes;   /* attention scheme nodes built so far (to_scheme calls), bounded by SEMA_MAX_SCHEMES */
} sema;

/* How many expressions and names an evaluation may go through at once (a let chain `let v2 = v1
 * + 1` adds two levels a let). Real specs need tens; the C stack holds many times this many. */
enum { SEMA_MAX_EVAL_DEPTH = 2000 };
/* How many parts (schemes, branches, KV groupings) one model's attention may have. A let used
 * twice in a mixture is built twice, so `let a2 = mean(a1, a1)` chains double the count each
 * time: without a bound 40 such lines take all memory. */
enum { SEMA_MAX_SCHEMES = 1024 };

/* Evaluation (sema_eval.c). NULL means an error was already reported. */
sema_val *sema_eval(sema *s, const moac_ast *e);
sema_binding *sema_lookup(sema_scope *scope, const char *name);
/* Appends a binding named `name` (which the caller made sure is not there yet); zeroed otherwise. */
sema_binding *sema_scope_insert(sema *s, sema_scope *scope, const char *name);
sema_val *sema_binding_value(sema *s, sema_binding *b);
const sema_builtin *sema_builtin_find(const char *name);
const char *sema_val_describe(sema *s, const sema_val *v); /* "number 6.5", "call mha()" ... */

/* Typed reads, each reporting "expected ..., got ..." at v->loc. Return 0 on success. */
int sema_want_int(sema *s, const sema_val *v, const char *what, long long lo, long long hi, long long *out);
int sema_want_num(sema *s, const sema_val *v, const char *what, double lo, double hi, double *out);
int sema_want_bool(sema *s, const sema_val *v, const char *what, int *out);
int sema_want_str(sema *s, const sema_val *v, const char *what, const char **out);
/* Matches a symbol (or a call with no arguments of that name) against a NULL-terminated list;
 * returns its index, or -1 after reporting. */
int sema_want_choice(sema *s, const sema_val *v, const char *what, const char *const *choices);
/* True when v is a call of `name` (or the bare name of that builtin). */
int sema_is_call(const sema_val *v, const char *name);
/* Argument `param` of a call, or NULL if not given. */
sema_val *sema_arg(const sema_val *call, const char *param);
moac_loc sema_arg_loc(const sema_val *call, const char *param);

#endif
