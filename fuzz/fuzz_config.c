/* libFuzzer harness: `vklars train --config FILE`, from the INI file
 * (inih, through cmd_train.c's expand_config) to the option parsing and
 * validation that follow it (cli_parse, apply), stopping where training
 * would open a device.
 *
 * The input is the INI file. cmd_train.c is included whole, so the harness
 * runs its static functions as they stand (no copy of them, no seam added
 * to the command for the harness); it calls them in cmd_train()'s order. */
#include "cli/cmd_train.c"

#include <stdarg.h>

#include "fuzz_util.h"

/* main.c prints these; the harness keeps quiet (the fuzzer would print
 * one line per input) and returns the same exit codes. */
void cli_error(const char *fmt, ...) {
  (void)fmt;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  (void)cmd;
  va_list ap;
  va_start(ap, fmt);
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap); /* formats the message all the same */
  va_end(ap);
  fuzz_report("train", 1, msg);
  return VKL_EXIT_USAGE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024];
  snprintf(path, sizeof path, "%s", fuzz_path(0, "train.ini"));
  fuzz_write(path, data, size);
  char *argv[] = {"train", "--config", path};
  int argc = 3;
  train_args a;
  memset(&a, 0, sizeof a);
  cli_opt opts[OPTIM_ARGS_MAX + 32];
  int n = table(&a, opts), help = 0;
  if (cli_parse("train", argc, argv, opts, n, NULL, 0, NULL, &help) || !a.config) abort();
  ini_argv expanded = {0};
  int rc = expand_config(a.config, argc, argv, opts, n, &expanded);
  if (rc == 0) {
    memset(&a, 0, sizeof a);
    n = table(&a, opts);
    rc = cli_parse("train", expanded.argc, expanded.argv, opts, n, NULL, 0, NULL, &help);
    if (rc == 0 && !help) {
      vkl_train_config cfg;
      memset(&cfg, 0, sizeof cfg);
      char out_default[64];
      rc = apply(&a, &cfg, out_default, sizeof out_default);
      if (rc == 0) fuzz_report("train", 0, NULL);
      /* what apply() accepts, the trainer may rely on */
      if (rc == 0 && (cfg.batch == 0 || cfg.epochs == 0 ||
                      (cfg.micro_batch && cfg.batch % cfg.micro_batch) || !cfg.out_dir))
        abort();
    }
  }
  free_argv(&expanded);
  return 0;
}
