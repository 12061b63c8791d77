/*
 * Element-wise ops on flat arrays: add (the residual join) and its backward,
 * scale and fill. Shapes do not matter to these ops, only the element count n,
 * so every array is written (n).
 *
 * The *_ref functions are double-precision references, the accuracy oracle for
 * the float GPU kernels that the other functions record (shaders/add.comp,
 * scale.comp, fill.comp; four vec4s per invocation, see shaders/common/vec4_grid.h).
 */
#ifndef VKLARS_OPS_ELEMENTWISE_H
#define VKLARS_OPS_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

#include "vk/vk.h"

/* y = a + b.  https://pytorch.org/docs/stable/generated/torch.add.html
 * y may alias a or b. */
void vkl_add_forward_ref(double *y /* (n) */, const double *a /* (n) */, const double *b /* (n) */,
                         size_t n);

/* da = dy, db = dy (both partials of a + b are 1); accumulate = 1 adds instead.
 * da or db may be NULL to skip that input. */
void vkl_add_backward_ref(double *da /* (n) or NULL */, double *db /* (n) or NULL */,
                          const double *dy /* (n) */, size_t n, int accumulate);

/* y = alpha * x.  https://pytorch.org/docs/stable/generated/torch.mul.html
 * Its backward is the same op (dx = alpha * dy). y may alias x. */
void vkl_scale_forward_ref(double *y /* (n) */, const double *x /* (n) */, double alpha, size_t n);

/* y = value.  https://pytorch.org/docs/stable/generated/torch.Tensor.fill_.html
 * Named without _forward: it reads no input, so it has no backward. */
void vkl_fill_ref(double *y /* (n) */, double value, size_t n);

/* ---- device recording (see ops/op_util.h for the conventions) ---- */

vkl_status vkl_add_forward(vkl_cmd *cmd, vkl_buf y /* (n) */, vkl_buf a /* (n) */,
                           vkl_buf b /* (n) */, uint64_t n);
/* da and db may be NULL; each gets dy (accumulate: += dy). */
vkl_status vkl_add_backward(vkl_cmd *cmd, const vkl_buf *da /* (n) */, const vkl_buf *db /* (n) */,
                            vkl_buf dy /* (n) */, uint64_t n, int accumulate);
/* y = alpha * x (accumulate: y += alpha * x). y may be x. */
vkl_status vkl_scale_forward(vkl_cmd *cmd, vkl_buf y /* (n) */, vkl_buf x /* (n) */, float alpha,
                             uint64_t n, int accumulate);
vkl_status vkl_fill(vkl_cmd *cmd, vkl_buf y /* (n) */, float value, uint64_t n);

#endif
