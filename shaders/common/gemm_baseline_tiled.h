/* Interface of gemm_baseline_tiled.comp: C(M,N) = A(M,K) * B(K,N), row-major.
 * The compute baseline `vklars bench ops` times beside every op under the
 * GPU geometry: the textbook shared-memory tiled GEMM (the CPU geometry
 * keeps gemm_baseline.comp). Each invocation owns GEMM_TILED_TM x
 * GEMM_TILED_TN outputs, strided by the workgroup size; a workgroup
 * wg_x x wg_y invocations. */
#ifndef VKLARS_GEMM_BASELINE_TILED_H
#define VKLARS_GEMM_BASELINE_TILED_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_gemm_baseline_tiled_spec)
VKL_SPEC_LOCAL_X(0, wg_x) /* 16 */
VKL_SPEC_LOCAL_Y(1, wg_y) /* 16 */
VKL_SPEC_END(vkl_gemm_baseline_tiled_spec)

VKL_PUSH_BEGIN(vkl_gemm_baseline_tiled_push)
VKL_U32 M;
VKL_U32 N;
VKL_U32 K;
VKL_PUSH_END(vkl_gemm_baseline_tiled_push)

/* outputs per invocation: rows x cols; inner indices per shared-memory step */
#define GEMM_TILED_TM 4
#define GEMM_TILED_TN 4
#define GEMM_TILED_BK 16

#endif
