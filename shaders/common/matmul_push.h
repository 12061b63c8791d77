/* The push constants of the matrix-product kernels, matmul_gemm (the CPU
 * geometry) and matmul_tiled (the GPU geometry): one struct, which the host
 * fills once for either. */
#ifndef VKLARS_MATMUL_PUSH_H
#define VKLARS_MATMUL_PUSH_H
#include "iface.h"

VKL_PUSH_BEGIN(vkl_matmul_push)
VKL_U32 rows;
VKL_U32 cols;
VKL_U32 inner;
VKL_U32 has_bias;   /* 1: add bias[col] */
VKL_U32 accumulate; /* 1: add into C instead of writing it */
VKL_PUSH_END(vkl_matmul_push)

#endif
