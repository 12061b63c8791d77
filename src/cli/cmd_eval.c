/* vklars eval CKPT: a checkpoint's test loss, top-1 and top-5 over every
 * test image. The model and its input shape come from the checkpoint's
 * metadata, the data options (data set, directory, image size, synthetic
 * count and seed) from the training options saved in it, so a run is
 * evaluated on the data it was trained for; --data and --data-dir
 * override them. Only an inference net is built: no gradients, no
 * optimizer state, no training split. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/ckpt_data_args.h"
#include "cli/cli.h"
#include "cli/resume_args.h"
#include "cli/signals.h"
#include "cli/train_command.h"
#include "train/checkpoint.h"
#include "train/eval_checkpoint.h"

typedef struct eval_args {
  ckpt_run_args run;
  const char *ckpt;
} eval_args;

/* ---- progress: a line on stderr, redrawn on a terminal, else every 5 s ---- */

typedef struct progress {
  int tty, drawn;
  double last;
} progress;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void on_progress(void *user, uint64_t done, uint64_t total) {
  progress *p = user;
  double t = now_s();
  if (done != total && t - p->last < (p->tty ? 0.2 : 5.0)) return;
  p->last = t;
  p->drawn = p->tty;
  fprintf(
      stderr,
      p->tty ? "\rvklars: evaluating: %llu/%llu images" : "vklars: evaluating: %llu/%llu images\n",
      (unsigned long long)done, (unsigned long long)total);
  fflush(stderr);
}

static void end_progress(progress *p) {
  if (p->drawn) fputc('\n', stderr);
  p->drawn = 0;
}

static int evaluate(const eval_args *a, const vkl_eval_config *ec) {
  vkl_ctx_config cc = {.device = a->run.device};
  vkl_ctx *ctx = NULL;
  vkl_status st = vkl_ctx_create(&cc, &ctx);
  if (st) {
    int rc = cli_status_error("eval", st, vkl_ctx_errmsg(ctx));
    vkl_ctx_destroy(ctx);
    return rc;
  }
  progress pr = {.tty = isatty(STDERR_FILENO)};
  vkl_eval_config c = *ec;
  c.stop = &cli_stop_signal;
  c.on_progress = on_progress;
  c.user = &pr;
  vkl_eval_report rep;
  char err[2048];
  cli_signals_install();
  st = vkl_eval_checkpoint(ctx, &c, &rep, err, sizeof err);
  vkl_ctx_destroy(ctx);
  end_progress(&pr);
  if (st == VKL_ERR_INTERRUPTED) {
    fprintf(stderr, "vklars: %s\n", err);
    return cli_signal_exit_code() ? cli_signal_exit_code() : VKL_EXIT_FAILURE;
  }
  if (st) return cli_status_error("eval", st, err);
  const vkl_eval_result *r = &rep.result;
  printf(
      "%s (%s, trained %llu steps) on %s: test loss %.6g top-1 %.2f%% top-5 %.2f%% "
      "(%llu images)\n",
      a->ckpt, rep.model, (unsigned long long)rep.step, rep.data, r->loss, 100 * r->top1,
      100 * r->top5, (unsigned long long)r->images);
  if (!isfinite(r->loss)) {
    cli_error(
        "eval: the evaluation is non-finite (test loss %g): the model's outputs hold NaN or "
        "inf for some images, which count as wrong",
        r->loss);
    return VKL_EXIT_FAILURE;
  }
  return VKL_EXIT_OK;
}

/* The self-supervised method a checkpoint's run used (run.json's
 * method.name, saved in it), into name; "" for a supervised run. */
static void run_method(const vkl_checkpoint_meta *meta, char *name, size_t n) {
  name[0] = '\0';
  cJSON *o = cJSON_Parse(meta->config);
  const cJSON *m =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "method"), "name");
  if (cJSON_IsString(m) && strcmp(m->valuestring, "supervised") != 0)
    snprintf(name, n, "%s", m->valuestring);
  cJSON_Delete(o);
}

int cmd_eval(int argc, char **argv) {
  eval_args a = {0};
  const char *pos[1];
  int help = 0, npos = 0;
  cli_opt opts[CKPT_RUN_OPTS];
  ckpt_run_options(&a.run, "images per evaluation batch, 1-65536 (default 256)", opts);
  int n = CKPT_RUN_OPTS;
  int rc = cli_parse("eval", argc, argv, opts, n, pos, 1, &npos, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("eval", "CKPT [options]",
                   "Evaluates a checkpoint (a run's checkpoint.safetensors or ckpt-step<N>) on\n"
                   "the test split: loss, top-1 and top-5 over every test image. The data\n"
                   "options are the run's own (saved in the checkpoint) unless given here.\n"
                   "Only the model's weights go to the device: no gradients, no optimizer.",
                   opts, n);
    return VKL_EXIT_OK;
  }
  if (npos != 1) return cli_usage_error("eval", "name the checkpoint to evaluate");
  a.ckpt = pos[0];
  uint32_t m, threads;
  if ((rc = ckpt_run_numbers("eval", &a.run, &m, &threads))) return rc;
  vkl_eval_config ec = {
      .checkpoint = a.ckpt, .micro_batch = (uint32_t)m, .loader_threads = (uint32_t)threads};
  ckpt_data cd;
  char method[64];
  if (!(rc = ckpt_data_open("eval", a.ckpt, a.run.data, a.run.dir, &cd)) &&
      (run_method(cd.meta, method, sizeof method), method[0])) {
    cli_error("eval: %s is a %s pretraining checkpoint: its model ends in a projector, not a "
              "classifier; evaluate its backbone with: vklars linear-eval %s",
              a.ckpt, method, a.ckpt);
    rc = VKL_EXIT_USAGE;
  } else if (!rc) {
    ec.data = cd.data;
    ec.data_options = &cd.opt;
    rc = evaluate(&a, &ec);
  }
  ckpt_data_free(&cd);
  return rc;
}
