/* A model on a device for one micro-batch size m: its memory and its
 * recorded forward and backward passes (DESIGN.md "One optimizer step",
 * step 2).
 *
 * Memory: parameters, their gradients and the batch-norm buffers in one
 * arena (layouts from the model, so the optimizer sees flat arrays); every
 * activation and its gradient in another, sized for m; one workspace shared
 * by the ops, which run one after another. A micro-step recording runs the
 * forward pass, the loss (summed over the micro-batch into a device scalar,
 * with top-1/top-5 counts) and the backward pass. Gradients of the
 * parameters are written by the first micro-step of a global batch and
 * added to by the others; the loss gradient is scaled by grad_scale (1/B),
 * so after k micro-steps the gradient is that of the global batch mean.
 * Batch norm uses each micro-batch's own statistics, as the authors'
 * per-GPU batch norm did. */
#ifndef VKLARS_NN_NET_H
#define VKLARS_NN_NET_H

#include "nn/model.h"
#include "vk/vk.h"

typedef struct vkl_net_config {
  uint32_t micro_batch;  /* m (at least 2 for training a model with batch norm) */
  float bn_eps;          /* 0: 1e-5 */
  float bn_momentum;     /* 0: 0.1 */
  float label_smoothing; /* 0: none */
  /* 1: evaluation only. No gradients (vkl_net_grads is empty), no saved
   * training activations; vkl_net_record_train is refused. */
  int inference;
} vkl_net_config;

typedef struct vkl_net vkl_net;

vkl_status vkl_net_create(vkl_ctx *ctx, const vkl_model *model, const vkl_net_config *cfg,
                          vkl_net **out);
void vkl_net_destroy(vkl_net *net);

/* Device memory the trainer reads and writes. */
vkl_buf vkl_net_params(const vkl_net *net);  /* (param_floats) */
vkl_buf vkl_net_grads(const vkl_net *net);   /* (param_floats), same layout; empty: inference */
vkl_buf vkl_net_buffers(const vkl_net *net); /* (buffer_floats) running statistics */
vkl_buf vkl_net_input(const vkl_net *net);   /* (m,C,H,W) floats */
vkl_buf vkl_net_labels(const vkl_net *net);  /* (m) uint32 */
vkl_buf vkl_net_loss(const vkl_net *net);    /* (1) float: summed loss of the samples seen */
vkl_buf vkl_net_correct(const vkl_net *net); /* (2) uint32: top-1 and top-5 correct counts */
vkl_buf vkl_net_logits(const vkl_net *net);  /* (m, classes) after a forward */
/* Bytes of device memory the net holds for its micro-batch size. */
uint64_t vkl_net_device_bytes(const vkl_net *net);

/* Device memory a net of this model and configuration would take, and its
 * largest single tensor (which must fit one binding), without allocating. */
void vkl_net_estimate_for(const vkl_model *model, const vkl_net_config *cfg, uint64_t *bytes,
                          uint64_t *largest);
/* The same for a training net at micro-batch m. */
void vkl_net_estimate(const vkl_model *model, uint32_t m, uint64_t *bytes, uint64_t *largest);
/* Whether such a net fits device d: its tensors within one binding, its
 * memory within 3/4 of the largest device-local heap (the rest is the
 * driver's and the other buffers') and within one allocation. */
int vkl_net_fits(const vkl_device_info *d, const vkl_model *model, const vkl_net_config *cfg);

/* One training micro-step: forward (batch-norm batch statistics), loss and
 * metrics (first: written, else added to), backward (first: parameter
 * gradients written, else added to). */
vkl_status vkl_net_record_train(vkl_net *net, vkl_cmd *cmd, int first, float grad_scale);
/* One evaluation micro-step: forward with running statistics, loss and
 * metrics (first: written, else added to). */
vkl_status vkl_net_record_eval(vkl_net *net, vkl_cmd *cmd, int first);

/* Synchronous copies of the parameters and buffers (checkpoints, init). */
vkl_status vkl_net_upload_state(vkl_net *net, const float *params, const float *buffers);
vkl_status vkl_net_download_state(vkl_net *net, float *params, float *buffers);

#endif
