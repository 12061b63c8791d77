/* Interface of relu_backward.comp: dx[i] = y[i] > 0 ? dy[i] : 0 for i < n,
 * added into dx when accumulate is 1. */
#ifndef VKLARS_RELU_BACKWARD_H
#define VKLARS_RELU_BACKWARD_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_relu_backward_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, accumulate, 0) /* 0: write dx, 1: add into dx */
VKL_SPEC_END(vkl_relu_backward_spec)

VKL_PUSH_BEGIN(vkl_relu_backward_push)
VKL_U32 n;
VKL_PUSH_END(vkl_relu_backward_push)

#endif
