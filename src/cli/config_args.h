/* `vklars train --config FILE`: the keys of an INI file (option names
 * without the dashes; sections are ignored) become options placed before
 * the command line's, so that the command line overrides the file. Every
 * problem with the file is a usage error naming the file and the line: not
 * a readable file, a line that is not INI, a key that names no option, a
 * flag that is neither true nor false, an option set twice (by one key or
 * by a key and its alias), and the keys that have no place in a file
 * (config, resume). */
#ifndef VKLARS_CLI_CONFIG_ARGS_H
#define VKLARS_CLI_CONFIG_ARGS_H

#include <stdio.h>

#include "cli/args.h"

/* argv with the file's options first (argv[0] kept first). */
typedef struct ini_argv {
  char **argv;
  int argc, cap;
  const cli_opt *opts;
  int nopts;
  int *set_on_line; /* per option: the line that set it, 0 if none */
  FILE *file;
  int line;     /* lines read so far: the line inih is at */
  int indented; /* that line starts with a blank */
  int err_line;
  char err[256];
} ini_argv;

/* Fills *out (free it with config_argv_free, whatever the result). Returns
 * 0, or 2 after the usage error. */
int config_expand(const char *path, int argc, char **argv, const cli_opt *opts, int nopts,
                  ini_argv *out);
void config_argv_free(ini_argv *v);

#endif
