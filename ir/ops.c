/* The op-info table, built from ir/ops.def.
 *
 * The X-macro gives each op its name, arity, flags and an attribute schema string such as
 * "name:s init:s std:f". The schema is parsed once, on first use, into moac_attr_info entries
 * with their storage slots (ints fill node->i[0..], floats node->f[0..], the one string node->s,
 * the one list node->l), so that the printer, reader and verifier all walk the same description.
 *
 * The lazy initialisation is not synchronised: the first call must happen before any threads
 * share the table (the compiler is single-threaded today). */
#include <assert.h>
#include <string.h>

#include "ir/ir.h"

typedef struct op_def {
    const char *name;
    int min_args, max_args;
    unsigned flags;
    const char *schema;
} op_def;

static const op_def op_defs[MOAC_OP_COUNT] = {
#define X(name, ID, min_args, max_args, flags, attrs) [MOAC_OP_##ID] = {#name, min_args, max_args, flags, attrs},
#include "ir/ops.def"
#undef X
};

enum { KEY_MAX = 24 };

static moac_op_info infos[MOAC_OP_COUNT];
static char keys[MOAC_OP_COUNT][MOAC_MAX_ATTRS][KEY_MAX];
static const char *names[MOAC_OP_COUNT];
static int initialised;

static moac_attr_kind kind_of(char c) {
    switch (c) {
    case 'i': return MOAC_ATTR_INT;
    case 'f': return MOAC_ATTR_FLOAT;
    case 's': return MOAC_ATTR_STRING;
    case 'l': return MOAC_ATTR_LIST;
    }
    assert(!"ops.def: attribute kind must be one of i, f, s, l");
    return MOAC_ATTR_INT;
}

/* Parses "key:kind key:kind ..." into info->attrs. A malformed schema is a bug in ops.def,
 * hence the asserts. */
static void parse_schema(moac_op op, const char *schema, moac_op_info *info) {
    int nint = 0, nfloat = 0, nstring = 0, nlist = 0;
    const char *p = schema;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *colon = strchr(p, ':');
        assert(colon && colon > p && "ops.def: attribute must be written key:kind");
        size_t klen = (size_t)(colon - p);
        assert(klen < KEY_MAX && info->nattrs < MOAC_MAX_ATTRS);
        char *key = keys[op][info->nattrs];
        memcpy(key, p, klen);
        key[klen] = 0;
        moac_attr_info *a = &info->attrs[info->nattrs++];
        a->key = key;
        a->kind = kind_of(colon[1]);
        assert(colon[2] == ' ' || colon[2] == 0);
        switch (a->kind) {
        case MOAC_ATTR_INT: a->slot = nint++; break;
        case MOAC_ATTR_FLOAT: a->slot = nfloat++; break;
        case MOAC_ATTR_STRING: a->slot = 0; nstring++; break;
        case MOAC_ATTR_LIST: a->slot = 0; nlist++; break;
        }
        p = colon + 2;
    }
    assert(nint <= MOAC_MAX_INT_ATTRS && nfloat <= MOAC_MAX_FLOAT_ATTRS);
    assert(nstring <= 1 && nlist <= 1 && "ops.def: at most one string and one list attribute");
    (void)nstring;
    (void)nlist;
}

static void init_table(void) {
    if (initialised) return;
    for (int op = 0; op < MOAC_OP_COUNT; op++) {
        const op_def *d = &op_defs[op];
        moac_op_info *info = &infos[op];
        assert(d->name && d->min_args >= 0 && d->min_args <= d->max_args);
        info->name = d->name;
        info->min_args = d->min_args;
        info->max_args = d->max_args;
        info->flags = d->flags;
        info->nattrs = 0;
        parse_schema((moac_op)op, d->schema, info);
        names[op] = d->name;
    }
    initialised = 1;
}

const moac_op_info *moac_op_info_get(moac_op op) {
    assert((int)op >= 0 && op < MOAC_OP_COUNT);
    init_table();
    return &infos[op];
}

moac_op moac_op_lookup(const char *name) {
    init_table();
    for (int op = 0; op < MOAC_OP_COUNT; op++)
        if (strcmp(names[op], name) == 0) return (moac_op)op;
    return MOAC_OP_COUNT;
}

const char *const *moac_op_names(void) {
    init_table();
    return names;
}
