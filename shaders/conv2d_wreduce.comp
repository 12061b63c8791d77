#version 450
// Sums the split partials of conv2d backward-weight in a fixed order and
// writes dw in OIHW (and dbias); see conv2d_wreduce.h. Invocation
// (c4, tap, k) sums one vec4 of 4 channels: the loads walk the partials'
// (k, tap, c) order, and the 4 stores, R*S floats apart, land in the few
// cache lines of one k. A 3-D grid: lavapipe divides lane by lane. Slice
// k = K holds dbias: invocation (k4, 0, K) sums dbias[4 k4 .. 4 k4 + 3].
#include "conv2d_wreduce.h"

layout(std430, binding = 0) readonly buffer Part { vec4 part4[]; };
layout(std430, binding = 1) buffer Dw { float dw[]; };
layout(std430, binding = 2) buffer Dbias { float dbias[]; };

void main() {
  uint c4 = gl_GlobalInvocationID.x, tap = gl_GlobalInvocationID.y, k = gl_GlobalInvocationID.z;
  vec4 s = vec4(0.0);
  // a branch, not a multiply by 0: a NaN in dw must not leak into a write
  if (k < pc.K) {
    if (4u * c4 >= pc.C) return;
    uint src = (k * pc.RS + tap) * (pc.C4 / 4u) + c4;
    for (uint z = 0; z < pc.splits; z++) s += part4[z * (pc.split_stride / 4u) + src];
    uint dst = (k * pc.C + 4u * c4) * pc.RS + tap;
    for (uint e = 0; e < 4u; e++) {
      if (4u * c4 + e < pc.C) {
        if (pc.accumulate != 0u)
          dw[dst + e * pc.RS] += s[e];
        else
          dw[dst + e * pc.RS] = s[e];
      }
    }
  } else {
    if (pc.with_bias == 0u || tap != 0u || 4u * c4 >= pc.K) return;
    for (uint z = 0; z < pc.splits; z++) s += part4[(pc.bias_base + z * pc.K4) / 4u + c4];
    for (uint e = 0; e < 4u; e++) {
      uint kb = 4u * c4 + e;
      if (kb < pc.K) {
        if (pc.accumulate != 0u)
          dbias[kb] += s[e];
        else
          dbias[kb] = s[e];
      }
    }
  }
}
