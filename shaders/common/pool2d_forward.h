/* Interface of pool2d_forward.comp: max- or average-pooling x (N,C,H,W) to
 * y (N,C,P,Q), and for max-pooling optionally the argmax (N,C,P,Q).
 * Each invocation computes a tile of tp x tq outputs of one plane. */
#ifndef VKLARS_POOL2D_FORWARD_H
#define VKLARS_POOL2D_FORWARD_H
#include "pool2d.h"

VKL_SPEC_BEGIN(vkl_pool2d_forward_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, R, 1) /* window height */
VKL_SPEC_U32(2, S, 1) /* window width */
VKL_SPEC_U32(3, SH, 1) /* strides */
VKL_SPEC_U32(4, SW, 1)
VKL_SPEC_U32(5, PH, 0) /* paddings */
VKL_SPEC_U32(6, PW, 0)
VKL_SPEC_U32(7, is_avg, 0)       /* 0: max-pool, 1: average (count_include_pad) */
VKL_SPEC_U32(8, write_argmax, 0) /* max-pool: 1 writes the argmax tensor */
VKL_SPEC_U32(9, tp, 1)           /* output rows per tile */
VKL_SPEC_U32(10, tq, 4)          /* output columns per tile: a multiple of 4 */
VKL_SPEC_U32(11, vec_x, 0)       /* 1: read x as vec4s (needs W % 4 == 0) */
VKL_SPEC_U32(12, vec_y, 0)       /* 1: write y as vec4s (needs Q % 4 == 0) */
VKL_SPEC_U32(13, lead, 0)        /* columns read before a tile's first window column,
                                    so that vec4 reads start on a multiple of 4 */
VKL_SPEC_END(vkl_pool2d_forward_spec)

#endif
