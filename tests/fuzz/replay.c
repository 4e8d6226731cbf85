/* The replay driver: a main() for a fuzz harness without libFuzzer (the normal builds, GCC).
 * Feeds each file named, and each regular file in each directory named (in name order), to
 * LLVMFuzzerTestOneInput once, so that the seed corpus and every kept crash input
 * (tests/fuzz/regressions/<harness>/) are regression tests in every build type.
 *
 *   fuzz-replay-spec [--expect-accepted] PATH...
 *
 * --expect-accepted: the inputs under the following paths must all be accepted (go down the
 * harness's whole path), so a seed corpus cannot silently turn into error-path inputs. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int inputs, refused;

static int run_file(const char *path, int expect_accepted) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz replay: cannot open %s\n", path);
        return -1;
    }
    size_t cap = 1 << 16, len = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) abort();
    /* a copy of exactly len bytes, so ASan catches a harness reading past the input's end */
    unsigned char *exact = malloc(len ? len : 1);
    if (!exact) abort();
    memcpy(exact, buf, len);
    free(buf);
    fprintf(stderr, "fuzz replay: %s\n", path);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    inputs++;
    if (expect_accepted && !moac_fuzz_accepted) {
        fprintf(stderr, "fuzz replay: %s was refused, but it is a seed that must be accepted\n", path);
        refused++;
    }
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int run_path(const char *path, int expect_accepted) {
    struct stat st;
    if (stat(path, &st)) {
        fprintf(stderr, "fuzz replay: no such file or directory: %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return run_file(path, expect_accepted);
    struct dirent **names;
    int n = scandir(path, &names, NULL, by_name), rc = 0;
    if (n < 0) {
        fprintf(stderr, "fuzz replay: cannot list %s\n", path);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && !stat(full, &st) && S_ISREG(st.st_mode) &&
            run_file(full, expect_accepted))
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv) {
    int expect_accepted = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--expect-accepted")) expect_accepted = 1;
        else if (run_path(argv[i], expect_accepted)) rc = 1;
    }
    if (inputs == 0) {
        fprintf(stderr, "fuzz replay: no inputs (usage: %s [--expect-accepted] PATH...)\n", argv[0]);
        return 1;
    }
    printf("%d inputs replayed, %d refused that had to be accepted\n", inputs, refused);
    return rc || refused ? 1 : 0;
}
