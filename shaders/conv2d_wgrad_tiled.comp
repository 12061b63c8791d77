#version 450
// conv2d backward-weight, GPU geometry: a shared-memory tiled GEMM over
// packed dy and x; see conv2d_wgrad_tiled.h. Each workgroup walks its split's
// pixels in a fixed order and each invocation its bk pixels per step in a
// fixed order, so the sums are deterministic (no atomics).
#include "conv2d_wgrad_tiled.h"

layout(std430, binding = 0) readonly buffer Dy { vec4 dy4[]; };
layout(std430, binding = 1) readonly buffer X { vec4 x4[]; };
layout(std430, binding = 2) writeonly buffer Part { float part[]; };
layout(std430, binding = 3) buffer Dw { float dw[]; };
layout(std430, binding = 4) buffer Dbias { float dbias[]; };

const uint WG = gl_WorkGroupSize.x;
const uint BM4 = bm / 4u, BN4 = bn / 4u;
// vec4 loads per step of each operand, and per invocation (the last may be
// partial: a guard constant per invocation)
const uint A_LOADS = bk * BM4, B_LOADS = bk * BN4;
const uint A_SLOTS = (A_LOADS + WG - 1u) / WG, B_SLOTS = (B_LOADS + WG - 1u) / WG;
const uint TX = bn / tn; // invocations along the columns
const uint NO_COL = 0xffffffffu, BIAS_COL = 0xfffffffeu;

shared float As[bk][bm];
shared float Bs[bk][bn];

// Loads step k's operands into av and bv: zero past the split's end, past
// K, and in columns past the last; then moves x's pixels bk further, carried
// through q, p, n.
#define LOAD_STEP(k)                                                            \
  for (uint j = 0; j < A_SLOTS; j++) {                                          \
    uint pix = (k) + a_pl[j], k4 = mb * BM4 + a_k4[j];                          \
    av[j] = vec4(0.0);                                                          \
    if (A_LOADS % WG == 0u || tid + j * WG < A_LOADS)                           \
      if (pix < pend && k4 < pc.kch) av[j] = dy4[pix * pc.kch + k4];            \
  }                                                                             \
  for (uint j = 0; j < B_SLOTS; j++) {                                          \
    bv[j] = vec4(0.0);                                                          \
    if ((B_LOADS % WG == 0u || tid + j * WG < B_LOADS) && (k) + b_pl[j] < pend) { \
      if (b_col[j] < BIAS_COL)                                                  \
        bv[j] = x4[((b_n[j] * pc.Hb + b_p[j] * pc.stride_h) * pc.Wb +           \
                    b_q[j] * pc.stride_w) * pc.ch + b_col[j]];                  \
      else if (b_col[j] == BIAS_COL)                                            \
        bv[j] = vec4(1.0, 0.0, 0.0, 0.0);                                       \
    }                                                                           \
    b_q[j] += pc.step_q;                                                        \
    uint cq = b_q[j] >= pc.Q ? 1u : 0u;                                         \
    b_q[j] -= cq * pc.Q;                                                        \
    b_p[j] += pc.step_p + cq;                                                   \
    uint cp = b_p[j] >= pc.P ? 1u : 0u;                                         \
    b_p[j] -= cp * pc.P;                                                        \
    b_n[j] += pc.step_n + cp;                                                   \
  }

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint mb = gl_WorkGroupID.x / pc.nbn, nb = gl_WorkGroupID.x - mb * pc.nbn;
  uint z = gl_WorkGroupID.y;
  uint pix0 = z * pc.pix_per_split;
  uint pend = min(pc.npix, pix0 + pc.pix_per_split);

  // dy loads: slot j reads chunk a_k4[j] of pixel k0 + a_pl[j]
  uint a_pl[A_SLOTS], a_k4[A_SLOTS];
  for (uint j = 0; j < A_SLOTS; j++) {
    uint l = tid + j * WG;
    a_pl[j] = l / BM4;
    a_k4[j] = l - a_pl[j] * BM4;
  }
  // x loads: slot j reads column chunk b_col[j] (x offset from the pixel's
  // tap (0, 0), or a marker) of pixel (b_n, b_p, b_q)[j] = k0 + b_pl[j]
  uint b_pl[B_SLOTS], b_c4[B_SLOTS], b_col[B_SLOTS];
  uint b_n[B_SLOTS], b_p[B_SLOTS], b_q[B_SLOTS];
  uint PQ = pc.P * pc.Q;
  for (uint j = 0; j < B_SLOTS; j++) {
    uint l = tid + j * WG;
    b_pl[j] = l / BN4;
    b_c4[j] = l - b_pl[j] * BN4;
    uint jc = nb * BN4 + b_c4[j];
    uint col = NO_COL;
    if (jc < pc.ncol4) {
      uint tap = jc / pc.ch, c4 = jc - tap * pc.ch;
      uint r = tap / pc.S, s = tap - r * pc.S;
      col = (r * pc.Wb + s) * pc.ch + c4;
    } else if (jc == pc.ncol4 && pc.with_bias != 0u) {
      col = BIAS_COL;
    }
    b_col[j] = col;
    uint pix = pix0 + b_pl[j];
    b_n[j] = pix / PQ;
    uint rem = pix - b_n[j] * PQ;
    b_p[j] = rem / pc.Q;
    b_q[j] = rem - b_p[j] * pc.Q;
  }

  uint ty = tid / TX, tx = tid - ty * TX;
  // Every loop below runs a constant number of times and indexes its arrays
  // with its counter only, so it unrolls and acc stays in registers.
  float acc[tm][tn];
  for (uint i = 0; i < tm; i++)
    for (uint j = 0; j < tn; j++) acc[i][j] = 0.0;

  // The next step's operands are loaded into registers while this step's
  // are multiplied out of shared memory, so the global loads' latency hides
  // behind the FMAs.
  vec4 av[A_SLOTS], bv[B_SLOTS];
  LOAD_STEP(pix0)
  for (uint k0 = pix0; k0 < pend; k0 += bk) {
    for (uint j = 0; j < A_SLOTS; j++)
      if (A_LOADS % WG == 0u || tid + j * WG < A_LOADS)
        for (uint f = 0; f < 4u; f++) As[a_pl[j]][4u * a_k4[j] + f] = av[j][f];
    for (uint j = 0; j < B_SLOTS; j++)
      if (B_LOADS % WG == 0u || tid + j * WG < B_LOADS)
        for (uint f = 0; f < 4u; f++) Bs[b_pl[j]][4u * b_c4[j] + f] = bv[j][f];
    barrier(); // the tiles written before any invocation reads them (RAW in shared)
    LOAD_STEP(k0 + bk)
    for (uint kk = 0; kk < bk; kk++) {
      float a[tm], b[tn];
      for (uint i = 0; i < tm; i++) a[i] = As[kk][ty * tm + i];
      for (uint j = 0; j < tn; j++) b[j] = Bs[kk][tx * tn + j];
      for (uint i = 0; i < tm; i++)
        for (uint j = 0; j < tn; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier(); // every read of the tiles done before the next step overwrites them (WAR)
  }

  uint ncol = pc.ncol4 * 4u;
  for (uint i = 0; i < tm; i++) {
    uint k = mb * bm + ty * tm + i;
    if (k >= pc.K) continue;
    for (uint j = 0; j < tn; j++) {
      uint cf = nb * bn + tx * tn + j;
      float v = acc[i][j];
      if (cf < ncol) {
        if (direct_out != 0u) {
          uint jc = cf / 4u, f = cf - 4u * jc;
          uint tap = jc / pc.ch, c = (jc - tap * pc.ch) * 4u + f;
          uint o = (k * pc.C + c) * pc.RS + tap;
          if (c < pc.C) dw[o] = accumulate != 0u ? dw[o] + v : v;
        } else {
          part[(z * pc.K + k) * ncol + cf] = v;
        }
      } else if (cf == ncol && pc.with_bias != 0u) {
        if (direct_out != 0u)
          dbias[k] = accumulate != 0u ? dbias[k] + v : v;
        else
          part[pc.bias_base + z * (4u * pc.kch) + k] = v;
      }
    }
  }
}
