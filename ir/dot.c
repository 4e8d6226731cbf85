/* Graphviz export: `moac ir FILE.ir --format=dot | dot -Tsvg > graph.svg`.
 *
 * One DOT node per value (n<position>), labelled "%name\nop\ntype"; one edge per operand, so an
 * op using the same value twice gets two edges, labelled with the operand number when the op has
 * more than one. Inputs are ellipses, parameters boxes, constants dashed boxes, outputs
 * highlighted; everything else is a rounded box. */
#include <inttypes.h>

#include "ir/ir.h"

/* Text inside a DOT double-quoted string: only '"' and '\' need escaping there; newlines are
 * written as DOT's own "\n" line break so labels stay on one source line. */
static void put_escaped(moac_strbuf *out, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') moac_strbuf_putc(out, '\\');
        if (*s == '\n') moac_strbuf_puts(out, "\\n");
        else moac_strbuf_putc(out, *s);
    }
}

static const char *node_style(moac_op op) {
    switch (op) {
    case MOAC_OP_INPUT: return "shape=ellipse, style=filled, fillcolor=\"#dbe9f6\"";
    case MOAC_OP_PARAM: return "shape=box, style=filled, fillcolor=\"#eeeeee\"";
    case MOAC_OP_FULL: return "shape=box, style=dashed";
    case MOAC_OP_OUTPUT: return "shape=doubleoctagon, style=filled, fillcolor=\"#ffe08a\", penwidth=2";
    default: return "shape=box, style=rounded";
    }
}

static void put_label(moac_strbuf *out, const moac_node *n) {
    moac_strbuf text;
    moac_strbuf_init(&text);
    if (n->name) moac_strbuf_printf(&text, "%%%s\n", n->name);
    else moac_strbuf_printf(&text, "%%%" PRIu32 "\n", n->id);
    moac_strbuf_printf(&text, "%s\n", moac_op_info_get(n->op)->name);
    moac_type_print(&text, &n->type);
    put_escaped(out, moac_strbuf_cstr(&text));
    moac_strbuf_free(&text);
}

void moac_ir_dot(const moac_graph *g, moac_strbuf *out) {
    moac_strbuf_puts(out, "digraph \"");
    put_escaped(out, g->name ? g->name : "");
    moac_strbuf_puts(out, "\" {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n");
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        moac_strbuf_printf(out, "  n%zu [label=\"", i);
        put_label(out, n);
        moac_strbuf_printf(out, "\", %s];\n", node_style(n->op));
    }
    for (size_t i = 0; i < g->count; i++) {
        const moac_node *n = g->nodes[i];
        for (int k = 0; k < n->nargs; k++) {
            moac_strbuf_printf(out, "  n%" PRIu32 " -> n%zu", n->args[k]->id, i);
            if (n->nargs > 1) moac_strbuf_printf(out, " [label=\"%d\"]", k + 1);
            moac_strbuf_puts(out, ";\n");
        }
    }
    moac_strbuf_puts(out, "}\n");
}
