#version 450
// y[j] = sum_i x[i][j] (+ y[j] when accumulating): the bias gradient of a
// matrix product (the bias is broadcast over rows). One invocation per
// column, summing rows in order, so results are deterministic; neighbouring
// invocations read neighbouring columns of a row.
#include "matmul_colsum.h"

layout(std430, binding = 0) restrict readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };

void main() {
  uint j = gl_GlobalInvocationID.x;
  if (j >= pc.cols) return;
  float s = 0.0;
  for (uint i = 0u; i < pc.rows; i++) s += x[i * pc.cols + j];
  if (pc.accumulate != 0u) s += y[j];
  y[j] = s;
}
