/* The data a checkpoint was trained on (see ckpt_data_args.h). */
#include "cli/ckpt_data_args.h"

#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "cli/resume_args.h"

int ckpt_data_options(const char *cmd, const char *ckpt, const char *data_arg, const char *dir_arg,
                      const vkl_checkpoint_meta *meta, train_command *tc, const char **data,
                      vkl_data_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->seed = meta->seed;
  *data = data_arg ? data_arg : meta->data[0] ? meta->data : NULL;
  if (meta->argv[0]) {
    char *argv0[] = {(char *)cmd}, **rargv, err[1200];
    int rargc, rc;
    if (resume_argv(ckpt, 1, argv0, &rargc, &rargv, err, sizeof err)) {
      cli_error("%s: %s", cmd, err);
      return VKL_EXIT_FAILURE;
    }
    rc = train_command_parse_as(tc, "pretrain", rargc, rargv);
    /* tc keeps pointers into rargv: hand it over with the parse */
    tc->rargc = rargc;
    tc->rargv = rargv;
    if (rc) {
      cli_error("%s: %s: the training options saved in it do not parse", cmd, ckpt);
      return VKL_EXIT_FAILURE;
    }
    const vkl_train_config *c = &tc->cfg;
    const char *run_data = c->data ? c->data : "fashion-mnist";
    if (!data_arg || strcmp(data_arg, run_data) == 0) {
      *opt = *c->data_options;
      opt->dir = c->data_dir;
      opt->seed = c->seed;
      opt->skip_bad_images = c->skip_bad_images;
      *data = run_data;
    }
  }
  if (dir_arg) opt->dir = dir_arg;
  return 0;
}

int ckpt_data_open(const char *cmd, const char *ckpt, const char *data_arg, const char *dir_arg,
                   ckpt_data *cd) {
  memset(cd, 0, sizeof *cd);
  cd->meta = malloc(sizeof *cd->meta);
  cd->tc = calloc(1, sizeof *cd->tc);
  char err[1200];
  if (!cd->meta || !cd->tc) {
    cli_error("%s: out of host memory", cmd);
    return VKL_EXIT_FAILURE;
  }
  if (vkl_checkpoint_read_meta(ckpt, cd->meta, err, sizeof err)) {
    cli_error("%s: %s", cmd, err);
    return VKL_EXIT_FAILURE;
  }
  return ckpt_data_options(cmd, ckpt, data_arg, dir_arg, cd->meta, cd->tc, &cd->data, &cd->opt);
}

void ckpt_data_free(ckpt_data *cd) {
  if (cd->tc) train_command_free(cd->tc);
  free(cd->tc);
  free(cd->meta);
  memset(cd, 0, sizeof *cd);
}

void ckpt_run_options(ckpt_run_args *a, const char *micro_help, cli_opt *o) {
  o[0] = (cli_opt){"--data", "--ds", "NAME", "data set (default: the run's)", &a->data, NULL};
  o[1] = (cli_opt){"--data-dir", NULL, "DIR", "where the data set lives (default: the run's)",
                   &a->dir, NULL};
  o[2] = (cli_opt){"--micro-batch", NULL, "M", micro_help, &a->micro, NULL};
  o[3] = (cli_opt){"--threads", NULL, "N", "loader threads (default cores - 1)", &a->threads, NULL};
  o[4] = (cli_opt){"--device", NULL, "N|NAME", "device index or name substring", &a->device, NULL};
}

int ckpt_run_numbers(const char *cmd, const ckpt_run_args *a, uint32_t *micro, uint32_t *threads) {
  *micro = 256;
  *threads = 0;
  int rc = cli_parse_u32(cmd, "--micro-batch", a->micro, 1, 65536, micro);
  return rc ? rc : cli_parse_u32(cmd, "--threads", a->threads, 1, 1024, threads);
}
