/* Evaluation: one pass of a net over every image of a data set (the
 * held-out split), with batch norm's running statistics, giving the mean
 * loss and the top-1 and top-5 accuracy. The trainer runs it after each
 * epoch with its training net; `vklars eval` with an inference net.
 *
 * The evaluator owns a loader (no shuffling, no augmentation but the data
 * set's normalization) and two recorded forward passes (the first batch's
 * writes the metrics, the others add to them); the net and the batch
 * ring it feeds through are the caller's. The last batch may be partial:
 * its padding is not counted. */
#ifndef VKLARS_TRAIN_EVALUATOR_H
#define VKLARS_TRAIN_EVALUATOR_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nn/net.h"
#include "nn/xent_loss.h"
#include "train/batch_ring.h"

typedef struct vkl_eval_result {
  uint64_t images;
  double loss, top1, top5; /* the loss is NaN or inf when some output was */
} vkl_eval_result;

typedef struct vkl_evaluator_config {
  vkl_net *net;               /* of micro-batch m */
  vkl_xent_loss *loss;        /* for m samples of the data set's classes */
  vkl_batch_ring *ring;       /* a ring into net and loss for m images of the data set's shape */
  const vkl_dataset *dataset; /* must outlive the evaluator */
  uint32_t micro_batch;       /* m */
  uint32_t loader_threads;    /* 0: cores - 1 */
  /* Between batches: when *stop is non-zero the pass ends with
   * VKL_ERR_INTERRUPTED. May be NULL. */
  const volatile sig_atomic_t *stop;
  /* Data parallelism (dist/dist.h; NULL: one process): each of N ranks
   * evaluates every N-th batch and the sums are combined, so every rank
   * gets the whole split's result. Every rank must call run together. */
  struct vkl_dist *dist;
  /* Called after each batch is queued, with the images done and in all. */
  void (*on_progress)(void *user, uint64_t done, uint64_t total);
  void *user;
} vkl_evaluator_config;

typedef struct vkl_evaluator vkl_evaluator;

vkl_status vkl_evaluator_create(vkl_ctx *ctx, const vkl_evaluator_config *cfg, vkl_evaluator **out,
                                char *err, size_t errlen);
void vkl_evaluator_destroy(vkl_evaluator *ev); /* NULL is a no-op */

/* One pass over the data set, with the net's current weights: training
 * steps submitted before it run first (submissions run in order). */
vkl_status vkl_evaluator_run(vkl_evaluator *ev, vkl_eval_result *r, char *err, size_t errlen);

#endif
