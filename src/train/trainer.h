/* The trainer: a global batch of B = k micro-batches of m samples, the
 * fused optimizer once per global batch, evaluation every epoch, and the
 * run's logs (DESIGN.md "One optimizer step").
 *
 * Host and device overlap: loader threads fill a ring of host-visible
 * staging slots ahead of the device; each micro-step submits a copy of its
 * slot and a pre-recorded command buffer (one for the first micro-step of a
 * global batch, which writes the gradients, one for the others, which add to
 * them); the optimizer's statistics and the batch loss are read one step
 * late. The host waits on the device only to reuse a staging slot. */
#ifndef VKLARS_TRAIN_TRAINER_H
#define VKLARS_TRAIN_TRAINER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nn/model.h"
#include "vk/vk.h"
#include "vklars/optim.h"

typedef struct vkl_train_progress {
  uint32_t epoch, epochs;
  uint64_t step, steps;        /* optimizer steps: done, in the run */
  uint32_t micro, micro_steps; /* micro-step within the global batch */
  double loss;                 /* last known train loss (a step late) */
  int loss_known;              /* 0: no step's loss has been read yet (loss is 0) */
  /* From the steps finished (read back) since the epoch's first finished
   * one in this process: 0 until two have finished, since a submitted step
   * returns long before the device has done it. */
  double images_per_s;
  double eta_s; /* seconds; negative: not known yet */
} vkl_train_progress;

typedef struct vkl_epoch_result {
  uint32_t epoch;
  double train_loss, train_top1;
  double test_loss, test_top1, test_top5;
  uint64_t test_images;
  double wall_s, images_per_s, loader_images_per_s;
  uint64_t nonfinite_steps;
} vkl_epoch_result;

typedef enum vkl_train_method {
  VKL_METHOD_SUPERVISED = 0, /* classification: softmax cross-entropy on the labels */
  /* self-supervised: two views per sample, the exact whole-batch Barlow
   * Twins loss on the projector's embeddings (src/train/method_barlow.c) */
  VKL_METHOD_BARLOW_TWINS
} vkl_train_method;

typedef enum vkl_eval_when {
  VKL_EVAL_EPOCHS, /* every eval_every epochs, and at the end */
  VKL_EVAL_END,
  VKL_EVAL_NEVER,
} vkl_eval_when;

typedef struct vkl_train_config {
  vkl_train_method method;
  /* Barlow Twins: the projector's sizes (at least one layer; see
   * vkl_model_config.projector), its batch norms left out (tests), and
   * lambda (0: 0.005) */
  uint32_t projector[VKL_MODEL_MAX_PROJECTOR];
  uint32_t projector_layers;
  int projector_no_bn;
  float bt_lambda;
  /* Pretraining's kNN monitor after each epoch (0: none): k neighbours, a
   * bank of the first knn_bank training images (0: 10000), every test
   * image; its top-1 is the epoch's test top-1 (test loss and top-5 NaN). */
  uint32_t knn_k;
  uint64_t knn_bank;
  /* The views' recipe: 0, the official Barlow Twins one; 1, for small
   * images (SimCLR's CIFAR variant): crops of 20-100% of the image instead
   * of 8-100%, and no blur (at 28 or 32 pixels an 8% crop is a few pixels
   * and a sigma-2 blur erases the rest) */
  int ssl_small;
  /* 1: the colour jitter's brightness and contrast act on 1-channel images
   * too, as torchvision's do on a grey PIL image (0: colour steps leave
   * them alone); saturation and hue have no colour to act on either way */
  int ssl_grey_jitter;
  const char *data;     /* data set name; NULL: fashion-mnist */
  const char *data_dir; /* NULL: the data set's default */
  /* Other data options (image size, synthetic count and classes); may be
   * NULL. data_dir and seed above take precedence over its dir and seed. */
  const vkl_data_options *data_options;
  const char *model; /* NULL: cnn */
  uint32_t model_width;
  int imagenet_stem;
  vkl_optim_config optim;
  vkl_sched_kind sched;
  double warmup_epochs, cosine_floor, step_epochs, step_gamma;
  uint32_t batch, micro_batch; /* B and m; m must divide B */
  uint32_t epochs;
  uint64_t max_steps; /* 0: no limit */
  uint64_t seed;
  int no_augment, no_shuffle;
  int no_crop, no_flip, no_rotate; /* switch off parts of the paper's augmentation */
  uint32_t loader_threads;         /* 0: cores - 1 */
  float label_smoothing;
  int skip_nonfinite;  /* 0: stop at a non-finite step; 1: drop the update and count it */
  const char *out_dir; /* NULL: no files */
  /* 1: set the run up (data, model, net, optimizer, every recorded command
   * buffer) and return: nothing trained, no weights, no files. With a
   * compile-only context this builds each pipeline a run would use
   * (`vklars kernels`). */
  int pipelines_only;
  const char *init_checkpoint; /* start from these weights (safetensors), or NULL */
  int force;                   /* reuse an out_dir that already holds a run */
  int skip_bad_images;         /* image folders: skip (and count) undecodable files */
  const char *cli_args;        /* the command line, for run.json */
  /* The options as a JSON array of strings, stored in every checkpoint so
   * that --resume can rebuild this configuration. May be NULL. */
  const char *argv_json;
  /* Continue from this checkpoint (weights, batch-norm statistics,
   * optimizer state, step and position in the epoch): the run ends
   * bit-identical to one never interrupted. out_dir must be its run
   * directory (which may then hold a run). */
  const char *resume;
  /* Checkpoints: every save_every optimizer steps, or (0) after each epoch;
   * save_at_end: only at the end of the run. The end of the run and an
   * interruption always save. The newest `keep` are kept (0: all). */
  uint64_t save_every;
  int save_at_end;
  uint32_t keep;
  /* The test split's evaluation: after every eval_every-th epoch and the
   * run's last (0 means 1), or only at the end, or never. An epoch not
   * evaluated logs NaN test metrics and 0 test images. */
  vkl_eval_when eval_when;
  uint32_t eval_every;
  /* When *stop becomes non-zero (a signal handler sets it) the trainer
   * finishes the step in flight, saves a checkpoint and returns
   * VKL_ERR_INTERRUPTED. May be NULL. */
  const volatile sig_atomic_t *stop;
  /* Data parallelism (dist/dist.h): this process is one of N ranks that
   * train one run together, or NULL (one process). Each rank runs B/N of
   * every global batch in micro-batches of m (B must be a multiple of N m)
   * and the gradient is summed across the ranks before the optimizer's
   * step. Only rank 0 writes out_dir; every rank reads resume. */
  struct vkl_dist *dist;
  uint64_t allreduce_bucket_bytes; /* 0: 4 MiB */
  void (*on_progress)(void *user, const vkl_train_progress *p);
  void (*on_epoch)(void *user, const vkl_epoch_result *r);
  /* During an epoch's evaluation, after each batch: images done and in all. */
  void (*on_eval_progress)(void *user, uint32_t epoch, uint64_t done, uint64_t total);
  void (*on_note)(void *user, const char *message); /* one-line notices */
  void *user;
} vkl_train_config;

typedef struct vkl_train_result {
  vkl_epoch_result last;
  char checkpoint[1100]; /* the newest checkpoint written (or resumed from); "" if none */
  uint32_t epoch;        /* where the run stands: epoch (0-based) and steps done in it */
  uint64_t epoch_step, steps_per_epoch;
  uint32_t micro_batch; /* the m used (the one --micro-batch auto picked) */
  /* The device memory of the model's nets and the loss's state (what the
   * start-up note reports): for Barlow Twins, both views' activations and
   * the d x d statistics, which do not grow with the batch. */
  uint64_t device_bytes;
  uint64_t steps;
  double wall_s;
  /* The median time from one step's submission to the next's (0 with
   * fewer than two steps): a step's duration, all-reduce included. */
  double step_s;
  /* Data parallelism: the ranks, and the gradient all-reduce's bytes per
   * rank, buckets and median seconds per step that the step waited for it
   * beyond its own compute (grad_allreduce.h's exposed_s; 0 with one rank) */
  uint32_t ranks;
  /* N > 1: the lowest rank that failed to set the run up, or UINT32_MAX.
   * Every rank learns it; only that rank's err says why. */
  uint32_t failed_rank;
  uint64_t allreduce_bytes;
  uint32_t allreduce_buckets;
  double allreduce_s;
} vkl_train_result;

/* Trains as configured. On failure err says what and where. */
vkl_status vkl_train(vkl_ctx *ctx, const vkl_train_config *cfg, vkl_train_result *result, char *err,
                     size_t errlen);

#endif
