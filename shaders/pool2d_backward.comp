#version 450
// The gradient of max- or average-pooling (see pool2d_forward.comp), as a
// gather: each input element sums the contributions of the windows that
// hold it, so overlapping windows (stride < window) need no atomics and the
// order of the sum is fixed.
//   1. avg: dx[h,w] = sum over windows (p,q) holding (h,w) of dy[p,q] / (R S)
//   1. max: dx[h,w] = sum over windows (p,q) whose argmax is (h,w) of
//      dy[p,q]; argmax holds the forward's r * S + s.
// accumulate adds into dx. Each invocation computes th x tw input gradients
// of one plane. th is a multiple of SH and tw of SW, so the windows over a
// tile start at a fixed offset from h0 / SH and w0 / SW and every (window,
// tap) -> element pairing is known at pipeline creation; the loops are
// unrolled over it. dy rows are read as vec4s when Q % 4 == 0 (tw / SW is a
// multiple of 4, and `lead` extra columns align the first read).
#extension GL_EXT_control_flow_attributes : require
#include "fastdiv.h"
#include "pool2d_backward.h"

layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 0) readonly buffer DY4 { vec4 dy4[]; };
layout(std430, binding = 1) readonly buffer A { uint am[]; };
layout(std430, binding = 1) readonly buffer A4 { uvec4 am4[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };
layout(std430, binding = 2) buffer DX4 { vec4 dx4[]; };

const uint KP = (th - 1u + PH) / SH + p_back + 1u;  // window rows over a tile
const uint KQ = (tw - 1u + PW) / SW + q_back + 1u;  // window columns over a tile
const uint SLOTS = (lead + KQ + 3u) / 4u;           // dy columns read, in groups of 4
const uint NONE = 0xffffffffu;                      // matches no tap

void main() {
  uint t = gl_GlobalInvocationID.x;
  if (t >= pc.tiles) return;
  uint row_tile = fastdiv(t, pc.ta_mul, pc.ta_shr);
  uint plane = fastdiv(row_tile, pc.tb_mul, pc.tb_shr);
  uint h0 = (row_tile - plane * pc.tb) * th;
  uint w0 = (t - row_tile * pc.ta) * tw;
  int p_first = int(h0 / SH) - int(p_back);
  int c0 = int(w0 / SW) - int(q_back) - int(lead);  // first dy column read

  float acc[th * tw];
  [[unroll]] for (uint e = 0; e < th * tw; e++) acc[e] = 0.0;

  [[unroll]] for (uint i = 0; i < KP; i++) {
    int p = p_first + int(i);
    bool row_real = p >= 0 && p < int(pc.P);
    int row_base = (int(plane * pc.P) + p) * int(pc.Q);
    float g[SLOTS * 4];
    uint sel[SLOTS * 4];
    [[unroll]] for (uint k = 0; k < SLOTS; k++) {
      int c = c0 + int(4u * k);
      if (vec_dy != 0u) {
        // Q % 4 == 0 and c % 4 == 0: all 4 windows exist or none does
        vec4 gq = vec4(0.0);
        uvec4 sq = uvec4(NONE);
        if (row_real && c >= 0 && c < int(pc.Q)) {
          gq = dy4[uint(row_base + c) >> 2];
          if (is_avg == 0u) sq = am4[uint(row_base + c) >> 2];
        }
        [[unroll]] for (uint e = 0; e < 4u; e++) {
          g[4u * k + e] = gq[e];
          sel[4u * k + e] = sq[e];
        }
      } else {
        [[unroll]] for (uint e = 0; e < 4u; e++) {
          int ce = c + int(e);
          float gq = 0.0;
          uint sq = NONE;
          if (row_real && ce >= 0 && ce < int(pc.Q)) {
            gq = dy[uint(row_base + ce)];
            if (is_avg == 0u) sq = am[uint(row_base + ce)];
          }
          g[4u * k + e] = gq;
          sel[4u * k + e] = sq;
        }
      }
    }
    // tap (r,s) of window (i,j) is tile element (a,b) =
    // (i SH + r - PH - p_back SH, j SW + s - PW - q_back SW)
    [[unroll]] for (uint r = 0; r < R; r++) {
      int a = int(i * SH + r) - int(PH + p_back * SH);
      if (a < 0 || a >= int(th)) continue;
      [[unroll]] for (uint j = 0; j < KQ; j++) {
        [[unroll]] for (uint s = 0; s < S; s++) {
          int b = int(j * SW + s) - int(PW + q_back * SW);
          if (b < 0 || b >= int(tw)) continue;
          uint col = lead + j;
          uint e = uint(a) * tw + uint(b);
          if (is_avg != 0u) {
            acc[e] += g[col];
          } else {
            bool hit = sel[col] == r * S + s;
            acc[e] += mix(0.0, g[col], hit);  // a select, not a branch
          }
        }
      }
    }
  }

  [[unroll]] for (uint a = 0; a < th; a++) {
    uint h = h0 + a;
    if (h >= pc.H) continue;
    uint base = (plane * pc.H + h) * pc.W + w0;
    [[unroll]] for (uint b4 = 0; b4 < tw / 4u; b4++) {
      uint e = a * tw + 4u * b4;
      vec4 g4 = vec4(acc[e], acc[e + 1u], acc[e + 2u], acc[e + 3u]);
      if (is_avg != 0u) g4 /= float(R * S);
      if (vec_dx != 0u) {
        // W % 4 == 0: the 4 elements are all inside the row or all past it
        if (w0 + 4u * b4 < pc.W) {
          if (accumulate != 0u) g4 += dx4[(base >> 2) + b4];
          dx4[(base >> 2) + b4] = g4;
        }
      } else {
        [[unroll]] for (uint f = 0; f < 4u; f++) {
          if (w0 + 4u * b4 + f < pc.W) {
            float gf = g4[f];
            if (accumulate != 0u) gf += dx[base + 4u * b4 + f];
            dx[base + 4u * b4 + f] = gf;
          }
        }
      }
    }
  }
}
