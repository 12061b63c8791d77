/*
 * ReLU on flat arrays of n elements (any shape): the double reference and
 * the recording of its kernels (shaders/relu_forward.comp,
 * relu_backward.comp; four vec4s per invocation, see
 * shaders/common/vec4_grid.h).
 * https://pytorch.org/docs/stable/generated/torch.nn.ReLU.html
 */
#ifndef VKLARS_OPS_ACTIVATION_H
#define VKLARS_OPS_ACTIVATION_H

#include <stddef.h>
#include <stdint.h>

#include "vk/vk.h"

/* y = max(x, 0). y may alias x (in-place ReLU). */
void vkl_relu_forward_ref(double *y /* (n) */, const double *x /* (n) */, size_t n);

/* dx = dy where y > 0, else 0. Reads the forward OUTPUT y, not x, so that an in-place
 * ReLU (whose x is overwritten) can still be differentiated; y > 0 exactly when x > 0,
 * and at x = 0 the gradient is 0, as in PyTorch. accumulate = 1 adds into dx. */
void vkl_relu_backward_ref(double *dx /* (n) */, const double *dy /* (n) */,
                           const double *y /* (n) */, size_t n, int accumulate);

/* ---- device recording (see ops/op_util.h for the conventions) ---- */

/* y = x > 0 ? x : 0 (NaN gives 0). y may be the same range as x (in place). */
vkl_status vkl_relu_forward(vkl_cmd *cmd, vkl_buf y /* (n) */, vkl_buf x /* (n) */, uint64_t n);

/* dx = y > 0 ? dy : 0 from the forward output y; accumulate = 1 adds into dx.
 * dx may be the same range as dy. */
vkl_status vkl_relu_backward(vkl_cmd *cmd, vkl_buf dx /* (n) */, vkl_buf dy /* (n) */,
                             vkl_buf y /* (n) */, uint64_t n, int accumulate);

#endif
