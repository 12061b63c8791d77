/* Interface of copy_vec4.comp: y[i] = x[i] over n4 vec4 elements. The
 * bandwidth baseline that memory-bound kernels are compared against. */
#ifndef VKLARS_COPY_VEC4_H
#define VKLARS_COPY_VEC4_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_copy_vec4_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_copy_vec4_spec)

VKL_PUSH_BEGIN(vkl_copy_vec4_push)
VKL_U32 n4;
VKL_PUSH_END(vkl_copy_vec4_push)

#endif
