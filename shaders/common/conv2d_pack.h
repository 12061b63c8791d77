/* Interface of conv2d_pack.comp: repacks a 4-D tensor into the vec4 layout
 * the conv2d kernels read, with a zero border and zero channel padding.
 *
 *   dst[i0, i1, i2, b4] = vec4(src[i0*s0 + (i1-o1)*s1 + (i2-o2)*s2 + b*sb]
 *                              for b = 4*b4 .. 4*b4+3)
 *
 * with zeros where i1-o1 is outside [0, n1), i2-o2 outside [0, n2) or b
 * outside [0, nb). dst is (D0, D1, D2, B4) vec4s, B4 = ceil(nb / 4).
 * Activations (N,C,H,W) -> (N, H+border, W+border, C/4):
 *   s0 = C*H*W, s1 = W, s2 = 1, sb = H*W.
 * Weights (K,C,R,S) -> forward (K, R, S, C/4): s0 = C*R*S, s1 = S, s2 = 1,
 * sb = R*S; backward-data (C, R, S, K/4): s0 = R*S, s1 = S, s2 = 1,
 * sb = C*R*S. Bindings: src as floats, dst, src again as vec4s.
 * Grid: x over i2 (with vec4_src: over the 4-column source blocks that
 * cover i2, ceil(o2 / 4) + ceil((D2 - o2) / 4) of them), y over i1, z over
 * (i0, b4). */
#ifndef VKLARS_CONV2D_PACK_H
#define VKLARS_CONV2D_PACK_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_conv2d_pack_spec)
VKL_SPEC_LOCAL_X(0, lx)
VKL_SPEC_LOCAL_Y(1, ly)
VKL_SPEC_U32(2, vec4_src, 0) /* 1: s2 == 1, n2, s0, s1, sb multiples of 4 */
VKL_SPEC_END(vkl_conv2d_pack_spec)

VKL_PUSH_BEGIN(vkl_conv2d_pack_push)
VKL_U32 D0;
VKL_U32 D1;
VKL_U32 D2;
VKL_U32 B4;
VKL_U32 s0;
VKL_U32 s1;
VKL_U32 s2;
VKL_U32 sb;
VKL_U32 n1;
VKL_U32 n2;
VKL_U32 nb;
VKL_U32 o1;
VKL_U32 o2;
VKL_PUSH_END(vkl_conv2d_pack_push)

#endif
