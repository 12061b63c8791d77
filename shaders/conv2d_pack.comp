#version 450
// Repacks a tensor into vec4 chunks with a zero border; see conv2d_pack.h.
// Out-of-range elements read a clamped in-range address and are replaced by
// zero with a select, so the loads stay branch-free.
#include "conv2d_pack.h"

layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { vec4 dst[]; };

void main() {
  uint i2 = gl_GlobalInvocationID.x, i1 = gl_GlobalInvocationID.y;
  uint z = gl_GlobalInvocationID.z;
  if (i2 >= pc.D2 || i1 >= pc.D1) return;
  uint i0 = z / pc.B4, b4 = z - i0 * pc.B4;
  uint y1 = i1 - pc.o1, y2 = i2 - pc.o2; // wrap to huge when negative
  bool inside = y1 < pc.n1 && y2 < pc.n2;
  uint base = i0 * pc.s0 + (inside ? y1 * pc.s1 + y2 * pc.s2 : 0u);
  vec4 v;
  for (uint e = 0; e < 4u; e++) {
    uint b = b4 * 4u + e;
    bool ok = inside && b < pc.nb;
    float f = src[base + min(b, pc.nb - 1u) * pc.sb];
    v[e] = ok ? f : 0.0;
  }
  dst[(((i0 * pc.D1) + i1) * pc.D2 + i2) * pc.B4 + b4] = v;
}
