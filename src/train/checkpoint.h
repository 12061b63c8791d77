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

typedef struct vkl_checkpoint_meta {
  char model[32];
  uint32_t in_c, in_h, in_w, classes, width;
  int imagenet_stem;
  char data[64];
  uint64_t step;
  uint32_t epoch;
} vkl_checkpoint_meta;

vkl_status vkl_checkpoint_save(const char *path, const vkl_model *model,
                               const vkl_checkpoint_meta *meta, const float *params,
                               const float *buffers, char *err, size_t errlen);
/* Reads only the metadata (to rebuild the model before loading). */
vkl_status vkl_checkpoint_read_meta(const char *path, vkl_checkpoint_meta *meta, char *err,
                                    size_t errlen);
/* Fills params and buffers (the model's layout) from the file. */
vkl_status vkl_checkpoint_load(const char *path, const vkl_model *model, float *params,
                               float *buffers, char *err, size_t errlen);

#endif
