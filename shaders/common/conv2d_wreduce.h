/* Interface of conv2d_wreduce.comp: the deterministic second pass of
 * backward-weight. With part the partials of conv2d_wgrad as floats,
 * (splits, K, R*S, C4) then (splits, K4) from bias_base (C4, K4: C, K rounded
 * up to multiples of 4), for each of the n = K*C*R*S elements of dw (OIHW):
 *   dw[k, c, tap] (+)= sum over z < splits, in order, of part[z, k, tap, c]
 * and, when with_bias, for k < K:
 *   dbias[k] (+)= sum over z < splits, in order, of part[bias_base + z*K4 + k].
 * Grid: (ceil(max(C4, K4) / (4 wg_size)), R*S, K + 1). */
#ifndef VKLARS_CONV2D_WREDUCE_H
#define VKLARS_CONV2D_WREDUCE_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_conv2d_wreduce_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_conv2d_wreduce_spec)

VKL_PUSH_BEGIN(vkl_conv2d_wreduce_push)
VKL_U32 K;
VKL_U32 C;
VKL_U32 RS;
VKL_U32 C4;     /* channels per partial row: C rounded up to a multiple of 4 */
VKL_U32 K4;
VKL_U32 splits;
VKL_U32 split_stride; /* floats per split of dw partials: K*R*S*C4 */
VKL_U32 bias_base;    /* float index of the dbias partials */
VKL_U32 accumulate;
VKL_U32 with_bias;
VKL_PUSH_END(vkl_conv2d_wreduce_push)

#endif
