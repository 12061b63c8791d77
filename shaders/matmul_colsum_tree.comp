#version 450
// y[j] = sum_i x[i][j] (+ y[j] when accumulating), the bias gradient of a
// matrix product, for the GPU geometry (see matmul_colsum_tree.h).
// Invocation (lx, ly) of a workgroup sums rows ly, ly + wg_y, ... of column
// lx (neighbouring invocations read neighbouring columns of a row); the
// wg_y partial sums of a column then fold pairwise in shared memory,
// strides 1, 2, 4, ..., in a fixed order, so results are deterministic.
#include "matmul_colsum_tree.h"

layout(std430, binding = 0) restrict readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };

const uint CX = gl_WorkGroupSize.x;
const uint CY = gl_WorkGroupSize.y;
shared float part[CY * CX];

void main() {
  uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
  uint j = gl_WorkGroupID.x * CX + lx;
  uint jc = min(j, pc.cols - 1u); // columns past the end sum the last one, never stored
  float s = 0.0;
  uint at = ly * pc.cols + jc, step = CY * pc.cols;
  for (uint i = ly; i < pc.rows; i += CY, at += step) s += x[at];
  part[ly * CX + lx] = s;
  for (uint h = 1u; h < CY; h *= 2u) {
    barrier(); // the partial sums of the previous fold are written (RAW)
    if ((ly & (2u * h - 1u)) == 0u && ly + h < CY) part[ly * CX + lx] += part[(ly + h) * CX + lx];
  }
  barrier(); // the last fold is written (RAW)
  if (ly != 0u || j >= pc.cols) return;
  float total = part[lx];
  if (pc.accumulate != 0u) total += y[j];
  y[j] = total;
}
