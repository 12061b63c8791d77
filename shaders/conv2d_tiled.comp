#version 450
// Shared-memory tiled implicit GEMM for conv2d forward and backward-data
// under the GPU geometry; see conv2d_tiled.h. The index arithmetic (phases,
// borders, tap walk) is conv2d_igemm.comp's; the blocking is a GPU's: a
// workgroup shares each stage of a and b through shared memory, so a vec4
// loaded once from memory feeds bm (b) or bn (a) outputs, and every
// invocation keeps only a small tm x tn block in registers.
#include "conv2d_tiled.h"

layout(std430, binding = 0) readonly buffer A { vec4 a4[]; };
layout(std430, binding = 1) readonly buffer B { vec4 b4[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer Out { float o[]; };

#define backward pc.backward
const uint BK = CONV2D_TILED_BK;
const uint WG = gl_WorkGroupSize.x;
const uint TX = bn / tn;   // invocations along the pixels
const uint TY = bm / tm;   // invocations along the rows
const uint SLOTS = WG / BK; // rows (pixels) one round of stage loads covers
const uint LA = (bm + SLOTS - 1u) / SLOTS; // a loads per invocation and stage
const uint LB = (bn + SLOTS - 1u) / SLOTS; // b loads per invocation and stage
// One vec4 of padding per chunk row: the stores of neighbouring invocations
// (neighbouring chunks of one row) fall in different banks.
const uint AP = bm + 1u;
const uint BP = bn + 1u;
// The next stage's operands wait in registers while this stage's FMAs run,
// which hide the loads' latency; where an invocation loads more than 4 vec4s
// a stage (small workgroups: 16 more VGPRs at 64 outputs each) it loads them
// right before storing them instead, so its registers stay under 128.
const bool PREFETCH = LA + LB <= 4u;

shared vec4 As[BK * AP]; // [chunk of the stage][row]
shared vec4 Bs[BK * BP]; // [chunk of the stage][pixel]

// (n, t, u) of pixel g of a phase of Ht x Wt pixels
uvec3 pixel_of(uint g, uint HWt, uint Wt) {
  uint n = g / HWt, tu = g - n * HWt;
  uint t = tu / Wt;
  return uvec3(n, t, tu - t * Wt);
}

// The reduction's (tap, chunk) walk of one invocation's stage slot: chunk c
// of tap column is, a's and b's offsets of the tap (conv2d_igemm's counters).
struct Walk {
  uint c, is, aoff, boff;
};

uint Si, a_step_s, a_step_r, b_step_s, b_step_r;

Walk walk_next(Walk w) {
  uint cn = w.c + 1u;
  bool tap_done = cn == pc.ch;
  bool row_done = tap_done && w.is + 1u == Si;
  w.c = tap_done ? 0u : cn;
  w.is = row_done ? 0u : (tap_done ? w.is + 1u : w.is);
  w.aoff += row_done ? a_step_r : (tap_done ? a_step_s : 0u);
  w.boff += row_done ? b_step_r : (tap_done ? b_step_s : 0u);
  return w;
}

// The stage loads of this invocation: chunk kk (at w) of rows (pixels)
// slot + l * SLOTS from their bases; zeros past the end of the reduction
// (live false), and no load for the slots past the tile (bm or bn < SLOTS).
uint slot;
uint abase[LA], bbase[LB];
vec4 ra[LA], rb[LB];
Walk w;

void load_stage(bool live) {
  for (uint l = 0; l < LA; l++) {
    bool ok = live && slot + l * SLOTS < bm;
    ra[l] = ok ? a4[abase[l] + w.aoff + w.c] : vec4(0.0);
  }
  for (uint l = 0; l < LB; l++) {
    bool ok = live && slot + l * SLOTS < bn;
    rb[l] = ok ? b4[bbase[l] + w.boff + w.c] : vec4(0.0);
  }
}

void main() {
  uint lid = gl_LocalInvocationID.x;

  // This workgroup's phase, as in conv2d_igemm.comp. Forward: one phase,
  // all taps, b row = t * stride.
  uint Ht, Wt, t0 = 0, u0 = 0, r0 = 0, s0 = 0, rstep = 1, sstep = 1, Rj;
  uint phases = backward == 0u ? 1u : pc.stride_h * pc.stride_w;
  if (backward == 0u) {
    Ht = pc.Hout;
    Wt = pc.Wout;
    Rj = pc.R;
    Si = pc.S;
  } else {
    uint phase = gl_WorkGroupID.x % phases;
    uint ph = phase / pc.stride_w, pw = phase % pc.stride_w;
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
  uint g0 = gl_WorkGroupID.y * bn;
  if (g0 >= npix) return; // uniform: this workgroup has no pixels in its phase
  uint m0 = gl_WorkGroupID.x / phases * bm;

  // Stage loads: this invocation loads chunk kk of the stage for rows
  // (pixels) slot, slot + SLOTS, ...; consecutive invocations read the
  // consecutive chunks of one row. Rows past M and pixels past the end read
  // the last one (in range; never stored).
  uint kk = lid % BK;
  slot = lid / BK;
  uint arow = pc.R * pc.S * pc.ch;
  for (uint l = 0; l < LA; l++) abase[l] = min(m0 + slot + l * SLOTS, pc.M - 1u) * arow;
  for (uint l = 0; l < LB; l++) {
    uvec3 p = pixel_of(min(g0 + slot + l * SLOTS, npix - 1u), HWt, Wt);
    uint hb = backward == 0u ? p.y * pc.stride_h : t0 + p.y + pc.pad_top;
    uint wb = backward == 0u ? p.z * pc.stride_w : u0 + p.z + pc.pad_left;
    bbase[l] = ((p.x * pc.Hb + hb) * pc.Wb + wb) * pc.ch;
  }

  // per tap: a moves by sstep taps; b by one pixel (forward: right, backward:
  // left); at the end of a tap row: a to the next row of taps, b one row
  a_step_s = sstep * pc.ch;
  a_step_r = (rstep * pc.S - (Si - 1u) * sstep) * pc.ch;
  b_step_s = backward == 0u ? pc.ch : 0u - pc.ch;
  b_step_r = backward == 0u ? (pc.Wb - (Si - 1u)) * pc.ch : 0u - (pc.Wb - (Si - 1u)) * pc.ch;
  uint nred = Rj * Si * pc.ch;
  w = Walk(0u, 0u, (r0 * pc.S + s0) * pc.ch, 0u);
  for (uint q = 0; q < kk; q++) w = walk_next(w);

  // w is at the stage loaded last (PREFETCH) or to load next
  if (PREFETCH) load_stage(kk < nred);

  uint tx = lid % TX, ty = lid / TX;
  float acc[tm][tn];
  for (uint i = 0; i < tm; i++)
    for (uint e = 0; e < tn; e++) acc[i][e] = 0.0;

  for (uint k0 = 0; k0 < nred; k0 += BK) {
    barrier(); // the previous stage's reads of As, Bs are done (WAR)
    if (!PREFETCH) {
      load_stage(k0 + kk < nred);
      for (uint q = 0; q < BK; q++) w = walk_next(w);
    }
    for (uint l = 0; l < LA; l++)
      if (slot + l * SLOTS < bm) As[kk * AP + slot + l * SLOTS] = ra[l];
    for (uint l = 0; l < LB; l++)
      if (slot + l * SLOTS < bn) Bs[kk * BP + slot + l * SLOTS] = rb[l];
    barrier(); // this stage's tiles are written (RAW)

    if (PREFETCH) {
      for (uint q = 0; q < BK; q++) w = walk_next(w);
      load_stage(k0 + BK + kk < nred);
    }

    for (uint j = 0; j < BK; j++) {
      vec4 bv[tn];
      for (uint e = 0; e < tn; e++) bv[e] = Bs[j * BP + tx + e * TX];
      for (uint i = 0; i < tm; i++) {
        vec4 av = As[j * AP + ty + i * TY];
        for (uint e = 0; e < tn; e++) {
          float s = acc[i][e];
          s = fma(av.x, bv[e].x, s);
          s = fma(av.y, bv[e].y, s);
          s = fma(av.z, bv[e].z, s);
          s = fma(av.w, bv[e].w, s);
          acc[i][e] = s;
        }
      }
    }
  }

  // accumulate is a specialization constant so that a kernel that writes has
  // no load of o; a branch, not a multiply by 0, so a NaN in o cannot leak
  // into a write.
  bool add_bias = (pc.flags & CONV2D_GEMM_BIAS) != 0u;
  uint HWo = pc.Hout * pc.Wout;
  for (uint e = 0; e < tn; e++) {
    uint g = g0 + tx + e * TX;
    uvec3 p = pixel_of(min(g, npix - 1u), HWt, Wt);
    uint h = backward == 0u ? p.y : (t0 + p.y) * pc.stride_h + r0 - pc.pad_h;
    uint wo = backward == 0u ? p.z : (u0 + p.z) * pc.stride_w + s0 - pc.pad_w;
    uint base = p.x * pc.M * HWo + h * pc.Wout + wo;
    for (uint i = 0; i < tm; i++) {
      uint m = m0 + ty + i * TY;
      if (g < npix && m < pc.M) {
        float v = acc[i][e] + (add_bias ? bias[m] : 0.0);
        uint idx = base + m * HWo;
        if (accumulate != 0u)
          o[idx] += v;
        else
          o[idx] = v;
      }
    }
  }
}
