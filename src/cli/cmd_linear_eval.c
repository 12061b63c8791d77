/* vklars linear-eval CKPT: a pretrained backbone's linear evaluation (see
 * src/train/linear_eval.h): frozen features of the train and test splits,
 * a linear classifier trained on the first, top-1 and top-5 on the second.
 * The data options come from the checkpoint, as for `vklars eval`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/ckpt_data_args.h"
#include "cli/cli.h"
#include "cli/signals.h"
#include "train/feature_rank.h"
#include "train/linear_eval.h"

typedef struct lin_args {
  ckpt_run_args run;
  const char *epochs, *lr, *batch, *wd, *train_images, *test_images;
  int random_init;
} lin_args;

typedef struct progress {
  int tty, drawn;
  double last;
} progress;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void say(progress *p, const char *line, int final) {
  double t = now_s();
  if (!final && t - p->last < (p->tty ? 0.2 : 5.0)) return;
  p->last = t;
  p->drawn = p->tty && !final;
  fprintf(stderr, p->tty ? "\r%-78s%s" : "%s%s\n", line, p->tty && final ? "\n" : "");
  fflush(stderr);
}

static void on_features(void *user, const char *split, uint64_t done, uint64_t total) {
  char line[160];
  snprintf(line, sizeof line, "vklars: features of the %s split: %llu/%llu images", split,
           (unsigned long long)done, (unsigned long long)total);
  say(user, line, done == total);
}

static void on_epoch(void *user, uint32_t e, uint32_t epochs, double loss, double top1) {
  char line[160];
  snprintf(line, sizeof line, "vklars: linear classifier epoch %u/%u: train loss %.4f top-1 %.2f%%",
           e + 1, epochs, loss, 100 * top1);
  say(user, line, e + 1 == epochs);
}

static int parse_numbers(const lin_args *a, vkl_linear_eval_config *c) {
  const char *cmd = "linear-eval";
  vkl_probe_config *p = &c->probe;
  int rc;
  double lr = 0.3, wd = 1e-6;
  if ((rc = ckpt_run_numbers(cmd, &a->run, &c->micro_batch, &c->loader_threads)) ||
      (rc = cli_parse_u32(cmd, "--epochs", a->epochs, 1, 100000, &p->epochs)) ||
      (rc = cli_parse_u32(cmd, "--batch", a->batch, 1, 1 << 20, &p->batch)) ||
      (rc = cli_parse_uint(cmd, "--train-images", a->train_images, 1, UINT64_MAX,
                           &c->train_images)) ||
      (rc = cli_parse_uint(cmd, "--test-images", a->test_images, 1, UINT64_MAX, &c->test_images)) ||
      (rc = cli_parse_double(cmd, "--lr", a->lr, &lr)) ||
      (rc = cli_parse_double(cmd, "--wd", a->wd, &wd)))
    return rc;
  if (!(lr > 0 && lr < 1e6)) return cli_usage_error(cmd, "--lr %s is out of range (0, 1e6)", a->lr);
  if (!(wd >= 0 && wd < 1)) return cli_usage_error(cmd, "--wd %s is out of range [0, 1)", a->wd);
  p->lr = lr;
  p->weight_decay = wd > 0 ? wd : -1; /* -1: none (0 is the default's placeholder) */
  return 0;
}

static int evaluate(const lin_args *a, const char *ckpt, vkl_linear_eval_config *c) {
  vkl_ctx_config cc = {.device = a->run.device};
  vkl_ctx *ctx = NULL;
  vkl_status st = vkl_ctx_create(&cc, &ctx);
  if (st) {
    int rc = cli_status_error("linear-eval", st, vkl_ctx_errmsg(ctx));
    vkl_ctx_destroy(ctx);
    return rc;
  }
  progress pr = {.tty = isatty(STDERR_FILENO)};
  c->stop = &cli_stop_signal;
  c->on_progress = on_features;
  c->probe.on_epoch = on_epoch;
  c->user = c->probe.user = &pr;
  vkl_linear_eval_report rep;
  char err[2048];
  cli_signals_install();
  st = vkl_linear_eval(ctx, c, &rep, err, sizeof err);
  vkl_ctx_destroy(ctx);
  if (pr.drawn) fputc('\n', stderr);
  if (st == VKL_ERR_INTERRUPTED) {
    fprintf(stderr, "vklars: %s\n", err);
    return cli_signal_exit_code() ? cli_signal_exit_code() : VKL_EXIT_FAILURE;
  }
  if (st) return cli_status_error("linear-eval", st, err);
  const vkl_probe_result *r = &rep.probe;
  char rank[64];
  if (isnan(rep.feature_rank))
    snprintf(rank, sizeof rank, "not computed (over %d)", VKL_FEATURE_RANK_MAX);
  else
    snprintf(rank, sizeof rank, "%.1f", rep.feature_rank);
  printf(
      "%s (%s%s, %llu steps) on %s: linear evaluation test top-1 %.2f%% top-5 %.2f%% "
      "(%llu test images; trained on %llu: loss %.4f, top-1 %.2f%%; %u features, effective "
      "rank %s; %.1f s features, %.1f s classifier)\n",
      ckpt, rep.model, c->random_init ? ", randomly initialised" : "", (unsigned long long)rep.step,
      rep.data, 100 * r->test_top1, 100 * r->test_top5, (unsigned long long)r->test_images,
      (unsigned long long)rep.train_images, r->train_loss, 100 * r->train_top1, rep.features, rank,
      rep.features_s, rep.probe_s);
  return VKL_EXIT_OK;
}

int cmd_linear_eval(int argc, char **argv) {
  lin_args a = {0};
  const char *pos[1];
  int help = 0, npos = 0;
  cli_opt opts[7 + CKPT_RUN_OPTS] = {
      {"--epochs", NULL, "E", "epochs of the linear classifier (default 100)", &a.epochs, NULL},
      {"--lr", NULL, "X", "its learning rate, cosine to 0 (default 0.3)", &a.lr, NULL},
      {"--batch", NULL, "B", "its batch (default 256); SGD momentum 0.9", &a.batch, NULL},
      {"--wd", NULL, "X", "its weight decay (default 1e-6)", &a.wd, NULL},
      {"--random-init", NULL, NULL,
       "the checkpoint's model freshly initialised (the baseline pretraining must beat)", NULL,
       &a.random_init},
      {"--train-images", NULL, "N", "only the first N training images (default all)",
       &a.train_images, NULL},
      {"--test-images", NULL, "N", "only the first N test images (default all)", &a.test_images,
       NULL},
  };
  ckpt_run_options(&a.run, "images per forward batch, 1-65536 (default 256)", opts + 7);
  int n = (int)(sizeof opts / sizeof opts[0]);
  int rc = cli_parse("linear-eval", argc, argv, opts, n, pos, 1, &npos, &help);
  if (rc) return rc;
  if (help) {
    cli_print_help("linear-eval", "CKPT [options]",
                   "Linear evaluation of a pretrained backbone (vklars pretrain): the frozen\n"
                   "backbone's features of the train and test splits (normalization only),\n"
                   "a linear classifier trained on the train split's (SGD momentum 0.9, lr\n"
                   "0.3, cosine), test top-1 and top-5. The data options are the run's own.",
                   opts, n);
    return VKL_EXIT_OK;
  }
  if (npos != 1) return cli_usage_error("linear-eval", "name the checkpoint to evaluate");
  vkl_linear_eval_config c = {.checkpoint = pos[0], .random_init = a.random_init};
  if ((rc = parse_numbers(&a, &c))) return rc;
  ckpt_data cd;
  if (!(rc = ckpt_data_open("linear-eval", pos[0], a.run.data, a.run.dir, &cd))) {
    c.data = cd.data;
    c.data_options = &cd.opt;
    rc = evaluate(&a, pos[0], &c);
  }
  ckpt_data_free(&cd);
  return rc;
}
