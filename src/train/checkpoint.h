/* Checkpoints in the safetensors format (https://huggingface.co/docs/safetensors):
 * an 8-byte little-endian header length, a JSON header naming every tensor
 * (dtype F32, shape, data_offsets), then the raw data. Parameters and
 * batch-norm running statistics are stored under their PyTorch state_dict
 * names, so safetensors.torch.load_file() and model.load_state_dict() read
 * them with no conversion; "__metadata__" holds the model, its input shape
 * and the training position.
 *
 * Writes are atomic (atomic_file.h: a temporary file of an unpredictable
 * name, fsync, rename, fsync of the directory): a crash leaves the previous
 * checkpoint intact. The metadata holds a zlib CRC-32 of each tensor's
 * bytes ("crc32.<name>"). Reads trust nothing: the header size is bounded
 * by the file, every tensor is checked against the model (name, dtype,
 * shape), its offsets against the data and its bytes against its CRC, so a
 * flipped byte is named instead of trained on. Files written before the
 * CRCs existed still load, unverified. */
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
  /* 1: the epoch's training is done up to epoch_step (its end, or the
   * run's last step) but its evaluation was interrupted; resuming runs the
   * evaluation and writes the epoch's log line before anything else. */
  int eval_pending;
  /* The RNG state: every random choice (initialisation, shuffling,
   * augmentation) derives from (seed, epoch, sample index), so the seed and
   * the position above are the whole state. */
  uint64_t seed;
  uint32_t batch;     /* the global batch B the position counts in */
  char optimizer[24]; /* vkl_opt_kind_name of the saved optimizer state; "" for none */
  /* Which run wrote it (a run directory's pruning deletes only its own
   * run's checkpoints); "" in files of older versions. */
  char run_id[24];
  char version[32];   /* the vklars that wrote it (read only; writing puts the running one) */
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

/* What vkl_checkpoint_verify found. */
typedef struct vkl_checkpoint_integrity {
  uint32_t tensors;    /* tensor entries in the header */
  int has_crc;         /* 0: written before checkpoints held CRCs (bytes not verifiable) */
  uint64_t data_bytes; /* the data section's size */
} vkl_checkpoint_integrity;

/* Checks a file without a model: the tensors' data_offsets tile the data
 * section exactly and every tensor's bytes match its CRC. VKL_ERR_FORMAT
 * names the first tensor that fails. A file without CRCs passes the
 * offsets check with has_crc 0. */
vkl_status vkl_checkpoint_verify(const char *path, vkl_checkpoint_integrity *out, char *err,
                                 size_t errlen);

/* ---- a run directory's checkpoints (checkpoint_dir.c) ----------------------------
 * DIR/ckpt-step<N>.safetensors, one per save; DIR/checkpoint.safetensors is
 * a symbolic link to the newest. */

#define VKL_CKPT_LINK "checkpoint.safetensors"

/* DIR/ckpt-step<step>.safetensors */
void vkl_checkpoint_path(const char *dir, uint64_t step, char *path, size_t n);
/* The step of a checkpoint's file name (ckpt-step<N>.safetensors, no
 * directory); 0 when the name is not one. */
int vkl_checkpoint_parse_name(const char *name, uint64_t *step);
/* The steps of DIR's checkpoints, newest first (*steps malloc'd; free it). */
vkl_status vkl_checkpoint_list(const char *dir, uint64_t **steps, size_t *count, char *err,
                               size_t errlen);
/* Where DIR/checkpoint.safetensors points: 1 with *step when it is a link
 * to a checkpoint of DIR (which may be missing); 0 when there is no link;
 * -1 when it is something else (err says what). */
int vkl_checkpoint_linked(const char *dir, uint64_t *step, char *err, size_t errlen);
/* A new run's identity (vkl_checkpoint_meta.run_id). */
void vkl_checkpoint_new_run_id(char *id, size_t n);
/* Points DIR/checkpoint.safetensors at the checkpoint of `step`
 * (atomically), removes the checkpoints of run run_id beyond the newest
 * `keep` up to `step` (0: keep all; those of other runs, unreadable ones and
 * any above `step`, from a branch of the run given up by resuming an older
 * checkpoint, stay), and any temporary file a killed checkpoint write left. */
vkl_status vkl_checkpoint_publish(const char *dir, uint64_t step, uint32_t keep, const char *run_id,
                                  char *err, size_t errlen);
/* Removes every checkpoint of DIR, the link and the temporary files a
 * killed write left: what a run replaced with --force had saved. */
vkl_status vkl_checkpoint_clear(const char *dir, char *err, size_t errlen);

#endif
