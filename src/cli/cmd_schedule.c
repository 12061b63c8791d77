/* vklars schedule: the learning rate and TVLARS's phi(t) at every optimizer
 * step, as CSV, so a schedule can be seen (and plotted) before training. */
#include <stdio.h>

#include "cli/cli.h"
#include "cli/optim_args.h"

int cmd_schedule(int argc, char **argv) {
  optim_args a = {0};
  const char *steps_s = NULL, *epochs_s = NULL, *every_s = NULL;
  int help = 0;
  cli_opt opts[OPTIM_ARGS_MAX + 3];
  int n = optim_args_table(&a, opts);
  opts[n++] =
      (cli_opt){"--steps", NULL, "N", "optimizer steps in the run (default 1000)", &steps_s, NULL};
  opts[n++] =
      (cli_opt){"--epochs", NULL, "E", "epochs the steps span (default 100); sets steps per epoch",
                &epochs_s,  NULL};
  opts[n++] = (cli_opt){"--every", NULL, "K", "print every K-th step and the last (default 1)",
                        &every_s,  NULL};
  int rc = cli_parse("schedule", argc, argv, opts, n, NULL, 0, NULL, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("schedule", "[--opt NAME] [--lambda X] [--steps N] [options]",
                   "Prints step, epoch, lr, phi and lr*phi as CSV for the given optimizer and\n"
                   "schedule: lr follows the schedule (lars-warm scales it by B/256), phi is\n"
                   "TVLARS's 1/(alpha + exp(lambda*(t - d_e))) + gamma_min (1 for others).",
                   opts, n);
    return VKL_EXIT_OK;
  }
  vkl_optim_config o;
  vkl_sched_config s;
  uint64_t steps = 1000, epochs = 100, every = 1;
  if ((rc = optim_args_apply("schedule", &a, &o, &s)) ||
      (rc = cli_parse_u64("schedule", "--steps", steps_s, &steps)) ||
      (rc = cli_parse_u64("schedule", "--epochs", epochs_s, &epochs)) ||
      (rc = cli_parse_u64("schedule", "--every", every_s, &every)))
    return rc;
  if (steps == 0 || epochs == 0 || every == 0)
    return cli_usage_error("schedule", "--steps, --epochs and --every must be positive");
  if (epochs > steps)
    return cli_usage_error("schedule", "%llu epochs cannot span only %llu steps",
                           (unsigned long long)epochs, (unsigned long long)steps);
  s.total_steps = steps;
  s.steps_per_epoch = steps / epochs;
  if (s.kind == VKL_SCHED_LARS_WARM && !s.batch) s.batch = 256; /* lr*B/256 = lr */
  char err[256];
  if (vkl_optim_validate(&o, &s, err, sizeof err)) return cli_usage_error("schedule", "%s", err);
  printf("step,epoch,lr,phi,lr_x_phi\n");
  for (uint64_t t = 0; t < steps; t++) {
    if (t % every && t != steps - 1) continue;
    double lr = vkl_sched_lr(&s, o.lr, t), phi = vkl_optim_phi(&o, s.steps_per_epoch, t);
    printf("%llu,%llu,%.9g,%.9g,%.9g\n", (unsigned long long)t,
           (unsigned long long)(t / s.steps_per_epoch), lr, phi, lr * phi);
  }
  return VKL_EXIT_OK;
}
