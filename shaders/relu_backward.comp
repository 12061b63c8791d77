#version 450
// 1. dx = dy * [y > 0], from the forward OUTPUT y (so an in-place forward
//    can be differentiated); the gradient at 0 is 0. accumulate (a spec
//    constant, so the write form never reads dx) adds into dx. dx may be
//    the same range as dy. Grid: see vec4_grid.h.
#include "relu_backward.h"
#include "vec4_grid.h"

layout(std430, binding = 0) readonly buffer DY4 { vec4 dy4[]; };
layout(std430, binding = 1) readonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) buffer DX4 { vec4 dx4[]; };
layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };

void main() {
  uint n4 = pc.n >> 2;
  for (uint k = 0; k < VKL_VEC4_PER_INVOCATION; k++) {
    uint i = vec4_grid_index(k);
    if (i < n4) {
      vec4 g = mix(vec4(0.0), dy4[i], greaterThan(y4[i], vec4(0.0)));
      if (accumulate != 0u) g += dx4[i];
      dx4[i] = g;
    }
  }
  uint t = vec4_grid_tail(pc.n);
  if (t < pc.n) {
    float g = y[t] > 0.0 ? dy[t] : 0.0;
    if (accumulate != 0u) g += dx[t];
    dx[t] = g;
  }
}
