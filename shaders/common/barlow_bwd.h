/* Interface of barlow_bwd.comp: one micro-batch's dz1, dz2 (m,d) from the
 * finalized statistics (G, r1, r2, means, 1/s). */
#ifndef VKLARS_BARLOW_BWD_H
#define VKLARS_BARLOW_BWD_H
#include "iface.h"
#include "barlow_layout.h"

VKL_SPEC_BEGIN(vkl_barlow_bwd_spec)
VKL_SPEC_LOCAL_X(0, wg_x)
VKL_SPEC_LOCAL_Y(1, wg_y)
VKL_SPEC_END(vkl_barlow_bwd_spec)

VKL_PUSH_BEGIN(vkl_barlow_bwd_push)
VKL_U32 m;
VKL_U32 d;
VKL_F32 scale;      /* multiplies the gradient (1: dL/dz) */
VKL_U32 accumulate; /* 1: add into dz1, dz2 */
VKL_PUSH_END(vkl_barlow_bwd_push)

#endif
