/* Interface of the batchnorm_*.comp kernels (shared by C and GLSL).
 *
 * Every kernel that walks the (N,C,H,W) tensor uses one thread geometry, which
 * the host picks from the shape and the device (batchnorm.c: bn_geometry)
 * and pushes:
 *   - the plane of HW = H*W values of one (n, c) is read in units of `vec`
 *     floats (4 when HW % 4 == 0: the *4.comp variants, else 1): HWu units;
 *   - a workgroup of wg_size = cb * tpc_n * tpc_i threads (all powers of 2)
 *     covers cb consecutive channels; for its channel, a thread (sn, si)
 *     reads units i = si seg_start + k step < min(si seg_start + seg_len,
 *     HWu), k = 0, 1, ..., of the planes of samples n = n0 + sn,
 *     n0 + sn + tpc_n, ... < n1 of its chunk [n0, n0 + nb);
 *   - the grid is (ceil(C / cb), nchunks) with nchunks = ceil(N / nb).
 * Two layouts of a plane's units over its tpc_i threads:
 *   - segmented (seg_start = seg_len, step = 1), for CPU devices: the plane
 *     is cut into tpc_i segments (the last may be shorter or empty) and each
 *     thread runs through consecutive addresses. On lavapipe (8 invocations
 *     per SIMD instruction, every buffer access a loop over the lanes) this
 *     measured several times faster than
 *   - interleaved (seg_start = 1, seg_len = HWu, step = tpc_i), for GPUs:
 *     the threads step through the plane together, so that their accesses
 *     coalesce.
 * Thread t = (sn * cb + cb_i) * tpc_i + si, so consecutive threads cover
 * one plane, then the next channel's plane, which is contiguous with it in
 * memory. A channel has R = tpc_n * tpc_i threads in each of the nchunks
 * workgroups along y: E = nchunks * R per channel, the thread of chunk j
 * with index u = sn * tpc_i + si being entry e = j R + u.
 *
 * The reduction kernels have no workgroup reduction (on lavapipe every
 * shared-memory access and barrier costs about as much as a load from
 * memory): each thread writes its own partial, entry e of channel c, to
 * the workspace, and a combine kernel (one thread per channel) merges a
 * channel's E entries in order e = 0, 1, ...
 *
 * Workspace (floats; see vkl_batchnorm_workspace_floats):
 *   [0, 4C)                           per-channel coefficients, 4 arrays of C
 *   [part_off + k E C, + E C), k < 3  partial k of entry e, channel c at e C + c
 */
#ifndef VKLARS_BATCHNORM_IFACE_H
#define VKLARS_BATCHNORM_IFACE_H
#include "batchnorm_flags.h"
#include "iface.h"

VKL_SPEC_BEGIN(vkl_batchnorm_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_END(vkl_batchnorm_spec)

VKL_PUSH_BEGIN(vkl_batchnorm_push)
VKL_U32 N;
VKL_U32 C;
VKL_U32 HW;       /* floats per plane */
VKL_U32 HWu;      /* units (of vec floats) per plane */
VKL_U32 tpc_i;    /* threads per channel along the plane */
VKL_U32 seg_start; /* a thread's units of a plane: i = si seg_start + k step, */
VKL_U32 seg_len;   /*   i < min(si seg_start + seg_len, HWu) */
VKL_U32 step;
VKL_U32 tpc_n;    /* threads per channel along the samples */
VKL_U32 cb;       /* channels per workgroup */
VKL_U32 log2_tpc_i;
VKL_U32 log2_cb;
VKL_U32 entries;  /* E = nchunks * tpc_n * tpc_i partials per channel */
VKL_U32 nb;       /* samples per chunk */
VKL_U32 nchunks;  /* chunks along N */
VKL_U32 part_off; /* float offset of the partials in the workspace */
VKL_U32 flags;    /* BN_* */
VKL_F32 eps;
VKL_F32 momentum;
VKL_PUSH_END(vkl_batchnorm_push)

#endif
