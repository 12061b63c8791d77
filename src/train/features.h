/* The features of every image of a data set under a frozen backbone: an
 * inference net of a model without a head (vkl_model_config.no_head) runs
 * forward over the split in order (normalization only, no augmentation)
 * and its output comes back to the host. Linear evaluation trains on them;
 * the kNN monitor compares them. */
#ifndef VKLARS_TRAIN_FEATURES_H
#define VKLARS_TRAIN_FEATURES_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"
#include "nn/net.h"

typedef struct vkl_features_config {
  vkl_net *net;                      /* an inference net holding the backbone's weights */
  const vkl_dataset *dataset;        /* of the net's input shape */
  uint64_t count;                    /* the first `count` images in dataset order; 0: all */
  uint32_t loader_threads;           /* 0: cores - 1 */
  const volatile sig_atomic_t *stop; /* non-zero: stop between batches (VKL_ERR_INTERRUPTED) */
  void (*on_progress)(void *user, uint64_t done, uint64_t total);
  void *user;
} vkl_features_config;

/* features (count, F) with F = vkl_net_output_floats(net), and the images'
 * labels (count). On failure err says what and where. */
vkl_status vkl_features_extract(vkl_ctx *ctx, const vkl_features_config *cfg,
                                float *features /* (count,F) */, uint32_t *labels /* (count) */,
                                char *err, size_t errlen);

#endif
