/* Interface of conv2d_wreduce.comp: the deterministic second pass of split
 * backward-weight. For i < n: dw[i] (+)= sum over z < splits, in order, of
 * part[z * split_stride + i]; for n <= i < n + nbias (dbias, when present):
 * dbias[i - n] likewise. */
#ifndef VKLARS_CONV2D_WREDUCE_H
#define VKLARS_CONV2D_WREDUCE_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_conv2d_wreduce_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_conv2d_wreduce_spec)

VKL_PUSH_BEGIN(vkl_conv2d_wreduce_push)
VKL_U32 n;      /* dw elements: K*C*R*S */
VKL_U32 nbias;  /* dbias elements: K, or 0 without dbias */
VKL_U32 splits;
VKL_U32 split_stride;
VKL_U32 accumulate;
VKL_PUSH_END(vkl_conv2d_wreduce_push)

#endif
