#version 450
// C = op(A) op(B) (+ bias[col]) (+ C if accumulating), fp32: the GPU
// geometry's shared-memory tiled GEMM (see matmul_tiled.h).
//
// A workgroup owns a bm x bn tile of C. Per step of BK along inner it loads
// op(A)'s bm x BK slice and op(B)'s BK x bn slice cooperatively into shared
// memory, each stored k-major (As[k][row], Bs[k][col]) whatever the
// operand's transpose: the load walks the operand's contiguous dimension
// (vec4 loads where that dimension is a multiple of 4, scalars otherwise),
// so neighbouring invocations read neighbouring addresses, and only the
// shared-memory store is transposed. Each invocation then accumulates a
// tm x tn block (rows ty*tm.., columns tx*tn..): per k, tm + tn shared
// reads (contiguous, so vec4 reads where tm or tn is a multiple of 4) feed
// tm*tn FMAs. The next step's global loads are issued into registers before
// this step's FMAs, which hide their latency.
//
// Rows and columns past the matrix are clamped (or read as zero) on load and
// never stored; inner indices past the end (the last, partial step) read as
// zero. No division in the k loop: every load's offsets are set up once. The sum
// over inner runs in a fixed order, so results are deterministic.
#include "matmul_tiled.h"

layout(std430, binding = 0) restrict readonly buffer A1 { float a1[]; };
layout(std430, binding = 0) restrict readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) restrict readonly buffer B1 { float b1[]; };
layout(std430, binding = 1) restrict readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) restrict readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C1 { float c1[]; };
layout(std430, binding = 3) buffer C4 { vec4 c4[]; };

const uint WG = gl_WorkGroupSize.x;
const uint BK = MATMUL_TILED_BK;
const uint TX = bn / tn; // invocations along the tile's columns
// Shared rows are padded by one vec4: the transposing stores of a
// k-contiguous operand (4 ks of neighbouring rows) spread over more banks,
// and every row still starts 16-byte aligned for vec4 reads.
const uint LDA = bm + 4u;
const uint LDB = bn + 4u;
shared float As[BK * LDA];
shared float Bs[BK * LDB];

// Per operand: is k its contiguous dimension, floats per load, loads per
// step, loads per invocation and step.
const bool KA = trans_a == 0u; // A stored (rows,inner)
const bool KB = trans_b != 0u; // B stored (cols,inner)
const uint VA = vec_a != 0u ? 4u : 1u;
const uint VB = vec_b != 0u ? 4u : 1u;
const uint UA = bm * BK / VA;
const uint UB = bn * BK / VB;
const uint SA = (UA + WG - 1u) / WG;
const uint SB = (UB + WG - 1u) / WG;
// Loads per row (column) of ks, or per k. Where the workgroup is a multiple
// of it (LIN*), an invocation's load s is its load 0 moved by s * WG / P
// rows (k-contiguous) or ks (otherwise), so its k, row and offsets follow
// from load 0's instead of holding registers through the loop; rows past
// the matrix then read as zeros rather than clamped.
const uint PA = KA ? BK / VA : bm / VA;
const uint PB = KB ? BK / VB : bn / VB;
const bool LINA = WG % PA == 0u;
const bool LINB = WG % PB == 0u;

// Where load u of a step goes, for an operand whose tile side is L (rows of
// op(A) or columns of op(B)) starting at `first` of `count`, stored with
// leading dimension ld. x: its offset in the operand at step 0 (floats), y:
// its k within the step, z: its offset in shared memory, w: its row
// (column). Consecutive loads walk the contiguous dimension. With `clamp`,
// sides past the matrix read its last rows (columns), which are never
// stored; without, the caller tests w < count.
uvec4 load_at(uint u, uint L, bool kc, uint V, uint ld, uint first, uint count, uint lds,
              bool clamp) {
  uint l, k;
  if (kc) { // a row (column) of ks: BK/V loads each
    k = (u % (BK / V)) * V;
    l = u / (BK / V);
  } else { // a k of rows (columns): L/V loads each
    l = (u % (L / V)) * V;
    k = u / (L / V);
  }
  uint at = first + l;
  if (clamp) at = min(at, kc ? count - 1u : count - V);
  return uvec4(kc ? at * ld + k : k * ld + at, k, k * lds + l, at);
}

// whether load s of this invocation is one of the step's (always, where the
// loads split evenly over the workgroup)
bool has_a(uint s) {
  return UA % WG == 0u || gl_LocalInvocationIndex + s * WG < UA;
}
bool has_b(uint s) {
  return UB % WG == 0u || gl_LocalInvocationIndex + s * WG < UB;
}

// whether load s, of row (column) w, reads memory: one of the step's, and
// inside the matrix where rows are not clamped
bool in_a(uint s, uint w) {
  return has_a(s) && (!(KA && LINA) || w < pc.rows);
}
bool in_b(uint s, uint w) {
  return has_b(s) && (!(KB && LINB) || w < pc.cols);
}

vec4 fetch_a(uint off, bool ok) {
  if (VA == 4u) return ok ? a4[(ok ? off : 0u) >> 2] : vec4(0.0);
  return vec4(ok ? a1[ok ? off : 0u] : 0.0, 0.0, 0.0, 0.0);
}

vec4 fetch_b(uint off, bool ok) {
  if (VB == 4u) return ok ? b4[(ok ? off : 0u) >> 2] : vec4(0.0);
  return vec4(ok ? b1[ok ? off : 0u] : 0.0, 0.0, 0.0, 0.0);
}

void main() {
  uint lid = gl_LocalInvocationIndex;
  uint m0 = gl_WorkGroupID.y * bm, n0 = gl_WorkGroupID.x * bn;
  uint tx = lid % TX, ty = lid / TX;

  // this invocation's loads: offsets at step 0, ks, shared offsets
  uint lda = KA ? pc.inner : pc.rows, ldb = KB ? pc.inner : pc.cols;
  uint ga[SA], ka[SA], sa[SA], wa[SA], gb[SB], kb[SB], sb[SB], wb[SB];
  for (uint s = 0u; s < SA; s++) {
    uvec4 p = load_at(lid + s * WG, bm, KA, VA, lda, m0, pc.rows, LDA, !(KA && LINA));
    ga[s] = p.x, ka[s] = p.y, sa[s] = p.z, wa[s] = p.w;
    if (LINA && s > 0u) {
      uint d = s * (WG / PA);
      ka[s] = KA ? ka[0] : ka[0] + d;
      sa[s] = sa[0] + (KA ? d : d * LDA);
      ga[s] = ga[0] + d * lda;
      wa[s] = KA ? wa[0] + d : wa[0];
    }
  }
  for (uint s = 0u; s < SB; s++) {
    uvec4 p = load_at(lid + s * WG, bn, KB, VB, ldb, n0, pc.cols, LDB, !(KB && LINB));
    gb[s] = p.x, kb[s] = p.y, sb[s] = p.z, wb[s] = p.w;
    if (LINB && s > 0u) {
      uint d = s * (WG / PB);
      kb[s] = KB ? kb[0] : kb[0] + d;
      sb[s] = sb[0] + (KB ? d : d * LDB);
      gb[s] = gb[0] + d * ldb;
      wb[s] = KB ? wb[0] + d : wb[0];
    }
  }
  // a step moves along k: BK floats of a row, or BK rows (uniform)
  uint step_a = KA ? BK : BK * lda, step_b = KB ? BK : BK * ldb, oa = 0u, ob = 0u;
  // a load reads memory when its k is inside (past the end: zeros)
  vec4 ra[SA], rb[SB];
  for (uint s = 0u; s < SA; s++) ra[s] = fetch_a(ga[s], in_a(s, wa[s]) && ka[s] < pc.inner);
  for (uint s = 0u; s < SB; s++) rb[s] = fetch_b(gb[s], in_b(s, wb[s]) && kb[s] < pc.inner);

  float acc[tm][tn];
  for (uint i = 0u; i < tm; i++)
    for (uint e = 0u; e < tn; e++) acc[i][e] = 0.0;

  for (uint k0 = 0u; k0 < pc.inner; k0 += BK) {
    barrier(); // the previous step's reads of As, Bs are done (WAR)
    for (uint s = 0u; s < SA; s++)
      if (has_a(s))
        for (uint j = 0u; j < VA; j++) As[sa[s] + j * (KA ? LDA : 1u)] = ra[s][j];
    for (uint s = 0u; s < SB; s++)
      if (has_b(s))
        for (uint j = 0u; j < VB; j++) Bs[sb[s] + j * (KB ? LDB : 1u)] = rb[s][j];
    barrier(); // this step's slices are written (RAW)

    uint k1 = k0 + BK;
    if (k1 < pc.inner) { // uniform
      oa += step_a, ob += step_b;
      for (uint s = 0u; s < SA; s++)
        ra[s] = fetch_a(ga[s] + oa, in_a(s, wa[s]) && k1 + ka[s] < pc.inner);
      for (uint s = 0u; s < SB; s++)
        rb[s] = fetch_b(gb[s] + ob, in_b(s, wb[s]) && k1 + kb[s] < pc.inner);
    }

    for (uint k = 0u; k < BK; k++) {
      float av[tm], bv[tn];
      for (uint i = 0u; i < tm; i++) av[i] = As[k * LDA + ty * tm + i];
      for (uint e = 0u; e < tn; e++) bv[e] = Bs[k * LDB + tx * tn + e];
      for (uint i = 0u; i < tm; i++)
        for (uint e = 0u; e < tn; e++) acc[i][e] = fma(av[i], bv[e], acc[i][e]);
    }
  }

  uint r0 = m0 + ty * tm, c0 = n0 + tx * tn;
  float bv[tn];
  for (uint e = 0u; e < tn; e++)
    bv[e] = pc.has_bias != 0u ? bias[min(c0 + e, pc.cols - 1u)] : 0.0;
  for (uint i = 0u; i < tm; i++) {
    uint row = r0 + i;
    if (row >= pc.rows) break;
    if (vec_c != 0u) { // cols % 4 == 0: a vec4 of columns is all inside or all outside
      for (uint e = 0u; e < tn; e += 4u) {
        uint col = c0 + e;
        if (col >= pc.cols) break;
        vec4 v = vec4(acc[i][e] + bv[e], acc[i][e + 1u] + bv[e + 1u], acc[i][e + 2u] + bv[e + 2u],
                      acc[i][e + 3u] + bv[e + 3u]);
        uint at = (row * pc.cols + col) >> 2;
        if (pc.accumulate != 0u) v += c4[at];
        c4[at] = v;
      }
    } else {
      for (uint e = 0u; e < tn; e++) {
        uint col = c0 + e;
        if (col >= pc.cols) break;
        float x = acc[i][e] + bv[e];
        uint at = row * pc.cols + col;
        if (pc.accumulate != 0u) x += c1[at];
        c1[at] = x;
      }
    }
  }
}
