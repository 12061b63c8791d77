#version 450
// 1. dx[n,c,h,w] = dy[n,c] / (H W): every element has the same weight in
//    the mean. accumulate adds into dx. Each invocation writes
//    VKL_GLOBAL_AVGPOOL_PLANES (4) whole planes, reading their dy as one
//    vec4 unless the last group is partial.
#extension GL_EXT_control_flow_attributes : require
#include "global_avgpool_backward.h"

layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 0) readonly buffer DY4 { vec4 dy4[]; };
layout(std430, binding = 1) buffer DX { float dx[]; };
layout(std430, binding = 1) buffer DX4 { vec4 dx4[]; };

void main() {
  uint c0 = gl_GlobalInvocationID.x * VKL_GLOBAL_AVGPOOL_PLANES;
  if (c0 >= pc.planes) return;
  vec4 g4;
  if (c0 + VKL_GLOBAL_AVGPOOL_PLANES <= pc.planes) {
    g4 = dy4[gl_GlobalInvocationID.x];
  } else {
    g4 = vec4(0.0);
    [[unroll]] for (uint k = 0; k < VKL_GLOBAL_AVGPOOL_PLANES; k++)
      if (c0 + k < pc.planes) g4[k] = dy[c0 + k];
  }
  g4 /= float(pc.hw);
  [[unroll]] for (uint k = 0; k < VKL_GLOBAL_AVGPOOL_PLANES; k++) {
    uint c = c0 + k;
    if (c >= pc.planes) break;
    float g = g4[k];
    if (vec_dx != 0u) {
      uint base = c * (pc.hw >> 2);
      for (uint i = 0; i < (pc.hw >> 2); i++) {
        vec4 v = vec4(g);
        if (accumulate != 0u) v += dx4[base + i];
        dx4[base + i] = v;
      }
    } else {
      uint base = c * pc.hw;
      for (uint i = 0; i < pc.hw; i++) {
        float v = g;
        if (accumulate != 0u) v += dx[base + i];
        dx[base + i] = v;
      }
    }
  }
}
