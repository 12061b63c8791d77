/* Evaluating a checkpoint (`vklars eval`): the model and its input shape
 * come from the checkpoint's metadata; the test split of the data set is
 * opened shaped like that input (image folders are resized to it, other
 * formats must match) and checked against the model's classes; an
 * inference net (no gradients, no optimizer state, no training loader)
 * takes the checkpoint's weights and batch-norm statistics, and one
 * evaluation pass runs over every test image. */
#ifndef VKLARS_TRAIN_EVAL_CHECKPOINT_H
#define VKLARS_TRAIN_EVAL_CHECKPOINT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "train/evaluator.h"
#include "vk/vk.h"

typedef struct vkl_eval_config {
  const char *checkpoint;
  const char *data;                     /* data set name; NULL: the checkpoint's */
  const vkl_data_options *data_options; /* directory, synthetic count and seed; may be NULL */
  uint32_t micro_batch;    /* images per batch; 0: 256, or the test split's size if smaller */
  uint32_t loader_threads; /* 0: cores - 1 */
  const volatile sig_atomic_t *stop; /* see vkl_evaluator_config; may be NULL */
  void (*on_progress)(void *user, uint64_t done, uint64_t total);
  void *user;
} vkl_eval_config;

typedef struct vkl_eval_report {
  vkl_eval_result result;
  char model[32], data[64]; /* the model evaluated and the split it ran on */
  uint64_t step;            /* the checkpoint's optimizer steps */
  uint32_t micro_batch;     /* the one used */
  uint64_t device_bytes;    /* the inference net's device memory */
} vkl_eval_report;

vkl_status vkl_eval_checkpoint(vkl_ctx *ctx, const vkl_eval_config *cfg, vkl_eval_report *report,
                               char *err, size_t errlen);

#endif
