/* Interface of fill.comp: y[i] = value for i < n. */
#ifndef VKLARS_FILL_H
#define VKLARS_FILL_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_fill_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_fill_spec)

VKL_PUSH_BEGIN(vkl_fill_push)
VKL_U32 n;
VKL_F32 value;
VKL_PUSH_END(vkl_fill_push)

#endif
