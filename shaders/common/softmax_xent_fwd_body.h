/* The kernel of softmax_xent_fwd.comp and its variants; defines before
 * inclusion: VKL_REDUCE_MM, VKL_REDUCE_SUBGROUP (see sumsq_seg_body.h). */
#include "softmax_xent_fwd.h"
#include "reduce_sync.h"

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 0) readonly buffer Logits4 { vec4 logits4[]; };
layout(std430, binding = 1) readonly buffer Labels { uint labels[]; };
layout(std430, binding = 2) REDUCE_WORK buffer Work { uint work[]; };
layout(std430, binding = 3) buffer Loss { float loss[]; };
layout(std430, binding = 4) buffer Correct { uint correct[]; };
layout(std430, binding = 5) writeonly buffer Stats { vec2 stats[]; };

#define XENT_RANK
#include "softmax_xent_row.h"

#ifdef VKL_REDUCE_MM
shared uint last; // 1: this group counted last
#endif
shared float tot_loss[XENT_WG];
shared uvec2 tot_hits[XENT_WG];

// Both sums below read shared memory in loops only under uniform control flow
// or fully unrolled (lavapipe and the memory model: common/reduce_sync.h).
#ifdef VKL_REDUCE_SUBGROUP
// The workgroup's sums of l and h, valid in every invocation: subgroupAdd
// within each subgroup, then every subgroup adds the subgroups' sums (lane k
// taking sums k, k + gl_SubgroupSize, ...) and a last subgroupAdd. Any subgroup
// size; one barrier; a fixed order for a device. A caller barriers before
// writing tot_* again.
void group_sum(uint t, inout float l, inout uvec2 h) {
  l = subgroupAdd(l);
  h = subgroupAdd(h);
  if (gl_SubgroupInvocationID == 0u) {
    tot_loss[gl_SubgroupID] = l;
    tot_hits[gl_SubgroupID] = h;
  }
  barrier(); // the subgroups' sums written (RAW in shared)
  l = 0.0;
  h = uvec2(0u);
  for (uint k0 = 0u; k0 < gl_NumSubgroups; k0 += gl_SubgroupSize) {
    uint k = k0 + gl_SubgroupInvocationID, q = min(k, gl_NumSubgroups - 1u);
    bool inside = k < gl_NumSubgroups;
    l += inside ? tot_loss[q] : 0.0;
    h += inside ? tot_hits[q] : uvec2(0u);
  }
  l = subgroupAdd(l);
  h = subgroupAdd(h);
}
#else
// The workgroup's sums of l and h in a fixed order, valid in every invocation:
// invocation i < WG/8 adds values 8i .. 8i+7 in turn, then every invocation adds
// those sums in turn. Two barriers: on CPU implementations each one costs far
// more than the shared-memory additions. A caller barriers before writing tot_*.
void group_sum(uint t, inout float l, inout uvec2 h) {
  tot_loss[t] = l;
  tot_hits[t] = h;
  barrier(); // tot_* written (RAW in shared)
  if (8u * t < XENT_WG) {
    float a = tot_loss[8u * t];
    uvec2 b = tot_hits[8u * t];
    [[unroll]] for (uint k = 1u; k < 8u; k++) {
      if (8u * t + k < XENT_WG) {
        a += tot_loss[8u * t + k];
        b += tot_hits[8u * t + k];
      }
    }
    tot_loss[8u * t] = a;
    tot_hits[8u * t] = b;
  }
  barrier(); // the first level's sums written (RAW in shared)
  l = tot_loss[0];
  h = tot_hits[0];
  for (uint k = 8u; k < XENT_WG; k += 8u) {
    l += tot_loss[k];
    h += tot_hits[k];
  }
}
#endif

void write_result(float total, uvec2 hits) {
  float l = total / pc.divisor;
  bool acc = pc.accumulate != 0u;
  loss[0] = acc ? loss[0] + l : l;
  if (pc.has_correct != 0u) {
    correct[0] = acc ? correct[0] + hits.x : hits.x;
    correct[1] = acc ? correct[1] + hits.y : hits.y;
  }
}

// The batch's result from the groups' partials, added in group order (each
// invocation a strided serial sum, then group_sum).
void finish_all(uint tid) {
  float l = 0.0;
  uvec2 h = uvec2(0u);
  for (uint g = tid; g < pc.groups; g += XENT_WG) {
    uint p = 1u + 3u * g;
    l += uintBitsToFloat(REDUCE_LOAD(work[p]));
    h += uvec2(REDUCE_LOAD(work[p + 1u]), REDUCE_LOAD(work[p + 2u]));
  }
  group_sum(tid, l, h);
  if (tid == 0u) write_result(l, h);
}

void main() {
  uint tid = gl_LocalInvocationID.x;
  // The second dispatch (recorded only without the memory model, valid in every
  // variant): one group adds the partials.
  if (finish != 0u) {
    finish_all(tid);
    return;
  }
  uint lane = tid % tpr;
  uint row = gl_WorkGroupID.x * (XENT_WG / tpr) + tid / tpr;
  bool live = row < pc.N;
  uint y = live ? labels[row] : 0u;
  bool valid = y < pc.K;
  uint base = row * pc.K;
  float zy = live && valid ? logits[base + y] : 0.0;
  row_acc a = row_stats(tid, lane, live, base, pc.K, zy, y);

  // one value per row, from its first invocation; the other lanes add nothing
  float l = 0.0;
  uvec2 h = uvec2(0u);
  if (lane == 0u) {
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
  }
  group_sum(tid, l, h);

  if (pc.groups == 1u) {
    if (tid == 0u) write_result(l, h);
    return;
  }
  uint p = 1u + 3u * gl_WorkGroupID.x;
  if (tid == 0u) {
    REDUCE_STORE(work[p], floatBitsToUint(l));
    REDUCE_STORE(work[p + 1u], h.x);
    REDUCE_STORE(work[p + 2u], h.y);
#ifdef VKL_REDUCE_MM
    last = REDUCE_ARRIVE(work[0]) == pc.groups - 1u ? 1u : 0u; // release ours, acquire theirs
#endif
  }
#ifdef VKL_REDUCE_MM
  REDUCE_SHARE_ACQUIRED(); // `last` and the acquired partials, to every invocation
  if (last != 0u) finish_all(tid);
#endif
}
