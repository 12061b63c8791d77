#version 450
// C = A * B, row-major, fp32: the plain register-blocked GEMM baseline.
// No shared memory (tiling through it measured 2x slower on lavapipe). Each
// invocation accumulates a TM x TN block of C in registers. Its rows and
// columns are strided by the workgroup size, so neighbouring invocations
// (neighbouring SIMD lanes on a CPU, threads of a warp on a GPU) read
// neighbouring columns of B and write neighbouring columns of C.
#include "gemm_baseline.h"

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };

const uint TM = GEMM_BASELINE_TM;
const uint TN = GEMM_BASELINE_TN;

void main() {
  uint wx = gl_WorkGroupSize.x, wy = gl_WorkGroupSize.y;
  uint row0 = gl_WorkGroupID.y * wy * TM + gl_LocalInvocationID.y;
  uint col0 = gl_WorkGroupID.x * wx * TN + gl_LocalInvocationID.x;
  float acc[TM][TN];
  for (uint i = 0; i < TM; i++)
    for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;
  for (uint k = 0; k < pc.K; k++) {
    float bk[TN];
    for (uint j = 0; j < TN; j++) {
      uint col = col0 + j * wx;
      bk[j] = col < pc.N ? b[k * pc.N + col] : 0.0;
    }
    for (uint i = 0; i < TM; i++) {
      uint row = row0 + i * wy;
      float ak = row < pc.M ? a[row * pc.K + k] : 0.0;
      for (uint j = 0; j < TN; j++) acc[i][j] += ak * bk[j];
    }
  }
  for (uint i = 0; i < TM; i++) {
    uint row = row0 + i * wy;
    if (row >= pc.M) continue;
    for (uint j = 0; j < TN; j++) {
      uint col = col0 + j * wx;
      if (col < pc.N) c[row * pc.N + col] = acc[i][j];
    }
  }
}
