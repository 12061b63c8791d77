/* `vklars train --resume DIR`: a run's options travel in its checkpoints
 * (a JSON array in the metadata), so a resumed run is rebuilt from them,
 * with any option given beside --resume taking precedence. */
#ifndef VKLARS_CLI_RESUME_ARGS_H
#define VKLARS_CLI_RESUME_ARGS_H

#include <stddef.h>

#include "cli/args.h"

/* The options set in opts (after parsing) as a JSON array of strings,
 * leaving out those that belong to one invocation, not to the run:
 * --resume, --out, --force, --config, --init, --device. malloc'd; NULL
 * without memory. */
char *resume_options_json(const cli_opt *opts, int nopts);

/* The newest checkpoint of run directory dir whose header reads, into
 * path. Returns 0, or 1 with err saying why (no directory, no checkpoint,
 * every one unreadable). */
int resume_find_checkpoint(const char *dir, char *path, size_t pathlen, char *err, size_t errlen);

/* argv for the resumed run: argv[0], the options saved in the checkpoint
 * at path, then argv[1..argc-1]. *out_argv and its strings are malloc'd
 * (resume_argv_free). Returns 0, or 1 with err. */
int resume_argv(const char *path, int argc, char **argv, int *out_argc, char ***out_argv, char *err,
                size_t errlen);
void resume_argv_free(int argc, char **argv);

#endif
