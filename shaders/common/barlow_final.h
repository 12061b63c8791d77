/* Interface of barlow_rows.comp and barlow_cols.comp, the finalize of the
 * Barlow Twins loss: C = X / (n s1 s2^T), the loss, G = dL/dC in place of X,
 * r1 and r2. */
#ifndef VKLARS_BARLOW_FINAL_H
#define VKLARS_BARLOW_FINAL_H
#include "iface.h"
#include "barlow_layout.h"

VKL_SPEC_BEGIN(vkl_barlow_final_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_barlow_final_spec)

VKL_PUSH_BEGIN(vkl_barlow_final_push)
VKL_U32 d;
VKL_F32 lambda; /* weight of the off-diagonal terms */
VKL_F32 eps;    /* added to the biased variance */
VKL_PUSH_END(vkl_barlow_final_push)

#endif
