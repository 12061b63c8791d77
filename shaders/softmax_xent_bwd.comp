#version 450
// Softmax cross-entropy backward, one dispatch:
//   dz_ik = factor * (p_ik - t_ik),  p_ik = exp(z_ik - M_i) / S_i
// (1) the softmax from the row's max-shifted statistics (common/softmax_xent_row.h),
// (2) minus the smoothed target, t = target_label at the label, target_other elsewhere,
// (3) times factor = scale (/ N for the mean). accumulate adds into dlogits.
// A label outside [0, K) is flagged, never read: its row's gradient is NaN.
#include "softmax_xent_bwd.h"

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) readonly buffer Labels { uint labels[]; };
layout(std430, binding = 2) buffer DLogits { float dlogits[]; };

#include "softmax_xent_row.h"

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint lane = tid % tpr;
  uint row = gl_WorkGroupID.x * (XENT_WG / tpr) + tid / tpr;
  bool live = row < pc.N;
  uint y = live ? labels[row] : 0u;
  uint base = row * pc.K;
  row_stats(tid, lane, live, base, pc.K, 0.0, y);
  if (!live) return;

  uint r0 = tid - lane;
  float M = row_m[r0];
  float inv_s = 1.0 / row_s[r0];
  bool valid = y < pc.K;
  bool acc = pc.accumulate != 0u;
  for (uint k = lane; k < pc.K; k += tpr) {
    float p = exp(logits[base + k] - M) * inv_s;
    float t = k == y ? pc.target_label : pc.target_other;
    float g = valid ? pc.factor * (p - t) : XENT_NAN;
    dlogits[base + k] = acc ? dlogits[base + k] + g : g;
  }
}
