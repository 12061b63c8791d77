#version 450
// Barlow Twins statistics, pass 1 of 2 of a merge: invocation g < 2d takes
// feature i = g % d of z1 (g < d) or z2 (g >= d) over the micro-batch's m
// samples, in a fixed serial order, on w = z - p (p the feature's pivot, set
// to the first sample when first = 1; see common/barlow_layout.h):
//   mb = w_0i + (1/m) sum_b (w_bi - w_0i)   (shifted by the micro-batch's first
//                                            sample too, for data that drifts
//                                            from the pivot)
//   q  = sum_b (w_bi - mb)^2                (two passes: no cancellation)
// and merges them into the statistics (Chan, Golub, LeVeque 1979):
//   delta = mb - mean_a, n = n_a + m, mean = mean_a + delta m / n,
//   M2 = M2_a + q + delta^2 n_a m / n.
// With first = 1, n_a = 0 and the old statistics are never read (they may be
// NaN): mean = mb, M2 = q, delta = 0. The micro-batch means and deltas go to
// the workspace for barlow_cross.comp, with n_a m / n and the new n
// (invocation 0). The count n itself is written by barlow_cross.comp: every
// invocation here reads the old one. Layout: common/barlow_layout.h.
#include "barlow_moments.h"

layout(std430, binding = 0) readonly buffer Z1 { float z1[]; };
layout(std430, binding = 1) readonly buffer Z2 { float z2[]; };
layout(std430, binding = 2) buffer Stats { float stats[]; };
layout(std430, binding = 3) writeonly buffer Work { float work[]; };

float load(uint side, uint at) {
  return side == 0u ? z1[at] : z2[at];
}

void main() {
  uint g = gl_GlobalInvocationID.x, d = pc.d, m = pc.m;
  if (g >= 2u * d) return;
  uint side = g / d, i = g - side * d;
  float nb = float(m);
  float na = pc.first != 0u ? 0.0 : stats[VKL_BARLOW_N];
  float n = na + nb;
  uint at_piv = (side == 0u ? VKL_BARLOW_PIV1(d) : VKL_BARLOW_PIV2(d)) + i;
  float p = pc.first != 0u ? load(side, i) : stats[at_piv];
  float w0 = load(side, i) - p, s = 0.0;
  for (uint b = 1u; b < m; b++) s += (load(side, b * d + i) - p) - w0;
  float mb = w0 + s / nb;
  float q = 0.0;
  for (uint b = 0u; b < m; b++) {
    float t = (load(side, b * d + i) - p) - mb;
    q += t * t;
  }
  uint at_mean = (side == 0u ? VKL_BARLOW_MEAN1(d) : VKL_BARLOW_MEAN2(d)) + i;
  uint at_m2 = (side == 0u ? VKL_BARLOW_M2_1(d) : VKL_BARLOW_M2_2(d)) + i;
  float mean = mb, m2 = q, delta = 0.0;
  if (pc.first == 0u) {
    float ma = stats[at_mean];
    delta = mb - ma;
    mean = ma + delta * (nb / n);
    m2 = stats[at_m2] + q + delta * delta * (na * nb / n);
  }
  if (pc.first != 0u) stats[at_piv] = p;
  stats[at_mean] = mean;
  stats[at_m2] = m2;
  work[(side == 0u ? VKL_BARLOW_WS_MB1(d) : VKL_BARLOW_WS_MB2(d)) + i] = mb;
  work[(side == 0u ? VKL_BARLOW_WS_DL1(d) : VKL_BARLOW_WS_DL2(d)) + i] = delta;
  if (g == 0u) {
    work[VKL_BARLOW_WS_COEF] = na * nb / n;
    work[VKL_BARLOW_WS_N] = n;
    if (pc.first != 0u) stats[1] = stats[2] = stats[3] = 0.0; // defined words
  }
}
