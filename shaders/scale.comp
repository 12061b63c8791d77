#version 450
// y[i] = alpha * x[i]. x and y may be the same range (in place).
#include "scale.h"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < pc.n) y[i] = pc.alpha * x[i];
}
