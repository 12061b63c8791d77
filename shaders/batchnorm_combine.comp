#version 450
// batchnorm training forward, per channel (one thread each): merges the
// threads' partials (count, mean of d, M2) from batchnorm_stats*.comp,
// d = x - K, in entry order with Chan et al.'s pairwise formula
//   delta = mean_b - mean_a, n = n_a + n_b,
//   mean = mean_a + delta n_b / n,  M2 = M2_a + M2_b + delta^2 n_a n_b / n,
// then writes mean = K + mean(d), invstd = 1 / sqrt(M2 / M + eps) (biased
// variance), the running statistics (unbiased variance M2 / (M - 1), as
// PyTorch) and the coefficients of batchnorm_apply*.comp.
#include "batchnorm_iface.h"

VKL_SPEC_LOCAL_X(0, wg_size)

layout(std430, binding = 0) buffer WS { float ws[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Mean { float mean[]; };
layout(std430, binding = 3) writeonly buffer Invstd { float invstd[]; };
layout(std430, binding = 4) buffer RM { float running_mean[]; };
layout(std430, binding = 5) buffer RV { float running_var[]; };
layout(std430, binding = 6) readonly buffer G { float gamma[]; };
layout(std430, binding = 7) readonly buffer Bt { float beta[]; };

void main() {
  uint c = gl_GlobalInvocationID.x;
  if (c >= pc.C) return;
  float K = x[c * pc.HW]; /* the pivot batchnorm_stats used: x[0, c, 0] */
  float n_a = 0.0, mu = 0.0, m2 = 0.0;
  uint stride = pc.entries * pc.C;
  for (uint e = 0; e < pc.entries; e++) {
    uint p = pc.part_off + e * pc.C + c;
    float n_b = ws[p];
    if (n_b == 0.0) continue; /* a thread with no values */
    float n = n_a + n_b;
    float delta = ws[p + stride] - mu;
    mu += delta * (n_b / n);
    m2 += ws[p + 2u * stride] + delta * delta * (n_a * (n_b / n));
    n_a = n;
  }
  float is = 1.0 / sqrt(m2 / n_a + pc.eps);
  float mean_c = K + mu;
  mean[c] = mean_c;
  invstd[c] = is;
  float mom = pc.momentum;
  if ((pc.flags & BN_HAS_RUNNING_MEAN) != 0u)
    running_mean[c] = (1.0 - mom) * running_mean[c] + mom * mean_c;
  if ((pc.flags & BN_HAS_RUNNING_VAR) != 0u)
    running_var[c] = (1.0 - mom) * running_var[c] + mom * (m2 / (n_a - 1.0));
  float scale = ((pc.flags & BN_HAS_GAMMA) != 0u ? gamma[c] : 1.0) * is;
  float shift = ((pc.flags & BN_HAS_BETA) != 0u ? beta[c] : 0.0) - mu * scale;
  ws[c] = K;
  ws[pc.C + c] = scale;
  ws[2u * pc.C + c] = shift;
}
