#version 450
// Softmax cross-entropy backward, one dispatch:
//   dz_ik = factor * (p_ik - t_ik),  p_ik = exp(z_ik - M_i) / S_i
// (1) the softmax from the row's max-shifted statistics (common/softmax_xent_row.h),
// (2) minus the smoothed target, t = target_label at the label, target_other elsewhere,
// (3) times factor = scale (/ N for the mean). accumulate adds into dlogits.
// The row's M and S come from a pass over the row, or (saved = 1) from the
// statistics the forward wrote: then one pass, one exp per element.
// A label outside [0, K) is flagged, never read: its row's gradient is NaN.
#include "softmax_xent_bwd.h"

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 0) readonly buffer Logits4 { vec4 logits4[]; };
layout(std430, binding = 1) readonly buffer Labels { uint labels[]; };
layout(std430, binding = 2) buffer DLogits { float dlogits[]; };
layout(std430, binding = 2) buffer DLogits4 { vec4 dlogits4[]; };
layout(std430, binding = 3) readonly buffer Stats { vec2 stats[]; };

#include "softmax_xent_row.h"

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint lane = tid % tpr;
  uint row = gl_WorkGroupID.x * (XENT_WG / tpr) + tid / tpr;
  bool live = row < pc.N;
  uint y = live ? labels[row] : 0u;
  uint base = row * pc.K;
  row_acc a;
  if (saved != 0u) {
    if (!live) return;
    vec2 ms = stats[row];
    a.m = ms.x;
    a.s = ms.y;
  } else {
    a = row_stats(tid, lane, live, base, pc.K, 0.0, y);
    if (!live) return;
  }

  float M = a.m;
  // (1)-(3): g = factor (exp(z - M) / S - t) = exp(z - M) c - factor t, c = factor / S;
  // a flagged label makes c and the targets NaN, so the whole row is NaN
  // a padding row (XENT_IGNORE) gets zeros: c = 0 and no targets
  bool valid = y < pc.K, ignored = y == XENT_IGNORE;
  float c = ignored ? 0.0 : valid ? pc.factor / a.s : XENT_NAN;
  vec4 ft_other = vec4(ignored ? 0.0 : valid ? pc.factor * pc.target_other : XENT_NAN);
  float ft_label = pc.factor * pc.target_label;
  bool acc = pc.accumulate != 0u;
  uint b4, e4;
  row_bounds(base, pc.K, b4, e4);
  // same element split as row_stats: vec4s by lane, the ends by lane 0
  uint j = b4 / 4u + lane, je = e4 / 4u;
  for (; j < je; j += tpr) {
    vec4 z = logits4[j];
    vec4 g = exp(z - M) * c - ft_other;
    uint k = 4u * j - base; // the class of g.x
    if (valid && y - k < 4u) g[y - k] = exp(z[y - k] - M) * c - ft_label;
    if (acc) g += dlogits4[j];
    dlogits4[j] = g;
  }
  if (lane == 0u) {
    for (uint i = base; i < base + pc.K; i++) {
      if (i == b4) i = e4; // skip the middle
      if (i >= base + pc.K) break;
      float g = exp(logits[i] - M) * c - (i - base == y ? ft_label : ft_other.x);
      if (acc) g += dlogits[i];
      dlogits[i] = g;
    }
  }
}
