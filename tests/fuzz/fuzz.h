/* Shared by the fuzz harnesses (tests/fuzz/fuzz_*.c) and the replay driver (replay.c).
 *
 * Each harness defines LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer it is a libFuzzer
 * binary, linked with replay.c it is a plain program that feeds it files (the replay ctests).
 * A harness abort()s on anything that is a bug rather than a reported user error, so that the
 * fuzzer (and the replay test) stops on it. */
#ifndef MOAC_FUZZ_H
#define MOAC_FUZZ_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set by the harness for each input: 1 when the input was accepted and went down the whole
 * path (spec: checked, lowered, differentiated; IR: verified and round-tripped; checkpoint:
 * loaded into the model). The replay driver's --expect-accepted checks it, so a seed corpus
 * that stops reaching the deep path fails a test instead of fuzzing only the error paths. */
extern int moac_fuzz_accepted;

/* A private directory for this process (mkdtemp under $TMPDIR or /tmp, removed at exit). */
const char *moac_fuzz_tmpdir(void);
/* Writes size bytes to path, creating missing parent directories below the private directory.
 * Aborts when it cannot (the harness's environment is broken, not the input). */
void moac_fuzz_write(const char *path, const void *data, size_t size);
/* Removes path and everything under it. */
void moac_fuzz_remove_tree(const char *path);
/* Prints why and aborts: a finding. */
_Noreturn void moac_fuzz_fail(const char *why, const char *detail);

#endif
