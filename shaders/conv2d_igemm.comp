#version 450
// Implicit GEMM for conv2d forward and backward-data; see conv2d_igemm.h.
// Lavapipe cost model behind the shape of this kernel (measured): every
// storage-buffer load is a loop over the 8 SIMD lanes, ~12 ns per scalar
// load and ~26 ns per vec4 load (so a vec4 costs half as much per float),
// while an FMA costs well under 1 ns even with its accumulator spilled. The
// kernel therefore loads only vec4s (channels are packed in chunks of 4) and
// keeps a large tm x tn block of accumulators per invocation, so each vec4
// feeds 4*tn or 4*tm FMAs. Specialization constants fix the block shape and
// the few choices that change the inner loop or the stores (see the
// header); sizes, strides, padding and the direction are push constants, so
// a handful of pipelines serve every layer.
#include "conv2d_igemm.h"

layout(std430, binding = 0) readonly buffer A { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { vec4 b4[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer Out { float o[]; };
layout(std430, binding = 4) buffer Out4 { vec4 o4[]; }; // the same range as o

const uint TM = tm;
// forward or backward-data: a push constant, not a specialization, so one
// pipeline serves both (the passes differ only in index arithmetic)
#define backward pc.backward
// win3: the kernel tap held by a[t] (see the win3 loop)
#define tap3(t) (backward == 0u ? (t) : 2u - (t))
const uint TG = tn / 4u; // groups of 4 consecutive pixels per invocation
// (the next chunk's a loads 2 (win3: 6) per group: needs 2 TG >= TM)

// A pixel (n, t, u) of this workgroup's phase, walked without divisions.
struct PixelWalk {
  uint n, t, u;
};
struct PixelStep {
  uint dn, dt, du;
};

PixelWalk walk_start(uint g, uint HWt, uint Wt) {
  uint n = g / HWt, tu = g - n * HWt;
  uint t = tu / Wt;
  return PixelWalk(n, t, tu - t * Wt);
}

PixelStep walk_step(uint d, uint HWt, uint Wt) {
  uint dn = d / HWt, r = d - dn * HWt;
  uint dt = r / Wt;
  return PixelStep(dn, dt, r - dt * Wt);
}

// u + du < 2 Wt and t + dt + carry < 2 Ht, so one carry each suffices.
PixelWalk walk_advance(PixelWalk p, PixelStep s, uint Ht, uint Wt) {
  uint u = p.u + s.du;
  uint cu = u >= Wt ? 1u : 0u;
  uint t = p.t + s.dt + cu;
  uint ct = t >= Ht ? 1u : 0u;
  return PixelWalk(p.n + s.dn + ct, t - ct * Ht, u - cu * Wt);
}

// The pixel's offset in packed b (vec4s), at tap (0, 0).
uint b_offset(PixelWalk p, uint t0, uint u0) {
  uint hb = backward == 0u ? p.t * pc.stride_h : t0 + p.t + pc.pad_top;
  uint wb = backward == 0u ? p.u * pc.stride_w : u0 + p.u + pc.pad_left;
  return ((p.n * pc.Hb + hb) * pc.Wb + wb) * pc.ch;
}

void main() {
  // One SIMD vector per workgroup: lanes along pixels. Workgroup x walks the
  // (row block, phase) pairs, phase fastest, and y the pixel blocks, so
  // consecutive workgroups (run one after the other by a CPU thread) reuse
  // the same pixels from cache.
  uint WX = gl_WorkGroupSize.x;
  uint lxi = gl_LocalInvocationID.x;

  // This workgroup's phase: the output pixels it covers and the taps that
  // reach them. Forward: one phase, all taps, b row = t * stride.
  uint Ht, Wt, t0 = 0, u0 = 0, r0 = 0, s0 = 0, rstep = 1, sstep = 1, Rj, Si;
  if (backward == 0u) {
    Ht = pc.Hout;
    Wt = pc.Wout;
    Rj = pc.R;
    Si = pc.S;
  } else {
    uint phase = gl_WorkGroupID.x % (pc.stride_h * pc.stride_w);
    uint ph = phase / pc.stride_w, pw = phase % pc.stride_w;
    // h = t * stride_h + ph - pad_h, 0 <= h < Hout
    t0 = pc.pad_h >= ph ? (pc.pad_h - ph + pc.stride_h - 1u) / pc.stride_h : 0u;
    u0 = pc.pad_w >= pw ? (pc.pad_w - pw + pc.stride_w - 1u) / pc.stride_w : 0u;
    uint hl = pc.Hout - 1u + pc.pad_h, wl = pc.Wout - 1u + pc.pad_w;
    uint t1 = hl >= ph ? (hl - ph) / pc.stride_h + 1u : 0u; // one past the last t
    uint u1 = wl >= pw ? (wl - pw) / pc.stride_w + 1u : 0u;
    Ht = t1 > t0 ? t1 - t0 : 0u;
    Wt = u1 > u0 ? u1 - u0 : 0u;
    Rj = ph < pc.R ? (pc.R - 1u - ph) / pc.stride_h + 1u : 0u;
    Si = pw < pc.S ? (pc.S - 1u - pw) / pc.stride_w + 1u : 0u;
    r0 = ph;
    s0 = pw;
    rstep = pc.stride_h;
    sstep = pc.stride_w;
  }
  uint HWt = Ht * Wt;
  uint npix = pc.N * HWt;
  uint g0 = gl_WorkGroupID.y * WX * TG * 4u;
  if (g0 >= npix) return; // uniform: this workgroup has no pixels in its phase

  uint m0 = (backward == 0u ? gl_WorkGroupID.x : gl_WorkGroupID.x / (pc.stride_h * pc.stride_w)) * TM;
  uint arow = pc.R * pc.S * pc.ch;
  uint abase[TM];
  for (uint i = 0; i < TM; i++) abase[i] = min(m0 + i, pc.M - 1u) * arow;

  // Each pixel's b offset (vec4s) at tap (0, 0). An invocation owns TN / 4
  // groups of 4 consecutive pixels: group jj starts at pixel
  // g0 + (jj * WX + lxi) * 4, so one vec4 store writes a group's output when
  // the outputs are contiguous. (n, t, u) advance with carries instead of two
  // divisions per pixel (lavapipe divides lane by lane). Pixels past the end
  // take the last pixel's offset: their loads stay in range, their stores
  // are skipped.
  uint gl0 = g0 + lxi * 4u;
  PixelWalk pw0 = walk_start(gl0, HWt, Wt);
  PixelStep step1 = walk_step(1u, HWt, Wt), stepg = walk_step(WX * 4u, HWt, Wt);
  uint blast = b_offset(walk_start(npix - 1u, HWt, Wt), t0, u0);
  uint bbase[TG][4];
  PixelWalk pg = pw0;
  for (uint jj = 0; jj < TG; jj++) {
    PixelWalk pw = pg;
    for (uint e = 0; e < 4u; e++) {
      bbase[jj][e] = gl0 + jj * WX * 4u + e < npix ? b_offset(pw, t0, u0) : blast;
      pw = walk_advance(pw, step1, Ht, Wt);
    }
    if (win3 != 0u) {
      // the group's first pixel, the last group's for groups past the end
      // (npix % 4 == 0): the 6-pixel window stays inside the border
      bbase[jj][0] = b_offset(walk_start(min(gl0 + jj * WX * 4u, npix - 4u), HWt, Wt), t0, u0);
    }
    if (b_direct != 0u) {
      // vec4 index of the group's first pixel in channel 0; npix % 4 == 0,
      // so a group is all in range or all past the end
      uint g = min(gl0 + jj * WX * 4u, npix - 4u);
      uint n = g / HWt;
      bbase[jj][0] = (n * pc.cb * HWt + (g - n * HWt)) / 4u;
    }
    pg = walk_advance(pg, stepg, Ht, Wt);
  }

  // Every loop over i, jj or e indexes an array dimension whose size equals
  // its trip count with the loop counter, which makes NIR unroll it fully;
  // acc then lives in registers. (A loop left rolled with acc indexed by its
  // counter turns acc into memory with per-lane masked stores: several
  // times slower, measured.)
  float acc[TM][TG][4];
  for (uint i = 0; i < TM; i++)
    for (uint jj = 0; jj < TG; jj++)
      for (uint e = 0; e < 4u; e++) acc[i][jj][e] = 0.0;

  if (win3 != 0u) {
    // Three taps in a row at unit b step (S = 3, stride 1 along w): pixel e
    // of a group reads b at pixel e + s (forward) or e - s (backward) for
    // tap s, so the group's 4 pixels x 3 taps need 6 b loads, not 12. One
    // loop over (tap row, chunk), the 3 taps unrolled inside. a[t] holds tap
    // t forward and tap 2 - t backward, and bw[d] b pixel d (forward) or
    // d - 2 (backward): then pixel e with a[t] reads bw[e + t] either way
    // (a constant index, unlike e + 2 - t with a run-time choice).
    uint nred3 = Rj * pc.ch;
    uint c3 = 0, aoff3 = r0 * 3u * pc.ch, boff3 = backward == 0u ? 0u : 0u - 2u * pc.ch;
    uint a_row = rstep * 3u * pc.ch, b_row = backward == 0u ? pc.Wb * pc.ch : 0u - pc.Wb * pc.ch;
    // The a values of the next (row, chunk) are loaded between the FMAs of
    // this one, 6 per group: a load is a long lane-by-lane sequence
    // that the CPU cannot overlap with the next load, only with independent
    // FMAs (bunched at the top, the a loads took 2.4x the time of as many b
    // loads, measured).
    vec4 a[3][TM];
    for (uint t = 0; t < 3u; t++)
      for (uint i = 0; i < TM; i++) a[t][i] = a4[abase[i] + aoff3 + tap3(t) * pc.ch];
    for (uint k = 0; k < nred3; k++) {
      uint aoffn = c3 + 1u == pc.ch ? aoff3 + a_row : aoff3 + c3 + 1u;
      aoffn = k + 1u == nred3 ? aoff3 + c3 : aoffn; // past the end: any valid address
      vec4 an[3][TM];
      for (uint jj = 0; jj < TG; jj++) {
        vec4 bw[6];
        for (uint d = 0; d < 6u; d++) {
          // (bw indexed by d makes NIR unroll this loop, so an's index is
          // a constant)
          bw[d] = b4[bbase[jj][0] + boff3 + d * pc.ch + c3];
          uint f = jj * 6u + d;
          if (f < 3u * TM) an[f / TM][f % TM] = a4[abase[f % TM] + aoffn + tap3(f / TM) * pc.ch];
        }
        for (uint t = 0; t < 3u; t++) {
          for (uint e = 0; e < 4u; e++) {
            vec4 b = bw[e + t];
            for (uint i = 0; i < TM; i++) {
              float s = acc[i][jj][e];
              s = fma(a[t][i].x, b.x, s);
              s = fma(a[t][i].y, b.y, s);
              s = fma(a[t][i].z, b.z, s);
              s = fma(a[t][i].w, b.w, s);
              acc[i][jj][e] = s;
            }
          }
        }
      }
      for (uint t = 0; t < 3u; t++)
        for (uint i = 0; i < TM; i++) a[t][i] = an[t][i];
      c3++;
      bool row_done = c3 == pc.ch;
      c3 = row_done ? 0u : c3;
      aoff3 += row_done ? a_row : 0u;
      boff3 += row_done ? b_row : 0u;
    }
  }

  // One loop over the reduction's (tap, chunk) pairs, counters advanced by
  // hand: a loop per tap would cost, at each of its exits, another masked
  // pass over every accumulator, which the stem (one chunk per tap) feels.
  uint nred = win3 != 0u ? 0u : Rj * Si * pc.ch;
  uint c = 0, is = 0, aoff = (r0 * pc.S + s0) * pc.ch, boff = 0;
  // per tap: a moves by sstep taps; b by one pixel (forward: right, backward:
  // left); at the end of a tap row: a to the next row of taps, b one row
  uint a_step_s = sstep * pc.ch, a_step_r = (rstep * pc.S - (Si - 1u) * sstep) * pc.ch;
  uint b_step_s = backward == 0u ? pc.ch : 0u - pc.ch;
  uint b_step_r = backward == 0u ? (pc.Wb - (Si - 1u)) * pc.ch : 0u - (pc.Wb - (Si - 1u)) * pc.ch;
  // As in the win3 loop, the next chunk's a values load between this one's
  // FMAs, 2 per group.
  vec4 a[TM];
  for (uint i = 0; i < TM; i++) a[i] = a4[abase[i] + aoff];
  for (uint k = 0; k < nred; k++) {
    uint cn = c + 1u;
    bool tap_done = cn == pc.ch;
    bool row_done = tap_done && is + 1u == Si;
    cn = tap_done ? 0u : cn;
    uint isn = row_done ? 0u : (tap_done ? is + 1u : is);
    uint aoffn = aoff + (row_done ? a_step_r : (tap_done ? a_step_s : 0u));
    uint boffn = boff + (row_done ? b_step_r : (tap_done ? b_step_s : 0u));
    uint anext = k + 1u == nred ? aoff + c : aoffn + cn; // past the end: any valid address
    vec4 an[TM];
    if (b_direct == 0u) {
      for (uint jj = 0; jj < TG; jj++) {
        for (uint e = 0; e < 4u; e++) {
          vec4 b = b4[bbase[jj][e] + boff + c];
          // (bbase indexed by e makes NIR unroll this loop: an's index is
          // a constant)
          if (e < 2u && jj * 2u + e < TM) an[jj * 2u + e] = a4[abase[jj * 2u + e] + anext];
          for (uint i = 0; i < TM; i++) {
            float s = acc[i][jj][e];
            s = fma(a[i].x, b.x, s);
            s = fma(a[i].y, b.y, s);
            s = fma(a[i].z, b.z, s);
            s = fma(a[i].w, b.w, s);
            acc[i][jj][e] = s;
          }
        }
      }
    } else {
      // b as given, (N, cb, Ht, Wt): one vec4 per channel holds the group's
      // 4 pixels, so 4 vec4s carry the chunk's 4 channels for 4 pixels, the
      // same loads as 4 packed pixels. Channels past cb read a clamped
      // address and count as zeros.
      uint k0 = 4u * c, hw4 = HWt / 4u;
      uint o0 = min(k0, pc.cb - 1u) * hw4, o1 = min(k0 + 1u, pc.cb - 1u) * hw4;
      uint o2 = min(k0 + 2u, pc.cb - 1u) * hw4, o3 = min(k0 + 3u, pc.cb - 1u) * hw4;
      for (uint jj = 0; jj < TG; jj++) {
        vec4 q0 = b4[bbase[jj][0] + o0];
        vec4 q1 = b4[bbase[jj][0] + o1];
        vec4 q2 = b4[bbase[jj][0] + o2];
        vec4 q3 = b4[bbase[jj][0] + o3];
        q1 = k0 + 1u < pc.cb ? q1 : vec4(0.0);
        q2 = k0 + 2u < pc.cb ? q2 : vec4(0.0);
        q3 = k0 + 3u < pc.cb ? q3 : vec4(0.0);
        for (uint e = 0; e < 4u; e++) {
          vec4 b = vec4(q0[e], q1[e], q2[e], q3[e]);
          if (e < 2u && jj * 2u + e < TM) an[jj * 2u + e] = a4[abase[jj * 2u + e] + anext];
          for (uint i = 0; i < TM; i++) {
            float s = acc[i][jj][e];
            s = fma(a[i].x, b.x, s);
            s = fma(a[i].y, b.y, s);
            s = fma(a[i].z, b.z, s);
            s = fma(a[i].w, b.w, s);
            acc[i][jj][e] = s;
          }
        }
      }
    }
    for (uint i = 0; i < TM; i++) a[i] = an[i];
    c = cn;
    is = isn;
    aoff = aoffn;
    boff = boffn;
  }

  float bv[TM];
  bool add_bias = (pc.flags & CONV2D_GEMM_BIAS) != 0u;
  for (uint i = 0; i < TM; i++) bv[i] = add_bias ? bias[min(m0 + i, pc.M - 1u)] : 0.0;
  uint HWo = pc.Hout * pc.Wout;
  // Guards, never break: the loops stay unrollable (see acc above).
  // accumulate is a specialization constant so that a kernel that writes has
  // no load of o at all (lavapipe would run it, masked, for every output),
  // and so is vec4_out. A branch, not a multiply by 0: a NaN in o must not
  // leak into a write.
  pg = pw0;
  for (uint jj = 0; jj < TG; jj++) {
    uint g = gl0 + jj * WX * 4u;
    if (vec4_out != 0u) {
      // the group's 4 outputs are contiguous and 16-byte aligned (the host
      // checked: stride-1 phase, Hout * Wout % 4 == 0, aligned binding)
      uint base = pg.n * pc.M * HWo + pg.t * pc.Wout + pg.u;
      for (uint i = 0; i < TM; i++) {
        uint m = m0 + i;
        if (g < npix && m < pc.M) {
          uint idx = (base + m * HWo) >> 2;
          vec4 v = vec4(acc[i][jj][0], acc[i][jj][1], acc[i][jj][2], acc[i][jj][3]) + bv[i];
          if (accumulate != 0u)
            o4[idx] += v;
          else
            o4[idx] = v;
        }
      }
    } else {
      PixelWalk pw = pg;
      for (uint e = 0; e < 4u; e++) {
        uint h = backward == 0u ? pw.t : (t0 + pw.t) * pc.stride_h + r0 - pc.pad_h;
        uint w = backward == 0u ? pw.u : (u0 + pw.u) * pc.stride_w + s0 - pc.pad_w;
        uint base = pw.n * pc.M * HWo + h * pc.Wout + w;
        pw = walk_advance(pw, step1, Ht, Wt);
        for (uint i = 0; i < TM; i++) {
          uint m = m0 + i;
          if (g + e < npix && m < pc.M) {
            uint idx = base + m * HWo;
            float v = acc[i][jj][e] + bv[i];
            if (accumulate != 0u)
              o[idx] += v;
            else
              o[idx] = v;
          }
        }
      }
    }
    pg = walk_advance(pg, stepg, Ht, Wt);
  }
}
