/* Temporary files for the harnesses that read from disk (spec includes, checkpoints): the
 * readers under test take paths, and going through them is the point. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

int moac_fuzz_accepted;

static char tmpdir[512];

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void moac_fuzz_remove_tree(const char *path) { nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS); }

static void remove_tmpdir(void) {
    if (tmpdir[0]) moac_fuzz_remove_tree(tmpdir);
}

const char *moac_fuzz_tmpdir(void) {
    if (tmpdir[0]) return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/moac-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) moac_fuzz_fail("cannot create a temporary directory", strerror(errno));
    atexit(remove_tmpdir);
    return tmpdir;
}

void moac_fuzz_write(const char *path, const void *data, size_t size) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(moac_fuzz_tmpdir()) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        if (mkdir(dir, 0700) && errno != EEXIST) moac_fuzz_fail("cannot create", dir);
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) moac_fuzz_fail("cannot write", path);
}

_Noreturn void moac_fuzz_fail(const char *why, const char *detail) {
    fprintf(stderr, "moac fuzz: %s%s%s\n", why, detail ? ": " : "", detail ? detail : "");
    abort();
}
