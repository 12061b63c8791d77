/* Interface of conv2d_wgrad_tiled.comp: conv2d backward-weight for the GPU
 * geometry, a GEMM tiled through shared memory
 *
 *   dw[k, (tap, c)] = sum over the pixels i = (n, p, q) of a split of
 *                     dy[i, k] * x[n, c, p*stride_h + r - pad_h, q*stride_w + s - pad_w]
 *
 * with M = K rows, R*S*C4 columns (tap = r*S + s major, channel minor; C4 is
 * C rounded up to 4) and the reduction over N*P*Q pixels. dy is packed
 * (N*P*Q, K/4) vec4s, x packed (N, Hb, Wb, C/4) vec4s with the conv's padding
 * as a zero border (see conv2d_pack.h); column chunk jc = tap*ch + c4 of
 * pixel (n, p, q) is x4[((n*Hb + p*stride_h + r)*Wb + q*stride_w + s)*ch + c4].
 * With with_bias one more column chunk, jc = R*S*ch, reads vec4(1, 0, 0, 0):
 * its first column is dbias[k] = sum of dy.
 *
 * Workgroup (gl_WorkGroupID.x = row block * nbn + column block, y = split z)
 * owns a bm x bn tile: per step of bk pixels its wg_size invocations load a
 * bk x bm tile of dy and a bk x bn tile of x with vec4 loads into shared
 * memory, then each adds its tm x tn block (tm * tn = bm * bn / wg_size, at
 * most 64) of outer products. Split z sums pixels
 * [z * pix_per_split, min(npix, (z + 1) * pix_per_split)) in a fixed order.
 * The pixel coordinates advance by bk each step with the carries in
 * step_q/p/n (bk = step_n*P*Q + step_p*Q + step_q), never a division.
 *
 * direct_out: one split writes dw (OIHW) and dbias itself, adding to them
 * with accumulate. Otherwise it writes partials in conv2d_wreduce.h's layout,
 * part[((z*K + k)*R*S*ch + jc)*4 + f] and part[bias_base + z*K4 + k], which
 * conv2d_wreduce_flat.comp sums. */
#ifndef VKLARS_CONV2D_WGRAD_TILED_H
#define VKLARS_CONV2D_WGRAD_TILED_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_conv2d_wgrad_tiled_spec)
VKL_SPEC_LOCAL_X(0, wg_size)    /* tile_wg */
VKL_SPEC_U32(1, bm, 64)         /* tile rows k, a multiple of 4 and of tm */
VKL_SPEC_U32(2, bn, 64)         /* tile columns, a multiple of 4 and of tn */
VKL_SPEC_U32(3, tm, 4)          /* rows per invocation */
VKL_SPEC_U32(4, tn, 4)          /* columns per invocation */
VKL_SPEC_U32(5, bk, 16)         /* pixels per shared-memory step */
VKL_SPEC_U32(6, direct_out, 0)  /* 1: one split, dw and dbias written directly */
VKL_SPEC_U32(7, accumulate, 0)  /* direct_out: add into dw and dbias */
VKL_SPEC_END(vkl_conv2d_wgrad_tiled_spec)

VKL_PUSH_BEGIN(vkl_conv2d_wgrad_tiled_push)
VKL_U32 K;
VKL_U32 C;
VKL_U32 kch;  /* vec4 chunks per dy pixel: ceil(K / 4) */
VKL_U32 ch;   /* vec4 chunks per x pixel: ceil(C / 4) */
VKL_U32 RS;
VKL_U32 S;
VKL_U32 Hb;   /* packed x height and width */
VKL_U32 Wb;
VKL_U32 stride_h; /* the stride x is walked with (1 when the pack folded it) */
VKL_U32 stride_w;
VKL_U32 P;
VKL_U32 Q;
VKL_U32 npix;          /* N * P * Q */
VKL_U32 pix_per_split; /* a multiple of bk */
VKL_U32 ncol4;         /* column chunks of dw: R*S*ch */
VKL_U32 with_bias;     /* 1: column chunk ncol4 is dbias */
VKL_U32 nbn;           /* column blocks: ceil((ncol4 + with_bias) * 4 / bn) */
VKL_U32 step_q;        /* bk as (step_n, step_p, step_q) pixels of (N, P, Q) */
VKL_U32 step_p;
VKL_U32 step_n;
VKL_U32 bias_base;     /* float index of the dbias partials: splits * K * R*S * 4ch */
VKL_PUSH_END(vkl_conv2d_wgrad_tiled_push)

#endif
