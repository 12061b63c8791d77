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
  /* Accumulation is a branch around the walk, not dx * beta: a NaN-poisoned
   * dx must not leak into a write, and writing must not read dx. */
#define BN_DX(j) (k * ((dy[j] - mdy) - (x[j] - mu) * c2))
  if ((pc.flags & BN_ACCUMULATE) != 0u) {
#define BN_UNIT(j) dx[j] += BN_DX(j);
    BN_WALK(th)
  } else {
#undef BN_UNIT
#define BN_UNIT(j) dx[j] = BN_DX(j);
    BN_WALK(th)
  }
}
