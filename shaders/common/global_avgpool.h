/* Push constants of global_avgpool_forward.comp and
 * global_avgpool_backward.comp: x (planes, hw) <-> y (planes), where
 * planes = N C and hw = H W. Each invocation handles
 * VKL_GLOBAL_AVGPOOL_PLANES consecutive planes. */
#ifndef VKLARS_GLOBAL_AVGPOOL_H
#define VKLARS_GLOBAL_AVGPOOL_H
#include "iface.h"

#define VKL_GLOBAL_AVGPOOL_PLANES 4

VKL_PUSH_BEGIN(vkl_global_avgpool_push)
VKL_U32 planes;
VKL_U32 hw;
VKL_PUSH_END(vkl_global_avgpool_push)

#endif
