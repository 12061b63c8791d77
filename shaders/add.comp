#version 450
// y[i] = a[i] + b[i]: the residual join. y may alias a or b (each element is
// read and written by the same invocation). Grid: see vec4_grid.h.
#include "add.h"
#include "vec4_grid.h"

layout(std430, binding = 0) readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

void main() {
  uint n4 = pc.n >> 2;
  for (uint k = 0; k < VKL_VEC4_PER_INVOCATION; k++) {
    uint i = vec4_grid_index(k);
    if (i < n4) y4[i] = a4[i] + b4[i];
  }
  uint t = vec4_grid_tail(pc.n);
  if (t < pc.n) y[t] = a[t] + b[t];
}
