#version 450
// y[i] = value. One invocation per element; grids beyond the per-dimension
// group limit are split by the runtime with a dispatch base, which
// gl_GlobalInvocationID already includes.
#include "fill.h"

layout(std430, binding = 0) writeonly buffer Y { float y[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < pc.n) y[i] = pc.value;
}
