/* Optimizer and schedule options (see optim_args.h). */
#include "cli/optim_args.h"

#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

int optim_args_table(optim_args *a, cli_opt *o) {
  int n = 0;
  o[n++] =
      (cli_opt){"--opt", NULL, "NAME", "tvlars (default), tvlars-official, lars, lamb, sgd, adamw",
                &a->opt, NULL};
  o[n++] = (cli_opt){"--lr", NULL, "X", "base learning rate (default per optimizer)", &a->lr, NULL};
  o[n++] = (cli_opt){"--wd", NULL, "X", "weight decay (default 5e-4)", &a->wd, NULL};
  o[n++] = (cli_opt){"--momentum", NULL, "X", "momentum (default 0.9)", &a->momentum, NULL};
  o[n++] = (cli_opt){"--nesterov", NULL, NULL, "Nesterov momentum (SGD, LARS)", NULL, &a->nesterov};
  o[n++] = (cli_opt){"--schedule",
                     "--sd",
                     "NAME",
                     "none, lars-warm, cosine, step (default: none for TVLARS and SGD, "
                     "lars-warm for LARS and LAMB)",
                     &a->sched,
                     NULL};
  o[n++] = (cli_opt){"--warmup-epochs", NULL, "E", "lars-warm warm-up epochs (default 20)",
                     &a->warmup_epochs, NULL};
  o[n++] = (cli_opt){"--batch", "--bs", "B", "global batch size (lars-warm uses lr*B/256)",
                     &a->batch, NULL};
  o[n++] = (cli_opt){"--eta", NULL, "X", "LARS trust coefficient (default 1e-3)", &a->eta, NULL};
  o[n++] = (cli_opt){"--lambda", "--lmbda", "X", "TVLARS decay coefficient (default 1e-3)",
                     &a->lambda, NULL};
  o[n++] = (cli_opt){"--alpha", NULL, "X", "TVLARS alpha (default 0.1)", &a->alpha, NULL};
  o[n++] =
      (cli_opt){"--delay", NULL, "STEPS", "TVLARS delay d_e in optimizer steps", &a->delay, NULL};
  o[n++] =
      (cli_opt){"--delay-epochs", NULL, "E", "TVLARS delay d_e in epochs", &a->delay_epochs, NULL};
  o[n++] =
      (cli_opt){"--gamma-min", NULL, "X", "TVLARS floor of phi (default 0)", &a->gamma_min, NULL};
  o[n++] = (cli_opt){
      "--norm-clamp", NULL, "X", "clamp ||w|| and ||d|| to [0, X] (tvlars-official: 10; 0 = off)",
      &a->norm_clamp, NULL};
  o[n++] = (cli_opt){"--denominator",
                     NULL,
                     "FORM",
                     "LARS denominator: norm-of-sum ||g+wd*w|| (default) or sum-of-norms "
                     "||g||+wd*||w||+eps (You et al.)",
                     &a->denominator,
                     NULL};
  o[n++] =
      (cli_opt){"--larc", NULL, NULL, "LARC trust-ratio clipping min(q/lr, 1)", NULL, &a->larc};
  o[n++] = (cli_opt){"--no-exclude-1d",
                     NULL,
                     NULL,
                     "apply weight decay and adaptation to biases and batch-norm too",
                     NULL,
                     &a->no_exclude_1d};
  o[n++] = (cli_opt){"--excluded-lr-scale",
                     NULL,
                     "X",
                     "biases and batch-norm parameters (the tensors excluded from adaptation) "
                     "step at X times the rate (default 1; Barlow Twins' code: 0.024)",
                     &a->excluded_lr_scale,
                     NULL};
  o[n++] = (cli_opt){"--beta1", NULL, "X", "LAMB/AdamW beta1 (default 0.9)", &a->beta1, NULL};
  o[n++] = (cli_opt){"--beta2", NULL, "X", "LAMB/AdamW beta2 (default 0.999)", &a->beta2, NULL};
  o[n++] = (cli_opt){"--eps", NULL, "X", "LAMB/AdamW epsilon", &a->eps, NULL};
  o[n++] = (cli_opt){"--bias-correction", NULL, NULL, "LAMB bias correction (authors: off)", NULL,
                     &a->bias_correction};
  o[n++] = (cli_opt){"--trust-clip", NULL, "X", "LAMB trust ratio clipped at X (0 = off)",
                     &a->trust_clip, NULL};
  return n;
}

int optim_args_apply(const char *cmd, const optim_args *a, vkl_optim_config *o,
                     vkl_sched_config *s) {
  int kind = a->opt ? vkl_opt_kind_parse(a->opt) : VKL_OPT_TVLARS;
  if (kind < 0) return cli_usage_error(cmd, "unknown optimizer '%s'", a->opt);
  *o = vkl_optim_defaults((vkl_opt_kind)kind);
  memset(s, 0, sizeof *s);
  s->kind = vkl_optim_default_schedule((vkl_opt_kind)kind);
  s->warmup_epochs = 20;
  s->step_epochs = 30;
  s->step_gamma = 0.1;
  if (a->sched) {
    int sk = vkl_sched_kind_parse(a->sched);
    if (sk < 0) return cli_usage_error(cmd, "unknown schedule '%s'", a->sched);
    s->kind = (vkl_sched_kind)sk;
  }
  if (a->denominator) {
    if (strcmp(a->denominator, "norm-of-sum") == 0)
      o->denominator = VKL_LARS_DENOM_NORM_OF_SUM;
    else if (strcmp(a->denominator, "sum-of-norms") == 0)
      o->denominator = VKL_LARS_DENOM_SUM_OF_NORMS;
    else
      return cli_usage_error(cmd, "--denominator is norm-of-sum or sum-of-norms, not '%s'",
                             a->denominator);
  }
  int rc;
  if ((rc = cli_parse_double(cmd, "--lr", a->lr, &o->lr)) ||
      (rc = cli_parse_double(cmd, "--wd", a->wd, &o->weight_decay)) ||
      (rc = cli_parse_double(cmd, "--momentum", a->momentum, &o->momentum)) ||
      (rc = cli_parse_double(cmd, "--eta", a->eta, &o->eta)) ||
      (rc = cli_parse_double(cmd, "--lambda", a->lambda, &o->tv_lambda)) ||
      (rc = cli_parse_double(cmd, "--alpha", a->alpha, &o->tv_alpha)) ||
      (rc = cli_parse_double(cmd, "--delay", a->delay, &o->tv_delay_steps)) ||
      (rc = cli_parse_double(cmd, "--delay-epochs", a->delay_epochs, &o->tv_delay_epochs)) ||
      (rc = cli_parse_double(cmd, "--gamma-min", a->gamma_min, &o->tv_gamma_min)) ||
      (rc = cli_parse_double(cmd, "--norm-clamp", a->norm_clamp, &o->norm_clamp)) ||
      (rc = cli_parse_double(cmd, "--beta1", a->beta1, &o->beta1)) ||
      (rc = cli_parse_double(cmd, "--beta2", a->beta2, &o->beta2)) ||
      (rc = cli_parse_double(cmd, "--eps", a->eps, &o->eps)) ||
      (rc = cli_parse_double(cmd, "--trust-clip", a->trust_clip, &o->trust_clip)) ||
      (rc = cli_parse_double(cmd, "--excluded-lr-scale", a->excluded_lr_scale,
                             &o->excluded_lr_scale)) ||
      (rc = cli_parse_double(cmd, "--warmup-epochs", a->warmup_epochs, &s->warmup_epochs)) ||
      (rc = cli_parse_u32(cmd, "--batch", a->batch, 1, UINT32_MAX, &s->batch)))
    return rc;
  if (a->nesterov) o->nesterov = 1;
  if (a->larc) o->larc_clip = 1;
  if (a->bias_correction) o->bias_correction = 1;
  if (a->no_exclude_1d) o->exclude_1d = 0;
  if (a->excluded_lr_scale && !o->exclude_1d)
    return cli_usage_error(cmd,
                           "--excluded-lr-scale sets the rate of the tensors excluded from "
                           "adaptation, and with %s no tensor is excluded",
                           a->no_exclude_1d ? "--no-exclude-1d" : vkl_opt_kind_name(o->kind));
  if (a->delay_epochs && a->delay)
    return cli_usage_error(cmd,
                           "give the TVLARS delay in steps (--delay) or in epochs "
                           "(--delay-epochs), not both");
  /* the config counts the delay in epochs only when it is positive: zero
   * epochs is zero steps, not the optimizer's default delay */
  if (a->delay_epochs && o->tv_delay_epochs == 0) o->tv_delay_steps = 0;
  return 0;
}
