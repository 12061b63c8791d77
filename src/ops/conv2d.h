/*
 * 2-D convolution reference (cross-correlation, as PyTorch's Conv2d): any kernel size,
 * stride and zero padding; dilation 1, groups 1.
 *
 * Layouts: x (N,C,H,W), w (K,C,R,S), bias (K), y (N,K,P,Q), all row-major double.
 * P = (H + 2 pad_h - R) / stride_h + 1, Q likewise (floor division).
 * https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html
 */
#ifndef VKLARS_OPS_CONV2D_H
#define VKLARS_OPS_CONV2D_H

#include <stdint.h>

typedef struct vkl_conv2d_shape {
  uint32_t N, C, H, W; /* input */
  uint32_t K, R, S;    /* out-channels, kernel height and width */
  uint32_t stride_h, stride_w, pad_h, pad_w;
  uint32_t P, Q; /* output size, filled by vkl_conv2d_shape_finish */
} vkl_conv2d_shape;

/* Fills P and Q. Returns 0, or -1 (P, Q untouched) when a size or stride is 0, the
 * kernel is larger than the padded input, or P or Q would not fit in uint32_t. */
int vkl_conv2d_shape_finish(vkl_conv2d_shape *sh);

/* y[n,k,p,q] = bias[k] + sum_{c,r,s} w[k,c,r,s] x[n,c, p*stride_h - pad_h + r,
 *                                                   q*stride_w - pad_w + s]
 * with x = 0 outside the input (zero padding). */
void vkl_conv2d_forward_ref(double *y /* (N,K,P,Q) */, const double *x /* (N,C,H,W) */,
                            const double *w /* (K,C,R,S) */, const double *bias /* (K) or NULL */,
                            const vkl_conv2d_shape *sh);

/* dx = dL/dx given dy; accumulate = 1 adds into dx. */
void vkl_conv2d_backward_data_ref(double *dx /* (N,C,H,W) */, const double *dy /* (N,K,P,Q) */,
                                  const double *w /* (K,C,R,S) */, const vkl_conv2d_shape *sh,
                                  int accumulate);

/* dw = dL/dw and dbias = dL/dbias given dy; accumulate = 1 adds into them. */
void vkl_conv2d_backward_weight_ref(double *dw /* (K,C,R,S) */, double *dbias /* (K) or NULL */,
                                    const double *dy /* (N,K,P,Q) */,
                                    const double *x /* (N,C,H,W) */, const vkl_conv2d_shape *sh,
                                    int accumulate);

#endif
