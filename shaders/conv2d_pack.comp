#version 450
// Repacks a tensor into vec4 chunks with a zero border; see conv2d_pack.h.
// Out-of-range elements read a clamped in-range address and are replaced by
// zero with a select, so the loads stay branch-free.
#include "conv2d_pack.h"

layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { vec4 dst[]; };
layout(std430, binding = 2) readonly buffer Src4 { vec4 src4[]; }; // src again

void main() {
  uint x = gl_GlobalInvocationID.x, i1 = gl_GlobalInvocationID.y;
  uint z = gl_GlobalInvocationID.z;
  uint i0 = z / pc.B4, b4 = z - i0 * pc.B4;
  uint y1 = i1 - pc.o1; // wraps to huge when negative
  if (i1 >= pc.D1) return;
  if (vec4_src == 0u) {
    // one invocation per destination vec4: 4 scalar loads, 4 channels apart
    uint i2 = x;
    if (i2 >= pc.D2) return;
    uint y2 = i2 - pc.o2;
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
  } else {
    // s2 == 1 and rows of whole, aligned vec4s: invocation x reads source
    // columns 4 w4 .. 4 w4 + 3 of 4 channels as 4 vec4s and writes the 4
    // destination pixels they make (a 4x4 transpose), 1.4x less load work
    // than 16 scalar loads. w4 = x - lead runs from before the first source
    // column (the left border) to past the last (the right border).
    uint lead = (pc.o2 + 3u) / 4u;
    int w4 = int(x) - int(lead);
    bool inside = y1 < pc.n1 && w4 >= 0 && uint(w4) * 4u < pc.n2;
    uint row = i0 * pc.s0 + (y1 < pc.n1 ? y1 * pc.s1 : 0u);
    uint wc = inside ? uint(w4) : 0u;
    vec4 v[4];
    for (uint e = 0; e < 4u; e++) {
      uint b = b4 * 4u + e;
      v[e] = src4[(row + min(b, pc.nb - 1u) * pc.sb) / 4u + wc];
      v[e] = inside && b < pc.nb ? v[e] : vec4(0.0);
    }
    for (uint e = 0; e < 4u; e++) {
      int i2 = int(pc.o2) + w4 * 4 + int(e);
      if (i2 >= 0 && uint(i2) < pc.D2)
        dst[(((i0 * pc.D1) + i1) * pc.D2 + uint(i2)) * pc.B4 + b4] =
            vec4(v[0][e], v[1][e], v[2][e], v[3][e]);
    }
  }
}
