/* Interface of conv2d_wreduce_flat.comp: conv2d_wreduce's sum for the GPU
 * geometry, over the same partials (see conv2d_wreduce.h), with n4 = K*R*S*ch
 * vec4s per split:
 *   dw[k, c, tap] (+)= sum over z < splits, in order, of part4[z*n4 + i][c % 4]
 *                      for i = (k*R*S + tap)*ch + c/4
 *   dbias[k]      (+)= sum over z < splits, in order, of
 *                      part4[bias_base4 + z*kch + k/4][k % 4]          (with_bias)
 * One invocation per partial vec4 i < n4, then one per dbias vec4: a flat 1-D
 * grid of ceil((n4 + kch) / wg_size) workgroups whose loads are contiguous
 * across the invocations, and no workgroup mostly idle when C is small. */
#ifndef VKLARS_CONV2D_WREDUCE_FLAT_H
#define VKLARS_CONV2D_WREDUCE_FLAT_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_conv2d_wreduce_flat_spec)
VKL_SPEC_LOCAL_X(0, wg_size) /* reduce_wg */
VKL_SPEC_END(vkl_conv2d_wreduce_flat_spec)

VKL_PUSH_BEGIN(vkl_conv2d_wreduce_flat_push)
VKL_U32 K;
VKL_U32 C;
VKL_U32 RS;
VKL_U32 ch;     /* ceil(C / 4) */
VKL_U32 kch;    /* ceil(K / 4) */
VKL_U32 n4;     /* K * RS * ch */
VKL_U32 splits;
VKL_U32 bias_base4; /* splits * n4 */
VKL_U32 ch_mul;     /* fastdiv by ch */
VKL_U32 ch_shr;
VKL_U32 rs_mul;     /* fastdiv by RS */
VKL_U32 rs_shr;
VKL_U32 accumulate;
VKL_U32 with_bias;
VKL_PUSH_END(vkl_conv2d_wreduce_flat_push)

#endif
