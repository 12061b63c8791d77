#version 450
// conv2d backward-weight; see conv2d_wgrad.h. Same cost model as
// conv2d_igemm.comp: only vec4 loads, and a 4*tkv x 4*tcb block of
// accumulators per invocation (an outer product of tkv dy chunks and tcb x
// chunks per pixel). Each invocation walks its pixels in a fixed order, so
// the sums are deterministic.
#include "conv2d_wgrad.h"

layout(std430, binding = 0) readonly buffer Dy { vec4 dy4[]; };
layout(std430, binding = 1) readonly buffer X { vec4 x4[]; };
layout(std430, binding = 2) writeonly buffer Part { vec4 part4[]; };
layout(std430, binding = 3) writeonly buffer Dw { float dw[]; };
layout(std430, binding = 4) writeonly buffer Dbias { float dbias[]; };

const uint TKV = tkv;
const uint TK = 4u * tkv;
const uint TCB = tcb;
// window mode: columns are 3 taps (s = 0, 1, 2 of one kernel row r) x WN
// channel chunks, column t = s * WN + jc
const uint WN = win > 0u ? win : 1u;

// One pixel of the reduction: dk[a] is dy for row a; x comes from packed x
// at offset xq (generic) or through the window.
#define PIXEL_STEP                                                            \
  for (uint a = 0; a < TK; a++) bsum[a] += dk[a];                             \
  if (win == 0u) {                                                            \
    for (uint t = 0; t < TCB; t++) {                                          \
      vec4 xv = x4[xq + xoff[t]];                                             \
      for (uint a = 0; a < TK; a++) {                                         \
        acc[a][t][0] = fma(dk[a], xv.x, acc[a][t][0]);                        \
        acc[a][t][1] = fma(dk[a], xv.y, acc[a][t][1]);                        \
        acc[a][t][2] = fma(dk[a], xv.z, acc[a][t][2]);                        \
        acc[a][t][3] = fma(dk[a], xv.w, acc[a][t][3]);                        \
      }                                                                       \
    }                                                                         \
  } else {                                                                    \
    for (uint jc = 0; jc < WN; jc++) {                                        \
      wv[0][jc] = wv[1][jc];                                                  \
      wv[1][jc] = wv[2][jc];                                                  \
      wv[2][jc] = x4[xq + xoff[2u * WN + jc]];                                \
    }                                                                         \
    for (uint s = 0; s < 3u; s++)                                             \
      for (uint jc = 0; jc < WN; jc++) {                                      \
        vec4 xv = wv[s][jc];                                                  \
        for (uint a = 0; a < TK; a++) {                                       \
          acc[a][s * WN + jc][0] = fma(dk[a], xv.x, acc[a][s * WN + jc][0]);  \
          acc[a][s * WN + jc][1] = fma(dk[a], xv.y, acc[a][s * WN + jc][1]);  \
          acc[a][s * WN + jc][2] = fma(dk[a], xv.z, acc[a][s * WN + jc][2]);  \
          acc[a][s * WN + jc][3] = fma(dk[a], xv.w, acc[a][s * WN + jc][3]);  \
        }                                                                     \
      }                                                                       \
  }

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

  // Column t's tap and chunk, and its offset in packed x (vec4s) from the
  // pixel's tap (0, 0). Generic: columns cb * TCB + t of the (tap, chunk)
  // list. Window: block cb = (kernel row r, chunk group cg).
  uint ctap[TCB], cc4[TCB], xoff[TCB];
  uint ncg = (pc.ch + WN - 1u) / WN;
  uint wr = cb / ncg, wcg = cb - wr * ncg;
  for (uint t = 0; t < TCB; t++) {
    uint tap, c4;
    if (win == 0u) {
      uint col = cb * TCB + t;
      tap = col / pc.ch;
      c4 = col - tap * pc.ch;
      ctap[t] = col < ncol ? tap : 0xffffffffu; // past the end: not stored
    } else {
      uint s = t / WN, jc = t - s * WN;
      tap = wr * 3u + s;
      c4 = wcg * WN + jc;
      ctap[t] = c4 < pc.ch ? tap : 0xffffffffu;
    }
    cc4[t] = c4;
    uint tc = min(tap, pc.R * pc.S - 1u);
    uint r = tc / pc.S, s = tc - r * pc.S;
    xoff[t] = (r * pc.Wb + s) * pc.ch + min(c4, pc.ch - 1u);
  }
  uint koff[TKV];
  for (uint v = 0; v < TKV; v++) koff[v] = min(kb * TKV + v, pc.kch - 1u);
  uint q4n = pc.Q / 4u, pq4 = pc.P * q4n;
  uint kbase[TK];
  for (uint a = 0; a < TK; a++) kbase[a] = min(kb * TK + a, pc.K - 1u) * pq4;

  // acc[row][column chunk][lane of the chunk]. Every loop below indexes an
  // array dimension whose size equals its trip count with the loop counter,
  // which makes NIR unroll it fully; acc then lives in registers. (A loop
  // left rolled with acc indexed by its counter turns acc into memory with
  // per-lane masked stores: 7x slower, measured.)
  float acc[TK][TCB][4];
  for (uint a = 0; a < TK; a++)
    for (uint t = 0; t < TCB; t++)
      for (uint f = 0; f < 4u; f++) acc[a][t][f] = 0.0;
  // per row k: sum of dy for dbias. It costs a few adds per pixel beside
  // 16 tkv tcb FMAs: always summed, written only when asked for.
  float bsum[TK];
  for (uint a = 0; a < TK; a++) bsum[a] = 0.0;

  uint row0 = split * pc.rows_per_split;
  uint row1 = min(pc.rows, row0 + pc.rows_per_split);
  uint xstep = pc.stride_w * pc.ch;
  for (uint row = row0; row < row1; row++) {
    uint n = row / pc.P, p = row - n * pc.P;
    uint xq = (n * pc.Hb + p * pc.stride_h) * pc.Wb * pc.ch;
    uint dq = row * pc.Q * pc.kch;                // packed dy
    uint drow = n * pc.K * pq4 + p * q4n;         // dy in place
    // Window mode (stride_w 1): tap s of pixel q is tap s - 1 of pixel
    // q + 1, so each pixel loads only its s = 2 chunks and shifts the rest
    // (3x fewer x loads).
    vec4 wv[3][WN];
    if (win != 0u) {
      for (uint s = 0; s < 2u; s++)
        for (uint jc = 0; jc < WN; jc++) wv[s + 1u][jc] = x4[xq + xoff[s * WN + jc]];
    }
    if (dy_direct == 0u) {
      // dy packed (N, P, Q, K/4): tkv vec4s per pixel
      for (uint q = 0; q < pc.Q; q++, xq += xstep, dq += pc.kch) {
        float dk[TK];
        for (uint v = 0; v < TKV; v++) {
          vec4 d = dy4[dq + koff[v]];
          dk[4u * v + 0u] = d.x;
          dk[4u * v + 1u] = d.y;
          dk[4u * v + 2u] = d.z;
          dk[4u * v + 3u] = d.w;
        }
        PIXEL_STEP
      }
    } else {
      // dy as given, (N, K, P, Q), Q % 4 == 0: one vec4 per row k holds
      // four pixels, so reading it costs what reading it packed would, and
      // the pack is skipped. (Separate loops, not one loop over pixel
      // groups of 1 or 4: that form measured 1.4x slower.)
      for (uint qg = 0; qg < q4n; qg++) {
        vec4 dv[TK];
        for (uint a = 0; a < TK; a++) dv[a] = dy4[kbase[a] + drow + qg];
        for (uint qq = 0; qq < 4u; qq++, xq += xstep) {
          float dk[TK];
          for (uint a = 0; a < TK; a++) dk[a] = dv[a][qq];
          PIXEL_STEP
        }
      }
    }
  }

  // Partial sums in the block's own layout, (split, K, R*S, C/4) vec4s, so
  // each store writes 4 channels; conv2d_wreduce sums the splits into dw
  // (OIHW). Guards, never break: the loops stay unrollable (see acc above).
  if (gl_GlobalInvocationID.x >= pc.lanes) return;
  uint RS = pc.R * pc.S;
  if (direct_out != 0u) {
    // one split, writing: dw (OIHW) and dbias directly, no second pass
    for (uint a = 0; a < TK; a++) {
      uint k = kb * TK + a;
      for (uint t = 0; t < TCB; t++)
        for (uint f = 0; f < 4u; f++) {
          uint c = cc4[t] * 4u + f;
          if (ctap[t] < RS && k < pc.K && c < pc.C) dw[(k * pc.C + c) * RS + ctap[t]] = acc[a][t][f];
        }
    }
    if (cb == 0u && pc.with_bias != 0u)
      for (uint a = 0; a < TK; a++)
        if (kb * TK + a < pc.K) dbias[kb * TK + a] = bsum[a];
    return;
  }
  for (uint a = 0; a < TK; a++) {
    uint k = kb * TK + a;
    for (uint t = 0; t < TCB; t++) {
      if (ctap[t] < RS && k < pc.K)
        part4[((split * pc.K + k) * RS + ctap[t]) * pc.ch + cc4[t]] =
            vec4(acc[a][t][0], acc[a][t][1], acc[a][t][2], acc[a][t][3]);
    }
  }
  // dbias partials, (split, K/4) vec4s after the dw partials
  if (cb == 0u) {
    for (uint v = 0; v < TKV; v++) {
      uint k4 = kb * TKV + v;
      if (k4 < pc.kch)
        part4[pc.bias_base + split * pc.kch + k4] =
            vec4(bsum[4u * v], bsum[4u * v + 1u], bsum[4u * v + 2u], bsum[4u * v + 3u]);
    }
  }
}
