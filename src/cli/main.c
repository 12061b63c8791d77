/* vklars: entry point and subcommand dispatch. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "dist/dist.h"
#include "vklars/vklars.h"

static const char usage[] =
    "usage: vklars [--help] [--version] <command> [options]\n"
    "\n"
    "Large-batch training of convolutional networks with TVLARS on any\n"
    "Vulkan 1.2 device.\n"
    "\n"
    "commands:\n"
    "  train      train a model with TVLARS or a baseline (the main job)\n"
    "  pretrain   self-supervised pretraining (Barlow Twins, exact at any batch)\n"
    "  linear-eval  a pretrained backbone's linear evaluation (top-1, top-5)\n"
    "  eval       evaluate a checkpoint on a data set's test split\n"
    "  inspect    list a run's checkpoints: step, epoch, options, integrity\n"
    "  devices    list Vulkan devices, their limits and optional features\n"
    "  bench      time ops against GEMM and copy baselines (bench ops)\n"
    "  kernels    list the pipelines a run builds, with the compiler's statistics\n"
    "  schedule   print a run's learning rate and TVLARS phi(t) per step as CSV\n"
    "  sweep      run a grid of train options, resumably, into a results table\n"
    "  report     plots and an HTML page of a run, a sweep or bench files (gnuplot)\n"
    "\n"
    "Run 'vklars <command> --help' for a command's options.\n"
    "\n"
    "environment:\n"
    "  VKLARS_DEVICE=N|NAME  device to use (same as --device)\n"
    "  VKLARS_VALIDATION=1   load the Khronos validation layer\n";

void cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("vklars: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

void cli_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("vklars: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("vklars: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  if (cmd)
    fprintf(stderr, "Try 'vklars %s --help'.\n", cmd);
  else
    fputs(usage, stderr);
  return VKL_EXIT_USAGE;
}

/* Commands that write files or start runs of their own: N copies of one
 * under an MPI launcher would race on the same files (a sweep's children
 * would even inherit the launcher's environment). */
static int launched_alone_only(const char *cmd) {
  static const char *const alone[] = {"linear-eval", "eval",     "bench",  "kernels",
                                      "sweep",       "schedule", "report"};
  if (!vkl_dist_launched()) return 0;
  for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++)
    if (strcmp(cmd, alone[i]) == 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return cli_usage_error(NULL, "no command given");
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return VKL_EXIT_OK;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
    printf("vklars %s\n", vkl_version());
    return VKL_EXIT_OK;
  }
  if (launched_alone_only(cmd))
    return cli_usage_error(cmd,
                           "'%s' runs as one process, but an MPI launcher started this one as one "
                           "of several: only train and pretrain (and the read-only devices and "
                           "inspect) run under mpirun",
                           cmd);
  if (strcmp(cmd, "train") == 0) return cmd_train(argc - 1, argv + 1);
  if (strcmp(cmd, "pretrain") == 0) return cmd_pretrain(argc - 1, argv + 1);
  if (strcmp(cmd, "linear-eval") == 0) return cmd_linear_eval(argc - 1, argv + 1);
  if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 1, argv + 1);
  if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 1, argv + 1);
  if (strcmp(cmd, "devices") == 0) return cmd_devices(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
  if (strcmp(cmd, "kernels") == 0) return cmd_kernels(argc - 1, argv + 1);
  if (strcmp(cmd, "sweep") == 0) return cmd_sweep(argc - 1, argv + 1);
  if (strcmp(cmd, "schedule") == 0) return cmd_schedule(argc - 1, argv + 1);
  if (strcmp(cmd, "report") == 0) return cmd_report(argc - 1, argv + 1);
  if (cmd[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", cmd);
  return cli_usage_error(NULL, "unknown command '%s'", cmd);
}
