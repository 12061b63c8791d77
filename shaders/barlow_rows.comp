#version 450
#extension GL_EXT_control_flow_attributes : require
// Barlow Twins finalize, pass 1 of 2: workgroup i reads row i of X (d,d) and,
// with s_k = sqrt(M2_k / n + eps) (the biased variance, as BatchNorm1d in
// training mode),
//   C_ij = X_ij / (n s1_i s2_j),
//   G_ij = dL/dC_ij = 2 (C_ii - 1) on the diagonal, 2 lambda C_ij off it,
// writes r1_i = (1/n) sum_j G_ij C_ij, 1/s1_i and 1/s2_i to the statistics and
// row i's loss terms (C_ii - 1)^2 and sum_{j != i} C_ij^2 to the workspace.
// X is only read: barlow_cols.comp, after a barrier, replaces it with G. Each
// invocation sums columns j = t, t + WG, ... in turn, then the workgroup adds
// the invocations in a fixed order (common/group_sum.h), so the sums are
// bit-identical run to run. Layout: common/barlow_layout.h.
#include "barlow_final.h"

layout(std430, binding = 0) buffer Stats { float stats[]; };
layout(std430, binding = 1) writeonly buffer Work { float work[]; };

const uint WG = gl_WorkGroupSize.x;
shared vec3 part[WG];
#define GROUP_SUM_T vec3
#include "group_sum.h"

void main() {
  uint t = gl_LocalInvocationID.x, i = gl_WorkGroupID.x, d = pc.d;
  float n = stats[VKL_BARLOW_N];
  float is1 = inversesqrt(stats[VKL_BARLOW_M2_1(d) + i] / n + pc.eps);
  float ri = is1 / n; // 1 / (n s1_i)
  vec3 acc = vec3(0.0); // (sum_j G_ij C_ij, (C_ii - 1)^2, sum_{j != i} C_ij^2)
  for (uint j = t; j < d; j += WG) {
    float is2 = inversesqrt(stats[VKL_BARLOW_M2_2(d) + j] / n + pc.eps);
    float c = stats[VKL_BARLOW_X(d) + i * d + j] * ri * is2;
    if (j == i) {
      float e = c - 1.0;
      acc += vec3(2.0 * e * c, e * e, 0.0);
    } else {
      acc += vec3(2.0 * pc.lambda * c * c, 0.0, c * c);
    }
  }
  acc = group_sum(t, acc);
  if (t == 0u) {
    stats[VKL_BARLOW_R1(d) + i] = acc.x / n;
    stats[VKL_BARLOW_IS1(d) + i] = is1;
    stats[VKL_BARLOW_IS2(d) + i] = inversesqrt(stats[VKL_BARLOW_M2_2(d) + i] / n + pc.eps);
    work[VKL_BARLOW_WS_ON(d) + i] = acc.y;
    work[VKL_BARLOW_WS_OFF(d) + i] = acc.z;
  }
}
