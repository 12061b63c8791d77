#version 450
// y = x > 0 ? x : 0 (so NaN maps to 0, like the reference). y may be the
// same range as x (in-place ReLU): each element is read and written by one
// invocation. Grid: see vec4_grid.h.
#include "relu_forward.h"
#include "vec4_grid.h"

layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

void main() {
  uint n4 = pc.n >> 2;
  for (uint k = 0; k < VKL_VEC4_PER_INVOCATION; k++) {
    uint i = vec4_grid_index(k);
    if (i < n4) {
      vec4 v = x4[i];
      y4[i] = mix(vec4(0.0), v, greaterThan(v, vec4(0.0)));
    }
  }
  uint t = vec4_grid_tail(pc.n);
  if (t < pc.n) {
    float v = x[t];
    y[t] = v > 0.0 ? v : 0.0;
  }
}
