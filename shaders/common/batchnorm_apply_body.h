/* Body of batchnorm_apply{,4}.comp: y = (x - pivot) * scale + shift per
 * channel. Training: the coefficients batchnorm_combine.comp left in the
 * workspace (pivot K, scale = gamma invstd, shift = beta - (mean - K) scale,
 * so no large value is ever subtracted from another after rounding).
 * Evaluation (BN_EVAL): pivot = running_mean, scale = gamma /
 * sqrt(running_var + eps), shift = beta, computed once per thread. */
#include "batchnorm_walk.h"

layout(std430, binding = 0) readonly buffer X { BN_T x[]; };
layout(std430, binding = 1) writeonly buffer Y { BN_T y[]; };
layout(std430, binding = 2) readonly buffer A { float a[]; };     /* workspace, or running_mean */
layout(std430, binding = 3) readonly buffer B { float b[]; };     /* running_var (eval) */
layout(std430, binding = 4) readonly buffer G { float gamma[]; }; /* eval, BN_HAS_GAMMA */
layout(std430, binding = 5) readonly buffer Bt { float beta[]; }; /* eval, BN_HAS_BETA */

void main() {
  bn_thread th = bn_thread_get();
  if (!th.valid) return; /* no barriers in this kernel */
  uint c = th.c;
  float pivot, scale, shift;
  if ((pc.flags & BN_EVAL) != 0u) {
    pivot = a[c];
    scale = ((pc.flags & BN_HAS_GAMMA) != 0u ? gamma[c] : 1.0) / sqrt(b[c] + pc.eps);
    shift = (pc.flags & BN_HAS_BETA) != 0u ? beta[c] : 0.0;
  } else {
    pivot = a[c];
    scale = a[pc.C + c];
    shift = a[2u * pc.C + c];
  }
#define BN_UNIT(j) y[j] = (x[j] - pivot) * scale + shift;
  BN_WALK(th)
}
