#version 450
// C = A * B, row-major, fp32: the GPU geometry's GEMM baseline, the
// textbook shared-memory tiling. A workgroup of wx x wy invocations owns a
// (wy TM) x (wx TN) tile of C; per step of BK along K it copies A's and B's
// slices into shared memory (each invocation a few scalars, neighbouring
// invocations neighbouring addresses), then every invocation accumulates
// its TM x TN outputs, rows and columns strided by the workgroup size.
// Out-of-range elements load as zero and are never stored.
#include "gemm_baseline_tiled.h"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };

const uint TM = GEMM_TILED_TM;
const uint TN = GEMM_TILED_TN;
const uint BK = GEMM_TILED_BK;
const uint WX = gl_WorkGroupSize.x, WY = gl_WorkGroupSize.y;
const uint BM = WY * TM, BN = WX * TN, WG = WX * WY;
shared float As[BK][BM]; // A's slice, k-major
shared float Bs[BK][BN];

void main() {
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
  uint lid = gl_LocalInvocationIndex;
  uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
  float acc[TM][TN];
  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;
  for (uint k0 = 0; k0 < pc.K; k0 += BK) {
    for (uint e = lid; e < BM * BK; e += WG) { // A: BK consecutive ks of a row
      uint r = e / BK, k = e % BK;
      bool ok = m0 + r < pc.M && k0 + k < pc.K;
      As[k][r] = ok ? a[(m0 + r) * pc.K + k0 + k] : 0.0;
    }
    for (uint e = lid; e < BK * BN; e += WG) { // B: BN consecutive columns of a k
      uint k = e / BN, col = e % BN;
      bool ok = k0 + k < pc.K && n0 + col < pc.N;
      Bs[k][col] = ok ? b[(k0 + k) * pc.N + n0 + col] : 0.0;
    }
    barrier(); // the slices are written (RAW)
    for (uint k = 0; k < BK; k++) {
      float bk[TN];
      for (uint j = 0; j < TN; j++) bk[j] = Bs[k][tx + j * WX];
      for (uint i = 0; i < TM; i++) {
        float ak = As[k][ty + i * WY];
        for (uint j = 0; j < TN; j++) acc[i][j] += ak * bk[j];
      }
    }
    barrier(); // every invocation is done reading the slices (WAR)
  }
  for (uint i = 0; i < TM; i++) {
    uint row = m0 + ty + i * WY;
    if (row >= pc.M) continue;
    for (uint j = 0; j < TN; j++) {
      uint col = n0 + tx + j * WX;
      if (col < pc.N) c[row * pc.N + col] = acc[i][j];
    }
  }
}
