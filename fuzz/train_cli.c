/* See train_cli.h. The harnesses call train_command_parse, the parse
 * `vklars train` runs, so no copy of the command's flow exists here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/train_command.h"

#include "fuzz_util.h"
#include "train_cli.h"

/* main.c prints these; the harnesses keep quiet (the fuzzer would print a
 * line per input) unless VKLARS_FUZZ_VERBOSE is set. */
void cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fuzz_report("train", 1, msg);
}

void cli_note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fuzz_report("train (note)", 1, msg);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  (void)cmd;
  va_list ap;
  va_start(ap, fmt);
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fuzz_report("train", 1, msg);
  return VKL_EXIT_USAGE;
}

/* cmd_train() up to vkl_ctx_create, with argv {"train", option, value}. */
static int train_until_device(const char *option, const char *value) {
  char *argv[] = {"train", (char *)option, (char *)value};
  train_command *tc = malloc(sizeof *tc);
  if (!tc) abort();
  int rc = train_command_parse(tc, 3, argv);
  if (!rc && !tc->help) {
    /* what the command accepts, the trainer relies on */
    const vkl_train_config *cfg = &tc->cfg;
    if (cfg->batch == 0 || cfg->epochs == 0 ||
        (cfg->micro_batch && cfg->batch % cfg->micro_batch) || !cfg->out_dir || !cfg->argv_json)
      abort();
    fuzz_report("train", 0, NULL);
  }
  train_command_free(tc);
  free(tc);
  return rc;
}

int fuzz_train_config(const char *ini_path) {
  return train_until_device("--config", ini_path);
}

int fuzz_train_resume(const char *run_dir) {
  return train_until_device("--resume", run_dir);
}
