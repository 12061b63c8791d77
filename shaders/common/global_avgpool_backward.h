/* Interface of global_avgpool_backward.comp: dx[c, i] = dy[c] / hw
 * (added into dx when accumulate is 1). */
#ifndef VKLARS_GLOBAL_AVGPOOL_BACKWARD_H
#define VKLARS_GLOBAL_AVGPOOL_BACKWARD_H
#include "global_avgpool.h"

VKL_SPEC_BEGIN(vkl_global_avgpool_backward_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, vec_dx, 0)     /* 1: write dx as vec4s (needs hw % 4 == 0) */
VKL_SPEC_U32(2, accumulate, 0) /* 1: add into dx */
VKL_SPEC_END(vkl_global_avgpool_backward_spec)

#endif
