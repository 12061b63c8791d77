/* Body of batchnorm_eval{,4}.comp: evaluation forward, one channel per
 * workgroup (geometry: batchnorm_fused.h, with no exchange):
 * y = (x - running_mean) gamma / sqrt(running_var + eps) + beta. */
#include "batchnorm_fused.h"

layout(std430, binding = 0) readonly buffer X { BN_T x[]; };
layout(std430, binding = 1) writeonly buffer Y { BN_T y[]; };
layout(std430, binding = 2) readonly buffer RM { float running_mean[]; };
layout(std430, binding = 3) readonly buffer RV { float running_var[]; };
layout(std430, binding = 4) readonly buffer G { float gamma[]; };
layout(std430, binding = 5) readonly buffer Bt { float beta[]; };

void main() {
  uint c = gl_WorkGroupID.x;
  float pivot = running_mean[c];
  float scale = (BNF_HAS(BN_HAS_GAMMA) ? gamma[c] : 1.0) / sqrt(running_var[c] + pc.eps);
  float shift = BNF_HAS(BN_HAS_BETA) ? beta[c] : 0.0;
  [[unroll]] for (uint r = 0u; r < nrun; r++) {
    bool ok;
    uint base = bnf_run_base(r, ok);
    [[unroll]] for (uint k = 0u; k < run; k++)
      if (ok) y[BNF_AT(base, k)] = (x[BNF_AT(base, k)] - pivot) * scale + shift;
  }
}
