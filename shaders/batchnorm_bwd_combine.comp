#version 450
// batchnorm backward, per channel (one thread each): sums the threads'
// partials from batchnorm_bwd_reduce*.comp in entry order into
// Sdy = sum(dy) and Sdyx = sum(dy xhat) = invstd sum(dy (x - mean)), then
//   1. dbeta  = Sdy    (BN_ACCUMULATE: +=)
//   2. dgamma = Sdyx
//   3. the coefficients of dx = gamma invstd (dy - Sdy/M - xhat Sdyx/M) for
//      batchnorm_bwd_dx*.comp: mean, k = gamma invstd, mdy = Sdy/M,
//      c2 = invstd Sdyx/M. They use this batch's sums, never the
//      accumulated dgamma/dbeta.
#include "batchnorm_iface.h"

VKL_SPEC_LOCAL_X(0, wg_size)

layout(std430, binding = 0) buffer WS { float ws[]; };
layout(std430, binding = 1) readonly buffer Mean { float mean[]; };
layout(std430, binding = 2) readonly buffer Invstd { float invstd[]; };
layout(std430, binding = 3) readonly buffer G { float gamma[]; };
layout(std430, binding = 4) buffer DG { float dgamma[]; };
layout(std430, binding = 5) buffer DB { float dbeta[]; };

void main() {
  uint c = gl_GlobalInvocationID.x;
  if (c >= pc.C) return;
  float sdy = 0.0, sdyxm = 0.0;
  for (uint e = 0; e < pc.entries; e++) {
    uint p = pc.part_off + e * pc.C + c;
    sdy += ws[p];
    sdyxm += ws[p + pc.entries * pc.C];
  }
  float is = invstd[c];
  float sdyx = sdyxm * is;
  bool acc = (pc.flags & BN_ACCUMULATE) != 0u;
  if ((pc.flags & BN_HAS_DBETA) != 0u) dbeta[c] = acc ? dbeta[c] + sdy : sdy;
  if ((pc.flags & BN_HAS_DGAMMA) != 0u) dgamma[c] = acc ? dgamma[c] + sdyx : sdyx;
  float M = float(pc.N * pc.HW);
  ws[c] = mean[c];
  ws[pc.C + c] = ((pc.flags & BN_HAS_GAMMA) != 0u ? gamma[c] : 1.0) * is;
  ws[2u * pc.C + c] = sdy / M;
  ws[3u * pc.C + c] = is * sdyx / M;
}
