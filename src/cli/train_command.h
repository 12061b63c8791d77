/* `vklars train ARGS` up to opening a device: the option table, the
 * options of --config (an INI file, keys without the dashes) or of the
 * checkpoint --resume continues merged in before the command line's, and
 * the trainer's configuration built from them. cmd_train.c runs it; the fuzz
 * harnesses (fuzz/train_cli.c) call the same parse. */
#ifndef VKLARS_CLI_TRAIN_COMMAND_H
#define VKLARS_CLI_TRAIN_COMMAND_H

#include "cli/args.h"
#include "cli/config_args.h"
#include "cli/optim_args.h"
#include "train/trainer.h"

/* The option strings as given (NULL: not given) and the flags. */
typedef struct train_args {
  optim_args o;
  const char *data, *data_dir, *model, *micro, *epochs, *seed, *device, *out, *config, *max_steps,
      *threads, *label_smoothing, *on_nonfinite, *width, *init, *resume, *save_every, *keep, *eval_every,
      *synthetic_images, *image_size, *method, *projector, *bt_lambda, *knn, *knn_bank, *views;
  int no_augment, no_shuffle, imagenet_stem, no_crop, no_flip, no_rotate, force, skip_bad,
      projector_no_bn, grey_jitter;
} train_args;

/* The parse's result: the trainer's configuration and the storage its
 * strings point into. */
typedef struct train_command {
  train_args a;
  cli_opt opts[OPTIM_ARGS_MAX + 40];
  int n, help;
  ini_argv expanded; /* --config: the file's options, then the command line's */
  int rargc;         /* --resume: the checkpoint's options, then the command line's */
  char **rargv;
  char ckpt[1100];       /* --resume: the checkpoint */
  char resume_dir[1100]; /* --resume: its run directory */
  char out_default[64], cmdline[1024];
  vkl_data_options data_options;
  char *options; /* the run's options as JSON, for the checkpoints */
  vkl_train_config cfg;
} train_command;

/* Returns 0 with tc->cfg ready (or tc->help set), else the exit code after
 * the message. Free tc either way. */
int train_command_parse(train_command *tc, int argc, char **argv);
/* The same for another command that takes train's options (kernels,
 * pretrain): its messages name cmd. pretrain adds --method, --projector and
 * --bt-lambda. */
int train_command_parse_as(train_command *tc, const char *cmd, int argc, char **argv);
void train_command_free(train_command *tc);
/* Only cmd's option table, into tc->opts (for checks of option names, as
 * the sweep's grid needs); returns their number. */
int train_command_table(train_command *tc, const char *cmd);

#endif
