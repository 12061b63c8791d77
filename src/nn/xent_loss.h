/* The classification loss on a device: softmax cross-entropy of a
 * micro-batch's logits against its labels, summed into a device scalar with
 * top-1/top-5 counts (ops/softmax_xent.h does the math).
 *
 * It owns what the loss needs beyond the net: the labels the batch ring
 * copies in, the loss and the counts (written by the first micro-step of a
 * batch or evaluation, added to by the others), each row's max and sum of
 * exponentials (saved by a training forward for its backward) and its own
 * scratch. */
#ifndef VKLARS_NN_XENT_LOSS_H
#define VKLARS_NN_XENT_LOSS_H

#include "vk/vk.h"

typedef struct vkl_xent_loss vkl_xent_loss;

typedef struct vkl_xent_loss_config {
  uint32_t micro_batch, classes; /* m and K (both required) */
  float label_smoothing;         /* 0: none */
  int inference;                 /* 1: no backward (no saved row statistics) */
} vkl_xent_loss_config;

vkl_status vkl_xent_loss_create(vkl_ctx *ctx, const vkl_xent_loss_config *cfg, vkl_xent_loss **out);
void vkl_xent_loss_destroy(vkl_xent_loss *loss); /* NULL is a no-op */

vkl_buf vkl_xent_loss_labels(const vkl_xent_loss *loss);  /* (m) uint32 */
vkl_buf vkl_xent_loss_sum(const vkl_xent_loss *loss);     /* (1) float: summed loss so far */
vkl_buf vkl_xent_loss_correct(const vkl_xent_loss *loss); /* (2) uint32: top-1, top-5 */
/* Device bytes a loss of this configuration takes. */
uint64_t vkl_xent_loss_bytes(const vkl_xent_loss_config *cfg);
/* Device bytes this loss holds. */
uint64_t vkl_xent_loss_device_bytes(const vkl_xent_loss *loss);

/* The loss and counts of logits (first: written, else added to); a
 * training forward (inference 0) also saves the row statistics. */
vkl_status vkl_xent_loss_record_forward(vkl_xent_loss *loss, vkl_cmd *cmd,
                                        vkl_buf logits /* (m,K) */, int first);
/* dlogits = grad_scale * d(summed loss)/d(logits) of the last forward's
 * logits (written, not added to). */
vkl_status vkl_xent_loss_record_backward(vkl_xent_loss *loss, vkl_cmd *cmd,
                                         vkl_buf dlogits /* (m,K) */, vkl_buf logits /* (m,K) */,
                                         float grad_scale);

#endif
