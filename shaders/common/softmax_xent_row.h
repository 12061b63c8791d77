/* GLSL shared by softmax_xent_fwd.comp and softmax_xent_bwd.comp: the statistics of
 * one row of logits, computed by the `tpr` invocations assigned to it.
 *
 * Loads: the row's 16-byte-aligned middle as vec4s, lane l of the row taking vec4s
 * l, l + tpr, ... (so the row's lanes read tpr x 16 contiguous bytes together), and
 * lane 0 the up to 3 elements before it and up to 3 after it as scalars.
 *
 * One pass, online (Milakov & Gimelshein 2018, https://arxiv.org/abs/1805.02867): each
 * lane keeps its running max m, s = sum exp(z - m), d = sum (z - m) and the count n;
 * each block of 16 values (4 vec4s) rescales them to the new max M' once
 * (s *= exp(m - M'), d += n (m - M'): factors 1 and 0 when the max did not grow), so
 * about 1.06 exp per element, and every exponent is <= 0 (nothing overflows). With tpr > 1, lane 0 of the row then
 * merges the lanes in lane order with the same rescaling:
 *   M = max(m_a, m_b), s = s_a exp(m_a - M) + s_b exp(m_b - M),
 *   d = d_a + n_a (m_a - M) + d_b + n_b (m_b - M).
 * The loss is log S - keep (z_y - M) - smooth_k D: differences from M, so a shift
 * of every logit by 1000 costs no precision.
 * With XENT_RANK defined, the pass also counts the classes ranked ahead of the label y
 * (z_j > z_y, or z_j == z_y and j < y): in the vec4 loop only z_j > z_y and the ties
 * z_j == z_y; a lane with ties besides the label then counts its ties before y. It
 * also counts the row's NaNs and infinities (`bad`): such a row is never a hit. The
 * test reads the exponent bits, so it holds even where a compiler assumes no NaN.
 *
 * Needs before inclusion: buffer arrays `logits` (float) and `logits4` (vec4) on one
 * binding, spec constant `tpr`. */
#ifndef VKLARS_SOFTMAX_XENT_ROW_H
#define VKLARS_SOFTMAX_XENT_ROW_H

#define XENT_WG gl_WorkGroupSize.x
#define XENT_NEG_INF uintBitsToFloat(0xff800000u)
#define XENT_NAN uintBitsToFloat(0x7fc00000u)
#define XENT_IGNORE 0xffffffffu /* padding sample: VKL_XENT_IGNORE in softmax_xent.h */
#define XENT_EXP_BITS 0x7f800000u /* all set: an infinity or a NaN */

struct row_acc {
  float m, s, d;
  uint n, ahead;
  uint ties; // vec4 values equal to z_y, the label's own included (XENT_RANK)
  uint bad;  // NaNs and infinities (XENT_RANK)
};

shared row_acc row_part[XENT_WG]; // used only with tpr > 1

row_acc row_empty() {
  return row_acc(XENT_NEG_INF, 0.0, 0.0, 0u, 0u, 0u, 0u);
}

// Rescales a to a new maximum mn >= a.m (factors 1 and 0 when it did not grow).
void row_rescale(inout row_acc a, float mn) {
  if (a.n > 0u) {
    a.s *= exp(a.m - mn);
    a.d += float(a.n) * (a.m - mn);
  }
  a.m = mn;
}

#ifdef XENT_RANK
// Counts the values of v above zy into ahead and those equal to it into ties. Ties
// before the label also rank ahead; row_fix_ties adds them, in the rare rows that
// have any besides the label itself.
void row_rank4(inout row_acc a, vec4 v, float zy) {
  uvec4 g = uvec4(greaterThan(v, vec4(zy)));
  uvec4 q = uvec4(equal(v, vec4(zy)));
  uvec4 b = uvec4(equal(floatBitsToUint(v) & XENT_EXP_BITS, uvec4(XENT_EXP_BITS)));
  a.ahead += (g.x + g.y) + (g.z + g.w);
  a.ties += (q.x + q.y) + (q.z + q.w);
  a.bad += (b.x + b.y) + (b.z + b.w);
}
#endif

// Adds the 16 values of v0..v3 (classes k.x .. k.x+3, ..., k.w .. k.w+3) to a:
// one rescale for 16 exps.
void row_add16(inout row_acc a, vec4 v0, vec4 v1, vec4 v2, vec4 v3, uvec4 k, float zy,
               uint y) {
  vec4 vm = max(max(v0, v1), max(v2, v3));
  row_rescale(a, max(a.m, max(max(vm.x, vm.y), max(vm.z, vm.w))));
  vec4 t0 = v0 - a.m, t1 = v1 - a.m, t2 = v2 - a.m, t3 = v3 - a.m;
  vec4 e = (exp(t0) + exp(t1)) + (exp(t2) + exp(t3));
  vec4 t = (t0 + t1) + (t2 + t3);
  a.s += (e.x + e.y) + (e.z + e.w);
  a.d += (t.x + t.y) + (t.z + t.w);
  a.n += 16u;
#ifdef XENT_RANK
  row_rank4(a, v0, zy);
  row_rank4(a, v1, zy);
  row_rank4(a, v2, zy);
  row_rank4(a, v3, zy);
#endif
}

// Adds the 4 values of v (classes k .. k+3) to a.
void row_add4(inout row_acc a, vec4 v, uint k, float zy, uint y) {
  row_rescale(a, max(a.m, max(max(v.x, v.y), max(v.z, v.w))));
  vec4 t = v - a.m;
  vec4 e = exp(t);
  a.s += (e.x + e.y) + (e.z + e.w);
  a.d += (t.x + t.y) + (t.z + t.w);
  a.n += 4u;
#ifdef XENT_RANK
  row_rank4(a, v, zy);
#endif
}

// Adds the value z (class k) to a.
void row_add1(inout row_acc a, float z, uint k, float zy, uint y) {
  row_rescale(a, max(a.m, z));
  a.s += exp(z - a.m);
  a.d += z - a.m;
  a.n += 1u;
#ifdef XENT_RANK
  a.ahead += uint(z > zy || (z == zy && k < y));
  a.bad += uint((floatBitsToUint(z) & XENT_EXP_BITS) == XENT_EXP_BITS);
#endif
}

row_acc row_merge(row_acc a, row_acc b) {
  if (b.n == 0u) return a;
  if (a.n == 0u) return b;
  float M = max(a.m, b.m);
  row_acc r;
  r.m = M;
  r.s = a.s * exp(a.m - M) + b.s * exp(b.m - M);
  r.d = (a.d + float(a.n) * (a.m - M)) + (b.d + float(b.n) * (b.m - M));
  r.n = a.n + b.n;
  r.ahead = a.ahead + b.ahead;
  r.ties = a.ties + b.ties;
  r.bad = a.bad + b.bad;
  return r;
}

// The row [base, base + K) splits into scalars [base, b4), vec4s [b4, e4) (16-byte
// aligned) and scalars [e4, base + K).
void row_bounds(uint base, uint K, out uint b4, out uint e4) {
  uint e = base + K;
  b4 = min((base + 3u) & ~3u, e);
  e4 = max(e & ~3u, b4);
}

// Every invocation of the workgroup calls this (with tpr > 1 it holds barriers).
// Rows with live == false give empty statistics. Returns the row's statistics to
// every lane of the row (with tpr = 1: no barrier, no shared memory).
row_acc row_stats(uint tid, uint lane, bool live, uint base, uint K, float zy, uint y) {
  row_acc a = row_empty();
  if (live) {
    uint b4, e4;
    row_bounds(base, K, b4, e4);
    uint j = b4 / 4u + lane, je = e4 / 4u;
    for (; j + 3u * tpr < je; j += 4u * tpr) {
      uvec4 k = 4u * (uvec4(j) + uvec4(0u, tpr, 2u * tpr, 3u * tpr)) - base;
      row_add16(a, logits4[j], logits4[j + tpr], logits4[j + 2u * tpr], logits4[j + 3u * tpr],
                k, zy, y);
    }
    for (; j < je; j += tpr) row_add4(a, logits4[j], 4u * j - base, zy, y);
#ifdef XENT_RANK
    // the label's own vec4 is this lane's when it lies in the middle at this lane's turn
    uint ly = (base + y) / 4u;
    bool own = base + y >= b4 && base + y < e4 && (ly - b4 / 4u) % tpr == lane;
    if (a.ties > (own ? 1u : 0u)) {
      // exact rank: also the values equal to z_y at classes before y
      for (uint jj = b4 / 4u + lane; jj < je && 4u * jj < base + y; jj += tpr) {
        uvec4 idx = uvec4(4u * jj - base) + uvec4(0u, 1u, 2u, 3u);
        uvec4 q = uvec4(equal(logits4[jj], vec4(zy))) & uvec4(lessThan(idx, uvec4(y)));
        a.ahead += (q.x + q.y) + (q.z + q.w);
      }
    }
#endif
    if (lane == 0u) {
      for (uint i = base; i < b4; i++) row_add1(a, logits[i], i - base, zy, y);
      for (uint i = e4; i < base + K; i++) row_add1(a, logits[i], i - base, zy, y);
    }
  }
  if (tpr > 1u) {
    row_part[tid] = a;
    barrier(); // every lane's statistics written (RAW in shared)
    if (lane == 0u) {
      for (uint l = 1u; l < tpr; l++) a = row_merge(a, row_part[tid + l]);
    }
    barrier(); // all lanes read row_part before lane 0 overwrites it (WAR in shared)
    if (lane == 0u) row_part[tid] = a;
    barrier(); // the row's statistics at tid - lane, before the other lanes read them
    a = row_part[tid - lane];
  }
  return a;
}

#endif
