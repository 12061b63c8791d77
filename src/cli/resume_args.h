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

/* The run directory of `vklars train --resume ARG`: ARG itself, or the
 * directory of the checkpoint file ARG names. */
void resume_run_dir(const char *arg, char *dir, size_t dirlen);

/* The checkpoint --resume ARG continues (into path), in run directory dir.
 * ARG is a run directory: the checkpoint its link checkpoint.safetensors
 * points at, or, when that one does not read or fails its CRC check, the
 * newest older one that does (each one skipped is a line of notes: which
 * and why); a directory without the link (a run killed before its first
 * link, or of an older vklars) is tried newest first. Or ARG is a
 * checkpoint file; it must read. Returns 0, or 1 with err saying why (no
 * directory, no checkpoint, every one unreadable, or another process holds
 * the directory's lock: nothing is read then). */
int resume_find_checkpoint(const char *arg, const char *dir, char *path, size_t pathlen,
                           char *notes, size_t noteslen, char *err, size_t errlen);

/* argv for the resumed run: argv[0], the options saved in the checkpoint
 * at path, then argv[1..argc-1]. *out_argv and its strings are malloc'd
 * (resume_argv_free). Returns 0, or 1 with err. */
int resume_argv(const char *path, int argc, char **argv, int *out_argc, char ***out_argv, char *err,
                size_t errlen);
void resume_argv_free(int argc, char **argv);

#endif
