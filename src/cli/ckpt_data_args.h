/* The data a checkpoint was trained on: its run's data options (data set,
 * directory, image size, synthetic count and seed), parsed from the
 * training options saved in it with pretrain's option table (which holds
 * train's), with --data and --data-dir on top. Options of another data set
 * than --data names are not carried over. `vklars eval` and `vklars
 * linear-eval` evaluate a run on the data it was trained for this way. */
#ifndef VKLARS_CLI_CKPT_DATA_ARGS_H
#define VKLARS_CLI_CKPT_DATA_ARGS_H

#include "cli/train_command.h"
#include "train/checkpoint.h"

/* Fills *data and *opt; tc's strings back them (free tc after use).
 * Returns 0, or an exit code after the message (cmd names the command). */
int ckpt_data_options(const char *cmd, const char *ckpt, const char *data_arg, const char *dir_arg,
                      const vkl_checkpoint_meta *meta, train_command *tc, const char **data,
                      vkl_data_options *opt);

/* A checkpoint's metadata and the data it was trained on, as `eval` and
 * `linear-eval` open them. */
typedef struct ckpt_data {
  vkl_checkpoint_meta *meta;
  train_command *tc; /* backs data's and opt's strings */
  const char *data;
  vkl_data_options opt;
} ckpt_data;

/* Reads ckpt's metadata and data options (ckpt_data_options); returns 0,
 * or an exit code after the message. Free cd with ckpt_data_free either way. */
int ckpt_data_open(const char *cmd, const char *ckpt, const char *data_arg, const char *dir_arg,
                   ckpt_data *cd);
void ckpt_data_free(ckpt_data *cd);

/* The options eval and linear-eval share: the data (the run's unless given),
 * the images per forward batch, loader threads and the device. */
typedef struct ckpt_run_args {
  const char *data, *dir, *micro, *threads, *device;
} ckpt_run_args;
#define CKPT_RUN_OPTS 5
/* Writes their CKPT_RUN_OPTS rows into o; micro_help says what the batch is. */
void ckpt_run_options(ckpt_run_args *a, const char *micro_help, cli_opt *o);
/* --micro-batch (default 256) and --threads (default 0: cores - 1); 0 or the
 * usage error's exit code. */
int ckpt_run_numbers(const char *cmd, const ckpt_run_args *a, uint32_t *micro, uint32_t *threads);

#endif
