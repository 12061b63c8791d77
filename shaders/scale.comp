#version 450
// y[i] = alpha * x[i], or y[i] += alpha * x[i] when accumulating. x and y
// may be the same range (in place). Accumulation is a branch, not
// y*beta: a NaN-poisoned y must not leak into a write.
#include "scale.h"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i >= pc.n) return;
  float v = pc.alpha * x[i];
  y[i] = pc.accumulate != 0u ? y[i] + v : v;
}
