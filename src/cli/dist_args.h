/* The CLI's side of data parallelism: joining the ranks of an MPI launch,
 * each rank's device, and the environment's settings for the ranks. */
#ifndef VKLARS_CLI_DIST_ARGS_H
#define VKLARS_CLI_DIST_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "dist/dist.h"

/* *out: this process's ranks when an MPI launcher started it, else NULL
 * (one process, MPI untouched). VKLARS_DIST_TIMEOUT (seconds) bounds each
 * wait on the other ranks. Returns 0, or the exit code after printing the
 * error. */
int cli_dist_open(const char *cmd, vkl_dist **out);
/* The device selector for this rank: `requested` (--device) or
 * VKLARS_DEVICE when set, else local rank mod the number of usable
 * devices (written into buf), so the ranks of a node spread over its
 * devices. NULL: the default choice (one process). */
const char *cli_dist_device(const vkl_dist *d, const char *requested, char *buf, size_t n);
/* VKLARS_ALLREDUCE_BUCKET_MIB in bytes (0: the default 4 MiB); -1 with the
 * error printed when malformed. */
int64_t cli_dist_bucket_bytes(const char *cmd);

#endif
