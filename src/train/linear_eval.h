/* Linear evaluation of a pretrained backbone (`vklars linear-eval`): the
 * checkpoint's backbone, frozen, gives the features of every train and test
 * image (batch norm on its running statistics, normalization only: no
 * augmentation), and a linear classifier trains on the train split's
 * features (linear_probe.h: SGD momentum 0.9, lr 0.3, cosine) and is
 * scored on the test split's, top-1 and top-5. Each feature is first
 * standardized with the train split's mean and standard deviation (a batch
 * norm without affine in front of the classifier, as MAE's linear probe
 * has), so the classifier's step does not depend on the features' scale.
 *
 * The official Barlow Twins evaluation augments the training images every
 * epoch (random resized crop, flip) and runs the frozen backbone each time;
 * computing the features once without augmentation is the common cheaper
 * protocol and gives a somewhat lower number. random_init runs the same
 * protocol on the checkpoint's model freshly initialised: the baseline
 * that shows what pretraining added. */
#ifndef VKLARS_TRAIN_LINEAR_EVAL_H
#define VKLARS_TRAIN_LINEAR_EVAL_H

#include "data/dataset.h"
#include "train/linear_probe.h"
#include "vk/vk.h"

typedef struct vkl_linear_eval_config {
  const char *checkpoint;
  int random_init;                      /* 1: the checkpoint's model, initialised from its seed */
  const char *data;                     /* NULL: the checkpoint's */
  const vkl_data_options *data_options; /* may be NULL */
  uint32_t micro_batch;                 /* images per forward batch; 0: 256 */
  uint32_t loader_threads;              /* 0: cores - 1 */
  uint64_t train_images, test_images;   /* the first N of each split; 0: all */
  vkl_probe_config probe;
  const volatile sig_atomic_t *stop; /* between batches and epochs: VKL_ERR_INTERRUPTED */
  /* While the features are computed: split ("train", "test"), images done, in all. */
  void (*on_progress)(void *user, const char *split, uint64_t done, uint64_t total);
  void *user;
} vkl_linear_eval_config;

typedef struct vkl_linear_eval_report {
  vkl_probe_result probe;
  char model[32], data[64];
  uint64_t step;     /* the checkpoint's optimizer steps */
  uint32_t features; /* F: the backbone's output per image */
  /* RankMe's effective rank (feature_rank.h) of the standardized train
   * features, how many of the F the classifier gets in effect; NaN above
   * VKL_FEATURE_RANK_MAX features */
  double feature_rank;
  uint64_t train_images;
  double features_s, probe_s; /* wall time of each phase */
} vkl_linear_eval_report;

vkl_status vkl_linear_eval(vkl_ctx *ctx, const vkl_linear_eval_config *cfg,
                           vkl_linear_eval_report *report, char *err, size_t errlen);

#endif
