/* The IR text printer. Its output is the format moac_ir_read accepts, and printing what was read
 * gives the same bytes back: unnamed values print as %<position>, every attribute is printed in
 * schema order, floats use the shortest decimal that reads back exactly, and a scheduled node's
 * annotation (@k4, @r9, @view, @inline) follows its type. */
#include <inttypes.h>

#include "ir/ir.h"

static void print_value(moac_strbuf *out, const moac_node *n) {
    if (n->name) moac_strbuf_printf(out, "%%%s", n->name);
    else moac_strbuf_printf(out, "%%%" PRIu32, n->id);
}

static void print_attr(moac_strbuf *out, const moac_node *n, const moac_attr_info *a) {
    moac_strbuf_printf(out, " %s=", a->key);
    switch (a->kind) {
    case MOAC_ATTR_INT: moac_strbuf_printf(out, "%" PRId64, n->i[a->slot]); break;
    case MOAC_ATTR_FLOAT: moac_strbuf_put_double(out, n->f[a->slot]); break;
    case MOAC_ATTR_STRING: moac_strbuf_put_quoted(out, n->s ? n->s : ""); break;
    case MOAC_ATTR_LIST:
        moac_strbuf_putc(out, '[');
        for (int k = 0; k < n->nl; k++) moac_strbuf_printf(out, "%s%" PRId64, k ? "," : "", n->l[k]);
        moac_strbuf_putc(out, ']');
        break;
    }
}

static void print_node(moac_strbuf *out, const moac_node *n) {
    const moac_op_info *info = moac_op_info_get(n->op);
    moac_strbuf_puts(out, "  ");
    print_value(out, n);
    moac_strbuf_printf(out, " = %s(", info->name);
    for (int k = 0; k < n->nargs; k++) {
        if (k) moac_strbuf_puts(out, ", ");
        print_value(out, n->args[k]);
    }
    moac_strbuf_putc(out, ')');
    for (int a = 0; a < info->nattrs; a++) print_attr(out, n, &info->attrs[a]);
    moac_strbuf_puts(out, " : ");
    moac_type_print(out, &n->type);
    switch (n->sched) {
    case MOAC_SCHED_NONE: break;
    case MOAC_SCHED_KERNEL: moac_strbuf_printf(out, " @k%d", (int)n->kernel); break;
    case MOAC_SCHED_REFERENCE: moac_strbuf_printf(out, " @r%d", (int)n->kernel); break;
    case MOAC_SCHED_VIEW: moac_strbuf_puts(out, " @view"); break;
    case MOAC_SCHED_INLINE: moac_strbuf_puts(out, " @inline"); break;
    }
    moac_strbuf_putc(out, '\n');
}

void moac_ir_print(const moac_graph *g, moac_strbuf *out) {
    moac_strbuf_puts(out, "graph ");
    moac_strbuf_put_quoted(out, g->name ? g->name : "");
    moac_strbuf_puts(out, " {\n");
    for (size_t i = 0; i < g->count; i++) print_node(out, g->nodes[i]);
    moac_strbuf_puts(out, "}\n");
}
