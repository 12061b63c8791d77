#version 450
// conv2d backward-data for few input channels at stride 1; see
// common/conv2d_bwd_small.h. Every loop but the one over k unrolls
// (specialization constants), so the tile's accumulators, the dy rows and
// the weights live in registers, indexed by constants.
#extension GL_EXT_control_flow_attributes : require
#include "conv2d_bwd_small.h"

layout(std430, binding = 0) readonly buffer DY { vec4 dy4[]; };
layout(std430, binding = 1) readonly buffer Wt { float wt[]; };
layout(std430, binding = 2) buffer DX { vec4 dx4[]; };

// dy columns of a tile: q = w0 + Q0 + j, j < tw + S - 1, with Q0 = pad_w - (S - 1);
// loaded as vec4s from the aligned column w0 + Q0 - A (A = Q0 mod 4, w0 % 4 == 0)
const int Q0 = int(pad_w) - int(S) + 1;
const uint A = uint(Q0 + 64) % 4u;
const uint NV = (A + tw + S - 1u + 3u) / 4u; // vec4s per dy row
const uint ROWS = th + R - 1u;               // dy rows per tile

void main() {
  uint g = gl_GlobalInvocationID.x;
  uint tiles = pc.tiles_w * pc.tiles_h;
  bool real = g < pc.N * tiles;
  g = min(g, pc.N * tiles - 1u); // the extra invocations compute a copy and store nothing
  uint n = g / tiles, rem = g - n * tiles;
  uint ty = rem / pc.tiles_w;
  uint h0 = ty * th, w0 = (rem - ty * pc.tiles_w) * tw;
  int qa = int(w0) + Q0 - int(A); // first loaded column (a multiple of 4)
  int p0 = int(h0) + int(pad_h) - int(R) + 1;

  float acc[C * th * tw];
  [[unroll]] for (uint i = 0u; i < C * th * tw; i++) acc[i] = 0.0;

  for (uint k = 0u; k < pc.K; k++) {
    float wv[C * R * S];
    [[unroll]] for (uint i = 0u; i < C * R * S; i++) wv[i] = wt[k * (C * R * S) + i];
    uint plane = (n * pc.K + k) * pc.P;
    [[unroll]] for (uint pr = 0u; pr < ROWS; pr++) {
      int p = p0 + int(pr);
      bool rok = p >= 0 && p < int(pc.P);
      uint rowv = (plane + uint(clamp(p, 0, int(pc.P) - 1))) * (pc.Q / 4u);
      float seg[NV * 4u];
      [[unroll]] for (uint v = 0u; v < NV; v++) {
        int q = qa + int(4u * v);
        bool ok = rok && q >= 0 && q < int(pc.Q); // whole vec4s: Q % 4 == 0
        vec4 d = dy4[rowv + uint(clamp(q, 0, int(pc.Q) - 4)) / 4u];
        d = ok ? d : vec4(0.0);
        seg[4u * v] = d.x, seg[4u * v + 1u] = d.y, seg[4u * v + 2u] = d.z, seg[4u * v + 3u] = d.w;
      }
      // dy row p feeds output row h = p - pad_h + r of the tile, for each r
      [[unroll]] for (uint r = 0u; r < R; r++) {
        int hl = int(pr) - int(R) + 1 + int(r);
        if (hl < 0 || hl >= int(th)) continue;
        [[unroll]] for (uint c = 0u; c < C; c++)
          [[unroll]] for (uint s = 0u; s < S; s++) {
            float wcs = wv[(c * R + r) * S + s];
            [[unroll]] for (uint x = 0u; x < tw; x++)
              acc[(c * th + uint(hl)) * tw + x] += wcs * seg[A + x + S - 1u - s];
          }
      }
    }
  }

  [[unroll]] for (uint c = 0u; c < C; c++)
    [[unroll]] for (uint hl = 0u; hl < th; hl++) {
      uint h = h0 + hl;
      [[unroll]] for (uint v = 0u; v < tw / 4u; v++) {
        uint w = w0 + 4u * v;
        if (real && h < pc.H && w < pc.W) {
          uint i = ((n * C + c) * pc.H + h) * (pc.W / 4u) + w / 4u;
          uint a = (c * th + hl) * tw + 4u * v;
          vec4 o = vec4(acc[a], acc[a + 1u], acc[a + 2u], acc[a + 3u]);
          if (pc.accumulate != 0u) o += dx4[i];
          dx4[i] = o;
        }
      }
    }
}
