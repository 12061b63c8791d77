/* Table-driven option parsing for subcommands: `--name VALUE`,
 * `--name=VALUE`, flags without a value, aliases (the authors' flag names),
 * and positional arguments. Unknown options are usage errors. */
#ifndef VKLARS_CLI_ARGS_H
#define VKLARS_CLI_ARGS_H

#include <stdint.h>

#include "vklars/status.h"

typedef struct cli_opt {
  const char *name;    /* "--json" */
  const char *alias;   /* another accepted spelling, or NULL */
  const char *metavar; /* NULL for a flag, else the value's name: "N|NAME" */
  const char *help;
  const char **value; /* set for options with a value */
  int *flag;          /* set to 1 for flags */
} cli_opt;

/* Parses argv[1..argc-1] (argv[0] is the command name). Positional
 * arguments go to positional[0..*npositional-1] (at most max_positional).
 * Returns 0, or 2 after printing a usage error. *help is set for --help. */
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, int nopts,
              const char **positional, int max_positional, int *npositional, int *help);
/* Prints "usage: vklars <cmd> <synopsis>", the summary and the options. */
void cli_print_help(const char *cmd, const char *synopsis, const char *summary, const cli_opt *opts,
                    int nopts);

/* Numbers from option values; NULL text leaves *out unchanged and returns 0.
 * Returns 2 after a usage error naming the option and the value. Integers
 * are plain decimal digits in [min, max]; the error states that range. */
int cli_parse_double(const char *cmd, const char *opt, const char *text, double *out);
int cli_parse_uint(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
                   uint64_t *out);
int cli_parse_u32(const char *cmd, const char *opt, const char *text, uint32_t min, uint32_t max,
                  uint32_t *out);
/* Any integer in [0, 2^64-1]. */
int cli_parse_u64(const char *cmd, const char *opt, const char *text, uint64_t *out);

/* A library call failed with st: "vklars: error: <cmd>: <msg>", and exit
 * code 2 when st is VKL_ERR_INVALID_ARGUMENT (the settings given, or the
 * environment, are wrong), else 1. */
int cli_status_error(const char *cmd, vkl_status st, const char *msg);

#endif
