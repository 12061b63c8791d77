/* A linear classifier on fixed features, trained on the host: softmax
 * regression y = W x + b with SGD (PyTorch's: buf = momentum * buf + g +
 * wd * w, w -= lr * buf, weight decay on W and b), a cosine learning rate
 * stepped per epoch (CosineAnnealingLR to 0), mean cross-entropy over each
 * batch, W ~ N(0, 0.01^2) and b = 0 as the official Barlow Twins linear
 * evaluation initialises them. The batches visit a permutation of the
 * training features drawn from (seed, epoch); a partial last batch is used.
 * Plain C: the features are few (N x F floats) next to the images, and
 * the whole of it is a reference one can read. */
#ifndef VKLARS_TRAIN_LINEAR_PROBE_H
#define VKLARS_TRAIN_LINEAR_PROBE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "vklars/status.h"

typedef struct vkl_probe_config {
  uint32_t epochs;     /* 0: 100 */
  uint32_t batch;      /* 0: 256 */
  double lr;           /* 0: 0.3 */
  double momentum;     /* < 0: 0; 0: 0.9 */
  double weight_decay; /* < 0: 0; 0: 1e-6 */
  uint64_t seed;
  const volatile sig_atomic_t *stop; /* non-zero: stop between epochs (VKL_ERR_INTERRUPTED) */
  /* After each epoch: its mean training loss and top-1. */
  void (*on_epoch)(void *user, uint32_t epoch, uint32_t epochs, double loss, double top1);
  void *user;
} vkl_probe_config;

typedef struct vkl_probe_data {
  const float *x;    /* (n, F) */
  const uint32_t *y; /* (n) labels below K */
  uint64_t n;
} vkl_probe_data;

typedef struct vkl_probe_result {
  double train_loss, train_top1; /* the last epoch's */
  double test_loss, test_top1, test_top5;
  uint64_t test_images;
} vkl_probe_result;

/* Trains on train and evaluates on test (F features, K classes). */
vkl_status vkl_probe_train(const vkl_probe_config *cfg, const vkl_probe_data *train,
                           const vkl_probe_data *test, uint32_t F, uint32_t K,
                           vkl_probe_result *result, char *err, size_t errlen);

#endif
