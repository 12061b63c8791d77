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

#endif
