/* Interface of conv2d_tiled.comp: the shared-memory tiled implicit GEMM
 * behind conv2d forward and backward-data under the GPU geometry. The same
 * product and operands as conv2d_igemm.h:
 *
 *   out[n, m, h, w] (+)= sum over taps (j, i) and channel chunks c of
 *                        dot(a[m, tap, c], b[pixel(n, h, w) + tap shift, c])
 *
 * a is the packed weight, (M, R, S, ch) vec4s: forward (K, R, S, C/4),
 * backward-data (C, R, S, K/4). b is a packed activation with a zero border,
 * (N, Hb, Wb, ch) vec4s: forward x with the conv's padding (or folded, at
 * stride 1), backward-data dy with a border of pad_top/pad_left, gathered by
 * stride phase (phase (ph, pw): output rows h = t * stride_h + ph - pad_h,
 * taps r = ph + j * stride_h, dy row t - j), exactly as conv2d_igemm reads
 * them. b is always packed here (no b_direct).
 *
 * A workgroup of wg invocations computes a bm x bn output tile (rows m x
 * pixels of one phase). The reduction runs over the (tap, chunk) pairs, 4
 * vec4 chunks a stage: the workgroup loads the stage's bm x 4 vec4s of a and
 * bn x 4 vec4s of b (gathered per tap) into shared memory, one vec4 global
 * load per element, then each invocation accumulates tm x tn outputs from
 * it (rows ty + i * bm / tm, pixels tx + e * bn / tn: neighbouring
 * invocations read neighbouring b vec4s and store neighbouring pixels).
 * tm * tn * wg == bm * bn, tm * tn <= 64.
 *
 * Bindings: a, b, bias, out (floats). Grid: (ceil(M / bm) * phases,
 * ceil(largest phase's pixels / bn)), phase fastest, as conv2d_igemm. */
#ifndef VKLARS_CONV2D_TILED_H
#define VKLARS_CONV2D_TILED_H
#include "conv2d_gemm_push.h"
#include "iface.h"

#define CONV2D_TILED_BK 4u /* vec4 chunks of the reduction per stage */
/* Shared memory of a bm x bn tile: a stage of a and of b, one vec4 of padding per
 * chunk row (as conv2d_tiled.comp declares them). */
#define CONV2D_TILED_SHARED_BYTES(bm, bn) (CONV2D_TILED_BK * ((bm) + 1u + (bn) + 1u) * 16u)

VKL_SPEC_BEGIN(vkl_conv2d_tiled_spec)
VKL_SPEC_LOCAL_X(0, wg)        /* invocations, a multiple of the largest subgroup */
VKL_SPEC_U32(1, bm, 128)       /* tile rows */
VKL_SPEC_U32(2, bn, 64)        /* tile pixels */
VKL_SPEC_U32(3, tm, 8)         /* rows per invocation */
VKL_SPEC_U32(4, tn, 4)         /* pixels per invocation */
VKL_SPEC_U32(5, accumulate, 0) /* 1: out += result (backward-data only) */
VKL_SPEC_END(vkl_conv2d_tiled_spec)

/* push constants: vkl_conv2d_gemm_push (conv2d_gemm_push.h), as conv2d_igemm */

#endif
