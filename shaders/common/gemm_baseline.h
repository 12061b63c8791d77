/* Interface of gemm_baseline.comp: C(M,N) = A(M,K) * B(K,N), row-major.
 * The compute baseline that `vklars bench ops` times beside every op. */
#ifndef VKLARS_GEMM_BASELINE_H
#define VKLARS_GEMM_BASELINE_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_gemm_baseline_spec)
VKL_SPEC_LOCAL_X(0, wg_x) /* 8 */
VKL_SPEC_LOCAL_Y(1, wg_y) /* 8 */
VKL_SPEC_END(vkl_gemm_baseline_spec)

VKL_PUSH_BEGIN(vkl_gemm_baseline_push)
VKL_U32 M;
VKL_U32 N;
VKL_U32 K;
VKL_PUSH_END(vkl_gemm_baseline_push)

/* outputs per invocation: rows x cols */
#define GEMM_BASELINE_TM 16
#define GEMM_BASELINE_TN 8

#endif
