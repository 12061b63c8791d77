#version 450
// 1. dx[n,c,h,w] = dy[n,c] / (H W): every element has the same weight in
//    the mean. accumulate adds into dx.
#extension GL_EXT_control_flow_attributes : require
#include "global_avgpool_backward.h"

layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) buffer DX { float dx[]; };
layout(std430, binding = 1) buffer DX4 { vec4 dx4[]; };

void main() {
  [[unroll]] for (uint k = 0; k < VKL_GLOBAL_AVGPOOL_PLANES; k++) {
    uint c = gl_GlobalInvocationID.x * VKL_GLOBAL_AVGPOOL_PLANES + k;
    if (c >= pc.planes) break;
    float g = dy[c] / float(pc.hw);
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
