/* vklars train: train a model on a data set with TVLARS or a baseline,
 * printing progress and writing the run directory. The options are parsed
 * by train_command.c (--config and --resume included). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/dist_args.h"
#include "cli/signals.h"
#include "cli/train_command.h"

/* ---- progress ------------------------------------------------------------- */

typedef struct progress {
  int tty, pretrain;
  double last_print;
} progress;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A loss in at most 10 characters whatever its magnitude (a diverging run
 * reaches 1e30 and more): 4 significant digits, and nan or inf as such
 * (printf would write "-nan" for a NaN with its sign bit set). */
static const char *loss_str(double v, char buf[16]) {
  if (isnan(v)) return "nan";
  if (isinf(v)) return v > 0 ? "inf" : "-inf";
  snprintf(buf, 16, "%.4g", v);
  return buf;
}

/* H:MM:SS, or --:--:-- when the estimate is not finite or beyond 99999 h
 * (a NaN or huge double converted to unsigned is undefined). */
static const char *eta_str(double s, char buf[24]) {
  if (!(s >= 0 && s < 99999.0 * 3600)) return "--:--:--";
  unsigned eta = (unsigned)s;
  snprintf(buf, 24, "%u:%02u:%02u", eta / 3600, eta / 60 % 60, eta % 60);
  return buf;
}

static void on_progress(void *user, const vkl_train_progress *p) {
  progress *pr = user;
  double t = now_s();
  if (!pr->tty && t - pr->last_print < 5.0 && p->step != p->steps) return;
  if (pr->tty && t - pr->last_print < 0.2 && p->step != p->steps) return;
  pr->last_print = t;
  char line[200], loss[16], eta[24], rate[24] = "-";
  if (p->images_per_s > 0) snprintf(rate, sizeof rate, "%.0f", p->images_per_s);
  snprintf(line, sizeof line, "epoch %u/%u  step %llu/%llu  micro %u/%u  loss %s  %s img/s  ETA %s",
           p->epoch + 1, p->epochs, (unsigned long long)p->step, (unsigned long long)p->steps,
           p->micro, p->micro_steps, p->loss_known ? loss_str(p->loss, loss) : "-", rate,
           p->eta_s < 0 ? "-" : eta_str(p->eta_s, eta));
  if (pr->tty)
    fprintf(stderr, "\r%-100s", line);
  else
    fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

static void on_eval_progress(void *user, uint32_t epoch, uint64_t done, uint64_t total) {
  progress *pr = user;
  double t = now_s();
  if (done != total && t - pr->last_print < (pr->tty ? 0.2 : 5.0)) return;
  pr->last_print = t;
  char line[200];
  snprintf(line, sizeof line, "epoch %u  evaluating %llu/%llu images", epoch + 1,
           (unsigned long long)done, (unsigned long long)total);
  if (pr->tty)
    fprintf(stderr, "\r%-100s", line);
  else
    fprintf(stderr, "%s\n", line);
  fflush(stderr);
}

static void on_epoch(void *user, const vkl_epoch_result *r) {
  progress *pr = user;
  if (pr->tty) fputc('\n', stderr);
  if (pr->pretrain) { /* no classifier: the loss is Barlow Twins' */
    char loss[16], knn[64] = "";
    if (r->test_images)
      snprintf(knn, sizeof knn, " | kNN test top-1 %.2f%% (%llu images)", 100 * r->test_top1,
               (unsigned long long)r->test_images);
    printf("epoch %u: train loss %s%s | %.1f s, %.0f img/s, loader %.0f img/s\n", r->epoch + 1,
           loss_str(r->train_loss, loss), knn, r->wall_s, r->images_per_s, r->loader_images_per_s);
    fflush(stdout);
    return;
  }
  char train_loss[16], test_loss[16];
  if (!r->test_images) { /* --eval-every left this epoch out */
    printf("epoch %u: train loss %s top-1 %.2f%% | not evaluated | %.1f s, %.0f img/s, loader %.0f "
           "img/s\n",
           r->epoch + 1, loss_str(r->train_loss, train_loss), 100 * r->train_top1, r->wall_s,
           r->images_per_s, r->loader_images_per_s);
    fflush(stdout);
    return;
  }
  printf(
      "epoch %u: train loss %s top-1 %.2f%% | test loss %s top-1 %.2f%% top-5 %.2f%% "
      "(%llu images) | %.1f s, %.0f img/s, loader %.0f img/s\n",
      r->epoch + 1, loss_str(r->train_loss, train_loss), 100 * r->train_top1,
      loss_str(r->test_loss, test_loss), 100 * r->test_top1, 100 * r->test_top5,
      (unsigned long long)r->test_images, r->wall_s, r->images_per_s, r->loader_images_per_s);
  fflush(stdout);
}

static void on_note(void *user, const char *msg) {
  progress *pr = user;
  if (pr->tty) fputc('\n', stderr);
  fprintf(stderr, "vklars: %s\n", msg);
}

/* ---- the command ------------------------------------------------------------ */

/* An interrupted run: where it stopped and how to go on. */
static int report_interrupted(const char *cmd, const char *err, const char *dir) {
  fprintf(stderr, "vklars: %s\nvklars: continue with: vklars %s --resume %s\n", err, cmd, dir);
  int code = cli_signal_exit_code();
  return code ? code : VKL_EXIT_FAILURE;
}

/* What the run ended with: its result (rank 0), or its error and exit
 * code. Across ranks, a rank that failed ends every rank (MPI_Abort)
 * unless all of them already know (a failure to set the run up). */
static int finish(const char *cmd, vkl_status st, const char *err, const vkl_train_result *res,
                  const vkl_train_config *cfg, vkl_dist *dist, int pretrain) {
  uint32_t rank = vkl_dist_rank(dist), ranks = vkl_dist_size(dist);
  if (ranks > 1 && res->failed_rank != UINT32_MAX && res->failed_rank != rank)
    /* that rank says why; the code is this rank's own (the same error) */
    return st == VKL_ERR_INVALID_ARGUMENT ? VKL_EXIT_USAGE : VKL_EXIT_FAILURE;
  if (st == VKL_ERR_INTERRUPTED) {
    if (rank == 0) return report_interrupted(cmd, err, cfg->out_dir);
    int code = cli_signal_exit_code();
    return code ? code : VKL_EXIT_FAILURE;
  }
  if (st && ranks == 1) return cli_status_error(cmd, st, err);
  if (st) { /* which rank, and no rank left waiting for this one */
    char msg[2100];
    snprintf(msg, sizeof msg, "rank %u of %u: %s", rank, ranks, err);
    int rc = cli_status_error(cmd, st, msg);
    if (res->failed_rank == UINT32_MAX) vkl_dist_abort(dist, rc);
    return rc;
  }
  if (rank > 0) return VKL_EXIT_OK; /* rank 0 prints the run's result */
  if (pretrain && res->steps) {
    printf("pretrained: loss %.6g after %llu steps in %.1f s (run directory %s)\n",
           res->last.train_loss, (unsigned long long)res->steps, res->wall_s, cfg->out_dir);
  } else if (res->last.test_images > 0) { /* 0: a finished run resumed, nothing ran */
    printf("test top-1 %.2f%% top-5 %.2f%% after %llu steps in %.1f s (run directory %s)\n",
           100 * res->last.test_top1, 100 * res->last.test_top5, (unsigned long long)res->steps,
           res->wall_s, cfg->out_dir);
  } else if (res->steps && cfg->eval_when == VKL_EVAL_NEVER) {
    printf("trained %llu step%s in %.1f s, not evaluated (--eval-every never; run directory %s)\n",
           (unsigned long long)res->steps, res->steps == 1 ? "" : "s", res->wall_s, cfg->out_dir);
  }
  if (ranks > 1 && res->steps)
    fprintf(stderr,
            "vklars: all-reduce: %.2f MiB a step in %u bucket%s; median %.2f ms a step beyond the "
            "compute, of a %.1f ms step\n",
            (double)res->allreduce_bytes / 1048576.0, res->allreduce_buckets,
            res->allreduce_buckets == 1 ? "" : "s", 1e3 * res->allreduce_s, 1e3 * res->step_s);
  return VKL_EXIT_OK;
}

static const char *train_help =
    "Trains a model with TVLARS (default) or a baseline. The global batch\n"
    "--batch is emulated by --micro-batch sized micro-batches whose gradients\n"
    "accumulate on the device; batch norm uses each micro-batch's statistics.\n"
    "The run directory gets run.json, epochs.csv, steps.csv, layers.csv and\n"
    "checkpoints ckpt-step<N>.safetensors (PyTorch state_dict names, plus the\n"
    "optimizer state and the position), checkpoint.safetensors linking the newest.\n"
    "Ctrl-C (or SIGTERM) finishes the step in flight, saves a checkpoint and\n"
    "exits 130 (143); a second Ctrl-C a second later quits at once. --resume\n"
    "DIR continues a run exactly where its linked checkpoint left it.\n"
    "Started by mpirun -n N, N processes (ranks, one device each) train one run:\n"
    "each runs B/N of every batch and the gradients are summed across them; only\n"
    "rank 0 writes the run directory (README: Several GPUs and nodes).";

static const char *pretrain_help =
    "Pretrains a backbone without labels: Barlow Twins on two augmented views\n"
    "of each image, with the exact loss of the whole --batch however many\n"
    "micro-batches emulate it (a statistics pass, then a gradient pass; memory\n"
    "does not grow with the batch). The model's classifier is replaced by the\n"
    "--projector. Optimizers, schedules, checkpoints, --resume, Ctrl-C and the\n"
    "run directory's logs are train's; the loss logged is the batch's L.\n"
    "Under mpirun -n N the ranks split each batch and exchange the statistics\n"
    "between the passes, so the loss stays exact over the whole batch.";

static int run(const char *cmd, int argc, char **argv) {
  int pretrain = strcmp(cmd, "pretrain") == 0;
  train_command *tc = malloc(sizeof *tc);
  if (!tc) {
    cli_error("%s: out of host memory", cmd);
    return VKL_EXIT_FAILURE;
  }
  int rc = train_command_parse_as(tc, cmd, argc, argv);
  if (!rc && tc->help)
    cli_print_help(cmd, "[options]", pretrain ? pretrain_help : train_help, tc->opts, tc->n);
  if (rc || tc->help) {
    train_command_free(tc);
    free(tc);
    return rc;
  }
  vkl_dist *dist = NULL;
  int64_t bucket = cli_dist_bucket_bytes(cmd);
  if (bucket < 0 || (rc = cli_dist_open(cmd, &dist))) {
    train_command_free(tc);
    free(tc);
    return bucket < 0 ? VKL_EXIT_USAGE : rc;
  }
  uint32_t rank = vkl_dist_rank(dist), ranks = vkl_dist_size(dist);
  vkl_train_config *cfg = &tc->cfg;
  progress pr = {isatty(STDERR_FILENO), pretrain, 0};
  cfg->dist = dist;
  cfg->allreduce_bucket_bytes = (uint64_t)bucket;
  if (rank == 0) { /* the other ranks are silent: rank 0 speaks for the run */
    cfg->on_progress = on_progress;
    cfg->on_epoch = on_epoch;
    cfg->on_eval_progress = on_eval_progress;
    cfg->on_note = on_note;
  }
  cfg->user = &pr;
  cfg->stop = &cli_stop_signal;

  char device[16];
  vkl_ctx_config ccfg = {.device = cli_dist_device(dist, tc->a.device, device, sizeof device)};
  vkl_ctx *ctx = NULL;
  vkl_status st = vkl_ctx_create(&ccfg, &ctx);
  if (st) { /* before any collective: the others must not wait for this rank */
    char msg[1200];
    snprintf(msg, sizeof msg, "%s", vkl_ctx_errmsg(ctx));
    if (ranks > 1) snprintf(msg, sizeof msg, "rank %u of %u: %s", rank, ranks, vkl_ctx_errmsg(ctx));
    rc = cli_status_error(cmd, st, msg);
    vkl_ctx_destroy(ctx);
    vkl_dist_abort(dist, rc);
    vkl_dist_destroy(dist);
    train_command_free(tc);
    free(tc);
    return rc;
  }
  if (ranks > 1)
    fprintf(stderr, "vklars: rank %u of %u (%s): device %s (%s)\n", rank, ranks,
            vkl_dist_library(dist), vkl_ctx_device(ctx)->name, vkl_ctx_device(ctx)->driver_info);
  if (rank == 0) {
    if (ranks == 1)
      fprintf(stderr, "vklars: device %s (%s); run directory %s\n", vkl_ctx_device(ctx)->name,
              vkl_ctx_device(ctx)->driver_info, cfg->out_dir);
    else
      fprintf(stderr, "vklars: run directory %s (written by rank 0)\n", cfg->out_dir);
    if (cfg->resume) fprintf(stderr, "vklars: resuming from %s\n", cfg->resume);
  }
  vkl_train_result res;
  char err[2048];
  cli_signals_install();
  cli_signals_quiet(rank > 0);
  st = vkl_train(ctx, cfg, &res, err, sizeof err);
  vkl_ctx_destroy(ctx);
  if (pr.tty && st && rank == 0) fputc('\n', stderr);
  rc = finish(cmd, st, err, &res, cfg, dist, pretrain);
  vkl_dist_destroy(dist);
  /* last: cfg->out_dir may point into tc's argv copies (--config, --resume) */
  train_command_free(tc);
  free(tc);
  return rc;
}

int cmd_train(int argc, char **argv) {
  return run("train", argc, argv);
}

int cmd_pretrain(int argc, char **argv) {
  return run("pretrain", argc, argv);
}
