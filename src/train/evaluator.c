/* Evaluation passes (see evaluator.h). */
#include "train/evaluator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "dist/dist.h"
#include "nn/classify.h"

struct vkl_evaluator {
  vkl_ctx *ctx;
  vkl_evaluator_config cfg;
  vkl_loader *ld;
  vkl_cmd *pass[2]; /* the first batch's forward writes the metrics, the others add */
  vkl_cmd *done;    /* the metrics to the host */
  vkl_arena *readback;
  vkl_buf rb_loss, rb_correct;
};

static vkl_status device_fail(const vkl_evaluator *ev, vkl_status st, char *err, size_t errlen) {
  snprintf(err, errlen, "%s", vkl_ctx_errmsg(ev->ctx));
  return st;
}

static vkl_status record(vkl_evaluator *ev) {
  vkl_net *net = ev->cfg.net;
  vkl_status st = VKL_OK;
  for (int f = 0; f < 2 && !st; f++) {
    if (!(st = vkl_cmd_create(ev->ctx, &ev->pass[f])) && !(st = vkl_cmd_begin(ev->pass[f])) &&
        !(st = vkl_classify_record_eval(ev->pass[f], net, ev->cfg.loss, f == 0)))
      st = vkl_cmd_end(ev->pass[f]);
  }
  if (st || (st = vkl_cmd_create(ev->ctx, &ev->done)) || (st = vkl_cmd_begin(ev->done))) return st;
  vkl_cmd_barrier(ev->done); /* the metrics written by the last pass (RAW) */
  vkl_cmd_copy(ev->done, ev->rb_loss, vkl_xent_loss_sum(ev->cfg.loss), 4);
  vkl_cmd_copy(ev->done, ev->rb_correct, vkl_xent_loss_correct(ev->cfg.loss), 8);
  vkl_cmd_barrier_to_host(ev->done);
  return vkl_cmd_end(ev->done);
}

vkl_status vkl_evaluator_create(vkl_ctx *ctx, const vkl_evaluator_config *cfg, vkl_evaluator **out,
                                char *err, size_t errlen) {
  *out = NULL;
  const vkl_dataset_info *d = vkl_dataset_get_info(cfg->dataset);
  uint64_t chw = (uint64_t)d->channels * d->height * d->width;
  if (chw != vkl_batch_ring_image_floats(cfg->ring)) {
    snprintf(err, errlen, "evaluation: %s's images are %ux%ux%u; the net's input holds %llu values",
             d->name, d->channels, d->height, d->width,
             (unsigned long long)vkl_batch_ring_image_floats(cfg->ring));
    return VKL_ERR_INVALID_ARGUMENT;
  }
  vkl_evaluator *ev = calloc(1, sizeof *ev);
  if (!ev) {
    snprintf(err, errlen, "evaluation: out of host memory");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  ev->ctx = ctx;
  ev->cfg = *cfg;
  vkl_loader_config lc = {.dataset = cfg->dataset,
                          .channels = d->channels, /* checked against the ring above */
                          .height = d->height,
                          .width = d->width,
                          .classes = d->classes,
                          .batch = cfg->micro_batch,
                          .threads = cfg->loader_threads,
                          .slots = VKL_BATCH_RING_SLOTS,
                          .no_shuffle = 1,
                          .drop_last = 0, /* every image; the last batch is padded */
                          .augment = vkl_augment_eval(d->name)};
  vkl_status st = vkl_loader_create(&lc, &ev->ld, err, errlen);
  if (!st) {
    if ((st = vkl_arena_create(ctx, VKL_MEM_READBACK, 512, "evaluation metrics", &ev->readback)) ||
        (st = vkl_arena_alloc(ev->readback, 4, &ev->rb_loss)) ||
        (st = vkl_arena_alloc(ev->readback, 8, &ev->rb_correct)) || (st = record(ev)))
      device_fail(ev, st, err, errlen);
  }
  if (st) {
    vkl_evaluator_destroy(ev);
    return st;
  }
  *out = ev;
  return VKL_OK;
}

void vkl_evaluator_destroy(vkl_evaluator *ev) {
  if (!ev) return;
  vkl_loader_destroy(ev->ld);
  for (int f = 0; f < 2; f++) vkl_cmd_destroy(ev->pass[f]);
  vkl_cmd_destroy(ev->done);
  vkl_arena_destroy(ev->readback);
  free(ev);
}

static int stop_requested(const vkl_evaluator *ev) {
  return ev->cfg.stop && *ev->cfg.stop;
}

/* Takes the batches still queued in slots [b, end), so that none is in
 * flight when a pass ends early. */
static void abandon(vkl_evaluator *ev, uint64_t b, uint64_t end) {
  char ignored[256];
  for (; b < end; b++)
    vkl_batch_ring_take(ev->cfg.ring, ev->ld, (uint32_t)(b % VKL_BATCH_RING_SLOTS), NULL, ignored,
                        sizeof ignored);
}

vkl_status vkl_evaluator_run(vkl_evaluator *ev, vkl_eval_result *r, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  vkl_batch_ring *ring = ev->cfg.ring;
  vkl_status st = vkl_loader_start_epoch(ev->ld, 0);
  if (st) {
    snprintf(err, errlen, "%s", vkl_loader_errmsg(ev->ld));
    return st;
  }
  /* this rank's batches: rank, rank + N, ... (all of them with one rank);
   * the i-th of them goes through slot i % SLOTS */
  uint32_t N = vkl_dist_size(ev->cfg.dist), rank = vkl_dist_rank(ev->cfg.dist);
  uint64_t all = vkl_loader_batches_per_epoch(ev->ld), queued = 0;
  uint64_t nb = rank < all ? (all - rank + N - 1) / N : 0;
  uint64_t total = vkl_dataset_get_info(ev->cfg.dataset)->count, n = 0;
  for (; queued < VKL_BATCH_RING_SLOTS && queued < nb && !st; queued++)
    st = vkl_batch_ring_fill(ring, ev->ld, (uint32_t)queued, rank + queued * N, err, errlen);
  for (uint64_t b = 0; b < nb && !st; b++) {
    if (stop_requested(ev)) {
      abandon(ev, b, queued);
      snprintf(err, errlen, "evaluation interrupted after %llu of %llu images",
               (unsigned long long)n, (unsigned long long)total);
      return VKL_ERR_INTERRUPTED;
    }
    uint32_t s = (uint32_t)(b % VKL_BATCH_RING_SLOTS), count;
    if ((st = vkl_batch_ring_take(ring, ev->ld, s, &count, err, errlen)) ||
        (st = vkl_batch_ring_copy(ring, s, err, errlen)))
      break;
    if ((st = vkl_submit(ev->ctx, ev->pass[b == 0 ? 0 : 1], NULL))) {
      device_fail(ev, st, err, errlen);
      break;
    }
    n += count;
    if (ev->cfg.on_progress) /* the ranks go at about one pace: this one's share times N */
      ev->cfg.on_progress(ev->cfg.user, n * N < total ? n * N : total, total);
    if (queued < nb) {
      st = vkl_batch_ring_fill(ring, ev->ld, s, rank + queued * N, err, errlen);
      queued++;
    }
  }
  uint64_t ticket;
  if (!st && nb &&
      ((st = vkl_submit(ev->ctx, ev->done, &ticket)) || (st = vkl_wait(ev->ctx, ticket))))
    device_fail(ev, st, err, errlen);
  if (st) return st;
  float loss_sum = 0;
  uint32_t correct[2] = {0, 0};
  if (nb) { /* a rank without a batch wrote no metrics */
    memcpy(&loss_sum, ev->rb_loss.host, 4);
    memcpy(correct, ev->rb_correct.host, 8);
  }
  double sums[4] = {loss_sum, correct[0], correct[1], (double)n};
  if ((st = vkl_dist_sum_f64(ev->cfg.dist, sums, 4))) {
    snprintf(err, errlen, "evaluation: %s", vkl_dist_errmsg(ev->cfg.dist));
    return st;
  }
  n = (uint64_t)sums[3];
  r->images = n;
  r->loss = n ? sums[0] / (double)n : 0;
  r->top1 = n ? sums[1] / (double)n : 0;
  r->top5 = n ? sums[2] / (double)n : 0;
  return VKL_OK;
}
