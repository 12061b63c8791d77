/* Checkpoints in the safetensors format (https://huggingface.co/docs/safetensors):
 * an 8-byte little-endian header length, a JSON header naming every tensor
 * (dtype F32, shape, data_offsets), then the raw data. Parameters and
 * batch-norm running statistics are stored under their PyTorch state_dict
 * names, so safetensors.torch.load_file() and model.load_state_dict() read
 * them with no conversion; "__metadata__" holds the model, its input shape
 * and the training position.
 *
 * Writes are atomic (temporary file, fsync, rename, fsync of the directory):
 * a crash leaves the previous checkpoint intact. Reads trust nothing: the
 * header size is bounded by the file, every tensor is checked against the
 * model (name, dtype, shape) and its offsets against the data. */
#ifndef VKLARS_TRAIN_CHECKPOINT_H
#define VKLARS_TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "nn/model.h"

/* Sizes of the metadata strings a checkpoint may carry. */
#define VKL_CKPT_ARGV_MAX 8192
#define VKL_CKPT_CONFIG_MAX 32768

typedef struct vkl_checkpoint_meta {
  char model[32];
  uint32_t in_c, in_h, in_w, classes, width;
  int imagenet_stem;
  char data[64];
  uint64_t step;       /* optimizer steps done */
  uint32_t epoch;      /* the epoch in progress (epoch_step > 0) or the next one */
  uint64_t epoch_step; /* optimizer steps done within that epoch */
  /* The RNG state: every random choice (initialisation, shuffling,
   * augmentation) derives from (seed, epoch, sample index), so the seed and
   * the position above are the whole state. */
  uint64_t seed;
  uint32_t batch;     /* the global batch B the position counts in */
  char optimizer[24]; /* vkl_opt_kind_name of the saved optimizer state; "" for none */
  uint64_t nonfinite; /* non-finite steps dropped so far */
  double epoch_loss_sum, epoch_top1_sum; /* the epoch's running sums, for its log line */
  char argv[VKL_CKPT_ARGV_MAX];          /* JSON array: the training options, to resume with */
  char config[VKL_CKPT_CONFIG_MAX];      /* JSON: the run's full configuration (run.json) */
} vkl_checkpoint_meta;

/* What a checkpoint holds besides its metadata. Moments are the optimizer
 * state in the parameters' layout, stored as "optimizer.<name>.<param>"
 * ("momentum_buffer" for the SGD/LARS family, "exp_avg" and "exp_avg_sq" for
 * LAMB and AdamW, as PyTorch's optimizers name them). NULL: absent. */
typedef struct vkl_checkpoint_state {
  float *params, *buffers;
  float *moments[2];
  const char *moment_names[2];
} vkl_checkpoint_state;

/* The optimizer-state names of an optimizer kind (vkl_opt_kind). */
void vkl_checkpoint_moment_names(int opt_kind, const char *names[2]);

vkl_status vkl_checkpoint_save_state(const char *path, const vkl_model *model,
                                     const vkl_checkpoint_meta *meta,
                                     const vkl_checkpoint_state *state, char *err, size_t errlen);
/* Fills what state points at from the file; every named moment must be
 * there. */
vkl_status vkl_checkpoint_load_state(const char *path, const vkl_model *model,
                                     const vkl_checkpoint_state *state, char *err, size_t errlen);

/* Weights only (parameters and batch-norm buffers). */
vkl_status vkl_checkpoint_save(const char *path, const vkl_model *model,
                               const vkl_checkpoint_meta *meta, const float *params,
                               const float *buffers, char *err, size_t errlen);
/* Reads only the metadata (to rebuild the model before loading). */
vkl_status vkl_checkpoint_read_meta(const char *path, vkl_checkpoint_meta *meta, char *err,
                                    size_t errlen);
/* Fills params and buffers (the model's layout) from the file. */
vkl_status vkl_checkpoint_load(const char *path, const vkl_model *model, float *params,
                               float *buffers, char *err, size_t errlen);

/* ---- a run directory's checkpoints -------------------------------------------
 * DIR/ckpt-step<N>.safetensors, one per save, the newest K kept; DIR/checkpoint.safetensors
 * is a symbolic link to the newest. */

/* DIR/ckpt-step<step>.safetensors */
void vkl_checkpoint_path(const char *dir, uint64_t step, char *path, size_t n);
/* The steps of DIR's checkpoints, newest first (*steps malloc'd; free it). */
vkl_status vkl_checkpoint_list(const char *dir, uint64_t **steps, size_t *count, char *err,
                               size_t errlen);
/* Points DIR/checkpoint.safetensors at the checkpoint of `step` (atomically)
 * and removes all but the newest `keep` checkpoints (0: keep all), and any
 * temporary file a killed write left. */
vkl_status vkl_checkpoint_publish(const char *dir, uint64_t step, uint32_t keep, char *err,
                                  size_t errlen);

#endif
