/* Interface of barlow_moments.comp: one micro-batch's means and sums of
 * squared deviations of z1 and z2 (m,d), merged into the statistics buffer
 * (Chan et al.), and the micro-batch means and deltas for barlow_cross. */
#ifndef VKLARS_BARLOW_MOMENTS_H
#define VKLARS_BARLOW_MOMENTS_H
#include "iface.h"
#include "barlow_layout.h"

VKL_SPEC_BEGIN(vkl_barlow_moments_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_barlow_moments_spec)

VKL_PUSH_BEGIN(vkl_barlow_moments_push)
VKL_U32 m;     /* samples of the micro-batch */
VKL_U32 d;     /* features */
VKL_U32 first; /* 1: write the statistics (n_a = 0), never read them */
VKL_PUSH_END(vkl_barlow_moments_push)

#endif
