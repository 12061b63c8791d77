/* Interface of softmax_xent_bwd.comp: dlogits (N,K) of the softmax cross-entropy,
 * dz_ik = factor * (softmax(z_i)_k - t_ik), t_ik = target_label when k = label_i,
 * target_other otherwise. Same row layout as the forward (tpr invocations a row).
 * With saved = 1 the row statistics (max M, S = sum exp(z - M)) come from the
 * forward's row_stats output instead of a pass over the logits. */
#ifndef VKLARS_SOFTMAX_XENT_BWD_H
#define VKLARS_SOFTMAX_XENT_BWD_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_softmax_xent_bwd_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, tpr, 1)   /* invocations per row */
VKL_SPEC_U32(2, saved, 0) /* 1: read the row statistics from binding 3 */
VKL_SPEC_END(vkl_softmax_xent_bwd_spec)

VKL_PUSH_BEGIN(vkl_softmax_xent_bwd_push)
VKL_U32 N;
VKL_U32 K;
VKL_F32 factor;       /* scale, divided by N for the mean */
VKL_F32 target_label; /* 1 - eps + eps / K */
VKL_F32 target_other; /* eps / K */
VKL_U32 accumulate;   /* 1: add into dlogits */
VKL_PUSH_END(vkl_softmax_xent_bwd_push)

#endif
