/* Interface of matmul_tiled.comp, the GPU geometry's matrix product:
 * C (rows,cols) = op(A) op(B) (+ bias per column) (+ C when accumulating),
 * fp32, row-major, op = identity or transpose (see src/ops/matmul.h for the
 * stored layouts).
 *
 * A workgroup of wg invocations computes a bm x bn tile of C; each
 * invocation a tm x tn block of it, so (bm/tm) (bn/tn) = wg and tm tn <= 64.
 * Per step of MATMUL_TILED_BK along inner, the workgroup loads a bm x BK
 * slice of op(A) and a BK x bn slice of op(B) into shared memory. The vec_*
 * flags say an operand's contiguous dimension is a multiple of 4 floats, so
 * it is loaded 16 bytes at a time (the tile's side along that dimension
 * must then be a multiple of 4 as well):
 *   vec_a: trans_a ? rows % 4 == 0 : inner % 4 == 0
 *   vec_b: trans_b ? inner % 4 == 0 : cols % 4 == 0
 *   vec_c: cols % 4 == 0 and tn % 4 == 0 (C stored as vec4s) */
#ifndef VKLARS_MATMUL_TILED_H
#define VKLARS_MATMUL_TILED_H
#include "iface.h"
#include "matmul_push.h"

VKL_SPEC_BEGIN(vkl_matmul_tiled_spec)
VKL_SPEC_LOCAL_X(0, wg)
VKL_SPEC_U32(1, bm, 128) /* tile rows */
VKL_SPEC_U32(2, bn, 64)  /* tile columns */
VKL_SPEC_U32(3, tm, 8)   /* rows per invocation */
VKL_SPEC_U32(4, tn, 4)   /* columns per invocation */
VKL_SPEC_U32(5, trans_a, 0)
VKL_SPEC_U32(6, trans_b, 0)
VKL_SPEC_U32(7, vec_a, 0)
VKL_SPEC_U32(8, vec_b, 0)
VKL_SPEC_U32(9, vec_c, 0)
VKL_SPEC_END(vkl_matmul_tiled_spec)

/* push constants: vkl_matmul_push (matmul_push.h) */

/* inner indices per shared-memory step */
#define MATMUL_TILED_BK 16

#endif
