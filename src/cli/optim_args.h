/* The optimizer and schedule options shared by `train` and `schedule`,
 * with the authors' flag names as aliases (--lmbda, --sd, --bs). */
#ifndef VKLARS_CLI_OPTIM_ARGS_H
#define VKLARS_CLI_OPTIM_ARGS_H

#include "cli/args.h"
#include "vklars/optim.h"

#define OPTIM_ARGS_MAX 28

typedef struct optim_args {
  const char *opt, *sched, *lr, *wd, *momentum, *eta, *lambda, *alpha, *delay, *delay_epochs,
      *gamma_min, *warmup_epochs, *batch, *denominator, *beta1, *beta2, *eps, *trust_clip,
      *excluded_lr_scale, *norm_clamp;
  int nesterov, larc, bias_correction, no_exclude_1d;
} optim_args;

/* Appends the option table entries to opts (at most OPTIM_ARGS_MAX). */
int optim_args_table(optim_args *a, cli_opt *opts);
/* Builds the configs from the parsed strings: defaults of --opt first, then
 * every given option. Returns 0 or 2 (usage error printed). */
int optim_args_apply(const char *cmd, const optim_args *a, vkl_optim_config *o,
                     vkl_sched_config *s);

#endif
