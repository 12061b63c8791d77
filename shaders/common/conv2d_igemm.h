/* Interface of conv2d_igemm.comp: the implicit GEMM behind conv2d forward
 * and backward-data.
 *
 *   out[n, m, h, w] (+)= sum over taps (j, i) and channel chunks c of
 *                        dot(a[m, tap, c], b[pixel(n, h, w) + tap shift, c])
 *
 * a is the packed weight, (M, R, S, ch) vec4s: forward (K, R, S, C/4),
 * backward-data (C, R, S, K/4). b is a packed activation in NHWC with the
 * channels in vec4 chunks and a zero border, (N, Hb, Wb, ch) vec4s, so the
 * kernel never tests for padding. Forward reads x packed with the conv's
 * padding; backward-data reads dy packed with a border of pad_top/pad_left
 * and gathers it as the transposed convolution, split by stride phase
 * (gl_WorkGroupID.z = phase): in phase (ph, pw) the output pixels are
 * h = t * stride_h + ph - pad_h, and only the taps r = ph + j * stride_h
 * reach them, from dy row p = t - j. Each phase is a plain gather: no
 * scatter, no races, no wasted taps.
 *
 * With b_direct (1x1 kernel, no padding, stride 1 in b: forward at stride 1,
 * backward-data at any stride) b is the activation as given, (N, cb, Ht, Wt)
 * with Ht * Wt % 4 == 0, read as vec4s of 4 pixels: no pack.
 *
 * Each invocation accumulates a tm x tn block (tm rows m, tn pixels in groups
 * of 4 consecutive ones) in registers. Bindings: a, b, bias, out as floats,
 * out again as vec4s. Grid: (ceil(M / tm) * phases, ceil(pixels / (lx * tn)))
 * with the phase varying fastest: the phases of one region of dx run one
 * after another, so the cache lines they share are written while in cache
 * (in phase-major order each line of dx went to memory once per phase). */
#ifndef VKLARS_CONV2D_IGEMM_H
#define VKLARS_CONV2D_IGEMM_H
#include "conv2d_gemm_push.h"
#include "iface.h"

VKL_SPEC_BEGIN(vkl_conv2d_igemm_spec)
VKL_SPEC_LOCAL_X(0, lx) /* lanes along pixels: 8, lavapipe's SIMD width */
VKL_SPEC_U32(1, tm, 16) /* rows per invocation */
VKL_SPEC_U32(2, tn, 32) /* pixels per invocation, a multiple of 4 */
VKL_SPEC_U32(3, accumulate, 0) /* 1: out += result (backward-data only) */
VKL_SPEC_U32(4, vec4_out, 0)   /* 1: store 4 contiguous outputs at once */
VKL_SPEC_U32(5, b_direct, 0)   /* 1: b read as given (see below) */
VKL_SPEC_U32(6, win3, 0)       /* 1: S = 3 at unit b step, Wt % 4 == 0 */
VKL_SPEC_END(vkl_conv2d_igemm_spec)



#endif
