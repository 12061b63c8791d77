/* Body of batchnorm_bwd_dx{,4}.comp:
 *   dx = k ((dy - mdy) - (x - mean) c2)   (BN_ACCUMULATE: dx += ...)
 * with k = gamma invstd, mdy = sum(dy)/M, c2 = invstd^2 sum(dy (x - mean))/M
 * from batchnorm_bwd_combine.comp (workspace arrays mean, k, mdy, c2). */
#include "batchnorm_walk.h"

layout(std430, binding = 0) readonly buffer DY { BN_T dy[]; };
layout(std430, binding = 1) readonly buffer X { BN_T x[]; };
layout(std430, binding = 2) buffer DX { BN_T dx[]; };
layout(std430, binding = 3) readonly buffer WS { float ws[]; };

void main() {
  bn_thread th = bn_thread_get();
  if (!th.valid) return; /* no barriers in this kernel */
  uint c = th.c;
  float mu = ws[c], k = ws[pc.C + c], mdy = ws[2u * pc.C + c], c2 = ws[3u * pc.C + c];
  bool acc = (pc.flags & BN_ACCUMULATE) != 0u;
  for (uint n = th.n; n < th.n1; n += pc.tpc_n) {
    uint base = bn_plane(n, c);
    for (uint i = th.si; i < pc.HWu; i += pc.tpc_i) {
      BN_T v = k * ((dy[base + i] - mdy) - (x[base + i] - mu) * c2);
      /* a branch, not dx * beta: a NaN-poisoned dx must not leak into a write */
      dx[base + i] = acc ? dx[base + i] + v : v;
    }
  }
}
