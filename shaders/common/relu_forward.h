/* Interface of relu_forward.comp: y[i] = x[i] > 0 ? x[i] : 0 for i < n. */
#ifndef VKLARS_RELU_FORWARD_H
#define VKLARS_RELU_FORWARD_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_relu_forward_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_relu_forward_spec)

VKL_PUSH_BEGIN(vkl_relu_forward_push)
VKL_U32 n;
VKL_PUSH_END(vkl_relu_forward_push)

#endif
