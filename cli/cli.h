/* The `moac` command: one file per subcommand; this header is what they share. Exit codes:
 * 0 success, 1 the input (spec, IR, data) has errors, 2 the command line is wrong. */
#ifndef MOAC_CLI_H
#define MOAC_CLI_H
#include "backends/backend.h"
#include "moac.h"

enum { MOAC_EXIT_OK = 0, MOAC_EXIT_INPUT = 1, MOAC_EXIT_USAGE = 2 };

/* The graph of path after the passes p asks for: a spec is loaded and lowered (batch 0: the
 * spec's), IR text (a .ir file, as `moac ir` prints it) is read and verified. NULL after
 * reporting to d. */
moac_graph *moac_cli_load_graph(moac_arena *a, moac_diag *d, const char *path, moac_pipeline *p, long batch);

int moac_cmd_check(int argc, char **argv);
int moac_cmd_ir(int argc, char **argv);
int moac_cmd_train(int argc, char **argv);
int moac_cmd_eval(int argc, char **argv);
int moac_cmd_generate(int argc, char **argv);
int moac_cmd_emit(int argc, char **argv);
int moac_cmd_verify(int argc, char **argv);
int moac_cmd_plot(int argc, char **argv);
int moac_cmd_export(int argc, char **argv);

/* Prints the diagnostics gathered so far to stderr. */
void moac_cli_flush(moac_diag *d);
/* "moac: error: <msg>\n(see 'moac <cmd> --help')" on stderr; returns MOAC_EXIT_USAGE. */
int moac_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* What the library takes as options and the command reads from the environment (cli/env.c):
 * compile options (target with MOAC_CPU, MOAC_CPU_FEATURES, MOAC_THREADS; the compile cache;
 * MOAC_PROFILE) and the log, stderr (debugging lines with MOAC_DEBUG). */
const moac_compile_opts *moac_cli_compile_opts(void);
const moac_log *moac_cli_log(void);
const struct moac_target *moac_cli_target(void);
/* --device N: the GPU of the compile options (0), or a usage error (MOAC_EXIT_USAGE). */
int moac_cli_device(const char *cmd, const char *value);
/* The backend --backend NAME names (0), or a usage error listing the registry (MOAC_EXIT_USAGE). */
int moac_cli_backend(const char *cmd, const char *name, const moac_backend_ops **out);
/* If arg is "--name=value" or "--name" followed by a value in argv, sets *value. */
int moac_cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value);

#endif
