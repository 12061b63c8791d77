/* Interface of matmul_colsum_tree.comp, the GPU geometry's column sum:
 * y[j] = sum_i x[i][j] (+ y[j] when accumulating) for x (rows,cols)
 * row-major (the bias gradient of a matrix product). A workgroup of
 * wg_x x wg_y invocations owns wg_x columns; its wg_y rows of invocations
 * split the rows, and a fixed-order tree adds their partial sums. */
#ifndef VKLARS_MATMUL_COLSUM_TREE_H
#define VKLARS_MATMUL_COLSUM_TREE_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_matmul_colsum_tree_spec)
VKL_SPEC_LOCAL_X(0, wg_x) /* columns per workgroup */
VKL_SPEC_LOCAL_Y(1, wg_y) /* row slices */
VKL_SPEC_END(vkl_matmul_colsum_tree_spec)

VKL_PUSH_BEGIN(vkl_matmul_colsum_tree_push)
VKL_U32 rows;
VKL_U32 cols;
VKL_U32 accumulate; /* 1: add into y instead of writing it */
VKL_PUSH_END(vkl_matmul_colsum_tree_push)

#endif
