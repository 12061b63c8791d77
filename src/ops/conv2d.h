/*
 * 2-D convolution reference (cross-correlation, as PyTorch's Conv2d): any kernel size,
 * stride and zero padding; dilation 1, groups 1.
 *
 * Layouts: x (N,C,H,W), w (K,C,R,S), bias (K), y (N,K,P,Q), all row-major double.
 * P = (H + 2 pad_h - R) / stride_h + 1, Q likewise (floor division).
 * https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html
 *
 * The *_ref functions are double-precision references, the accuracy oracle for the
 * float GPU kernels that the other functions record. Each device pass is an implicit
 * GEMM (operands gathered on the fly, never an im2col copy) of at most four dispatches:
 * the operands are first repacked into a scratch workspace as NHWC with the channels in
 * vec4 chunks and a zero border (shaders/conv2d_pack.comp; skipped where an operand can
 * be read in place), then
 *   forward          y  = W * x           M = K, N = N*P*Q, reduction C*R*S
 *                                          (shaders/conv2d_igemm.comp)
 *   backward-data    dx = W^T (*) dy      M = C, N = N*H*W, reduction K*R*S: the
 *                                          transposed convolution as a gather, split
 *                                          by stride phase (conv2d_igemm.comp); with
 *                                          C <= 4 at stride 1 (the stem) one dispatch
 *                                          of dx tiles for all C channels instead
 *                                          (conv2d_bwd_small.comp)
 *   backward-weight  dw = dy (*) x        M = K, N = C*R*S, reduction N*P*Q, split
 *                                          over the reduction when the output alone
 *                                          cannot keep the device busy, then summed
 *                                          in a fixed order (conv2d_wgrad.comp,
 *                                          conv2d_wreduce.comp)
 * The kernels are shaped by what lavapipe makes expensive (measured; see the shaders):
 * every storage-buffer load is a loop over the 8 SIMD lanes, so they load vec4s only and
 * keep 512 accumulators per invocation; 3-wide kernels at stride 1 along w reuse loaded
 * values across taps. On a 2-core lavapipe they reach 2.4-2.7x the GEMM baseline on the
 * ResNet-18 layers (tests/ and `vklars bench ops` measure them).
 * Under the GPU geometry (vk/vk_tuning.h) backward-weight is a shared-memory tiled GEMM
 * instead, split over the pixels the same way (conv2d_wgrad_tiled.comp,
 * conv2d_wreduce_flat.comp; see ops/conv2d_wgrad_gpu.c), and forward and backward-data
 * (the stem's few channels too) run conv2d_tiled.comp over the same packs, b always
 * packed, in the largest of three tiles that still fills the device (see
 * ops/conv2d_tiled.c).
 */
#ifndef VKLARS_OPS_CONV2D_H
#define VKLARS_OPS_CONV2D_H

#include <stdint.h>

#include "vk/vk.h"

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

/* ---- device recording (see ops/op_util.h for the conventions) ----
 * sh must have been completed by vkl_conv2d_shape_finish; a shape that gives no output
 * or disagrees with its own P, Q is refused. workspace is scratch the caller owns, of at
 * least vkl_conv2d_workspace_floats(sh) floats (enough for all three passes); it is
 * overwritten, and must not overlap any tensor argument. All results are deterministic:
 * fixed summation orders, no atomics. */

/* Floats of workspace that any of the three passes needs for this shape, under either
 * geometry (no device needed). */
uint64_t vkl_conv2d_workspace_floats(const vkl_conv2d_shape *sh);

/* y = conv(x, w) + bias. */
vkl_status vkl_conv2d_forward(vkl_cmd *cmd, vkl_buf y /* (N,K,P,Q) */, vkl_buf x /* (N,C,H,W) */,
                              vkl_buf w /* (K,C,R,S) */, const vkl_buf *bias /* (K) or NULL */,
                              const vkl_conv2d_shape *sh, vkl_buf workspace);

/* dx = dL/dx given dy; accumulate = 1 adds into dx. */
vkl_status vkl_conv2d_backward_data(vkl_cmd *cmd, vkl_buf dx /* (N,C,H,W) */,
                                    vkl_buf dy /* (N,K,P,Q) */, vkl_buf w /* (K,C,R,S) */,
                                    const vkl_conv2d_shape *sh, int accumulate, vkl_buf workspace);

/* dw = dL/dw and dbias = dL/dbias given dy; accumulate = 1 adds into them. */
vkl_status vkl_conv2d_backward_weight(vkl_cmd *cmd, vkl_buf dw /* (K,C,R,S) */,
                                      const vkl_buf *dbias /* (K) or NULL */,
                                      vkl_buf dy /* (N,K,P,Q) */, vkl_buf x /* (N,C,H,W) */,
                                      const vkl_conv2d_shape *sh, int accumulate,
                                      vkl_buf workspace);

#endif
