#version 450
// y[i] = alpha * x[i], or y[i] += alpha * x[i] when accumulating. x and y
// may be the same range (in place). Accumulation is a branch, not
// y*beta: a NaN-poisoned y must not leak into a write, and a written y is
// not read. Grid: see vec4_grid.h.
#include "scale.h"
#include "vec4_grid.h"

layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) buffer Y4 { vec4 y4[]; };
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };

void main() {
  uint n4 = pc.n >> 2;
  for (uint k = 0; k < VKL_VEC4_PER_INVOCATION; k++) {
    uint i = vec4_grid_index(k);
    if (i < n4) {
      vec4 v = pc.alpha * x4[i];
      if (pc.accumulate != 0u) v += y4[i];
      y4[i] = v;
    }
  }
  uint t = vec4_grid_tail(pc.n);
  if (t < pc.n) {
    float v = pc.alpha * x[t];
    if (pc.accumulate != 0u) v += y[t];
    y[t] = v;
  }
}
