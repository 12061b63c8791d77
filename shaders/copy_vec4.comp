#version 450
// y[i] = x[i] over vec4 elements: the memory-bandwidth baseline.
#include "copy_vec4.h"

layout(std430, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < pc.n4) y[i] = x[i];
}
