/* The training loop (see trainer.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_internal.h"

/* ---- the loop ------------------------------------------------------------------ */

static vkl_status submit(trainer *tr, vkl_cmd *cmd, uint64_t *ticket) {
  vkl_status st = vkl_submit(tr->ctx, cmd, ticket);
  return st ? vk_fail(tr, st) : VKL_OK;
}

static vkl_status wait_ticket(trainer *tr, uint64_t ticket) {
  vkl_status st = ticket ? vkl_wait(tr->ctx, ticket) : VKL_OK;
  return st ? vk_fail(tr, st) : VKL_OK;
}

/* Loads: the step schedule reads each of a step's k micro-batches once per
 * pass, so load L of an epoch is micro-batch j = L % k of step L / (P k),
 * pass (L / k) % P, for P passes. A step spans N k loader batches (N
 * ranks), rank r's being r k .. r k + k - 1 of them: load L is loader
 * batch (L / (P k)) N k + r k + j. With one rank and one pass, load L is
 * batch L. So N ranks visit exactly the micro-batches of one process with
 * the same B and m, and each sample keeps its augmentation. */
static uint64_t load_batch(const trainer *tr, uint64_t L) {
  uint64_t per_step = (uint64_t)tr->passes * tr->k;
  return L / per_step * tr->k * tr->ranks + (uint64_t)tr->rank * tr->k + L % tr->k;
}

/* Whether any rank's condition holds (one rank: its own). Every rank
 * calls it at the same points, so all stop at the same step. */
static vkl_status agree_any(trainer *tr, int flag, int *any) {
  vkl_status st = vkl_dist_any(tr->cfg->dist, flag, any);
  if (st) snprintf(tr->err, tr->errlen, "%s", vkl_dist_errmsg(tr->cfg->dist));
  return st;
}

/* Submits micro-batch program c; the step's last across ranks goes as its
 * segments, each followed by its bucket's download (or, with one program,
 * every download after it). *ticket: the last compute submission's. */
static vkl_status submit_micro(trainer *tr, vkl_cmd *c, int last, uint64_t *ticket) {
  vkl_status st;
  if (!last || !tr->allreduce) return submit(tr, c, ticket);
  for (uint32_t b = 0; b < tr->bucket_count; b++) {
    vkl_cmd *program = tr->last_segment[0] ? tr->last_segment[b] : b == 0 ? c : NULL;
    if (program && (st = submit(tr, program, ticket))) return st;
    if ((st = vkl_grad_allreduce_submit(tr->allreduce, b, tr->err, tr->errlen))) return st;
  }
  return VKL_OK;
}

/* N > 1: the step's gradient summed across the ranks, before its
 * optimizer program (which uploads the sums); compute: the ticket of the
 * step's last compute submission. */
static vkl_status allreduce_gradient(trainer *tr, uint64_t compute) {
  if (!tr->allreduce) return VKL_OK;
  vkl_status st = vkl_grad_allreduce_finish(tr->allreduce, compute, tr->err, tr->errlen);
  if (st) return st;
  vkl_grad_allreduce_stats s;
  vkl_grad_allreduce_get_stats(tr->allreduce, &s);
  if (!tr->reduce_s) tr->reduce_s = calloc(VKL_TIMED_STEPS, sizeof *tr->reduce_s);
  if (tr->reduce_s && tr->timed_steps < VKL_TIMED_STEPS)
    tr->reduce_s[tr->timed_steps++] = s.exposed_s;
  return VKL_OK;
}

/* The time from one step's submission to the next's: a step's duration
 * once the device is busy (the all-reduce included). */
static void time_step(trainer *tr) {
  double now = now_s();
  if (!tr->step_s) tr->step_s = calloc(VKL_TIMED_STEPS, sizeof *tr->step_s);
  if (tr->last_submit > 0 && tr->step_s && tr->step_intervals < VKL_TIMED_STEPS)
    tr->step_s[tr->step_intervals++] = now - tr->last_submit;
  tr->last_submit = now;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of v (n values; sorts them), 0 for none. */
static double median(double *v, uint32_t n) {
  if (!v || !n) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The step's loss sum and top-1/top-5 counts over every rank's samples. */
static vkl_status sum_metrics(trainer *tr, float *loss_sum, uint32_t correct[2]) {
  if (tr->ranks < 2 || trainer_is_barlow(tr)) return VKL_OK; /* Barlow's L is the batch's */
  double v[3] = {*loss_sum, correct[0], correct[1]};
  vkl_status st = vkl_dist_sum_f64(tr->cfg->dist, v, 3);
  if (st) {
    snprintf(tr->err, tr->errlen, "%s", vkl_dist_errmsg(tr->cfg->dist));
    return st;
  }
  *loss_sum = (float)v[0];
  correct[0] = (uint32_t)v[1];
  correct[1] = (uint32_t)v[2];
  return VKL_OK;
}

/* Queues load L into its slot (L % SLOTS). */
static vkl_status fill(trainer *tr, uint64_t L) {
  return vkl_batch_ring_fill(tr->ring, tr->train_ld, (uint32_t)(L % SLOTS), load_batch(tr, L),
                             tr->err, tr->errlen);
}

/* Keeps the first log write that failed: the run stops at the end of the
 * step (stop_requested), and its message names that file. */
static void log_written(trainer *tr, vkl_status st, const char *why) {
  if (!st || tr->log_failed) return;
  tr->log_failed = 1;
  snprintf(tr->log_err, sizeof tr->log_err, "%s", why);
}

/* Reads step t's results (it has completed) and logs them. */
static vkl_status finish_step(trainer *tr, uint64_t t, uint32_t epoch) {
  uint32_t r = (uint32_t)(t % VKL_OPTIM_RING);
  vkl_status st = wait_ticket(tr, tr->step_ticket[r]);
  if (st) return st;
  vkl_optim_step_info info;
  if ((st = vkl_optimizer_read(tr->opt, t, &info, tr->stats))) return vk_fail(tr, st);
  float loss_sum;
  uint32_t correct[2];
  memcpy(&loss_sum, tr->rb_loss[r].host, 4);
  memcpy(correct, tr->rb_correct[r].host, 8);
  if ((st = sum_metrics(tr, &loss_sum, correct))) return st;
  /* a classifier's loss is a sum over the samples; Barlow Twins' is the batch's */
  double loss = trainer_is_barlow(tr) ? loss_sum : loss_sum / tr->B;
  /* pretraining has no classifier: its top-1 is not 0 but undefined */
  double top1 = trainer_is_barlow(tr) ? NAN : (double)correct[0] / tr->B;
  tr->last_loss = loss;
  tr->loss_known = 1;
  tr->epoch_loss_sum += loss;
  tr->epoch_top1_sum += top1;
  tr->epoch_steps++;
  if (tr->log) {
    char why[700];
    log_written(tr,
                vkl_runlog_step(tr->log, t, epoch, loss, info.lr, info.phi, top1, why, sizeof why),
                why);
    log_written(tr,
                vkl_runlog_layers(tr->log, t, tr->layer_names, tr->stats, tr->model->param_count,
                                  why, sizeof why),
                why);
  }
  if (info.nonfinite_norm || info.nonfinite_update || info.nonfinite_buffers || !isfinite(loss)) {
    tr->nonfinite_total++;
    const char *layer = info.nonfinite_buffers ? "batch norm's running statistics" : "?";
    for (uint32_t i = 0; !info.nonfinite_buffers && i < tr->model->param_count; i++)
      if (!isfinite(tr->stats[i].wnorm) || !isfinite(tr->stats[i].dnorm)) {
        layer = tr->layer_names[i];
        break;
      }
    if (info.nonfinite_update && !info.nonfinite_norm && !info.nonfinite_buffers) {
      /* finite norms: the update was applied, and cannot be dropped */
      snprintf(tr->err, tr->errlen,
               "step %llu's update made the weights non-finite (loss %g); an applied update "
               "cannot be dropped, so the run stops. Lower --lr or --wd",
               (unsigned long long)t, loss);
      tr->stopped_nonfinite = 1;
      return VKL_ERR_FORMAT;
    }
    if (!tr->cfg->skip_nonfinite) {
      snprintf(tr->err, tr->errlen,
               "step %llu went non-finite (loss %g; first layer: %s); its update was dropped. "
               "Lower --lr, or pass --on-nonfinite skip",
               (unsigned long long)t, loss, layer);
      tr->stopped_nonfinite = 1;
      return VKL_ERR_FORMAT;
    }
    if (tr->cfg->on_note) {
      char msg[256];
      snprintf(msg, sizeof msg, "step %llu non-finite (first layer %s): update dropped",
               (unsigned long long)t, layer);
      tr->cfg->on_note(tr->cfg->user, msg);
    }
  }
  return VKL_OK;
}

/* Reads the results of the step still unread, if any. */
static vkl_status drain_steps(trainer *tr, uint32_t epoch) {
  if (!tr->pending) return VKL_OK;
  tr->pending = 0;
  return finish_step(tr, tr->t - 1, epoch);
}

/* A stop request, or a log that could not be written: either way the run
 * stops between steps with a checkpoint. */
static int stop_requested(const trainer *tr) {
  return (tr->cfg->stop && *tr->cfg->stop) || tr->log_failed;
}

static void report_progress(trainer *tr, uint32_t epoch, uint32_t micro) {
  if (!tr->cfg->on_progress) return;
  double now = now_s(), rate = 0, eta = -1;
  uint64_t finished = tr->t - (uint64_t)tr->pending; /* read back from the device */
  if (!tr->rate_started && tr->loss_known) {
    tr->rate_started = 1;
    tr->rate_step0 = finished;
    tr->rate_t0 = now;
  } else if (tr->rate_started && finished > tr->rate_step0 && now > tr->rate_t0) {
    double steps_per_s = (double)(finished - tr->rate_step0) / (now - tr->rate_t0);
    rate = steps_per_s * tr->B;
    eta = (double)(tr->total_steps - finished) / steps_per_s;
  }
  vkl_train_progress p = {epoch,          tr->cfg->epochs, tr->t,
                          tr->total_steps, micro,          tr->k,
                          tr->last_loss,  tr->loss_known, rate,
                          eta};
  tr->cfg->on_progress(tr->cfg->user, &p);
}

/* Trains epoch `epoch` from its step `first` until its end or total_steps;
 * *done: the epoch's steps done when it returns. A stop request or
 * --save-every saves a checkpoint between steps; a stop request then
 * returns with *interrupted set. */
static vkl_status train_epoch(trainer *tr, uint32_t epoch, uint64_t first, uint64_t *images,
                              uint64_t *done, int *interrupted) {
  *done = first;
  tr->rate_started = 0; /* the epoch's own throughput: evaluation time is not in it */
  vkl_status st = vkl_loader_start_epoch(tr->train_ld, epoch);
  if (st) {
    snprintf(tr->err, tr->errlen, "%s", vkl_loader_errmsg(tr->train_ld));
    return st;
  }
  uint64_t steps = tr->steps_per_epoch - first;
  if (tr->total_steps - tr->t < steps) steps = tr->total_steps - tr->t;
  /* load L of the epoch always goes through slot L % SLOTS */
  uint64_t per_step = (uint64_t)tr->passes * tr->k;
  uint64_t L0 = first * per_step, nl = L0 + steps * per_step;
  for (uint64_t L = L0; L < L0 + SLOTS && L < nl; L++)
    if ((st = fill(tr, L))) return st;
  for (uint64_t L = L0; L < nl; L++) {
    uint32_t s = (uint32_t)(L % SLOTS), j = (uint32_t)(L % tr->k);
    uint32_t p = (uint32_t)(L / tr->k % tr->passes);
    const train_pass *pass = &tr->pass[p];
    int last = j == tr->k - 1 && p == tr->passes - 1; /* the step's last micro-batch */
    uint64_t computed = 0;
    if ((st = vkl_batch_ring_take(tr->ring, tr->train_ld, s, NULL, tr->err, tr->errlen)) ||
        (st = vkl_batch_ring_copy(tr->ring, s, tr->err, tr->errlen)) ||
        (st = submit_micro(tr, pass->micro[j == 0 ? 0 : 1], last, &computed)))
      return st;
    if (j == tr->k - 1 && pass->sync && (st = pass->sync(tr))) return st;
    if (j == tr->k - 1 && pass->after && (st = submit(tr, pass->after, NULL))) return st;
    if (last) {
      uint64_t t = tr->t;
      uint32_t r = (uint32_t)(t % VKL_OPTIM_RING);
      /* the ring slot of step t - RING must be read before reuse */
      if ((st = wait_ticket(tr, tr->step_ticket[r]))) return st;
      double lr = vkl_sched_lr(&tr->sched, tr->cfg->optim.lr, t);
      double phi = vkl_optim_phi(&tr->cfg->optim, tr->steps_per_epoch, t);
      vkl_optimizer_prepare(tr->opt, t, lr, phi, 1); /* never apply a non-finite step */
      if ((st = allreduce_gradient(tr, computed)) ||
          (st = submit(tr, tr->step_cmd[r], &tr->step_ticket[r])))
        return st;
      time_step(tr);
      /* step t counts as done before step t - 1 is read, so that a stop at
       * a non-finite t - 1 knows where the device stands */
      int late = tr->pending;
      tr->pending = 1;
      tr->t++;
      *done = L / per_step + 1;
      *images += tr->B;
      if (late && (st = finish_step(tr, t - 1, epoch))) return st; /* one step late */
      report_progress(tr, epoch, j + 1);
      /* Between steps (the epoch's last is the caller's): nothing of the
       * next step is queued yet, so the device holds exactly step t's state. */
      int stop;
      if ((st = agree_any(tr, stop_requested(tr), &stop))) return st;
      if (L + 1 < nl && (stop || (tr->cfg->save_every && tr->t % tr->cfg->save_every == 0))) {
        if ((st = drain_steps(tr, epoch)) || (st = trainer_save_checkpoint(tr, epoch, *done)))
          return st;
        if (stop) {
          *interrupted = 1;
          return VKL_OK;
        }
      }
    }
    if (L + SLOTS < nl && (st = fill(tr, L + SLOTS))) return st; /* once slot s is copied */
  }
  return drain_steps(tr, epoch);
}

/* Whether epoch e (0-based) is evaluated; last: it ends the run. */
static int evaluates(const vkl_train_config *cfg, uint32_t e, int last) {
  if (cfg->eval_when == VKL_EVAL_NEVER) return 0;
  if (last) return 1;
  uint32_t every = cfg->eval_every ? cfg->eval_every : 1;
  return cfg->eval_when == VKL_EVAL_EPOCHS && (e + 1) % every == 0;
}

/* The test split's loss and accuracy into r, or NaN when the epoch is not
 * evaluated (--eval-every). */
static vkl_status evaluate(trainer *tr, vkl_epoch_result *r, int last) {
  vkl_eval_result e;
  tr->eval_epoch = r->epoch;
  if (!evaluates(tr->cfg, r->epoch, last)) {
    r->test_loss = r->test_top1 = r->test_top5 = NAN;
    return VKL_OK;
  }
  if (tr->knn_net) return trainer_knn_run(tr, r);
  if (!tr->evaluator) return VKL_OK; /* pretraining without a monitor */
  vkl_status st = vkl_evaluator_run(tr->evaluator, &e, tr->err, tr->errlen);
  if (st) return st;
  r->test_images = e.images;
  r->test_loss = e.loss;
  r->test_top1 = e.top1;
  r->test_top5 = e.top5;
  if (!isfinite(e.loss) && tr->cfg->on_note) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "epoch %u: the evaluation is non-finite (a %g test loss): some outputs are NaN or inf",
             r->epoch + 1, e.loss);
    tr->cfg->on_note(tr->cfg->user, msg);
  }
  return VKL_OK;
}

/* --on-nonfinite stop: the device never applied the bad step (the update
 * was skipped, batch norm rolled back), so its state is finite: it is
 * saved to go on from (e.g. --resume with a lower --lr). The step in
 * flight completes first; tr->err keeps the step's message and says where
 * the state went. */
static void save_last_finite(trainer *tr, uint32_t epoch, uint64_t done) {
  char why[4096];
  snprintf(why, sizeof why, "%s", tr->err);
  vkl_status st = VKL_OK;
  if (tr->pending) { /* its own non-finiteness is counted, and dropped too */
    tr->pending = 0;
    st = finish_step(tr, tr->t - 1, epoch);
  }
  if ((!st || st == VKL_ERR_FORMAT) && tr->cfg->out_dir)
    st = trainer_save_checkpoint(tr, epoch, done);
  size_t len = strlen(why);
  if (!tr->cfg->out_dir)
    snprintf(why + len, sizeof why - len, " (no run directory to save to)");
  else if (!st || (tr->last_ckpt[0] && tr->last_ckpt_step == tr->t))
    snprintf(why + len, sizeof why - len,
             ". The last finite state is saved in %s (step %llu): vklars train --resume %s "
             "continues from it",
             tr->last_ckpt, (unsigned long long)tr->last_ckpt_step, tr->cfg->out_dir);
  else
    snprintf(why + len, sizeof why - len, ". No checkpoint was written: %s", tr->err);
  snprintf(tr->err, tr->errlen, "%s", why);
}

/* "; the last checkpoint is ... (step N): continue with ..." after the
 * message of a run that could not go on. */
static void append_last_checkpoint(trainer *tr) {
  size_t len = strlen(tr->err);
  if (tr->last_ckpt[0])
    snprintf(tr->err + len, tr->errlen - len,
             "; the last checkpoint is %s (step %llu): continue with vklars train --resume %s",
             tr->last_ckpt, (unsigned long long)tr->last_ckpt_step, tr->cfg->out_dir);
  else
    snprintf(tr->err + len, tr->errlen - len, "; no checkpoint was written yet");
}

/* The message of a run stopped by a log it could not write: the file and
 * why, what went wrong after (the checkpoint saved on stopping, on a full
 * disk), and the checkpoint to go on from. */
static vkl_status stopped_by_log(trainer *tr, vkl_status st) {
  char then[1200];
  snprintf(then, sizeof then, "%s", st ? tr->err : "");
  snprintf(tr->err, tr->errlen, "%s", tr->log_err);
  size_t len = strlen(tr->err);
  if (st)
    snprintf(tr->err + len, tr->errlen - len, "; %s: %s",
             tr->ckpt_failed ? "saving a checkpoint failed too" : "then", then);
  append_last_checkpoint(tr);
  return VKL_ERR_IO;
}

/* lars-warm (LARS's and LAMB's default schedule) warms up over 20 epochs:
 * a shorter run never reaches its base rate and trains at a small
 * fraction of it, which is worth saying before it starts. */
static void note_long_warmup(const trainer *tr) {
  if (tr->sched.kind != VKL_SCHED_LARS_WARM || !tr->cfg->on_note) return;
  double warm = tr->sched.warmup_epochs * (double)tr->steps_per_epoch;
  if (warm < (double)tr->total_steps) return;
  char msg[400];
  snprintf(
      msg, sizeof msg,
      "the lars-warm warm-up (%g epochs, %.0f steps) is longer than the run (%llu steps): "
      "its last step's learning rate is %.3g%% of its base. Shorten it with --warmup-epochs, or "
      "pick another --schedule",
      tr->sched.warmup_epochs, warm, (unsigned long long)tr->total_steps,
      100.0 * (double)(tr->total_steps - 1) / (warm > 0 ? warm : 1)); /* lr(t) = base t/warm */
  tr->cfg->on_note(tr->cfg->user, msg);
}

/* Across ranks: whether every rank set the run up. A rank that failed
 * keeps its own status and message (the lowest such rank's is the one
 * shown); the others learn which rank failed and stop too, so none waits
 * on a rank that will never reach the first all-reduce. */
static vkl_status agree_setup(trainer *tr, vkl_status st, vkl_train_result *result) {
  result->failed_rank = UINT32_MAX;
  if (vkl_dist_size(tr->cfg->dist) < 2 || tr->cfg->pipelines_only) return st;
  uint32_t failed;
  vkl_status ast = vkl_dist_first_failed(tr->cfg->dist, st != VKL_OK, &failed);
  if (ast) {
    snprintf(tr->err, tr->errlen, "%s", vkl_dist_errmsg(tr->cfg->dist));
    return ast;
  }
  result->failed_rank = failed;
  if (failed != UINT32_MAX) {
    if (st) return st;
    snprintf(tr->err, tr->errlen, "rank %u failed to set the run up", failed);
    return VKL_ERR_INVALID_ARGUMENT;
  }
  /* Every rank must run the same schedule: its data (another data set on
   * another node), --micro-batch auto (another device) or the position it
   * resumed from could make them differ, and then their collectives would
   * not match. */
  const uint64_t shape[] = {tr->m,
                            tr->k,
                            tr->steps_per_epoch,
                            tr->total_steps,
                            tr->t,
                            tr->model->param_floats,
                            vkl_dataset_get_info(tr->train_ds)->count};
  uint32_t differs;
  uint64_t h = trainer_fnv1a(TRAINER_FNV_BASIS, shape, sizeof shape);
  if ((ast = vkl_dist_agree_u64(tr->cfg->dist, h, &differs))) {
    snprintf(tr->err, tr->errlen, "%s", vkl_dist_errmsg(tr->cfg->dist));
    return ast;
  }
  if (differs == UINT32_MAX) return VKL_OK;
  result->failed_rank = 0; /* rank 0 says it for all */
  snprintf(tr->err, tr->errlen,
           "rank %u's run differs from rank 0's (micro-batch %u: %u a step, %llu steps an epoch, "
           "%llu training images, at step %llu on this rank): every rank needs the same data, "
           "options and devices' micro-batch (give --micro-batch)",
           differs, tr->m, tr->k, (unsigned long long)tr->steps_per_epoch,
           (unsigned long long)vkl_dataset_get_info(tr->train_ds)->count,
           (unsigned long long)tr->t);
  return VKL_ERR_INVALID_ARGUMENT;
}

vkl_status vkl_train(vkl_ctx *ctx, const vkl_train_config *cfg, vkl_train_result *result, char *err,
                     size_t errlen) {
  trainer tr;
  memset(&tr, 0, sizeof tr);
  memset(result, 0, sizeof *result);
  tr.ctx = ctx;
  tr.cfg = cfg;
  tr.err = err;
  tr.errlen = errlen;
  err[0] = '\0';
  double start = now_s();
  vkl_status st = agree_setup(&tr, trainer_setup(&tr), result);
  if (!st) result->device_bytes = trainer_device_bytes(&tr);
  if (cfg->pipelines_only) {
    result->micro_batch = tr.m;
    result->steps_per_epoch = tr.steps_per_epoch;
    trainer_teardown(&tr);
    return st;
  }
  if (!st && cfg->on_note) {
    char msg[256];
    char ranks[64] = "";
    if (tr.ranks > 1) snprintf(ranks, sizeof ranks, "%u ranks x ", tr.ranks);
    snprintf(msg, sizeof msg,
             "%s on %s: batch %u = %s%u micro-batches of %u, %llu steps/epoch, %.1f MiB on device",
             tr.model->name, vkl_dataset_get_info(tr.train_ds)->name, tr.B, ranks, tr.k, tr.m,
             (unsigned long long)tr.steps_per_epoch, (double)trainer_device_bytes(&tr) / (1 << 20));
    cfg->on_note(cfg->user, msg);
    note_long_warmup(&tr);
  }
  if (!st && cfg->resume && !tr.eval_pending &&
      (tr.t >= tr.total_steps || tr.start_epoch >= cfg->epochs) && cfg->on_note) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "the run is complete at step %llu; nothing to train (raise --epochs to go on)",
             (unsigned long long)tr.t);
    cfg->on_note(cfg->user, msg);
  }
  int interrupted = 0;
  uint64_t first = tr.start_epoch_step, done = first;
  uint32_t e = tr.start_epoch;
  uint32_t pos_epoch = e; /* where the run stands: epoch, and steps done in it */
  uint64_t pos_step = first;
  for (; !st && !interrupted && e < cfg->epochs && (tr.t < tr.total_steps || tr.eval_pending);
       e++, first = 0) {
    double t0 = now_s();
    uint64_t images = 0;
    if (first == 0) {
      tr.epoch_loss_sum = tr.epoch_top1_sum = 0;
      tr.epoch_steps = 0;
    }
    uint64_t nonfinite0 = tr.nonfinite_total;
    st = train_epoch(&tr, e, first, &images, &done, &interrupted);
    pos_epoch = done == tr.steps_per_epoch ? e + 1 : e;
    pos_step = done == tr.steps_per_epoch ? 0 : done;
    if (st || interrupted) break;
    double train_s = now_s() - t0;
    vkl_epoch_result r = {.epoch = e};
    st = evaluate(&tr, &r, tr.t >= tr.total_steps || e + 1 == cfg->epochs);
    if (st == VKL_ERR_INTERRUPTED) { /* trained, not evaluated: the checkpoint says so */
      tr.eval_pending = 1;
      interrupted = 1;
      st = trainer_save_checkpoint(&tr, e, done);
      break;
    }
    tr.eval_pending = 0;
    if (st || (st = trainer_record_skipped_images(&tr))) break;
    vkl_loader_stats last, current;
    vkl_loader_get_stats(tr.train_ld, &last, &current);
    r.train_loss = tr.epoch_steps ? tr.epoch_loss_sum / tr.epoch_steps : 0;
    r.train_top1 = tr.epoch_steps ? tr.epoch_top1_sum / tr.epoch_steps : 0; /* NaN: pretraining */
    r.wall_s = now_s() - t0;
    r.images_per_s = train_s > 0 ? images / train_s : 0;
    r.loader_images_per_s =
        current.capacity_per_s > 0 ? current.capacity_per_s : last.capacity_per_s;
    r.nonfinite_steps = tr.nonfinite_total - nonfinite0;
    if (tr.log) {
      char why[700];
      log_written(&tr, vkl_runlog_epoch(tr.log, &r, why, sizeof why), why);
    }
    int end = tr.t >= tr.total_steps || e + 1 == cfg->epochs;
    if ((st = agree_any(&tr, stop_requested(&tr), &interrupted))) break;
    int periodic = cfg->save_every ? tr.t % cfg->save_every == 0 : !cfg->save_at_end;
    if ((end || periodic || interrupted) && (st = trainer_save_checkpoint(&tr, e, done))) break;
    if (cfg->on_epoch) cfg->on_epoch(cfg->user, &r);
    result->last = r;
  }
  if (!st) st = trainer_record_skipped_images(&tr); /* a stop mid-epoch */
  if (st == VKL_ERR_FORMAT && tr.stopped_nonfinite) save_last_finite(&tr, e, done);
  result->epoch = pos_epoch;
  result->epoch_step = pos_step;
  result->steps_per_epoch = tr.steps_per_epoch;
  snprintf(result->checkpoint, sizeof result->checkpoint, "%s", tr.last_ckpt);
  if (tr.log) { /* closed here: a close that fails is a log write that failed */
    char why[700];
    vkl_status cst = vkl_runlog_close(tr.log, why, sizeof why);
    if (!st && !interrupted) log_written(&tr, cst, why);
    tr.log = NULL;
  }
  if (tr.log_failed) {
    st = stopped_by_log(&tr, st);
  } else if (interrupted && !st && tr.eval_pending) {
    snprintf(err, errlen,
             "interrupted during epoch %u's evaluation, at step %llu of %llu; checkpoint %s (the "
             "evaluation runs again on resuming)",
             e + 1, (unsigned long long)tr.t, (unsigned long long)tr.total_steps,
             tr.last_ckpt[0] ? tr.last_ckpt : "none (no run directory)");
    st = VKL_ERR_INTERRUPTED;
  } else if (interrupted && !st) {
    snprintf(err, errlen,
             "interrupted at step %llu of %llu (epoch %u, step %llu of %llu in it); checkpoint %s",
             (unsigned long long)tr.t, (unsigned long long)tr.total_steps, pos_epoch + 1,
             (unsigned long long)pos_step, (unsigned long long)tr.steps_per_epoch,
             tr.last_ckpt[0] ? tr.last_ckpt : "none (no run directory)");
    st = VKL_ERR_INTERRUPTED;
  }
  if (st == VKL_ERR_DEVICE_LOST || (st && tr.ckpt_failed && !tr.log_failed))
    append_last_checkpoint(&tr);
  result->steps = tr.t;
  result->micro_batch = tr.m;
  result->ranks = tr.ranks;
  if (tr.allreduce) {
    vkl_grad_allreduce_stats s;
    vkl_grad_allreduce_get_stats(tr.allreduce, &s);
    result->allreduce_bytes = s.bytes;
    result->allreduce_buckets = s.buckets;
    result->allreduce_s = median(tr.reduce_s, tr.timed_steps);
  }
  result->step_s = median(tr.step_s, tr.step_intervals);
  free(tr.reduce_s);
  free(tr.step_s);
  result->wall_s = now_s() - start;
  if (st && !err[0]) snprintf(err, errlen, "%s", vkl_status_str(st));
  trainer_teardown(&tr);
  return st;
}
