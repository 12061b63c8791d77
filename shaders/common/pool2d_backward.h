/* Interface of pool2d_backward.comp: dx (N,C,H,W) from dy (N,C,P,Q) for
 * average-pooling, or from dy and the forward's argmax for max-pooling,
 * gathered per input element. Each invocation computes a tile of th x tw
 * input gradients of one plane. */
#ifndef VKLARS_POOL2D_BACKWARD_H
#define VKLARS_POOL2D_BACKWARD_H
#include "pool2d.h"

VKL_SPEC_BEGIN(vkl_pool2d_backward_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, R, 1) /* window height */
VKL_SPEC_U32(2, S, 1) /* window width */
VKL_SPEC_U32(3, SH, 1) /* strides */
VKL_SPEC_U32(4, SW, 1)
VKL_SPEC_U32(5, PH, 0) /* paddings */
VKL_SPEC_U32(6, PW, 0)
VKL_SPEC_U32(7, is_avg, 0)     /* 0: max-pool (reads argmax), 1: average */
VKL_SPEC_U32(8, accumulate, 0) /* 1: add into dx */
VKL_SPEC_U32(9, th, 1)         /* input rows per tile: a multiple of SH */
VKL_SPEC_U32(10, tw, 4)        /* input columns per tile: a multiple of 4 SW */
VKL_SPEC_U32(11, vec_dy, 0)    /* 1: read dy (and argmax) as vec4s (needs Q % 4 == 0) */
VKL_SPEC_U32(12, vec_dx, 0)    /* 1: write dx as vec4s (needs W % 4 == 0) */
VKL_SPEC_U32(13, p_back, 0)    /* a tile's first window row is h0 / SH - p_back */
VKL_SPEC_U32(14, q_back, 0)    /* its first window column is w0 / SW - q_back */
VKL_SPEC_U32(15, lead, 0)      /* dy columns read before that one, so that vec4 reads
                                  start on a multiple of 4 */
VKL_SPEC_END(vkl_pool2d_backward_spec)

#endif
