/* Interface of conv2d_wgrad.comp: conv2d backward-weight as a GEMM whose
 * reduction runs over the pixels (n, p, q) of one split.
 *
 *   part[z, k, r*S + s, c] = sum over the pixels of split z of dy[n, k, p, q] *
 *                 x[n, c, p*stride_h - pad_h + r, q*stride_w - pad_w + s]
 *   partb[z, k]            = sum over the pixels of split z of dy[n, k, p, q]
 *
 * dy is packed (N, P, Q, K/4) vec4s, or with dy_direct read in place as
 * (N, K, P, Q) vec4s of four pixels (Q % 4 == 0); x is packed with the conv's
 * padding as a zero border, (N, Hb, Wb, C/4) vec4s (see conv2d_pack.h). The
 * columns of the GEMM are the (tap, channel-chunk) pairs, R*S*ch of them, so
 * small C (the stem) spreads a lane's columns over several taps. Each
 * invocation owns 4*tkv rows k by 4*tcb columns and loads tkv + tcb vec4s
 * per pixel. With win (S = 3, stride_w = 1) a block's columns are the 3 taps
 * of one kernel row times win chunks, and x values slide from tap to tap as
 * the pixel advances: one x load per chunk per pixel instead of three.
 *
 * The partials, (splits, K, R*S, C/4) vec4s then (splits, K/4) vec4s from
 * bias_base, are summed into dw and dbias by conv2d_wreduce, which also
 * transposes to OIHW and accumulates. Grid: ceil(lanes / lx) workgroups, one
 * invocation per (block, split). */
#ifndef VKLARS_CONV2D_WGRAD_H
#define VKLARS_CONV2D_WGRAD_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_conv2d_wgrad_spec)
VKL_SPEC_LOCAL_X(0, lx)  /* a multiple of 8 */
VKL_SPEC_U32(1, tkv, 4)  /* vec4 chunks of k per invocation */
VKL_SPEC_U32(2, tcb, 8)  /* vec4 column chunks per invocation */
VKL_SPEC_U32(3, dy_direct, 0) /* 1: dy read as given (N,K,P,Q), Q % 4 == 0 */
VKL_SPEC_U32(4, win, 0)       /* >0: 3-tap window of win chunks, tcb = 3 win */
VKL_SPEC_U32(5, direct_out, 0) /* 1: one split, writing: dw and dbias directly */
VKL_SPEC_END(vkl_conv2d_wgrad_spec)


VKL_PUSH_BEGIN(vkl_conv2d_wgrad_push)
VKL_U32 K;
VKL_U32 C;
VKL_U32 kch;  /* vec4 chunks per dy pixel: ceil(K / 4) */
VKL_U32 ch;   /* vec4 chunks per x pixel: ceil(C / 4) */
VKL_U32 R;
VKL_U32 S;
VKL_U32 Hb;   /* packed x height with border */
VKL_U32 Wb;   /* packed x width with border */
VKL_U32 stride_h;
VKL_U32 stride_w;
VKL_U32 P;
VKL_U32 Q;
VKL_U32 rows;           /* N * P: the reduction, in rows of Q pixels */
VKL_U32 rows_per_split;
VKL_U32 nkb;            /* row blocks: ceil(kch / tkv) */
VKL_U32 nblocks;        /* nkb * column blocks, ceil(R*S*ch / tcb) */
VKL_U32 lanes;          /* nblocks * splits */
VKL_U32 bias_base;      /* vec4 index of the dbias partials: splits*K*R*S*ch */
VKL_U32 with_bias;      /* direct_out: write dbias */
VKL_PUSH_END(vkl_conv2d_wgrad_push)

#endif
