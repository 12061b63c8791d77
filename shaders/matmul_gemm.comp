#version 450
// C = op(A) op(B) (+ bias[col]) (+ C if accumulating), fp32 throughout.
//
// Register-blocked, no shared memory (like gemm_baseline.comp: on lavapipe
// every load, shared or global, costs a per-lane loop, so the kernel is
// built to issue few loads per multiply-add). Each invocation accumulates
// block_m x block_n blocks of 4x4 outputs as mat4s. Per step of 4 along
// the inner dimension it loads one 4x4 block of op(A) per block row and one
// of op(B) per block column, whatever the transposes: a block is 4 vec4
// loads along the operand's contiguous dimension (16 scalar loads where
// that dimension is not a multiple of 4), then block_m * block_n * 64 FMAs.
// Transposes are free: a loaded block is only re-indexed.
//
// Block rows and columns are strided by the workgroup size, so neighbouring
// invocations load neighbouring vec4s of a row-major operand (GPU
// coalescing) and write neighbouring vec4s of C. Rows and columns past the
// matrix are clamped on load and never stored; inner indices past the end
// (the last, partial step) read as zero. The sum over inner runs in a fixed
// order, so results are deterministic.
#include "matmul_gemm.h"

layout(std430, binding = 0) restrict readonly buffer A1 { float a1[]; };
layout(std430, binding = 0) restrict readonly buffer A4 { vec4 a4[]; };
layout(std430, binding = 1) restrict readonly buffer B1 { float b1[]; };
layout(std430, binding = 1) restrict readonly buffer B4 { vec4 b4[]; };
layout(std430, binding = 2) restrict readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer C1 { float c1[]; };
layout(std430, binding = 3) buffer C4 { vec4 c4[]; };

// C's rows are whole vec4s (see matmul_gemm.h)
const bool vec_c = trans_b == 0u && vec_b != 0u;

mat4 acc[block_m][block_n];

// op(A)[r0..r0+3][k0..k0+3] as a mat4 whose column kk holds the 4 rows at
// k0+kk. With `tail`, columns at k >= inner are zero.
mat4 load_a(uint r0, uint k0, bool tail) {
  mat4 m;
  if (trans_a != 0u) {  // stored (inner,rows): one k is a run of rows
    for (uint kk = 0u; kk < 4u; kk++) {
      uint k = min(k0 + kk, pc.inner - 1u);
      if (vec_a != 0u) {
        m[kk] = a4[(k * pc.rows + min(r0, pc.rows - 4u)) / 4u];
      } else {
        for (uint rr = 0u; rr < 4u; rr++) m[kk][rr] = a1[k * pc.rows + min(r0 + rr, pc.rows - 1u)];
      }
      if (tail && k0 + kk >= pc.inner) m[kk] = vec4(0.0);
    }
  } else {  // stored (rows,inner): one row is a run of ks
    for (uint rr = 0u; rr < 4u; rr++) {
      uint row = min(r0 + rr, pc.rows - 1u);
      vec4 v;
      if (vec_a != 0u) {  // inner % 4 == 0: never a tail
        v = a4[(row * pc.inner + k0) / 4u];
      } else {
        for (uint kk = 0u; kk < 4u; kk++) {
          uint k = k0 + kk;
          v[kk] = a1[row * pc.inner + min(k, pc.inner - 1u)];
          if (tail && k >= pc.inner) v[kk] = 0.0;
        }
      }
      for (uint kk = 0u; kk < 4u; kk++) m[kk][rr] = v[kk];
    }
  }
  return m;
}

// op(B)[k0..k0+3][c0..c0+3] as a mat4 whose column cc holds the 4 ks of
// column c0+cc. With `tail`, rows at k >= inner are zero.
mat4 load_b(uint c0, uint k0, bool tail) {
  mat4 m;
  if (trans_b != 0u) {  // stored (cols,inner): one column is a run of ks
    for (uint cc = 0u; cc < 4u; cc++) {
      uint col = min(c0 + cc, pc.cols - 1u);
      if (vec_b != 0u) {  // inner % 4 == 0: never a tail
        m[cc] = b4[(col * pc.inner + k0) / 4u];
      } else {
        for (uint kk = 0u; kk < 4u; kk++) {
          uint k = k0 + kk;
          m[cc][kk] = b1[col * pc.inner + min(k, pc.inner - 1u)];
          if (tail && k >= pc.inner) m[cc][kk] = 0.0;
        }
      }
    }
  } else {  // stored (inner,cols): one k is a run of columns
    for (uint kk = 0u; kk < 4u; kk++) {
      uint k = min(k0 + kk, pc.inner - 1u);
      vec4 v;
      if (vec_b != 0u) {
        v = b4[(k * pc.cols + min(c0, pc.cols - 4u)) / 4u];
      } else {
        for (uint cc = 0u; cc < 4u; cc++) v[cc] = b1[k * pc.cols + min(c0 + cc, pc.cols - 1u)];
      }
      if (tail && k0 + kk >= pc.inner) v = vec4(0.0);
      for (uint cc = 0u; cc < 4u; cc++) m[cc][kk] = v[cc];
    }
  }
  return m;
}

void main() {
  const uint wx = gl_WorkGroupSize.x, wy = gl_WorkGroupSize.y;
  // first row / column of block (0,0); block (i,j) is 4*wy*i rows and
  // 4*wx*j columns further
  uint row0 = gl_WorkGroupID.y * wy * 4u * block_m + 4u * gl_LocalInvocationID.y;
  uint col0 = gl_WorkGroupID.x * wx * 4u * block_n + 4u * gl_LocalInvocationID.x;
  if (row0 >= pc.rows || col0 >= pc.cols) return;

  for (uint i = 0u; i < block_m; i++)
    for (uint j = 0u; j < block_n; j++) acc[i][j] = mat4(0.0);

  uint kfull = pc.inner & ~3u;
  for (uint k0 = 0u; k0 < pc.inner; k0 += 4u) {
    bool tail = k0 >= kfull;
    mat4 am[block_m], bm[block_n];
    for (uint i = 0u; i < block_m; i++) am[i] = load_a(row0 + 4u * wy * i, k0, tail);
    for (uint j = 0u; j < block_n; j++) bm[j] = load_b(col0 + 4u * wx * j, k0, tail);
    // acc[i][j][cc][rr] += sum_kk op(A)[r+rr][k0+kk] op(B)[k0+kk][c+cc]
    for (uint kk = 0u; kk < 4u; kk++)
      for (uint i = 0u; i < block_m; i++)
        for (uint j = 0u; j < block_n; j++)
          for (uint cc = 0u; cc < 4u; cc++) acc[i][j][cc] += am[i][kk] * bm[j][cc][kk];
  }

  for (uint j = 0u; j < block_n; j++) {
    uint c = col0 + 4u * wx * j;
    if (c >= pc.cols) break;
    vec4 bv = vec4(0.0);
    if (pc.has_bias != 0u)
      for (uint cc = 0u; cc < 4u; cc++) bv[cc] = bias[min(c + cc, pc.cols - 1u)];
    for (uint i = 0u; i < block_m; i++) {
      for (uint rr = 0u; rr < 4u; rr++) {
        uint row = row0 + 4u * wy * i + rr;
        if (row >= pc.rows) break;
        vec4 v = vec4(acc[i][j][0][rr], acc[i][j][1][rr], acc[i][j][2][rr], acc[i][j][3][rr]) + bv;
        uint at = row * pc.cols + c;
        if (vec_c) {  // cols % 4 == 0: the 4 columns are all inside
          if (pc.accumulate != 0u) v += c4[at / 4u];
          c4[at / 4u] = v;
        } else {
          for (uint cc = 0u; cc < 4u; cc++) {
            if (c + cc >= pc.cols) break;
            float x = v[cc];
            if (pc.accumulate != 0u) x += c1[at + cc];
            c1[at + cc] = x;
          }
        }
      }
    }
  }
}
