/* Interface of add.comp: y[i] = a[i] + b[i] for i < n. */
#ifndef VKLARS_ADD_H
#define VKLARS_ADD_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_add_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_add_spec)

VKL_PUSH_BEGIN(vkl_add_push)
VKL_U32 n;
VKL_PUSH_END(vkl_add_push)

#endif
