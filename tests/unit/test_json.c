/* The strict JSON reader: valid documents, escapes and UTF-8, every error with its byte offset,
 * and the limits that protect against hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/json.h"

static moac_arena arena;

static int setup(void **state) {
    (void)state;
    moac_arena_init(&arena);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    moac_arena_free(&arena);
    return 0;
}

static moac_json *parse(const char *text) {
    moac_json_error err;
    moac_json *v = moac_json_parse(&arena, text, strlen(text), NULL, &err);
    if (!v) fprintf(stderr, "unexpected error at %zu: %s\n", err.offset, err.msg);
    return v;
}

/* Parsing must fail at this offset with a message containing phrase. */
static void expect_error(const char *text, size_t offset, const char *phrase) {
    moac_json_error err;
    moac_json *v = moac_json_parse(&arena, text, strlen(text), NULL, &err);
    if (v || err.offset != offset || !strstr(err.msg, phrase))
        fprintf(stderr, "input %s: got %s at %zu: '%s'; wanted offset %zu, '%s'\n", text, v ? "success" : "error",
                err.offset, err.msg, offset, phrase);
    assert_null(v);
    assert_int_equal(err.offset, offset);
    assert_non_null(strstr(err.msg, phrase));
}

static void test_values(void **state) {
    (void)state;
    moac_json *v = parse(" {\"a\": [1, -2.5, 3e2, true, false, null, \"x\"], \"b\": {}, \"c\": []}\n");
    assert_non_null(v);
    assert_int_equal(v->type, MOAC_JSON_OBJECT);
    assert_int_equal(v->count, 3);
    assert_int_equal(v->offset, 1);
    const moac_json *a = moac_json_get(v, "a");
    assert_non_null(a);
    assert_int_equal(a->type, MOAC_JSON_ARRAY);
    assert_int_equal(a->count, 7);
    assert_int_equal(a->key_offset, 2);
    assert_true(a->items[0]->is_int && a->items[0]->integer == 1);
    assert_true(!a->items[1]->is_int && a->items[1]->number == -2.5);
    assert_true(!a->items[2]->is_int && a->items[2]->number == 300);
    assert_true(a->items[3]->type == MOAC_JSON_BOOL && a->items[3]->boolean);
    assert_true(a->items[4]->type == MOAC_JSON_BOOL && !a->items[4]->boolean);
    assert_int_equal(a->items[5]->type, MOAC_JSON_NULL);
    assert_string_equal(a->items[6]->str, "x");
    assert_int_equal(moac_json_get(v, "b")->count, 0);
    assert_int_equal(moac_json_get(v, "c")->type, MOAC_JSON_ARRAY);
    assert_null(moac_json_get(v, "d"));
    /* keys keep document order */
    assert_string_equal(v->items[1]->key, "b");
    /* scalars at top level */
    assert_int_equal(parse("42")->integer, 42);
    assert_int_equal(parse("\"s\"")->len, 1);
    assert_int_equal(parse(" null ")->type, MOAC_JSON_NULL);
}

static void test_integers(void **state) {
    (void)state;
    moac_json *v = parse("[9223372036854775807, -9223372036854775808, 9223372036854775808, -0, 1.0]");
    assert_non_null(v);
    assert_true(v->items[0]->is_int && v->items[0]->integer == INT64_MAX);
    assert_true(v->items[1]->is_int && v->items[1]->integer == INT64_MIN);
    assert_false(v->items[2]->is_int); /* too large for int64: still a number */
    assert_true(v->items[2]->number > 9.2e18);
    assert_true(v->items[3]->is_int && v->items[3]->integer == 0);
    assert_false(v->items[4]->is_int);
}

static void test_escapes(void **state) {
    (void)state;
    moac_json *v = parse("\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u0041\\u00e9\\u20AC\\ud83d\\ude00\"");
    assert_non_null(v);
    assert_string_equal(v->str, "q\" b\\ s/ \b\f\n\r\t A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    /* \u0000 is allowed and kept: len counts it */
    v = parse("\"a\\u0000b\"");
    assert_non_null(v);
    assert_int_equal(v->len, 3);
    assert_memory_equal(v->str, "a\0b", 3);
    /* raw UTF-8 passes through */
    v = parse("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
    assert_non_null(v);
    assert_string_equal(v->str, "caf\xc3\xa9 \xf0\x9f\x98\x80");
}

static void test_errors(void **state) {
    (void)state;
    expect_error("", 0, "unexpected end of input");
    expect_error("   ", 3, "unexpected end of input");
    expect_error("{\"a\" 1}", 5, "expected ':'");
    expect_error("{\"a\": 1,}", 8, "expected a string key");
    expect_error("[1, 2,]", 6, "expected a value");
    expect_error("[1 2]", 3, "expected ',' or ']'");
    expect_error("{\"a\": 1 \"b\": 2}", 8, "expected ',' or '}'");
    expect_error("{a: 1}", 1, "expected a string key");
    expect_error("[1, 2", 5, "unexpected end of input");
    expect_error("\"abc", 0, "unterminated string");
    expect_error("\"a\\", 0, "unterminated string");
    expect_error("\"a\nb\"", 2, "unescaped control character 0x0a");
    expect_error("\"a\\xb\"", 2, "invalid escape");
    expect_error("\"\\u12G4\"", 1, "4 hex digits");
    expect_error("\"\\u12\"", 1, "4 hex digits");
    expect_error("\"x\\ud800\"", 2, "unpaired high surrogate");
    expect_error("\"\\ud800\\u0041\"", 1, "unpaired high surrogate");
    expect_error("\"\\udc00\"", 1, "unpaired low surrogate");
    expect_error("\"ab\xff\"", 3, "invalid UTF-8");
    expect_error("\"\xc0\xaf\"", 1, "invalid UTF-8");        /* overlong '/' */
    expect_error("\"\xed\xa0\x80\"", 1, "invalid UTF-8");    /* an encoded surrogate */
    expect_error("\"\xe2\x82\"", 1, "invalid UTF-8");        /* cut short */
    expect_error("01", 0, "leading zero");
    expect_error("-", 0, "expected a digit");
    expect_error("1.", 2, "after '.'");
    expect_error(".5", 0, "expected a value");
    expect_error("+1", 0, "expected a value");
    expect_error("1e", 2, "exponent");
    expect_error("1e999", 0, "out of range");
    expect_error("NaN", 0, "expected a value");
    expect_error("tru", 0, "expected a value");
    expect_error("nul", 0, "expected a value");
    expect_error("[1] x", 4, "after the JSON value");
    expect_error("{} {}", 3, "after the JSON value");
    expect_error("{\"k\": 1, \"j\": 2, \"k\": 3}", 17, "duplicate key \"k\"");
    expect_error("[1, /* c */ 2]", 4, "expected a value");
}

static void test_duplicates_many(void **state) {
    (void)state;
    /* enough keys that the sort-based check runs; the duplicate reported is the later one */
    moac_strbuf b;
    moac_strbuf_init(&b);
    moac_strbuf_putc(&b, '{');
    for (int i = 0; i < 100; i++) moac_strbuf_printf(&b, "%s\"k%d\": %d", i ? ", " : "", i, i);
    size_t at = b.len + 2;
    moac_strbuf_puts(&b, ", \"k37\": 0}");
    moac_json_error err;
    assert_null(moac_json_parse(&arena, b.data, b.len, NULL, &err));
    assert_int_equal(err.offset, at);
    assert_non_null(strstr(err.msg, "duplicate key \"k37\""));
    moac_strbuf_free(&b);
}

static void test_not_terminated(void **state) {
    (void)state;
    /* The text need not end in NUL: a number at the very end is read from its bytes only. */
    char buf[4] = {'1', '2', '3', '4'};
    moac_json_error err;
    moac_json *v = moac_json_parse(&arena, buf, 3, NULL, &err);
    assert_non_null(v);
    assert_int_equal(v->integer, 123);
    char s[3] = {'"', 'a', '"'};
    v = moac_json_parse(&arena, s, 2, NULL, &err);
    assert_null(v);
    assert_non_null(strstr(err.msg, "unterminated"));
}

static void test_limits(void **state) {
    (void)state;
    moac_json_error err;
    moac_strbuf b;
    moac_strbuf_init(&b);
    /* 64 levels are fine, 65 are not; a million would overflow the stack without the limit */
    for (int i = 0; i < 64; i++) moac_strbuf_putc(&b, '[');
    for (int i = 0; i < 64; i++) moac_strbuf_putc(&b, ']');
    assert_non_null(moac_json_parse(&arena, b.data, b.len, NULL, &err));
    moac_strbuf_clear(&b);
    for (int i = 0; i < 1000000; i++) moac_strbuf_putc(&b, '[');
    assert_null(moac_json_parse(&arena, b.data, b.len, NULL, &err));
    assert_int_equal(err.offset, 64);
    assert_non_null(strstr(err.msg, "nesting deeper than 64"));
    moac_strbuf_free(&b);

    moac_json_limits lim = moac_json_default_limits;
    lim.max_bytes = 8;
    assert_null(moac_json_parse(&arena, "[1,2,3,4,5]", 11, &lim, &err));
    assert_non_null(strstr(err.msg, "larger than the limit"));
    lim = moac_json_default_limits;
    lim.max_nodes = 4;
    assert_non_null(moac_json_parse(&arena, "[1,2,3]", 7, &lim, &err));
    assert_null(moac_json_parse(&arena, "[1,2,3,4]", 9, &lim, &err));
    assert_int_equal(err.offset, 7);
    assert_non_null(strstr(err.msg, "more than 4 values"));
    lim = moac_json_default_limits;
    lim.max_depth = 2;
    assert_non_null(moac_json_parse(&arena, "[[1]]", 5, &lim, &err));
    assert_null(moac_json_parse(&arena, "[[[1]]]", 7, &lim, &err));
    assert_int_equal(err.offset, 2);
}

static void test_writer(void **state) {
    (void)state;
    moac_strbuf b;
    moac_strbuf_init(&b);
    const char raw[] = "a\"b\\c\nd\re\tf\x01g\x7fh\0i \xc3\xa9";
    moac_json_put_string(&b, raw, sizeof raw - 1);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007fh\\u0000i \xc3\xa9\"");
    /* and it reads back to the same bytes */
    moac_json_error err;
    moac_json *v = moac_json_parse(&arena, b.data, b.len, NULL, &err);
    assert_non_null(v);
    assert_int_equal(v->len, sizeof raw - 1);
    assert_memory_equal(v->str, raw, sizeof raw - 1);
    moac_strbuf_free(&b);
    assert_int_equal(moac_utf8_check("ok \xc3\xa9", 5), 5);
    assert_int_equal(moac_utf8_check("ok\xff", 3), 2);
    assert_int_equal(moac_utf8_check("\xf4\x90\x80\x80", 4), 0); /* above U+10FFFF */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_terminated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
