/* A model on a device for one micro-batch size m: its memory and its
 * recorded forward and backward passes (DESIGN.md "One optimizer step",
 * step 2).
 *
 * Memory: parameters, their gradients and the batch-norm buffers in one
 * arena (layouts from the model, so the optimizer sees flat arrays); every
 * activation and its gradient in another, sized for m; one workspace shared
 * by the ops, which run one after another.
 *
 * The net knows no loss. Its recordings are the forward pass (input to
 * output) and the backward pass from the gradient of the output, which a
 * loss (nn/xent_loss.h, or a method's own) writes into vkl_net_output_grad
 * in between; nn/classify.h puts the three together for classification.
 * Gradients of the parameters are written by the first backward pass of a
 * global batch and added to by the others, so after k micro-steps whose
 * losses were scaled by 1/B the gradient is that of the global batch mean.
 * Batch norm uses each micro-batch's own statistics, as the authors'
 * per-GPU batch norm did. */
#ifndef VKLARS_NN_NET_H
#define VKLARS_NN_NET_H

#include "nn/model.h"
#include "vk/vk.h"

typedef struct vkl_net_config {
  uint32_t micro_batch; /* m (at least 2 for training a model with batch norm) */
  float bn_eps;         /* 0: 1e-5 */
  float bn_momentum;    /* 0: 0.1 */
  /* 1: evaluation only. No gradients (vkl_net_grads is empty), no saved
   * training activations; training forward and backward passes are refused. */
  int inference;
  /* Another net of the same model whose parameters, gradients and
   * batch-norm buffers this one uses instead of its own (it must outlive
   * this one): a second view's activations in a two-view method, where
   * both views' backward passes add into one gradient. NULL: its own. */
  const struct vkl_net *share_state;
} vkl_net_config;

typedef struct vkl_net vkl_net;

vkl_status vkl_net_create(vkl_ctx *ctx, const vkl_model *model, const vkl_net_config *cfg,
                          vkl_net **out);
void vkl_net_destroy(vkl_net *net);

/* Device memory the trainer reads and writes. */
vkl_buf vkl_net_params(const vkl_net *net);  /* (param_floats) */
vkl_buf vkl_net_grads(const vkl_net *net);   /* (param_floats), same layout; empty: inference */
vkl_buf vkl_net_buffers(const vkl_net *net); /* (buffer_floats) running statistics */
/* The momentum of every batch-norm layer's running statistics. */
float vkl_net_bn_momentum(const vkl_net *net);
vkl_buf vkl_net_input(const vkl_net *net);   /* (m,C,H,W) floats */
vkl_buf vkl_net_output(const vkl_net *net);  /* (m, output_floats) after a forward */
/* (m, output_floats): the loss writes d(loss)/d(output) here before a
 * backward pass; empty in an inference net. */
vkl_buf vkl_net_output_grad(const vkl_net *net);
uint32_t vkl_net_output_floats(const vkl_net *net); /* per sample: the model's last value */
uint32_t vkl_net_micro_batch(const vkl_net *net);
/* Bytes of device memory the net holds for its micro-batch size. */
uint64_t vkl_net_device_bytes(const vkl_net *net);

/* Device memory a net of this model and configuration would take, and its
 * largest single tensor (which must fit one binding), without allocating. */
void vkl_net_estimate_for(const vkl_model *model, const vkl_net_config *cfg, uint64_t *bytes,
                          uint64_t *largest);
/* The same for a training net at micro-batch m. */
void vkl_net_estimate(const vkl_model *model, uint32_t m, uint64_t *bytes, uint64_t *largest);
/* The same for a training net that shares another's state (its
 * activations and their gradients only). */
void vkl_net_estimate_shared(const vkl_model *model, uint32_t m, uint64_t *bytes,
                             uint64_t *largest);
/* The device memory a run may plan for: 3/4 of the largest device-local
 * heap (the rest is the driver's and the other buffers'), within one
 * allocation. */
uint64_t vkl_net_budget(const vkl_device_info *d);
/* Whether such a net fits device d: its tensors within one binding, its
 * memory within 3/4 of the largest device-local heap (the rest is the
 * driver's and the other buffers') and within one allocation. */
int vkl_net_fits(const vkl_device_info *d, const vkl_model *model, const vkl_net_config *cfg);

typedef enum vkl_net_mode {
  /* batch norm normalises with the micro-batch's statistics and moves its
   * running statistics toward them; the backward pass's saved values are kept */
  VKL_NET_TRAIN = 0,
  /* as VKL_NET_TRAIN, but the running statistics are left alone: a second
   * forward pass over the same micro-batch (a method that re-runs the
   * forward pass for its backward) must not count it twice */
  VKL_NET_TRAIN_KEEP_RUNNING,
  /* batch norm uses the running statistics; nothing is saved for a backward */
  VKL_NET_EVAL
} vkl_net_mode;

/* The forward pass from the input to the output. The training modes need a
 * training net. */
vkl_status vkl_net_record_forward(vkl_net *net, vkl_cmd *cmd, vkl_net_mode mode);
/* The backward pass from vkl_net_output_grad, after a training forward of the
 * same input (first: parameter gradients written, else added to). */
vkl_status vkl_net_record_backward(vkl_net *net, vkl_cmd *cmd, int first);
/* The same pass in segments, for work between them (data parallelism sends
 * the gradients a segment finished while the next one computes): begin,
 * then nodes hi-1 down to lo, segment after segment, from node_count down
 * to 0, each segment in any command buffer (they run in order). */
void vkl_net_backward_begin(vkl_net *net);
vkl_status vkl_net_record_backward_nodes(vkl_net *net, vkl_cmd *cmd, int first, uint32_t hi,
                                         uint32_t lo);

/* Synchronous copies of the parameters and buffers (checkpoints, init). */
vkl_status vkl_net_upload_state(vkl_net *net, const float *params, const float *buffers);
vkl_status vkl_net_download_state(vkl_net *net, float *params, float *buffers);

#endif
