/*
 * 2-D pooling references: max-pool, average-pool, global average pool.
 *
 * Layouts: x (N,C,H,W), y (N,C,P,Q) with window R x S, so
 * P = (H + 2 pad_h - R) / stride_h + 1, Q likewise (floor division, ceil_mode=False).
 * Global average pool maps (N,C,H,W) to (N,C).
 * https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html
 * https://pytorch.org/docs/stable/generated/torch.nn.AvgPool2d.html
 * https://pytorch.org/docs/stable/generated/torch.nn.AdaptiveAvgPool2d.html (output 1x1)
 *
 * The *_ref functions are double-precision references; the others record the device
 * kernels (shaders/pool2d_forward.comp, pool2d_backward.comp,
 * global_avgpool_forward.comp, global_avgpool_backward.comp).
 */
#ifndef VKLARS_OPS_POOL_H
#define VKLARS_OPS_POOL_H

#include <stdint.h>

#include "vk/vk.h"

typedef struct vkl_pool2d_shape {
  uint32_t N, C, H, W;
  uint32_t R, S; /* window height and width */
  uint32_t stride_h, stride_w, pad_h, pad_w;
  uint32_t P, Q; /* output size, filled by vkl_pool2d_shape_finish */
} vkl_pool2d_shape;

/* Fills P and Q. Returns 0, or -1 (P, Q untouched) when a size or stride is 0, the
 * window is larger than the padded input, or a pad exceeds half its window (PyTorch's
 * rule; it guarantees every window holds at least one real input element). */
int vkl_pool2d_shape_finish(vkl_pool2d_shape *sh);

/* y[n,c,p,q] = max over the window's input elements; padding counts as -inf.
 * Ties: the first maximum in scan order (r outer, s inner) is the one selected, and
 * the backward pass routes the gradient to it alone. */
void vkl_maxpool2d_forward_ref(double *y /* (N,C,P,Q) */, const double *x /* (N,C,H,W) */,
                               const vkl_pool2d_shape *sh);

/* dx given dy; the argmax of each window is recomputed from x with the same tie rule.
 * accumulate = 1 adds into dx. */
void vkl_maxpool2d_backward_ref(double *dx /* (N,C,H,W) */, const double *dy /* (N,C,P,Q) */,
                                const double *x /* (N,C,H,W) */, const vkl_pool2d_shape *sh,
                                int accumulate);

/* y[n,c,p,q] = (sum of the window's input elements) / (R S): padding counts as zeros in
 * the divisor (count_include_pad=True, PyTorch's default). */
void vkl_avgpool2d_forward_ref(double *y /* (N,C,P,Q) */, const double *x /* (N,C,H,W) */,
                               const vkl_pool2d_shape *sh);

/* dx given dy; accumulate = 1 adds into dx. */
void vkl_avgpool2d_backward_ref(double *dx /* (N,C,H,W) */, const double *dy /* (N,C,P,Q) */,
                                const vkl_pool2d_shape *sh, int accumulate);

/* y[n,c] = mean over h,w of x[n,c,h,w]. Reads only N, C, H, W of sh. */
void vkl_global_avgpool_forward_ref(double *y /* (N,C) */, const double *x /* (N,C,H,W) */,
                                    const vkl_pool2d_shape *sh);

/* dx[n,c,h,w] = dy[n,c] / (H W); accumulate = 1 adds into dx. */
void vkl_global_avgpool_backward_ref(double *dx /* (N,C,H,W) */, const double *dy /* (N,C) */,
                                     const vkl_pool2d_shape *sh, int accumulate);

/* ---- device recording (see ops/op_util.h for the conventions) ----
 *
 * sh must have been completed by vkl_pool2d_shape_finish (the recording checks it).
 * Windows and strides are at most VKL_POOL2D_MAX_WINDOW: the kernels unroll over
 * them. Backward passes are gathers (each input element sums the windows holding
 * it), so they are deterministic even where windows overlap. */

#define VKL_POOL2D_MAX_WINDOW 16

/* Max-pooling as vkl_maxpool2d_forward_ref. argmax, when given, receives for each
 * output the position r * S + s (uint32) of the selected element in its window, the
 * first maximum in scan order; the backward pass reads it instead of recomputing the
 * window maxima from x. Pass NULL when no backward pass follows (inference). */
vkl_status vkl_maxpool2d_forward(vkl_cmd *cmd, vkl_buf y /* (N,C,P,Q) */,
                                 const vkl_buf *argmax /* (N,C,P,Q) uint32, or NULL */,
                                 vkl_buf x /* (N,C,H,W) */, const vkl_pool2d_shape *sh);

/* dx as vkl_maxpool2d_backward_ref, with the argmax written by the forward pass;
 * accumulate = 1 adds into dx. */
vkl_status vkl_maxpool2d_backward(vkl_cmd *cmd, vkl_buf dx /* (N,C,H,W) */,
                                  vkl_buf dy /* (N,C,P,Q) */, vkl_buf argmax /* (N,C,P,Q) uint32 */,
                                  const vkl_pool2d_shape *sh, int accumulate);

/* Average-pooling (count_include_pad) as vkl_avgpool2d_forward_ref. */
vkl_status vkl_avgpool2d_forward(vkl_cmd *cmd, vkl_buf y /* (N,C,P,Q) */, vkl_buf x /* (N,C,H,W) */,
                                 const vkl_pool2d_shape *sh);

/* dx as vkl_avgpool2d_backward_ref; accumulate = 1 adds into dx. */
vkl_status vkl_avgpool2d_backward(vkl_cmd *cmd, vkl_buf dx /* (N,C,H,W) */,
                                  vkl_buf dy /* (N,C,P,Q) */, const vkl_pool2d_shape *sh,
                                  int accumulate);

/* y[n,c] = mean of x[n,c,:,:]. Reads only N, C, H, W of sh. */
vkl_status vkl_global_avgpool_forward(vkl_cmd *cmd, vkl_buf y /* (N,C) */,
                                      vkl_buf x /* (N,C,H,W) */, const vkl_pool2d_shape *sh);

/* dx[n,c,h,w] = dy[n,c] / (H W); accumulate = 1 adds into dx. */
vkl_status vkl_global_avgpool_backward(vkl_cmd *cmd, vkl_buf dx /* (N,C,H,W) */,
                                       vkl_buf dy /* (N,C) */, const vkl_pool2d_shape *sh,
                                       int accumulate);

#endif
