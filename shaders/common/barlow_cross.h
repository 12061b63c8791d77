/* Interface of barlow_cross.comp: X (d,d) = X_a (or 0 when first) +
 * sum_b (z1_b - mb1)(z2_b - mb2)^T + (n_a n_b / n) dl1 dl2^T, and the count. */
#ifndef VKLARS_BARLOW_CROSS_H
#define VKLARS_BARLOW_CROSS_H
#include "iface.h"
#include "barlow_layout.h"

VKL_SPEC_BEGIN(vkl_barlow_cross_spec)
VKL_SPEC_LOCAL_X(0, wg_x)
VKL_SPEC_LOCAL_Y(1, wg_y)
VKL_SPEC_END(vkl_barlow_cross_spec)

VKL_PUSH_BEGIN(vkl_barlow_cross_push)
VKL_U32 m;
VKL_U32 d;
VKL_U32 first; /* 1: X_a is not read (it may hold anything) */
VKL_PUSH_END(vkl_barlow_cross_push)

#endif
