#version 450
// conv2d backward-weight; see conv2d_wgrad.h. Same cost model as
// conv2d_igemm.comp: only vec4 loads, and a 4*tkv x 4*tcb block of
// accumulators per invocation (an outer product of tkv dy chunks and tcb x
// chunks per pixel). All lanes walk the same pixels in the same order, so
// the sums are deterministic.
#include "conv2d_wgrad.h"

layout(std430, binding = 0) readonly buffer Dy { vec4 dy4[]; };
layout(std430, binding = 1) readonly buffer X { vec4 x4[]; };
layout(std430, binding = 2) buffer Out { float o[]; };
layout(std430, binding = 3) buffer Dbias { float dbias[]; };

const uint TKV = tkv;
const uint TCB = tcb;

void main() {
  // Invocation = (output block, split); blocks vary fastest, so when there
  // are fewer blocks than SIMD lanes (the stem) one vector runs several
  // splits. Within the blocks, k blocks vary fastest: neighbouring lanes load
  // the same x chunks (cache hits after the first lane), and consecutive
  // vectors walk the same x data again while it is still in cache.
  uint lane = min(gl_GlobalInvocationID.x, pc.lanes - 1u);
  uint split = lane / pc.nblocks, block = lane - split * pc.nblocks;
  uint cb = block / pc.nkb, kb = block - cb * pc.nkb;
  uint ncol = pc.R * pc.S * pc.ch;

  uint koff[TKV];
  for (uint v = 0; v < TKV; v++) koff[v] = min(kb * TKV + v, pc.kch - 1u);
  uint xoff[TCB];
  for (uint t = 0; t < TCB; t++) {
    uint col = min(cb * TCB + t, ncol - 1u);
    uint tap = col / pc.ch, c4 = col - tap * pc.ch;
    uint r = tap / pc.S, s = tap - r * pc.S;
    xoff[t] = (r * pc.Wb + s) * pc.ch + c4;
  }

  // acc[row][column chunk][lane of the chunk]. Every loop below indexes an
  // array dimension whose size equals its trip count with the loop counter,
  // which makes NIR unroll it fully; acc then lives in registers. (A loop
  // left rolled with acc indexed by its counter turns acc into memory with
  // per-lane masked stores: 7x slower, measured.)
  float acc[4 * TKV][TCB][4];
  for (uint a = 0; a < 4 * TKV; a++)
    for (uint t = 0; t < TCB; t++)
      for (uint f = 0; f < 4u; f++) acc[a][t][f] = 0.0;

  uint row0 = split * pc.rows_per_split;
  uint row1 = min(pc.rows, row0 + pc.rows_per_split);
  uint xstep = pc.stride_w * pc.ch;
  // per row k: sum of dy for dbias. It costs a few adds per pixel beside
  // 16 tkv tcb FMAs: always summed, written only when asked for.
  float bsum[4 * TKV];
  for (uint a = 0; a < 4u * TKV; a++) bsum[a] = 0.0;
  if (dy_direct == 0u) {
    // dy packed (N, P, Q, K/4): tkv vec4s per pixel
    for (uint row = row0; row < row1; row++) {
      uint n = row / pc.P, p = row - n * pc.P;
      uint xq = (n * pc.Hb + p * pc.stride_h) * pc.Wb * pc.ch;
      uint dq = row * pc.Q * pc.kch;
      for (uint q = 0; q < pc.Q; q++, xq += xstep, dq += pc.kch) {
        float dk[4 * TKV];
        for (uint v = 0; v < TKV; v++) {
          vec4 d = dy4[dq + koff[v]];
          dk[4u * v + 0u] = d.x;
          dk[4u * v + 1u] = d.y;
          dk[4u * v + 2u] = d.z;
          dk[4u * v + 3u] = d.w;
        }
        for (uint a = 0; a < 4u * TKV; a++) bsum[a] += dk[a];
        for (uint t = 0; t < TCB; t++) {
          vec4 xv = x4[xq + xoff[t]];
          for (uint a = 0; a < 4u * TKV; a++) {
            acc[a][t][0] = fma(dk[a], xv.x, acc[a][t][0]);
            acc[a][t][1] = fma(dk[a], xv.y, acc[a][t][1]);
            acc[a][t][2] = fma(dk[a], xv.z, acc[a][t][2]);
            acc[a][t][3] = fma(dk[a], xv.w, acc[a][t][3]);
          }
        }
      }
    }
  } else {
    // dy as given, (N, K, P, Q) with Q % 4 == 0: one vec4 per row k holds
    // four pixels, so reading it costs what reading it packed would, and
    // the pack is skipped
    uint q4n = pc.Q / 4u, pq4 = pc.P * q4n;
    uint kbase[4 * TKV];
    for (uint a = 0; a < 4u * TKV; a++) kbase[a] = min(kb * 4u * TKV + a, pc.K - 1u) * pq4;
    for (uint row = row0; row < row1; row++) {
      uint n = row / pc.P, p = row - n * pc.P;
      uint xq = (n * pc.Hb + p * pc.stride_h) * pc.Wb * pc.ch;
      uint drow = n * pc.K * pq4 + p * q4n;
      for (uint q4 = 0; q4 < q4n; q4++) {
        vec4 dv[4 * TKV];
        for (uint a = 0; a < 4u * TKV; a++) dv[a] = dy4[kbase[a] + drow + q4];
        for (uint qq = 0; qq < 4u; qq++, xq += xstep) {
          float dk[4 * TKV];
          for (uint a = 0; a < 4u * TKV; a++) dk[a] = dv[a][qq];
          for (uint a = 0; a < 4u * TKV; a++) bsum[a] += dk[a];
          for (uint t = 0; t < TCB; t++) {
            vec4 xv = x4[xq + xoff[t]];
            for (uint a = 0; a < 4u * TKV; a++) {
              acc[a][t][0] = fma(dk[a], xv.x, acc[a][t][0]);
              acc[a][t][1] = fma(dk[a], xv.y, acc[a][t][1]);
              acc[a][t][2] = fma(dk[a], xv.z, acc[a][t][2]);
              acc[a][t][3] = fma(dk[a], xv.w, acc[a][t][3]);
            }
          }
        }
      }
    }
  }

  if (gl_GlobalInvocationID.x >= pc.lanes) return;
  bool partial = (pc.flags & CONV2D_WGRAD_PARTIAL) != 0u;
  bool accumulate = (pc.flags & CONV2D_WGRAD_ACCUMULATE) != 0u;
  uint RS = pc.R * pc.S;
  uint obase = partial ? split * pc.split_stride : 0u;
  // Guards, never break: the loops stay unrollable (see acc above).
  for (uint t = 0; t < TCB; t++) {
    uint col = cb * TCB + t;
    uint tap = col / pc.ch, c0 = (col - tap * pc.ch) * 4u;
    for (uint f = 0; f < 4u; f++) {
      uint c = c0 + f;
      for (uint a = 0; a < 4u * TKV; a++) {
        uint k = kb * 4u * TKV + a;
        if (col < ncol && c < pc.C && k < pc.K) {
          uint idx = obase + (k * pc.C + c) * RS + tap;
          float val = acc[a][t][f];
          // a branch, not a multiply by 0: a NaN in o must not leak
          o[idx] = !partial && accumulate ? o[idx] + val : val;
        }
      }
    }
  }
  if ((pc.flags & CONV2D_WGRAD_BIAS) != 0u && cb == 0u) {
    for (uint a = 0; a < 4u * TKV; a++) {
      uint k = kb * 4u * TKV + a;
      if (k < pc.K) {
        if (partial) {
          o[obase + pc.K * pc.C * RS + k] = bsum[a];
        } else {
          dbias[k] = accumulate ? dbias[k] + bsum[a] : bsum[a];
        }
      }
    }
  }
}
