/* Interface of optim_guard.comp and optim_rollback.comp: state outside the
 * parameters that the optimizer step guards (batch norm's running
 * statistics). live: that state (n floats); saved: its copy from the start
 * of the global batch. scratch: the word of the optimizer's state buffer
 * where its scratch words begin (optim.h: [0] the next step t, [1] the step
 * in flight, [2 + t % 2] step t's skip word); slot_words: the words of a
 * ring slot (the ring's slot t % ring_slots holds step t). */
#ifndef VKLARS_OPTIM_GUARD_H
#define VKLARS_OPTIM_GUARD_H
#include "iface.h"

#ifndef OPTIM_ROLLBACK
VKL_SPEC_BEGIN(vkl_optim_guard_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, ring_slots, 4)
VKL_SPEC_END(vkl_optim_guard_spec)
#endif

#if !defined(VULKAN) || defined(OPTIM_ROLLBACK)
VKL_SPEC_BEGIN(vkl_optim_rollback_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_optim_rollback_spec)
#endif

VKL_PUSH_BEGIN(vkl_optim_guard_push)
VKL_U32 n;
VKL_U32 scratch;
VKL_U32 slot_words;
VKL_PUSH_END(vkl_optim_guard_push)

#endif
