#version 450
// Sums the split partials of conv2d backward-weight (GPU geometry) in a
// fixed order and writes dw in OIHW, and dbias; see conv2d_wreduce_flat.h.
#include "conv2d_wreduce_flat.h"
#include "fastdiv.h"

layout(std430, binding = 0) readonly buffer Part { vec4 part4[]; };
layout(std430, binding = 1) buffer Dw { float dw[]; };
layout(std430, binding = 2) buffer Dbias { float dbias[]; };

void main() {
  uint i = gl_GlobalInvocationID.x;
  vec4 s = vec4(0.0);
  // a branch, not a multiply by 0: a NaN in dw must not leak into a write
  if (i < pc.n4) {
    uint kt = fastdiv(i, pc.ch_mul, pc.ch_shr); // k * RS + tap
    uint c4 = i - kt * pc.ch;
    uint k = fastdiv(kt, pc.rs_mul, pc.rs_shr), tap = kt - k * pc.RS;
    for (uint z = 0; z < pc.splits; z++) s += part4[z * pc.n4 + i];
    uint dst = (k * pc.C + 4u * c4) * pc.RS + tap;
    for (uint e = 0; e < 4u; e++) {
      if (4u * c4 + e < pc.C) {
        uint o = dst + e * pc.RS;
        dw[o] = pc.accumulate != 0u ? dw[o] + s[e] : s[e];
      }
    }
  } else if (pc.with_bias != 0u && i < pc.n4 + pc.kch) {
    uint k4 = i - pc.n4;
    for (uint z = 0; z < pc.splits; z++) s += part4[pc.bias_base4 + z * pc.kch + k4];
    for (uint e = 0; e < 4u; e++) {
      uint k = 4u * k4 + e;
      if (k < pc.K) dbias[k] = pc.accumulate != 0u ? dbias[k] + s[e] : s[e];
    }
  }
}
