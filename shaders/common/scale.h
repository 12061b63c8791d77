/* Interface of scale.comp: y[i] = alpha * x[i] (+ y[i] if accumulate) for
 * i < n. Serves scale, and the pass-through backward of add. */
#ifndef VKLARS_SCALE_H
#define VKLARS_SCALE_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_scale_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_scale_spec)

VKL_PUSH_BEGIN(vkl_scale_push)
VKL_U32 n;
VKL_F32 alpha;
VKL_U32 accumulate; /* 0: write, 1: add into y */
VKL_PUSH_END(vkl_scale_push)

#endif
