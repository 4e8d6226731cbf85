/* SHA-256 against the FIPS 180-2 / NIST example vectors, and the same digest however the input
 * is split into updates (block edges, the 55/56-byte padding edge). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/sha256.h"

static void hex_of(const char *s, size_t n, char out[65]) { moac_sha256_hex(s, n, out); }

static void test_vectors(void **state) {
    (void)state;
    char h[65];
    hex_of("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hex_of("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes */
    hex_of(m448, strlen(m448), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                       "mnopqrstnopqrstu"; /* 112 bytes */
    hex_of(m896, strlen(m896), h);
    assert_string_equal(h, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a_in_pieces(void **state) {
    (void)state;
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    char h[65];
    hex_of(a, 1000000, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* uneven pieces cross every block edge differently */
    moac_sha256 c;
    unsigned char d[32];
    moac_sha256_init(&c);
    for (size_t at = 0, k = 1; at < 1000000; k = k % 131 + 1) {
        size_t n = at + k > 1000000 ? 1000000 - at : k;
        moac_sha256_update(&c, a + at, n);
        at += n;
    }
    moac_sha256_final(&c, d);
    char h2[65];
    for (int i = 0; i < 32; i++) snprintf(h2 + 2 * i, 3, "%02x", d[i]);
    assert_string_equal(h, h2);
    free(a);
}

/* Lengths 55, 56 and 64 put the length field in the last block or force one more. */
static void test_padding_edges(void **state) {
    (void)state;
    char buf[64], h[65];
    memset(buf, 'a', sizeof buf);
    hex_of(buf, 55, h);
    assert_string_equal(h, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    hex_of(buf, 56, h);
    assert_string_equal(h, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    hex_of(buf, 64, h);
    assert_string_equal(h, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a_in_pieces),
        cmocka_unit_test(test_padding_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
