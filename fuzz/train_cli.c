/* See train_cli.h. cmd_train.c is included whole, so the harnesses run its
 * static functions as they stand: no copy of them, and no seam added to the
 * command for the fuzzers. */
#include "cli/cmd_train.c"

#include <stdarg.h>

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

/* cmd_train() from its start to vkl_ctx_create, with argv
 * {"train", option, value}. */
static int train_until_device(const char *option, const char *value) {
  char *argv[] = {"train", (char *)option, (char *)value};
  int argc = 3;
  train_args a;
  memset(&a, 0, sizeof a);
  cli_opt opts[256]; /* room for the table however it grows */
  int n = table(&a, opts), help = 0;
  if (n > 256) abort();
  if (cli_parse("train", argc, argv, opts, n, NULL, 0, NULL, &help)) abort(); /* our own argv */
  ini_argv expanded = {0};
  int rargc = 0;
  char **rargv = NULL, ckpt[1100] = "";
  int rc = 0;
  if (a.resume) {
    rc = load_resume(&a, opts, &n, argc, argv, ckpt, sizeof ckpt, &rargc, &rargv);
  } else if (a.config) {
    rc = expand_config(a.config, argc, argv, opts, n, &expanded);
    if (!rc) {
      memset(&a, 0, sizeof a);
      n = table(&a, opts);
      rc = cli_parse("train", expanded.argc, expanded.argv, opts, n, NULL, 0, NULL, &help);
    }
  }
  if (!rc) {
    vkl_train_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char out_default[64];
    rc = apply(&a, &cfg, out_default, sizeof out_default);
    vkl_data_options data_options;
    if (!rc) rc = parse_data_options(&a, &data_options);
    if (!rc) {
      char *options = resume_options_json(opts, n);
      if (!options) abort();
      free(options);
      /* what the command accepts, the trainer relies on */
      if (cfg.batch == 0 || cfg.epochs == 0 || (cfg.micro_batch && cfg.batch % cfg.micro_batch) ||
          !cfg.out_dir)
        abort();
      fuzz_report("train", 0, NULL);
    }
  }
  free_argv(&expanded);
  resume_argv_free(rargc, rargv);
  return rc;
}

int fuzz_train_config(const char *ini_path) {
  return train_until_device("--config", ini_path);
}

int fuzz_train_resume(const char *run_dir) {
  return train_until_device("--resume", run_dir);
}
