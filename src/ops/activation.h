/*
 * ReLU reference on flat double arrays of n elements (any shape).
 * https://pytorch.org/docs/stable/generated/torch.nn.ReLU.html
 */
#ifndef VKLARS_OPS_ACTIVATION_H
#define VKLARS_OPS_ACTIVATION_H

#include <stddef.h>

/* y = max(x, 0). y may alias x (in-place ReLU). */
void vkl_relu_forward_ref(double *y /* (n) */, const double *x /* (n) */, size_t n);

/* dx = dy where y > 0, else 0. Reads the forward OUTPUT y, not x, so that an in-place
 * ReLU (whose x is overwritten) can still be differentiated; y > 0 exactly when x > 0,
 * and at x = 0 the gradient is 0, as in PyTorch. accumulate = 1 adds into dx. */
void vkl_relu_backward_ref(double *dx /* (n) */, const double *dy /* (n) */,
                           const double *y /* (n) */, size_t n, int accumulate);

#endif
