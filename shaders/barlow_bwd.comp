#version 450
#extension GL_EXT_control_flow_attributes : require
// Barlow Twins per-sample gradient of one micro-batch, from the finalized
// statistics (see ops/barlow.h for the derivation):
//   dz1_bi = scale (1/s1_i) [ (1/n) sum_j G_ij zn2_bj - zn1_bi r1_i ]
//   dz2_bj = scale (1/s2_j) [ (1/n) sum_i G_ij zn1_bi - zn2_bj r2_j ]
// zn = ((z - p) - mean) / s with the whole-batch mean (less the pivot p,
// common/barlow_layout.h) and s. gl_WorkGroupID.z picks
// the side: 0 writes dz1 (the product walks row i of G), 1 writes dz2 (column
// j of G). Each invocation owns a 4 x 4 block of the output (samples along
// gl_GlobalInvocationID.y, features along .x), normalizes the other view on
// the fly and sums the d features in order, so the result is bit-identical
// run to run. accumulate = 1 adds into the output. Layout:
// common/barlow_layout.h.
#include "barlow_bwd.h"

layout(std430, binding = 0) readonly buffer Z1 { float z1[]; };
layout(std430, binding = 1) readonly buffer Z2 { float z2[]; };
layout(std430, binding = 2) readonly buffer Stats { float stats[]; };
layout(std430, binding = 3) buffer Dz1 { float dz1[]; };
layout(std430, binding = 4) buffer Dz2 { float dz2[]; };

const uint BK = VKL_BARLOW_BLOCK;

// sample b, feature k of view `side` (0: z1, 1: z2)
float zval(uint side, uint at) {
  return side == 0u ? z1[at] : z2[at];
}

void main() {
  uint d = pc.d, m = pc.m, side = gl_WorkGroupID.z;
  uint b0 = gl_GlobalInvocationID.y * BK, c0 = gl_GlobalInvocationID.x * BK;
  if (b0 >= m || c0 >= d) return;
  uint other = 1u - side;
  // the other view's statistics, normalizing the product's operand
  uint mean_o = side == 0u ? VKL_BARLOW_MEAN2(d) : VKL_BARLOW_MEAN1(d);
  uint is_o = side == 0u ? VKL_BARLOW_IS2(d) : VKL_BARLOW_IS1(d);
  uint piv_o = side == 0u ? VKL_BARLOW_PIV2(d) : VKL_BARLOW_PIV1(d);
  uint rb[BK], cc[BK];
  [[unroll]] for (uint t = 0u; t < BK; t++) {
    rb[t] = min(b0 + t, m - 1u);
    cc[t] = min(c0 + t, d - 1u);
  }
  // G's element for output feature c and summed feature k: G_ck for dz1
  // (stride 1 along k), G_kc for dz2 (stride d along k)
  uint g_c = side == 0u ? d : 1u, g_k = side == 0u ? 1u : d;
  float acc[BK][BK];
  [[unroll]] for (uint a = 0u; a < BK; a++)
    [[unroll]] for (uint c = 0u; c < BK; c++) acc[a][c] = 0.0;
  for (uint k = 0u; k < d; k++) {
    float pk = stats[piv_o + k], mk = stats[mean_o + k], sk = stats[is_o + k];
    float u[BK], g[BK];
    [[unroll]] for (uint t = 0u; t < BK; t++) {
      u[t] = ((zval(other, rb[t] * d + k) - pk) - mk) * sk;
      g[t] = stats[VKL_BARLOW_X(d) + cc[t] * g_c + k * g_k];
    }
    [[unroll]] for (uint a = 0u; a < BK; a++)
      [[unroll]] for (uint c = 0u; c < BK; c++) acc[a][c] += u[a] * g[c];
  }
  float n = stats[VKL_BARLOW_N];
  uint mean_s = side == 0u ? VKL_BARLOW_MEAN1(d) : VKL_BARLOW_MEAN2(d);
  uint is_s = side == 0u ? VKL_BARLOW_IS1(d) : VKL_BARLOW_IS2(d);
  uint r_s = side == 0u ? VKL_BARLOW_R1(d) : VKL_BARLOW_R2(d);
  uint piv_s = side == 0u ? VKL_BARLOW_PIV1(d) : VKL_BARLOW_PIV2(d);
  [[unroll]] for (uint c = 0u; c < BK; c++) {
    if (c0 + c >= d) continue;
    uint f = cc[c];
    float pf = stats[piv_s + f], mf = stats[mean_s + f];
    float sf = stats[is_s + f], rf = stats[r_s + f];
    [[unroll]] for (uint a = 0u; a < BK; a++) {
      if (b0 + a >= m) continue;
      uint at = rb[a] * d + f;
      float zn = ((zval(side, at) - pf) - mf) * sf;
      float v = pc.scale * sf * (acc[a][c] / n - zn * rf);
      if (side == 0u) {
        dz1[at] = pc.accumulate != 0u ? dz1[at] + v : v;
      } else {
        dz2[at] = pc.accumulate != 0u ? dz2[at] + v : v;
      }
    }
  }
}
