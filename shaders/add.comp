#version 450
// y[i] = a[i] + b[i]: the residual join. y may alias a or b.
#include "add.h"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < pc.n) y[i] = a[i] + b[i];
}
