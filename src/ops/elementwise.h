/*
 * Element-wise ops on flat double arrays: add (the residual join) and its backward,
 * scale and fill. Shapes do not matter to these ops, only the element count n, so every
 * array is written (n).
 *
 * Double-precision references: the accuracy oracle for the float GPU kernels.
 */
#ifndef VKLARS_OPS_ELEMENTWISE_H
#define VKLARS_OPS_ELEMENTWISE_H

#include <stddef.h>

/* y = a + b.  https://pytorch.org/docs/stable/generated/torch.add.html
 * y may alias a or b. */
void vkl_add_forward_ref(double *y /* (n) */, const double *a /* (n) */,
                         const double *b /* (n) */, size_t n);

/* da = dy, db = dy (both partials of a + b are 1); accumulate = 1 adds instead.
 * da or db may be NULL to skip that input. */
void vkl_add_backward_ref(double *da /* (n) or NULL */, double *db /* (n) or NULL */,
                          const double *dy /* (n) */, size_t n, int accumulate);

/* y = alpha * x.  https://pytorch.org/docs/stable/generated/torch.mul.html
 * Its backward is the same op (dx = alpha * dy). y may alias x. */
void vkl_scale_forward_ref(double *y /* (n) */, const double *x /* (n) */, double alpha,
                           size_t n);

/* y = value.  https://pytorch.org/docs/stable/generated/torch.Tensor.fill_.html
 * Named without _forward: it reads no input, so it has no backward. */
void vkl_fill_ref(double *y /* (n) */, double value, size_t n);

#endif
