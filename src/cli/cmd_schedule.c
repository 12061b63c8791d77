/* vklars schedule: the learning rate and TVLARS's phi(t) at every optimizer
 * step, as CSV, so a schedule can be seen (and plotted) before training;
 * --plot draws phi(t) for several lambdas as a PNG instead (the paper's
 * Figure 5). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/optim_args.h"
#include "report/phi_plot.h"

/* Curves on one --plot chart: more could not be told apart. */
#define MAX_LAMBDAS 16

/* The CSV's rows: steps 0, K, 2K, ... below --steps, and the last step. A
 * bound keeps a mistyped --steps from printing for ever. */
#define MAX_ROWS 10000000ull

static int check_rows(uint64_t steps, uint64_t every) {
  uint64_t rows = (steps - 1) / every + 1 + ((steps - 1) % every != 0);
  if (rows <= MAX_ROWS) return 0;
  return cli_usage_error("schedule",
                         "--steps %llu with --every %llu prints %llu rows, more than the %llu "
                         "allowed: give --every %llu or more",
                         (unsigned long long)steps, (unsigned long long)every,
                         (unsigned long long)rows, MAX_ROWS,
                         (unsigned long long)((steps - 1) / (MAX_ROWS - 1) + 1));
}

static void print_row(const vkl_optim_config *o, const vkl_sched_config *s, uint64_t t) {
  double lr = vkl_sched_lr(s, o->lr, t), phi = vkl_optim_phi(o, s->steps_per_epoch, t);
  printf("%llu,%llu,%.9g,%.9g,%.9g\n", (unsigned long long)t,
         (unsigned long long)(t / s->steps_per_epoch), lr, phi, lr * phi);
}

/* The comma-separated --lambdas list into lambdas; their number, or -2
 * after a usage error. */
static int parse_lambdas(const char *text, double *lambdas) {
  char buf[512], *item = buf;
  if (strlen(text) >= sizeof buf) {
    cli_usage_error("schedule", "--lambdas: list too long (%zu characters at most)",
                    sizeof buf - 1);
    return -2;
  }
  snprintf(buf, sizeof buf, "%s", text);
  int n = 0;
  for (char *comma; item; item = comma ? comma + 1 : NULL) {
    if ((comma = strchr(item, ','))) *comma = '\0';
    if (n == MAX_LAMBDAS) {
      cli_usage_error("schedule", "--lambdas: at most %d values", MAX_LAMBDAS);
      return -2;
    }
    if (cli_parse_double("schedule", "--lambdas", item, &lambdas[n])) return -2;
    n++;
  }
  return n;
}

/* --plot: phi(t) for each lambda (each checked as --lambda would be). */
static int plot_phi(const char *png, const char *lambdas_s, const vkl_optim_config *o,
                    const vkl_sched_config *s) {
  if (o->kind != VKL_OPT_TVLARS && o->kind != VKL_OPT_TVLARS_OFFICIAL)
    return cli_usage_error("schedule", "--plot draws TVLARS's phi(t): --opt %s has none",
                           vkl_opt_kind_name(o->kind));
  double lambdas[MAX_LAMBDAS] = {1e-4, 1e-3, 1e-2}; /* the default list */
  int n = lambdas_s ? parse_lambdas(lambdas_s, lambdas) : 3;
  if (n < 0) return VKL_EXIT_USAGE;
  char err[2048];
  for (int i = 0; i < n; i++) {
    vkl_optim_config check = *o;
    check.tv_lambda = lambdas[i];
    if (vkl_optim_validate(&check, s, err, sizeof err))
      return cli_usage_error("schedule", "--lambdas %g: %s", lambdas[i], err);
  }
  vkl_phi_plot p = {.optim = o,
                    .steps = s->total_steps,
                    .steps_per_epoch = s->steps_per_epoch,
                    .lambdas = lambdas,
                    .nlambdas = (size_t)n};
  vkl_status st = vkl_report_phi_plot(&p, png, err, sizeof err);
  if (st) return cli_status_error("schedule", st, err);
  printf("%s\n", png);
  return VKL_EXIT_OK;
}

int cmd_schedule(int argc, char **argv) {
  optim_args a = {0};
  const char *steps_s = NULL, *epochs_s = NULL, *every_s = NULL, *plot = NULL, *lambdas_s = NULL;
  int help = 0;
  cli_opt opts[OPTIM_ARGS_MAX + 5];
  int n = optim_args_table(&a, opts);
  opts[n++] =
      (cli_opt){"--steps", NULL, "N", "optimizer steps in the run (default 1000)", &steps_s, NULL};
  opts[n++] = (cli_opt){
      "--epochs", NULL,
      "E",        "epochs the steps span (default: 10 steps an epoch); sets steps per epoch",
      &epochs_s,  NULL};
  opts[n++] = (cli_opt){
      "--every", NULL, "K", "print every K-th step and the last (default 1; at most 10^7 rows)",
      &every_s,  NULL};
  opts[n++] = (cli_opt){"--plot",
                        NULL,
                        "FILE.png",
                        "draw phi(t) against the step for each of --lambdas as a PNG (gnuplot) "
                        "instead of printing CSV",
                        &plot,
                        NULL};
  opts[n++] = (cli_opt){
      "--lambdas", NULL,
      "X,Y,...",   "with --plot: the lambdas to draw (default 1e-4,1e-3,1e-2, or --lambda)",
      &lambdas_s,  NULL};
  int rc = cli_parse("schedule", argc, argv, opts, n, NULL, 0, NULL, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("schedule", "[--opt NAME] [--lambda X] [--steps N] [options]",
                   "Prints step, epoch, lr, phi and lr*phi as CSV for the given optimizer and\n"
                   "schedule: lr follows the schedule (lars-warm scales it by B/256), phi is\n"
                   "TVLARS's 1/(alpha + exp(lambda*(t - d_e))) + gamma_min (1 for others).\n"
                   "--plot FILE.png draws phi(t) for several lambdas instead (the paper's\n"
                   "Figure 5).",
                   opts, n);
    return VKL_EXIT_OK;
  }
  vkl_optim_config o;
  vkl_sched_config s;
  uint64_t steps = 1000, epochs = 100, every = 1;
  if ((rc = optim_args_apply("schedule", &a, &o, &s)) ||
      (rc = cli_parse_uint("schedule", "--steps", steps_s, 1, UINT64_MAX, &steps)) ||
      (rc = cli_parse_uint("schedule", "--epochs", epochs_s, 1, UINT64_MAX, &epochs)) ||
      (rc = cli_parse_uint("schedule", "--every", every_s, 1, UINT64_MAX, &every)) ||
      (!plot && (rc = check_rows(steps, every))))
    return rc;
  if (lambdas_s && !plot) return cli_usage_error("schedule", "--lambdas goes with --plot");
  if (lambdas_s && a.lambda)
    return cli_usage_error("schedule", "give --lambda or --lambdas, not both");
  /* without --epochs the steps keep the default's 10 an epoch (1000 steps:
   * 100 epochs), so a short --steps needs no --epochs of its own */
  if (steps_s && !epochs_s) epochs = steps >= 10 ? steps / 10 : 1;
  if (epochs > steps)
    return cli_usage_error("schedule", "%llu epochs cannot span only %llu steps",
                           (unsigned long long)epochs, (unsigned long long)steps);
  s.total_steps = steps;
  s.steps_per_epoch = steps / epochs;
  if (s.kind == VKL_SCHED_LARS_WARM && !s.batch) s.batch = 256; /* lr*B/256 = lr */
  char err[256];
  if (vkl_optim_validate(&o, &s, err, sizeof err)) return cli_usage_error("schedule", "%s", err);
  if (plot) return plot_phi(plot, lambdas_s ? lambdas_s : a.lambda, &o, &s);
  printf("step,epoch,lr,phi,lr_x_phi\n");
  /* t steps by --every, so the work is the rows printed, not --steps */
  for (uint64_t t = 0;; t += every) {
    print_row(&o, &s, t);
    if (steps - 1 - t < every) break;
  }
  if ((steps - 1) % every) print_row(&o, &s, steps - 1);
  return VKL_EXIT_OK;
}
