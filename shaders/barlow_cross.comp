#version 450
#extension GL_EXT_control_flow_attributes : require
// Barlow Twins statistics, pass 2 of 2 of a merge: the centred cross-product
//   X_ij = X_a,ij + sum_b (w1_bi - mb1_i)(w2_bj - mb2_j) + c dl1_i dl2_j,
// w = z - p the pivoted embeddings (common/barlow_layout.h),
// c = n_a m / n, the cross term of Chan et al.'s merge (X_a is not read when
// first = 1; c and dl are 0 then). mb, dl and c come from barlow_moments.comp
// through the workspace. Each invocation owns a 4 x 4 block of X (rows i along
// gl_GlobalInvocationID.y, columns j along .x) and sums the micro-batch in
// order b = 0..m-1, so X is bit-identical run to run. Invocation (0,0) also
// writes the new count n. Layout: common/barlow_layout.h.
#include "barlow_cross.h"

layout(std430, binding = 0) readonly buffer Z1 { float z1[]; };
layout(std430, binding = 1) readonly buffer Z2 { float z2[]; };
layout(std430, binding = 2) buffer Stats { float stats[]; };
layout(std430, binding = 3) readonly buffer Work { float work[]; };

const uint BK = VKL_BARLOW_BLOCK;

void main() {
  uint d = pc.d, m = pc.m;
  uint i0 = gl_GlobalInvocationID.y * BK, j0 = gl_GlobalInvocationID.x * BK;
  if (gl_GlobalInvocationID.x == 0u && gl_GlobalInvocationID.y == 0u)
    stats[VKL_BARLOW_N] = work[VKL_BARLOW_WS_N];
  if (i0 >= d || j0 >= d) return;
  // clamped indices: out-of-range lanes compute a copy of the last row or
  // column and never store it
  uint ri[BK], cj[BK];
  float mi[BK], mj[BK], pi[BK], pj[BK];
  [[unroll]] for (uint t = 0u; t < BK; t++) {
    ri[t] = min(i0 + t, d - 1u);
    cj[t] = min(j0 + t, d - 1u);
    mi[t] = work[VKL_BARLOW_WS_MB1(d) + ri[t]];
    mj[t] = work[VKL_BARLOW_WS_MB2(d) + cj[t]];
    pi[t] = stats[VKL_BARLOW_PIV1(d) + ri[t]];
    pj[t] = stats[VKL_BARLOW_PIV2(d) + cj[t]];
  }
  float acc[BK][BK];
  [[unroll]] for (uint a = 0u; a < BK; a++)
    [[unroll]] for (uint c = 0u; c < BK; c++) acc[a][c] = 0.0;
  for (uint b = 0u; b < m; b++) {
    float u[BK], v[BK];
    [[unroll]] for (uint t = 0u; t < BK; t++) {
      u[t] = (z1[b * d + ri[t]] - pi[t]) - mi[t];
      v[t] = (z2[b * d + cj[t]] - pj[t]) - mj[t];
    }
    [[unroll]] for (uint a = 0u; a < BK; a++)
      [[unroll]] for (uint c = 0u; c < BK; c++) acc[a][c] += u[a] * v[c];
  }
  float coef = work[VKL_BARLOW_WS_COEF];
  [[unroll]] for (uint a = 0u; a < BK; a++) {
    if (i0 + a >= d) continue;
    float di = work[VKL_BARLOW_WS_DL1(d) + ri[a]];
    [[unroll]] for (uint c = 0u; c < BK; c++) {
      if (j0 + c >= d) continue;
      uint at = VKL_BARLOW_X(d) + ri[a] * d + cj[c];
      float x = acc[a][c] + coef * di * work[VKL_BARLOW_WS_DL2(d) + cj[c]];
      if (pc.first == 0u) x += stats[at];
      stats[at] = x;
    }
  }
}
