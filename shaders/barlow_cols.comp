#version 450
#extension GL_EXT_control_flow_attributes : require
// Barlow Twins finalize, pass 2 of 2 (after barlow_rows.comp): invocation j
// walks column j of X in order i = 0..d-1, computes C_ij as barlow_rows.comp
// did (from its 1/s1, 1/s2), accumulates r2_j = (1/n) sum_i G_ij C_ij and
// overwrites X_ij with G_ij: each element is read and written by its own
// invocation, so X, C and G share one buffer. Workgroup 0 also adds the rows'
// loss terms in a fixed order (each invocation rows t, t + WG, ... in turn,
// then common/group_sum.h): loss[0] = on + lambda off, loss[1] = on =
// sum_i (C_ii - 1)^2, loss[2] = off = sum_{i != j} C_ij^2, bit-identical run to
// run. Layout: common/barlow_layout.h.
#include "barlow_final.h"

layout(std430, binding = 0) buffer Stats { float stats[]; };
layout(std430, binding = 1) readonly buffer Work { float work[]; };
layout(std430, binding = 2) writeonly buffer Loss { float loss[]; };

const uint WG = gl_WorkGroupSize.x;
shared vec2 part[WG];
#define GROUP_SUM_T vec2
#include "group_sum.h"

void main() {
  uint t = gl_LocalInvocationID.x, j = gl_GlobalInvocationID.x, d = pc.d;
  if (j < d) {
    float n = stats[VKL_BARLOW_N];
    float is2 = stats[VKL_BARLOW_IS2(d) + j];
    float r = 0.0;
    for (uint i = 0u; i < d; i++) {
      uint at = VKL_BARLOW_X(d) + i * d + j;
      float c = stats[at] * (stats[VKL_BARLOW_IS1(d) + i] / n) * is2;
      float g = i == j ? 2.0 * (c - 1.0) : 2.0 * pc.lambda * c;
      r += g * c;
      stats[at] = g;
    }
    stats[VKL_BARLOW_R2(d) + j] = r / n;
  }
  // the loss: workgroup 0 as a whole (uniform control flow for its barriers)
  if (gl_WorkGroupID.x == 0u) {
    vec2 acc = vec2(0.0);
    for (uint i = t; i < d; i += WG)
      acc += vec2(work[VKL_BARLOW_WS_ON(d) + i], work[VKL_BARLOW_WS_OFF(d) + i]);
    acc = group_sum(t, acc);
    if (t == 0u) {
      loss[0] = acc.x + pc.lambda * acc.y;
      loss[1] = acc.x;
      loss[2] = acc.y;
    }
  }
}
