/* Interface of matmul_colsum.comp: y[j] = sum_i x[i][j] (+ y[j] when
 * accumulating) for x (rows,cols) row-major: the bias gradient of a
 * matrix product, summed over rows in a fixed order. */
#ifndef VKLARS_MATMUL_COLSUM_H
#define VKLARS_MATMUL_COLSUM_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_matmul_colsum_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_matmul_colsum_spec)

VKL_PUSH_BEGIN(vkl_matmul_colsum_push)
VKL_U32 rows;
VKL_U32 cols;
VKL_U32 accumulate; /* 1: add into y instead of writing it */
VKL_PUSH_END(vkl_matmul_colsum_push)

#endif
