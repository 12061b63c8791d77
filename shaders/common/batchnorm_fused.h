/* Interface of the fused batch-norm kernels (shared by C and GLSL), chosen
 * on CPU devices for shapes whose channels fit them (batchnorm.c:
 * bnf_geometry): batchnorm_train*.comp, batchnorm_bwd*.comp and
 * batchnorm_eval*.comp, each a whole pass in one dispatch.
 *
 * Geometry: workgroup c is channel c, its wg_size threads the channel's
 * values. These are N planes of HWu = q * run units (vec floats: 4 when
 * H*W % 4 == 0, the *4.comp kernels, else 1), cut into runs of `run`
 * consecutive units; run g is units [(g % q) run, + run) of the plane of
 * sample g / q, and thread t holds runs g = t nrun + r, r < nrun (runs past
 * the last sample are skipped). With lanes > 1 (the backward kernel on
 * channels too large for BNF_WG_PREF threads), groups of `lanes`
 * consecutive threads hold runs of run * lanes units together, lane l
 * taking units l, l + lanes, ...: one SIMD row then streams through one run
 * per tensor instead of one per lane. So every thread reads long stretches of
 * consecutive addresses, which lavapipe (a buffer access is a loop over the
 * 8 SIMD lanes) reads fastest, and the per-channel values (statistics,
 * gamma, beta, partial sums) are the same for the whole workgroup, which
 * lavapipe loads once instead of once per lane.
 *
 * Each thread keeps its nrun * run units in registers (private arrays that
 * the fully unrolled loops index with constants), so a tensor is read from
 * memory once even by the kernels that use it twice (statistics, then
 * normalisation). The reductions are the threads' partials exchanged
 * through shared memory: after a barrier every thread sums the wg_size
 * partials in order t = 0, 1, ... (so all of them hold the same,
 * deterministic result). Training forward takes two such sums, exactly
 * the two-pass variance of the reference: mean, then squared deviations
 * from it, both of d = x - K with K = x[0, c, 0] (see
 * batchnorm_stats_body.h for why the pivot).
 *
 * run, nrun, q and the flags are specialization constants: the loops unroll,
 * divisions by q become shifts or multiplications, and lavapipe (which
 * runs both sides of a branch under a lane mask) compiles only the code a
 * call needs. */
#ifndef VKLARS_BATCHNORM_FUSED_H
#define VKLARS_BATCHNORM_FUSED_H
#include "batchnorm_flags.h"
#include "iface.h"

#define BNF_WG_MAX 256 /* wg_size <= BNF_WG_MAX: the shared arrays' size */

VKL_SPEC_BEGIN(vkl_bnf_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, run, 1)   /* units per run */
VKL_SPEC_U32(2, nrun, 1)  /* runs per thread */
VKL_SPEC_U32(3, q, 1)     /* runs per plane: HWu = q * run */
VKL_SPEC_U32(4, flags, 0) /* BN_* of batchnorm_flags.h */
VKL_SPEC_U32(5, lanes, 1) /* threads that walk a run together, lane by lane */
VKL_SPEC_END(vkl_bnf_spec)

VKL_PUSH_BEGIN(vkl_bnf_push)
VKL_U32 N;
VKL_U32 C;
VKL_F32 eps;
VKL_F32 momentum;
VKL_F32 count;     /* M = N H W */
VKL_F32 inv_count; /* 1 / M */
VKL_PUSH_END(vkl_bnf_push)

#ifdef VULKAN
#extension GL_EXT_control_flow_attributes : require

#include "batchnorm_vec.h"

#define BNF_HAS(f) ((flags & (f)) != 0u)
#define BNF_HWU (q * run * lanes)
/* unit k of the run at b */
#define BNF_AT(b, k) ((b) + (k) * lanes)

/* Unit index of run r of this thread, and whether the run exists (a run
 * past the last sample reads the last one's, and writes nothing). With
 * lanes > 1, groups of `lanes` consecutive threads share runs of
 * run * lanes units, lane l taking units l, l + lanes, ... */
uint bnf_run_base(uint r, out bool ok) {
  uint t = gl_LocalInvocationIndex;
  uint g = (t / lanes) * nrun + r;
  uint n = g / q;
  ok = n < pc.N;
  return (min(n, pc.N - 1u) * pc.C + gl_WorkGroupID.x) * BNF_HWU + (g - n * q) * run * lanes +
         t % lanes;
}

/* Sum over the workgroup of each thread's `part`, in thread order, through
 * `arr` (a shared array that no other code of the kernel uses): a single
 * exchange, each thread reading every partial at a constant index (the
 * unrolled loop), which lavapipe loads once per SIMD vector; a tree of
 * levels measured slower there (a barrier per level). The result is the
 * same in every thread. */
#define BNF_WG_SUM(arr0, part, out)                    \
  {                                                                \
    arr0[gl_LocalInvocationIndex] = (part);                        \
    memoryBarrierShared();                                         \
    barrier(); /* RAW: every thread's partial */                   \
    out = 0.0;                                                     \
    [[unroll]] for (uint e_ = 0u; e_ < gl_WorkGroupSize.x; e_++) out += arr0[e_]; \
  }
#endif

#endif
