/*
 * Matrix product reference, C (rows,cols) = op(A) (rows,inner) op(B) (inner,cols) + bias.
 * See matmul.h for the stored layouts of transposed operands.
 */
#include "ops/matmul.h"

#include <stddef.h>

/* Offset of op(A)[i][k] in A's stored layout. */
static size_t a_at(const vkl_matmul_shape *sh, uint32_t i, uint32_t k) {
  return sh->trans_a ? (size_t)k * sh->rows + i : (size_t)i * sh->inner + k;
}

/* Offset of op(B)[k][j] in B's stored layout. */
static size_t b_at(const vkl_matmul_shape *sh, uint32_t k, uint32_t j) {
  return sh->trans_b ? (size_t)j * sh->inner + k : (size_t)k * sh->cols + j;
}

static void store(double *dst, double v, int accumulate) {
  *dst = accumulate ? *dst + v : v;
}

void vkl_matmul_forward_ref(double *c, const double *a, const double *b, const double *bias,
                            const vkl_matmul_shape *sh) {
  for (uint32_t i = 0; i < sh->rows; i++)
    for (uint32_t j = 0; j < sh->cols; j++) {
      double acc = bias ? bias[j] : 0.0;
      for (uint32_t k = 0; k < sh->inner; k++) acc += a[a_at(sh, i, k)] * b[b_at(sh, k, j)];
      c[(size_t)i * sh->cols + j] = acc;
    }
}

/* Derivative terms, with dC = dL/dC:
 *   1. d op(A) = dC op(B)^T      (rows,inner)
 *   2. d op(B) = op(A)^T dC      (inner,cols)
 *   3. dbias[j] = sum_i dC[i][j] (bias is broadcast over rows)
 * Terms 1 and 2 are written through a_at/b_at, which transposes them back into the
 * operand's stored layout. */
void vkl_matmul_backward_ref(double *da, double *db, double *dbias, const double *dc,
                             const double *a, const double *b, const vkl_matmul_shape *sh,
                             int accumulate) {
  const uint32_t R = sh->rows, Co = sh->cols, I = sh->inner;

  for (uint32_t i = 0; da && i < R; i++)
    for (uint32_t k = 0; k < I; k++) {
      double acc = 0.0;
      for (uint32_t j = 0; j < Co; j++) acc += dc[(size_t)i * Co + j] * b[b_at(sh, k, j)];
      store(&da[a_at(sh, i, k)], acc, accumulate);
    }
  for (uint32_t k = 0; db && k < I; k++)
    for (uint32_t j = 0; j < Co; j++) {
      double acc = 0.0;
      for (uint32_t i = 0; i < R; i++) acc += a[a_at(sh, i, k)] * dc[(size_t)i * Co + j];
      store(&db[b_at(sh, k, j)], acc, accumulate);
    }
  for (uint32_t j = 0; dbias && j < Co; j++) {
    double acc = 0.0;
    for (uint32_t i = 0; i < R; i++) acc += dc[(size_t)i * Co + j];
    store(&dbias[j], acc, accumulate);
  }
}
