#version 450
// Global average pooling: y[n,c] = (sum over h,w of x[n,c,h,w]) / (H W).
// Each invocation sums VKL_GLOBAL_AVGPOOL_PLANES whole planes in a fixed
// order (four interleaved partial sums when read as vec4s), so results are
// deterministic; hw is small where this layer is used (1 to 64 in ResNets).
// The 4 (VKL_GLOBAL_AVGPOOL_PLANES) means are written as one vec4 unless
// the last group is partial.
#extension GL_EXT_control_flow_attributes : require
#include "global_avgpool_forward.h"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };

void main() {
  uint c0 = gl_GlobalInvocationID.x * VKL_GLOBAL_AVGPOOL_PLANES;
  if (c0 >= pc.planes) return;
  vec4 mean = vec4(0.0);
  [[unroll]] for (uint k = 0; k < VKL_GLOBAL_AVGPOOL_PLANES; k++) {
    uint c = c0 + k;
    if (c >= pc.planes) break;
    float sum;
    if (vec_x != 0u) {
      vec4 s4 = vec4(0.0);
      uint base = c * (pc.hw >> 2);
      for (uint i = 0; i < (pc.hw >> 2); i++) s4 += x4[base + i];
      sum = (s4.x + s4.y) + (s4.z + s4.w);
    } else {
      sum = 0.0;
      uint base = c * pc.hw;
      for (uint i = 0; i < pc.hw; i++) sum += x[base + i];
    }
    mean[k] = sum / float(pc.hw);
  }
  if (c0 + VKL_GLOBAL_AVGPOOL_PLANES <= pc.planes) {
    y4[gl_GlobalInvocationID.x] = mean;
  } else {
    [[unroll]] for (uint k = 0; k < VKL_GLOBAL_AVGPOOL_PLANES; k++)
      if (c0 + k < pc.planes) y[c0 + k] = mean[k];
  }
}
