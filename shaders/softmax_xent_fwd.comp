#version 450
// Softmax cross-entropy forward, one dispatch: the batch loss
//   loss_i = log sum_k exp(z_ik) - keep z_i,y - smooth_k sum_k z_ik,
//   loss = sum_i loss_i / divisor (N for the mean, 1 for the sum)
// and the number of samples whose label is among the top 1 and top 5 logits (a row
// holding a NaN or an infinity counts as neither).
// See ops/softmax_xent.h for the math and common/softmax_xent_row.h for a row.
//
// A label outside [0, K) is flagged, never read: its row's loss is NaN (so the
// batch loss is NaN) and it counts as wrong.
//
// Summation: each group adds its rows' losses and hits in a fixed tree; a grid of
// one group writes the result at once. Otherwise each group stores its partial
// and counts itself on an integer counter; the group that counts last adds all
// partials in group order. The order is fixed, so the loss is bit-identical run
// to run. Memory model: as in sumsq_seg.comp (core 1.2 without the
// vulkanMemoryModel feature): a `coherent` workspace, memoryBarrierBuffer()
// as release before and acquire after the atomicAdd.
#include "softmax_xent_fwd.h"

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 0) readonly buffer Logits4 { vec4 logits4[]; };
layout(std430, binding = 1) readonly buffer Labels { uint labels[]; };
layout(std430, binding = 2) coherent buffer Work { uint work[]; };
layout(std430, binding = 3) buffer Loss { float loss[]; };
layout(std430, binding = 4) buffer Correct { uint correct[]; };
layout(std430, binding = 5) writeonly buffer Stats { vec2 stats[]; };

#define XENT_RANK
#include "softmax_xent_row.h"

shared bool last;
shared float tot_loss[XENT_WG];
shared uvec2 tot_hits[XENT_WG];

// Adds tot_*[0..count) into tot_*[0] in a fixed order, fan-in 8 per level (count
// <= 64: two levels); every invocation calls it. Few barriers: on CPU
// implementations each one costs far more than the shared-memory additions.
void tree_sum(uint t, uint count) {
  barrier(); // tot_* written (RAW in shared)
  if (8u * t < count) {
    float l = tot_loss[8u * t];
    uvec2 h = tot_hits[8u * t];
    for (uint k = 8u * t + 1u; k < min(8u * t + 8u, count); k++) {
      l += tot_loss[k];
      h += tot_hits[k];
    }
    tot_loss[8u * t] = l;
    tot_hits[8u * t] = h;
  }
  barrier(); // the first level's sums written
  if (t == 0u) {
    float l = tot_loss[0];
    uvec2 h = tot_hits[0];
    for (uint k = 8u; k < count; k += 8u) {
      l += tot_loss[k];
      h += tot_hits[k];
    }
    tot_loss[0] = l;
    tot_hits[0] = h;
  }
  barrier(); // tot_*[0] complete before it is read
}

void write_result(float total, uvec2 hits) {
  float l = total / pc.divisor;
  bool acc = pc.accumulate != 0u;
  loss[0] = acc ? loss[0] + l : l;
  if (pc.has_correct != 0u) {
    correct[0] = acc ? correct[0] + hits.x : hits.x;
    correct[1] = acc ? correct[1] + hits.y : hits.y;
  }
}

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint lane = tid % tpr;
  uint row = gl_WorkGroupID.x * (XENT_WG / tpr) + tid / tpr;
  bool live = row < pc.N;
  uint y = live ? labels[row] : 0u;
  bool valid = y < pc.K;
  uint base = row * pc.K;
  float zy = live && valid ? logits[base + y] : 0.0;
  row_acc a = row_stats(tid, lane, live, base, pc.K, zy, y);

  // one value per row, from its first invocation
  const uint ROWS = XENT_WG / tpr;
  if (lane == 0u) {
    float l = 0.0;
    uvec2 h = uvec2(0u);
    if (live && y != XENT_IGNORE) { // padding adds nothing
      if (valid) {
        l = log(a.s) - pc.keep * (zy - a.m) - pc.smooth_k * a.d;
        bool finite = a.bad == 0u; // a NaN or inf row is never a hit
        h = uvec2(finite && a.ahead < 1u ? 1u : 0u, finite && a.ahead < 5u ? 1u : 0u);
      } else {
        l = XENT_NAN;
      }
    }
    if (live && pc.has_stats != 0u) stats[row] = vec2(a.m, a.s);
    tot_loss[tid / tpr] = l;
    tot_hits[tid / tpr] = h;
  }
  tree_sum(tid, ROWS);

  if (pc.groups == 1u) {
    if (tid == 0u) write_result(tot_loss[0], tot_hits[0]);
    return;
  }
  if (tid == 0u) {
    uint p = 1u + 3u * gl_WorkGroupID.x;
    work[p] = floatBitsToUint(tot_loss[0]);
    work[p + 1u] = tot_hits[0].x;
    work[p + 2u] = tot_hits[0].y;
    memoryBarrierBuffer(); // release: the partial before the count
    last = atomicAdd(work[0], 1u) == pc.groups - 1u;
    memoryBarrierBuffer(); // acquire: the other groups' partials after the count
  }
  barrier(); // `last` written by invocation 0 before all read it
  if (!last) return;
  memoryBarrierBuffer(); // acquire for every invocation of the last group

  float l = 0.0;
  uvec2 h = uvec2(0u);
  for (uint g = tid; g < pc.groups; g += XENT_WG) {
    uint p = 1u + 3u * g;
    l += uintBitsToFloat(work[p]);
    h += uvec2(work[p + 1u], work[p + 2u]);
  }
  tot_loss[tid] = l;
  tot_hits[tid] = h;
  tree_sum(tid, XENT_WG);
  if (tid == 0u) write_result(tot_loss[0], tot_hits[0]);
}
