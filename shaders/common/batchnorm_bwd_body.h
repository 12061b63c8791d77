/* Body of batchnorm_bwd{,4}.comp: the backward pass of one channel per
 * workgroup, in one dispatch (geometry: batchnorm_fused.h):
 *  1. dy and x - mean into registers; the sums over the channel of dy and
 *     of dy (x - mean) give Sdy and Sdyx = invstd sum(dy (x - mean));
 *  2. thread 0 writes dbeta = Sdy and dgamma = Sdyx (BN_ACCUMULATE: +=);
 *  3. dx = k ((dy - Sdy/M) - (x - mean) c2), k = gamma invstd,
 *     c2 = invstd Sdyx / M, from the registers (BN_ACCUMULATE: dx +=),
 *     as batchnorm_bwd_combine.comp and batchnorm_bwd_dx_body.h. */
#include "batchnorm_fused.h"

layout(std430, binding = 0) readonly buffer DY { BN_T dy[]; };
layout(std430, binding = 1) readonly buffer X { BN_T x[]; };
layout(std430, binding = 2) buffer DX { BN_T dx[]; };
layout(std430, binding = 3) readonly buffer Mean { float mean[]; };
layout(std430, binding = 4) readonly buffer Invstd { float invstd[]; };
layout(std430, binding = 5) readonly buffer G { float gamma[]; };
layout(std430, binding = 6) buffer DG { float dgamma[]; };
layout(std430, binding = 7) buffer DB { float dbeta[]; };

shared float s_dy[BNF_WG_MAX], s_dyx[BNF_WG_MAX];

void main() {
  uint c = gl_WorkGroupID.x;
  float mu = mean[c], is = invstd[c];
  BN_T g[nrun * run], xm[nrun * run];
  bool ok[nrun];
  uint base[nrun];
  BN_T a = BN_T(0.0), b = BN_T(0.0);
  [[unroll]] for (uint r = 0u; r < nrun; r++) {
    base[r] = bnf_run_base(r, ok[r]);
    [[unroll]] for (uint k = 0u; k < run; k++) {
      uint i = r * run + k;
      g[i] = dy[BNF_AT(base[r], k)];
      xm[i] = x[BNF_AT(base[r], k)] - mu;
      BN_T gv = ok[r] ? g[i] : BN_T(0.0);
      a += gv;
      b += gv * xm[i];
    }
  }
  /* one exchange for both sums: the second array needs no barrier of its own */
  s_dy[gl_LocalInvocationIndex] = BN_HSUM(a);
  float sdy, sdyxm;
  BNF_WG_SUM(s_dyx, BN_HSUM(b), sdyxm)
  sdy = 0.0;
  [[unroll]] for (uint e = 0u; e < gl_WorkGroupSize.x; e++) sdy += s_dy[e];
  float sdyx = sdyxm * is;
  if (gl_LocalInvocationIndex == 0u) {
    bool acc = BNF_HAS(BN_ACCUMULATE);
    if (BNF_HAS(BN_HAS_DBETA)) dbeta[c] = acc ? dbeta[c] + sdy : sdy;
    if (BNF_HAS(BN_HAS_DGAMMA)) dgamma[c] = acc ? dgamma[c] + sdyx : sdyx;
  }
  float kk = (BNF_HAS(BN_HAS_GAMMA) ? gamma[c] : 1.0) * is;
  float mdy = sdy * pc.inv_count, c2 = is * sdyx * pc.inv_count;
  [[unroll]] for (uint r = 0u; r < nrun; r++)
    [[unroll]] for (uint k = 0u; k < run; k++) {
      uint i = r * run + k;
      BN_T v = kk * ((g[i] - mdy) - xm[i] * c2);
      /* accumulation is a branch, not dx * beta: a NaN-poisoned dx must not
       * leak into a write, and writing must not read dx */
      if (BNF_HAS(BN_ACCUMULATE)) {
        if (ok[r]) dx[BNF_AT(base[r], k)] += v;
      } else {
        if (ok[r]) dx[BNF_AT(base[r], k)] = v;
      }
    }
}
