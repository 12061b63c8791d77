/*
 * Matrix product reference: C = op(A) op(B) (+ bias per column), op = identity or
 * transpose, all matrices row-major double.
 *
 * Letters: C is (rows,cols) and the product sums over `inner`; op(A) is (rows,inner) and
 * op(B) is (inner,cols). A transposed operand is stored the other way round: with
 * trans_a, A is stored (inner,rows); with trans_b, B is stored (cols,inner).
 * (Plain words instead of GEMM's M, N, K, which would clash with the layer letters.)
 *
 * A linear layer y = x W^T + b (x (N,C), W (K,C), b (K), y (N,K)) is
 * rows = N, inner = C, cols = K, trans_b = 1. A convolution lowered to a product
 * (im2col) is one too: a 1x1 convolution of sample n is x[n]^T w^T with both transposed.
 */
#ifndef VKLARS_OPS_MATMUL_H
#define VKLARS_OPS_MATMUL_H

#include <stdint.h>

#include "vk/vk.h"

typedef struct vkl_matmul_shape {
  uint32_t rows, cols, inner;
  uint32_t trans_a, trans_b; /* nonzero: that operand is stored transposed */
} vkl_matmul_shape;

/* c[i][j] = bias[j] + sum_k op(A)[i][k] op(B)[k][j].
 * https://pytorch.org/docs/stable/generated/torch.nn.Linear.html
 * https://pytorch.org/docs/stable/generated/torch.matmul.html */
void vkl_matmul_forward_ref(double *c /* (rows,cols) */,
                            const double *a /* (rows,inner), (inner,rows) if trans_a */,
                            const double *b /* (inner,cols), (cols,inner) if trans_b */,
                            const double *bias /* (cols) or NULL */, const vkl_matmul_shape *sh);

/* Gradients of the forward given dc; each of da, db, dbias may be NULL to skip it, and
 * each comes out in its operand's stored layout. accumulate = 1 adds into them. */
void vkl_matmul_backward_ref(double *da /* like a, or NULL */, double *db /* like b, or NULL */,
                             double *dbias /* (cols) or NULL */, const double *dc /* (rows,cols) */,
                             const double *a /* (rows,inner), (inner,rows) if trans_a */,
                             const double *b /* (inner,cols), (cols,inner) if trans_b */,
                             const vkl_matmul_shape *sh, int accumulate);

/* ---- device recording (see ops/op_util.h for the conventions) ----
 *
 * fp32 kernels (shaders/matmul_gemm.comp and matmul_colsum.comp on the CPU geometry,
 * matmul_tiled.comp and matmul_colsum_tree.comp on the GPU one); every size must be >= 1.
 * Outputs must not overlap inputs or each other. The sums run in a fixed order, so results are
 * bit-identical run to run. */

/* c = op(A) op(B) (+ bias per column). */
vkl_status vkl_matmul_forward(vkl_cmd *cmd, vkl_buf c /* (rows,cols) */,
                              vkl_buf a /* (rows,inner), (inner,rows) if trans_a */,
                              vkl_buf b /* (inner,cols), (cols,inner) if trans_b */,
                              const vkl_buf *bias /* (cols) or NULL */, const vkl_matmul_shape *sh);

/* The gradients of vkl_matmul_forward given dc, as vkl_matmul_backward_ref: da, db and
 * dbias may each be NULL, come out in their operand's stored layout, and accumulate = 1
 * adds into them. Each is one dispatch, all three after one barrier (da and db are matrix
 * products with other transposes, dbias a column sum of dc). */
vkl_status vkl_matmul_backward(vkl_cmd *cmd, const vkl_buf *da /* like a, or NULL */,
                               const vkl_buf *db /* like b, or NULL */,
                               const vkl_buf *dbias /* (cols) or NULL */,
                               vkl_buf dc /* (rows,cols) */,
                               vkl_buf a /* (rows,inner), (inner,rows) if trans_a */,
                               vkl_buf b /* (inner,cols), (cols,inner) if trans_b */,
                               const vkl_matmul_shape *sh, int accumulate);

#endif
