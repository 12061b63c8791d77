/* Interface of global_avgpool_forward.comp: y[c] = mean of x[c, 0..hw). */
#ifndef VKLARS_GLOBAL_AVGPOOL_FORWARD_H
#define VKLARS_GLOBAL_AVGPOOL_FORWARD_H
#include "global_avgpool.h"

VKL_SPEC_BEGIN(vkl_global_avgpool_forward_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, vec_x, 0) /* 1: read x as vec4s (needs hw % 4 == 0) */
VKL_SPEC_END(vkl_global_avgpool_forward_spec)

#endif
