/* Interface of softmax_xent_fwd.comp: softmax cross-entropy loss and top-1/top-5
 * counts of logits (N,K) with labels (N), summed over the batch in one dispatch.
 *
 * A workgroup of wg_size invocations handles wg_size / tpr rows, tpr invocations
 * per row (both powers of two). Workspace (uint words): counter, then
 * partial[groups][3] (loss bits, top-1, top-5).
 *
 * Four kernels from one body (common/softmax_xent_fwd_body.h): softmax_xent_fwd
 * and _sg (two dispatches: shared-memory tree, subgroup arithmetic), _mm and
 * _mm_sg (one dispatch under the Vulkan memory model). */
#ifndef VKLARS_SOFTMAX_XENT_FWD_H
#define VKLARS_SOFTMAX_XENT_FWD_H
#include "iface.h"

VKL_SPEC_BEGIN(vkl_softmax_xent_fwd_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, tpr, 1) /* invocations per row */
VKL_SPEC_U32(2, finish, 0) /* 1: the second dispatch, one group adding the partials */
VKL_SPEC_END(vkl_softmax_xent_fwd_spec)

VKL_PUSH_BEGIN(vkl_softmax_xent_fwd_push)
VKL_U32 N;
VKL_U32 K;
VKL_U32 groups;        /* workgroups of the whole grid */
VKL_F32 keep;          /* 1 - label_smoothing: weight of the label's logit */
VKL_F32 smooth_k;      /* label_smoothing / K: weight of every logit */
VKL_F32 divisor;       /* N for the mean, 1 for the sum */
VKL_U32 accumulate;    /* 1: add the loss and counts into the outputs */
VKL_U32 has_correct;   /* 0: no counts wanted (the binding is a stand-in, never touched) */
VKL_U32 has_stats;     /* 1: write each row's (max, sum exp(z - max)) for the backward */
VKL_PUSH_END(vkl_softmax_xent_fwd_push)

#endif
