#version 450
// Max- or average-pooling, x (N,C,H,W) -> y (N,C,P,Q), window R x S,
// strides SH SW, paddings PH PW (see src/ops/pool.h for the math).
//   max: y = the first maximum of the window's real elements in scan order
//        (r outer, s inner; padding never wins), and argmax = r * S + s of
//        that element when write_argmax is set (the backward reads it).
//   avg: y = (sum of the window's real elements) / (R S): padding counts as
//        zeros (count_include_pad).
// Each invocation computes tp x tq outputs of one plane: it reads the
// (tp - 1) SH + R input rows they need once each, row by row, as vec4s
// when W % 4 == 0 (then `lead` extra columns make every read start on a
// multiple of 4), and updates every output whose window holds the row.
// All loops have specialization-constant bounds and are unrolled, so the
// per-tap indexing is resolved at pipeline creation.
#extension GL_EXT_control_flow_attributes : require
#include "fastdiv.h"
#include "pool2d_forward.h"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) writeonly buffer Y4 { vec4 y4[]; };
layout(std430, binding = 2) writeonly buffer A { uint am[]; };
layout(std430, binding = 2) writeonly buffer A4 { uvec4 am4[]; };

const uint ROWS = (tp - 1u) * SH + R;             // input rows of a tile
const uint COLS = lead + (tq - 1u) * SW + S;      // input columns read per row
const uint SLOTS = (COLS + 3u) / 4u;              // ... in groups of 4
const uint OUTS = tp * tq;
const uint NONE = 0xffffffffu;                    // no element selected yet

void main() {
  uint t = gl_GlobalInvocationID.x;
  if (t >= pc.tiles) return;
  uint row_tile = fastdiv(t, pc.ta_mul, pc.ta_shr);
  uint plane = fastdiv(row_tile, pc.tb_mul, pc.tb_shr);
  uint p0 = (row_tile - plane * pc.tb) * tp;
  uint q0 = (t - row_tile * pc.ta) * tq;
  int h0 = int(p0 * SH) - int(PH);                // first input row
  int c0 = int(q0 * SW) - int(PW) - int(lead);    // first input column read
  uint plane_base = plane * pc.H * pc.W;
  float pad = is_avg != 0u ? 0.0 : uintBitsToFloat(0xff800000u);  // -inf

  float acc[OUTS];
  uint arg[OUTS];
  [[unroll]] for (uint o = 0; o < OUTS; o++) {
    acc[o] = pad;
    arg[o] = NONE;
  }

  [[unroll]] for (uint i = 0; i < ROWS; i++) {
    int h = h0 + int(i);
    bool row_real = h >= 0 && h < int(pc.H);
    int row_base = int(plane_base) + h * int(pc.W);
    float v[SLOTS * 4];
    bool real[SLOTS * 4];
    [[unroll]] for (uint k = 0; k < SLOTS; k++) {
      int c = c0 + int(4u * k);
      if (vec_x != 0u) {
        // W % 4 == 0 and c % 4 == 0: the 4 columns are all inside the row
        // or all in the padding
        bool in_row = row_real && c >= 0 && c < int(pc.W);
        vec4 q = vec4(pad);
        if (in_row) q = x4[uint(row_base + c) >> 2];
        [[unroll]] for (uint e = 0; e < 4u; e++) {
          v[4u * k + e] = q[e];
          real[4u * k + e] = in_row;
        }
      } else {
        [[unroll]] for (uint e = 0; e < 4u; e++) {
          int ce = c + int(e);
          bool in_row = row_real && ce >= 0 && ce < int(pc.W);
          float q = pad;
          if (in_row) q = x[uint(row_base + ce)];
          v[4u * k + e] = q;
          real[4u * k + e] = in_row;
        }
      }
    }
    // window row r of output row a reads input row i = a SH + r
    [[unroll]] for (uint a = 0; a < tp; a++) {
      int r = int(i) - int(a * SH);
      if (r < 0 || r >= int(R)) continue;
      [[unroll]] for (uint b = 0; b < tq; b++) {
        uint o = a * tq + b;
        [[unroll]] for (uint s = 0; s < S; s++) {
          uint col = lead + b * SW + s;
          if (is_avg != 0u) {
            acc[o] += v[col];
          } else {
            // the first real element, then any strictly greater one: an
            // equal later value keeps the first maximum. Selects, not
            // branches: the tap loop is straight-line code.
            bool first = arg[o] == NONE;
            bool greater = v[col] > acc[o];
            bool take = real[col] && (first || greater);
            acc[o] = mix(acc[o], v[col], take);
            arg[o] = mix(arg[o], uint(r) * S + s, take);
          }
        }
      }
    }
  }

  [[unroll]] for (uint a = 0; a < tp; a++) {
    uint p = p0 + a;
    if (p >= pc.P) continue;
    uint base = (plane * pc.P + p) * pc.Q + q0;
    [[unroll]] for (uint b4 = 0; b4 < tq / 4u; b4++) {
      uint o = a * tq + 4u * b4;
      vec4 out4 = vec4(acc[o], acc[o + 1u], acc[o + 2u], acc[o + 3u]);
      if (is_avg != 0u) out4 /= float(R * S);
      uvec4 arg4 = uvec4(arg[o], arg[o + 1u], arg[o + 2u], arg[o + 3u]);
      if (vec_y != 0u) {
        // Q % 4 == 0: the 4 outputs are all inside the row or all past it
        if (q0 + 4u * b4 < pc.Q) {
          y4[(base >> 2) + b4] = out4;
          if (write_argmax != 0u) am4[(base >> 2) + b4] = arg4;
        }
      } else {
        [[unroll]] for (uint e = 0; e < 4u; e++) {
          if (q0 + 4u * b4 + e < pc.Q) {
            y[base + 4u * b4 + e] = out4[e];
            if (write_argmax != 0u) am[base + 4u * b4 + e] = arg4[e];
          }
        }
      }
    }
  }
}
