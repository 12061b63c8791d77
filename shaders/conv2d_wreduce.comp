#version 450
// Sums the split partials of conv2d backward-weight in a fixed order; see
// conv2d_wreduce.h.
#include "conv2d_wreduce.h"

layout(std430, binding = 0) readonly buffer Part { float part[]; };
layout(std430, binding = 1) buffer Dw { float dw[]; };
layout(std430, binding = 2) buffer Dbias { float dbias[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= pc.n + pc.nbias) return;
  float s = 0.0;
  for (uint z = 0; z < pc.splits; z++) s += part[z * pc.split_stride + i];
  // a branch, not a multiply by 0: a NaN in dw must not leak into a write
  if (i < pc.n) {
    dw[i] = pc.accumulate != 0u ? dw[i] + s : s;
  } else {
    uint k = i - pc.n;
    dbias[k] = pc.accumulate != 0u ? dbias[k] + s : s;
  }
}
