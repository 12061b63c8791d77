/* Body of batchnorm_train{,4}.comp: the training forward pass of one channel
 * per workgroup, in one dispatch (geometry: batchnorm_fused.h):
 *  1. d = x - K into registers, K = x[0, c, 0]; the sum of d over the
 *     channel gives mean(d);
 *  2. the sum of (d - mean(d))^2 gives M2, invstd = 1 / sqrt(M2 / M + eps)
 *     (biased), the running variance M2 / (M - 1) (unbiased, as PyTorch);
 *  3. y = (d - mean(d)) gamma invstd + beta from the registers.
 * Thread 0 writes mean = K + mean(d), invstd and the running statistics. */
#include "batchnorm_fused.h"

layout(std430, binding = 0) readonly buffer X { BN_T x[]; };
layout(std430, binding = 1) writeonly buffer Y { BN_T y[]; };
layout(std430, binding = 2) writeonly buffer Mean { float mean[]; };
layout(std430, binding = 3) writeonly buffer Invstd { float invstd[]; };
layout(std430, binding = 4) buffer RM { float running_mean[]; };
layout(std430, binding = 5) buffer RV { float running_var[]; };
layout(std430, binding = 6) readonly buffer G { float gamma[]; };
layout(std430, binding = 7) readonly buffer Bt { float beta[]; };

shared float s_sum[BNF_WG_MAX], s_ssd[BNF_WG_MAX];

void main() {
  uint c = gl_WorkGroupID.x;
  float K = BN_FIRST(x[c * BNF_HWU]);
  BN_T v[nrun * run];
  bool ok[nrun];
  uint base[nrun];
  BN_T s = BN_T(0.0);
  [[unroll]] for (uint r = 0u; r < nrun; r++) {
    base[r] = bnf_run_base(r, ok[r]);
    [[unroll]] for (uint k = 0u; k < run; k++) {
      BN_T d = x[BNF_AT(base[r], k)] - K;
      v[r * run + k] = ok[r] ? d : BN_T(0.0);
      s += v[r * run + k];
    }
  }
  float mu;
  BNF_WG_SUM(s_sum, BN_HSUM(s), mu)
  mu *= pc.inv_count;
  BN_T s2 = BN_T(0.0);
  [[unroll]] for (uint r = 0u; r < nrun; r++)
    [[unroll]] for (uint k = 0u; k < run; k++) {
      BN_T e = v[r * run + k] - mu;
      s2 += ok[r] ? e * e : BN_T(0.0);
    }
  float m2;
  BNF_WG_SUM(s_ssd, BN_HSUM(s2), m2)
  float is = 1.0 / sqrt(m2 * pc.inv_count + pc.eps);
  float scale = (BNF_HAS(BN_HAS_GAMMA) ? gamma[c] : 1.0) * is;
  float shift = BNF_HAS(BN_HAS_BETA) ? beta[c] : 0.0;
  if (gl_LocalInvocationIndex == 0u) {
    float mean_c = K + mu, mom = pc.momentum;
    mean[c] = mean_c;
    invstd[c] = is;
    if (BNF_HAS(BN_HAS_RUNNING_MEAN))
      running_mean[c] = (1.0 - mom) * running_mean[c] + mom * mean_c;
    if (BNF_HAS(BN_HAS_RUNNING_VAR))
      running_var[c] = (1.0 - mom) * running_var[c] + mom * (m2 / (pc.count - 1.0));
  }
  [[unroll]] for (uint r = 0u; r < nrun; r++)
    [[unroll]] for (uint k = 0u; k < run; k++)
      if (ok[r]) y[BNF_AT(base[r], k)] = (v[r * run + k] - mu) * scale + shift;
}
