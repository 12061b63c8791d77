/* The trainer's state, shared by its files: trainer.c (the loop),
 * train_setup.c (data, model, net, optimizer, recorded programs),
 * train_checkpoint.c (weights, checkpoints, resume) and run_json.c (the
 * run's description). Not an API: src/train only. */
#ifndef VKLARS_TRAIN_TRAINER_INTERNAL_H
#define VKLARS_TRAIN_TRAINER_INTERNAL_H

#include <stdio.h>
#include <time.h>

#include "data/loader.h"
#include "nn/net.h"
#include "nn/net_fit.h"
#include "nn/xent_loss.h"
#include "optim/optim_step.h"
#include "train/batch_ring.h"
#include "train/evaluator.h"
#include "train/grad_allreduce.h"
#include "train/rundir_lock.h"
#include "train/runlog.h"
#include "train/trainer.h"

#define SLOTS VKL_BATCH_RING_SLOTS
#define VKL_TIMED_STEPS 4096

/* A step is a schedule of passes over the global batch's k micro-batches
 * (DESIGN.md "One optimizer step"). Each pass runs one recorded program per
 * micro-batch (the step's first micro-batch gets programs[0], which writes
 * what the others add to), then optionally a program between passes; after
 * the last pass the optimizer's step runs. Each pass reads the k
 * micro-batches again from the loader, which gives the same bytes (a
 * sample's augmentation derives from the seed, the epoch and its index).
 * Classification has one pass. A loss that spans the whole batch (Barlow
 * Twins) has two: statistics, then gradients. */
#define VKL_TRAIN_MAX_PASSES 2
struct trainer;
typedef struct train_pass {
  vkl_cmd *micro[2]; /* [0]: the step's first micro-batch, [1]: the others */
  /* host work after the pass's last micro-batch, before `after` (the
   * ranks' exchange of what the pass computed); NULL: none */
  vkl_status (*sync)(struct trainer *tr);
  vkl_cmd *after; /* after the pass's last micro-batch; NULL: none */
} train_pass;

typedef struct trainer {
  vkl_ctx *ctx;
  const vkl_train_config *cfg;
  char *err;
  size_t errlen;
  vkl_dataset *train_ds, *test_ds;
  vkl_model *model;
  vkl_net *net;
  vkl_xent_loss *loss;
  vkl_optimizer *opt;
  vkl_loader *train_ld;
  vkl_batch_ring *ring; /* loader -> net input, shared by training and evaluation */
  vkl_evaluator *evaluator;
  vkl_arena *readback, *rollback;
  vkl_buf rb_loss[VKL_OPTIM_RING], rb_correct[VKL_OPTIM_RING];
  vkl_buf bn_saved; /* the running statistics at the start of the global batch */
  train_pass pass[VKL_TRAIN_MAX_PASSES];
  uint32_t passes;
  vkl_cmd *step_cmd[VKL_OPTIM_RING];
  uint64_t step_ticket[VKL_OPTIM_RING];
  vkl_runlog *log;
  const char **layer_names;
  vkl_optim_stats *stats;
  vkl_sched_config sched;
  uint32_t k, m, B;
  uint64_t steps_per_epoch, total_steps, t;
  uint64_t nonfinite_total;
  double epoch_loss_sum, epoch_top1_sum;
  uint64_t epoch_steps;
  double last_loss;
  int loss_known; /* last_loss holds a step's loss */
  /* The throughput shown: timed from the first step this epoch finished in
   * this process (rate_step0 steps finished at rate_t0). */
  int rate_started;
  uint64_t rate_step0;
  double rate_t0;
  int pending;           /* step t - 1 was submitted and its results are not read yet */
  int stopped_nonfinite; /* --on-nonfinite stop ended the run (finish_step's message) */
  uint32_t eval_epoch;   /* the epoch being evaluated, for its progress */
  /* The evaluation of the position's epoch is still to run: interrupted
   * (the checkpoint says so), or resumed from such a checkpoint. */
  int eval_pending;
  int last_ckpt_eval_pending; /* the newest checkpoint was saved with eval_pending */
  char *run_json;             /* the configuration, for run.json and the checkpoints */
  uint32_t start_epoch;       /* where this invocation starts (a resumed run: mid-way) */
  uint64_t start_epoch_step;
  char last_ckpt[1100]; /* the newest checkpoint (written or resumed from); "" none */
  uint64_t last_ckpt_step;
  uint64_t skipped_noted[2]; /* skipped images (train, test) told through on_note */
  uint64_t skipped_in_json;  /* the skipped images run_json recorded */
  vkl_rundir_lock *lock;     /* out_dir's, from before anything there is read or changed */
  char run_id[24];           /* the run's identity in its checkpoints (pruning keeps to it) */
  /* A log write failed (log_err says which file and why): the run stops at
   * the end of the step, as a stop request does, saving a checkpoint. */
  int log_failed;
  char log_err[700];
  int ckpt_failed; /* a checkpoint write failed */
  /* Barlow Twins (cfg->method): the second view's net, which shares net's
   * parameters, gradients and buffers; the loss's statistics, its output
   * (L, on-diagonal, off-diagonal) and scratch; the labels the ring copies
   * (unused by the loss) */
  vkl_net *net2;
  vkl_arena *bt_arena;
  vkl_buf bt_stats, bt_loss, bt_workspace, bt_labels;
  /* N > 1: host copies of the statistics, their sums and the pivots */
  float *bt_host_stats;
  double *bt_host_sums, *bt_host_pivots;
  /* the kNN monitor (cfg->knn_k): the backbone alone, in an inference net */
  vkl_net_fit fit; /* what the run puts on the device, for --micro-batch auto */
  vkl_model *knn_model;
  vkl_net *knn_net;
  /* Data parallelism (cfg->dist): N ranks, this one's, whether it writes
   * the run directory (rank 0), and the gradient all-reduce (N > 1) */
  uint32_t ranks, rank;
  int writer;
  vkl_grad_allreduce *allreduce;
  /* the gradient's buckets, and classification's last micro-batch of a
   * step as one program per bucket (the backward in segments, each
   * followed by its bucket's download); NULL: one program, then every
   * download (Barlow Twins) */
  vkl_grad_bucket buckets[VKL_ALLREDUCE_MAX_BUCKETS];
  uint32_t bucket_count;
  vkl_cmd *last_segment[VKL_ALLREDUCE_MAX_BUCKETS];
  /* the first VKL_TIMED_STEPS steps of this process: the all-reduce's
   * exposed seconds and the time from the step's submission to the next's */
  double *reduce_s, *step_s;
  uint32_t timed_steps, step_intervals;
  double last_submit;
} trainer;

static inline double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* FNV-1a over n bytes, continuing from h (start: TRAINER_FNV_BASIS): what
 * the ranks compare to find out that they hold the same state. */
#define TRAINER_FNV_BASIS 0xcbf29ce484222325ull
static inline uint64_t trainer_fnv1a(uint64_t h, const void *p, uint64_t n) {
  const unsigned char *b = p;
  for (uint64_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
  return h;
}

/* Takes the context's message for a failed runtime call. */
static inline vkl_status vk_fail(trainer *tr, vkl_status st) {
  snprintf(tr->err, tr->errlen, "%s", vkl_ctx_errmsg(tr->ctx));
  return st;
}

/* train_setup.c: everything a run needs before its first step (on failure
 * tr->err says why); teardown undoes whatever setup did. */
vkl_status trainer_setup(trainer *tr);
void trainer_teardown(trainer *tr);

/* method_barlow.c: the Barlow Twins method's memory (once tr->net exists),
 * its two passes (statistics, then gradients) as tr->pass[0..1], and their
 * teardown. Errors: the message is in tr->ctx. */
vkl_status trainer_barlow_create(trainer *tr);
vkl_status trainer_barlow_record(trainer *tr);
/* The second view's activations and the statistics, for the memory fit. */
void trainer_barlow_fit(const trainer *tr, vkl_net_fit *fit);
void trainer_barlow_teardown(trainer *tr);
/* train_setup.c: records the copy of the running statistics that a
 * skipped step restores (the step's first program starts with it). */
void trainer_record_bn_save(trainer *tr, vkl_cmd *c);
int trainer_is_barlow(const trainer *tr);
/* The nets' and the loss's device memory (vkl_train_result.device_bytes). */
uint64_t trainer_device_bytes(const trainer *tr);

/* knn_monitor.c: the per-epoch kNN top-1 of a pretraining run's backbone
 * (cfg->knn_k > 0), into r->test_top1 and r->test_images. */
vkl_status trainer_knn_create(trainer *tr);
vkl_status trainer_knn_run(trainer *tr, vkl_epoch_result *r);
void trainer_knn_destroy(trainer *tr);

/* train_checkpoint.c */
/* The model's weights: --init's checkpoint, or torchvision's initialisation. */
vkl_status trainer_init_weights(trainer *tr);
/* Writes the whole state at step tr->t (the device must hold exactly it). */
vkl_status trainer_save_checkpoint(trainer *tr, uint32_t epoch, uint64_t epoch_step);
/* Continues from cfg->resume. */
vkl_status trainer_resume_state(trainer *tr);

/* run_json.c */
/* Tells on_note of each newly skipped image; returns how many in all. */
uint64_t trainer_note_skipped_images(trainer *tr);
/* run.json's text (cJSON_free it), or NULL without memory. */
char *trainer_run_json(trainer *tr);
/* Records newly skipped images in the configuration and run.json. */
vkl_status trainer_record_skipped_images(trainer *tr);

#endif
