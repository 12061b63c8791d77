/* Interface of optim_norms.comp and optim_update.comp, the fused optimizer
 * step over every parameter tensor of a model (src/optim/optim_step.c).
 *
 * Buffers (the same eight bindings for both kernels):
 *   0 w        parameters, one arena            (vec4s)
 *   1 g        gradients, same layout           (vec4s); the Adam family's
 *              norms overwrite it with the step's direction u (the
 *              gradients are dead after the step: the next global batch's
 *              first micro-step writes them with accumulate 0)
 *   2 m, 3 v   momentum / first moment, second moment (v: LAMB, AdamW; else
 *              any buffer, unread)
 *   5 m1, 7 v1 the Adam family's second copy of m and v (else any buffer,
 *              unread): the norms read the moments from the copy that the
 *              state word OPTIM_STATE_PARITY names and write the new ones
 *              to the other, and the update flips the word unless the step
 *              is skipped, so a skipped step leaves them as they were
 *   4 state    the tables (OPTIM_ENTRY_UINTS per entry: tensors, norm
 *              chunks, update chunks), then the scratch words (state words,
 *              per-tensor counters, per-chunk partial sums), then per tensor
 *              OPTIM_COEFF_UINTS coefficients formed by optim_norms for the
 *              update: trust ratio q, weight decay, lr, 0 (floats)
 *   6 ring     host-visible ring of step slots: params in, stats out
 * Steps touch each float: momentum family, norms read w, g and update read
 * w, g, m and write w, m (7 accesses, 5 at least); Adam family, norms read
 * w, g, m, v and write m, v, u, and update read w, u and write w (10
 * accesses, 7 at least: the trust ratio needs ||u|| before any weight
 * moves, and u depends on the new moments).
 * Tensor entry (OPTIM_ENTRY_UINTS): first norm chunk, norm chunk count,
 * flags, element count. Chunk entries (both tables): tensor, start (float
 * offset, a multiple of 4), element count, and the chunk's index in tensor
 * order (the norms' partial-sum slot; a tensor's chunks are consecutive
 * there). Chunks never span tensors; the tables list them in a dispatch
 * order that balances CPU drivers' threads (src/optim/optim_step.c).
 *
 * optim_norms: one workgroup per norm chunk (OPTIM_NORM_CHUNK elements)
 * sums its chunk. A tensor of one chunk is finished by its workgroup;
 * otherwise each chunk writes its partial sums, and the tensor's partials
 * are added in chunk order by the last of its workgroups to count itself on
 * the tensor's counter (the _mm variants, Vulkan memory model) or by a
 * second dispatch of one workgroup per tensor (spec `finish`; see
 * common/reduce_sync.h), which forms the trust ratio and writes coeffs and
 * the step's statistics. optim_update:
 * OPTIM_UPDATE_VEC4S vec4s per invocation, no barriers: on CPU drivers
 * every barrier is a round of coroutine switches per workgroup, and every
 * buffer access, uniform or not, costs about the same, so the per-chunk
 * reads (table entry, coefficients, step words) are shared by 64 vec4s.
 * Spec `contiguous` (CPU devices): groups of OPTIM_LANES consecutive
 * invocations (one SIMD row of lavapipe's 256-bit code) walk contiguous
 * runs, lane i taking every OPTIM_LANES-th vec4 from i, so a CPU thread
 * streams through one run per array instead of one per lane (8 lanes x 7
 * arrays overwhelmed the prefetchers: measured on lavapipe against one
 * contiguous run per invocation, step / copy time 1.70 -> 1.52 for SGD,
 * 2.05 -> 1.9 for LAMB). Else the whole workgroup is one group, so that
 * neighbouring invocations touch neighbouring vec4s (GPUs: coalesced).
 * Both kernels follow it; results do not depend on it beyond
 * the order of the partial sums. */
#ifndef VKLARS_OPTIM_IFACE_H
#define VKLARS_OPTIM_IFACE_H
#include "iface.h"

#define OPTIM_ENTRY_UINTS 4
#define OPTIM_PARTIALS 3 /* sum w^2, sum d^2 (or u^2), sum g^2 per chunk */
#define OPTIM_NORM_VEC4S 64 /* vec4s per norms invocation */
#define OPTIM_WG 256        /* invocations per workgroup, both kernels */
#define OPTIM_LANES 8       /* invocations per run group (spec `contiguous`) */
#define OPTIM_NORM_CHUNK (4 * OPTIM_NORM_VEC4S * OPTIM_WG) /* 65536 elements */
#define OPTIM_UPDATE_VEC4S 64 /* vec4s per update invocation */
#define OPTIM_UPDATE_CHUNK (4 * OPTIM_UPDATE_VEC4S * OPTIM_WG) /* 65536 elements */
/* scratch words: [0] cursor (next step t), [1] t of the step in flight,
 * [2], [3] the skip words of even and odd steps (1: a norm was not finite
 * and the host asked to skip such steps), [4] OPTIM_STATE_PARITY, [5..7]
 * spare; then one counter per tensor (the _mm variants of optim_norms; the
 * last group clears it); then the partials */
#define OPTIM_STATE_UINTS 8
#define OPTIM_STATE_PARITY 4 /* Adam family: 0 the moments are in m, v; 1 in m1, v1 */
#define OPTIM_COEFF_UINTS 4

/* tensor flags */
#define OPTIM_TENSOR_EXCLUDED 1u /* no weight decay, no adaptation */

/* spec `mode` */
#define OPTIM_MODE_MOMENTUM 0u /* SGD, LARS, TVLARS */
#define OPTIM_MODE_ADAM 1u     /* LAMB, AdamW */

/* push `flags` bits */
#define OPTIM_ADAPT 1u        /* layer-wise trust ratio (LARS family, LAMB) */
#define OPTIM_NESTEROV 2u
#define OPTIM_SUM_OF_NORMS 4u /* LARS denominator ||g|| + wd*||w|| + eps */
#define OPTIM_LARC 8u         /* q = min(q / lr, 1) */
#define OPTIM_DECOUPLED 16u   /* LAMB/AdamW: u += wd*w instead of g += wd*w */

#include "optim_slot.h" /* the ring slot layout */
#define OPTIM_STAT_FLOATS 8       /* wnorm, dnorm, lnr, trust, eff_lr, 3 spare */

/* Both kernels' constants; optim_norms has one more (its GLSL defines
 * OPTIM_NORMS_KERNEL, so that each kernel declares exactly its own). */
#define OPTIM_SPEC_FIELDS                                                           \
  VKL_SPEC_LOCAL_X(0, wg_size)                                                      \
  VKL_SPEC_U32(1, mode, 0)                                                          \
  VKL_SPEC_U32(2, ring_slots, 4)                                                    \
  VKL_SPEC_U32(3, contiguous, 1)
#if !defined(VULKAN) || !defined(OPTIM_NORMS_KERNEL)
VKL_SPEC_BEGIN(vkl_optim_spec)
OPTIM_SPEC_FIELDS
VKL_SPEC_END(vkl_optim_spec)
#endif
#if !defined(VULKAN) || defined(OPTIM_NORMS_KERNEL)
VKL_SPEC_BEGIN(vkl_optim_norms_spec)
OPTIM_SPEC_FIELDS
VKL_SPEC_U32(4, finish, 0) /* two-dispatch variants: 0 the chunks, 1 the tensors' sums */
VKL_SPEC_END(vkl_optim_norms_spec)
#endif

VKL_PUSH_BEGIN(vkl_optim_push)
VKL_U32 tensor_count;
VKL_U32 norm_chunks;
VKL_U32 update_chunks;
VKL_U32 slot_words; /* OPTIM_SLOT_HEADER + OPTIM_STAT_FLOATS * tensor_count */
VKL_U32 flags;      /* OPTIM_ADAPT | ... */
VKL_F32 momentum;
VKL_F32 weight_decay;
VKL_F32 eta;
VKL_F32 lars_eps;
VKL_F32 beta1;
VKL_F32 beta2;
VKL_F32 eps;
VKL_F32 norm_clamp;   /* 0: off */
VKL_F32 lamb_clamp_w; /* 0: off */
VKL_F32 trust_clip;   /* 0: off */
VKL_F32 excluded_lr_scale; /* the trust ratio of OPTIM_TENSOR_EXCLUDED tensors */
VKL_PUSH_END(vkl_optim_push)

#endif
