#version 450
// y[i] = value. Grid: see vec4_grid.h; grids beyond the per-dimension group
// limit are split by the runtime with a dispatch base, which gl_WorkGroupID
// already includes.
#include "fill.h"
#include "vec4_grid.h"

layout(std430, binding = 0) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 0) writeonly buffer Y { float y[]; };

void main() {
  uint n4 = pc.n >> 2;
  for (uint k = 0; k < VKL_VEC4_PER_INVOCATION; k++) {
    uint i = vec4_grid_index(k);
    if (i < n4) y4[i] = vec4(pc.value);
  }
  uint t = vec4_grid_tail(pc.n);
  if (t < pc.n) y[t] = pc.value;
}
