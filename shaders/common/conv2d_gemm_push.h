/* The push constants of conv2d's two implicit-GEMM kernels, conv2d_igemm
 * (the CPU geometry) and conv2d_tiled (the GPU geometry): the same product
 * over the same packed operands, so the host fills one struct for either
 * (see conv2d_igemm.h for the layouts and the stride phases). */
#ifndef VKLARS_CONV2D_GEMM_PUSH_H
#define VKLARS_CONV2D_GEMM_PUSH_H
#include "iface.h"

#define CONV2D_GEMM_BIAS 1u /* flags: add bias[m] (forward) */

VKL_PUSH_BEGIN(vkl_conv2d_gemm_push)
VKL_U32 M;        /* rows: K (forward) or C (backward-data) */
VKL_U32 N;        /* batch */
VKL_U32 ch;       /* vec4 chunks per tap */
VKL_U32 R;        /* kernel height */
VKL_U32 S;        /* kernel width */
VKL_U32 Hb;       /* packed b: height with border */
VKL_U32 Wb;       /* packed b: width with border */
VKL_U32 stride_h;
VKL_U32 stride_w;
VKL_U32 pad_h;
VKL_U32 pad_w;
VKL_U32 Hout;     /* out height: P (forward) or H (backward-data) */
VKL_U32 Wout;     /* out width: Q or W */
VKL_U32 pad_top;  /* backward-data: dy's packed border */
VKL_U32 pad_left;
VKL_U32 flags;    /* CONV2D_GEMM_* */
VKL_U32 cb;       /* b_direct (conv2d_igemm): channels of b */
VKL_U32 backward; /* 0: forward; 1: backward-data (phases) */
VKL_PUSH_END(vkl_conv2d_gemm_push)

#endif
