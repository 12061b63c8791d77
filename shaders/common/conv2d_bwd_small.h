/* Interface of conv2d_bwd_small.comp (shared by C and GLSL): backward-data
 * of a convolution with few input channels (the 3-channel stem) at stride 1,
 * dx[n,c,h,w] = sum_{k,r,s} w[k,c,r,s] dy[n,k,h+pad_h-r,w+pad_w-s].
 *
 * The implicit GEMM (conv2d_igemm.comp) has M = C rows there, too few for
 * its register block. Here an invocation owns a th x tw tile of dx (rows
 * h0.., columns w0.., tw a multiple of 4) of one image for all C channels:
 * per output channel k it loads the th + R - 1 rows of dy the tile needs
 * (tw + S - 1 values each, as aligned vec4s, zero outside dy), and the
 * C*R*S weights of k (the same address in every invocation, which lavapipe
 * loads once per SIMD vector), then runs C*R*S FMAs per tile element from
 * registers: ~60 FMAs per loaded float on the stem.
 * Needs W % 4 == 0 and Q % 4 == 0 (aligned vec4 rows) and 16-byte-aligned
 * dx and dy bindings. Invocation g: tile column g % tiles_w, then tile row,
 * then image. */
#ifndef VKLARS_CONV2D_BWD_SMALL_H
#define VKLARS_CONV2D_BWD_SMALL_H
#include "iface.h"

#define CONV2D_BWD_SMALL_MAX_C 4
#define CONV2D_BWD_SMALL_MAX_RS 7

VKL_SPEC_BEGIN(vkl_conv2d_bwd_small_spec)
VKL_SPEC_LOCAL_X(0, lx)
VKL_SPEC_U32(1, C, 3)
VKL_SPEC_U32(2, R, 3)
VKL_SPEC_U32(3, S, 3)
VKL_SPEC_U32(4, pad_h, 1)
VKL_SPEC_U32(5, pad_w, 1)
VKL_SPEC_U32(6, th, 4)
VKL_SPEC_U32(7, tw, 32)
VKL_SPEC_END(vkl_conv2d_bwd_small_spec)

VKL_PUSH_BEGIN(vkl_conv2d_bwd_small_push)
VKL_U32 N;
VKL_U32 K;
VKL_U32 H;
VKL_U32 W;
VKL_U32 P;
VKL_U32 Q;
VKL_U32 tiles_w;
VKL_U32 tiles_h;
VKL_U32 accumulate; /* 1: dx += (a push constant: one pipeline serves both) */
VKL_PUSH_END(vkl_conv2d_bwd_small_push)

#endif
