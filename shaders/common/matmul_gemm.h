/* Interface of matmul_gemm.comp: C (rows,cols) = op(A) op(B) (+ bias per
 * column) (+ C when accumulating), fp32, row-major, op = identity or
 * transpose (see src/ops/matmul.h for the stored layouts).
 *
 * Each invocation owns block_m x block_n blocks of 4x4 outputs; a workgroup
 * is wg_x x wg_y invocations. The vec_* flags say that an operand's
 * contiguous dimension is a multiple of 4 floats, so its rows are whole
 * vec4s and the kernel loads it 16 bytes at a time:
 *   vec_a: trans_a ? rows % 4 == 0 : inner % 4 == 0
 *   vec_b: trans_b ? inner % 4 == 0 : cols % 4 == 0
 * C is stored as vec4s when B is not transposed and vec_b holds (cols % 4
 * == 0); a flag of its own would double the variants to compile, and with
 * B transposed the inner dimension is long in the products that use it, so
 * its stores cost little either way. */
#ifndef VKLARS_MATMUL_GEMM_H
#define VKLARS_MATMUL_GEMM_H
#include "iface.h"
#include "matmul_push.h"

VKL_SPEC_BEGIN(vkl_matmul_gemm_spec)
VKL_SPEC_LOCAL_X(0, wg_x)
VKL_SPEC_LOCAL_Y(1, wg_y)
VKL_SPEC_U32(2, block_m, 4) /* 4x4 blocks per invocation, along rows */
VKL_SPEC_U32(3, block_n, 4) /* along cols */
VKL_SPEC_U32(4, trans_a, 0)
VKL_SPEC_U32(5, trans_b, 0)
VKL_SPEC_U32(6, vec_a, 0)
VKL_SPEC_U32(7, vec_b, 0)
VKL_SPEC_END(vkl_matmul_gemm_spec)

/* push constants: vkl_matmul_push (matmul_push.h) */

#endif
