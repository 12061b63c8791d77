/* Body of batchnorm_bwd_reduce{,4}.comp: each thread's partial sums of its
 * values of one channel, sum(dy) and sum(dy (x - mean)), for
 * batchnorm_bwd_combine.comp. */
#include "batchnorm_walk.h"

layout(std430, binding = 0) readonly buffer DY { BN_T dy[]; };
layout(std430, binding = 1) readonly buffer X { BN_T x[]; };
layout(std430, binding = 2) readonly buffer Mean { float mean[]; };
layout(std430, binding = 3) writeonly buffer WS { float ws[]; };

void main() {
  bn_thread th = bn_thread_get();
  if (!th.valid) return; /* no barriers in this kernel */
  float mu = mean[th.c];
  BN_T a = BN_T(0.0), b = BN_T(0.0);
#define BN_UNIT(j)     \
  {                    \
    BN_T g = dy[j];    \
    a += g;            \
    b += g * (x[j] - mu); \
  }
  BN_WALK(th)
  uint p = pc.part_off + th.e * pc.C + th.c;
  ws[p] = BN_HSUM(a);
  ws[p + pc.entries * pc.C] = BN_HSUM(b);
}
