/* Body of batchnorm_stats{,4}.comp: each thread's statistics of its values
 * of one channel, as a partial (count, mean, M2) of d = x - K.
 *
 * K = x[0, c, 0] is a pivot: a value of the channel, so close to its mean
 * in scale. d = x - K is exact for x within a factor 2 of K (Sterbenz),
 * which keeps the mean of d, and y after it, accurate when |mean| >> std
 * (at 1e4 +- 1 a float mean alone carries an error of 5e-4). Welford's
 * update, per vector component,
 *   k += 1, delta = d - mean, mean += delta / k, M2 += delta (d - mean),
 * is stable in one pass (each value is read once); the components are then
 * merged with Chan's formula for equal counts, and batchnorm_combine.comp
 * merges the threads' partials. */
#include "batchnorm_walk.h"

layout(std430, binding = 0) readonly buffer X { BN_T x[]; };
layout(std430, binding = 1) writeonly buffer WS { float ws[]; };

void main() {
  bn_thread th = bn_thread_get();
  if (!th.valid) return; /* no barriers in this kernel */
  float K = BN_FIRST(x[bn_plane(0u, th.c)]);
  BN_T mean = BN_T(0.0), m2 = BN_T(0.0);
  float k = 0.0;
#define BN_UNIT(j)               \
  {                              \
    BN_T d = x[j] - K;           \
    k += 1.0;                    \
    BN_T delta = d - mean;       \
    mean += delta * (1.0 / k);   \
    m2 += delta * (d - mean);    \
  }
  BN_WALK(th)
#if BN_VEC == 4
  /* Chan's merge of the 4 components, each of count k */
  float mu = BN_HSUM(mean) * 0.25;
  vec4 dm = mean - mu;
  float s2 = BN_HSUM(m2) + k * BN_HSUM(dm * dm);
#else
  float mu = mean, s2 = m2;
#endif
  uint p = pc.part_off + th.e * pc.C + th.c, stride = pc.entries * pc.C;
  ws[p] = k * float(BN_VEC);
  ws[p + stride] = mu;
  ws[p + 2u * stride] = s2;
}
