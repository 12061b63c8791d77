/* Interface of sumsq_seg.comp: segmented sums of squares in one dispatch.
 *
 * Tensor s of a list is the segment seg[s] = (offset, count) of a flat buffer
 * x; out_x[s] = sum_j x[offset + j]^2 (and out_y[s] likewise for a second
 * buffer y over the same segments when pair = 1). Every workgroup reduces one
 * chunk of `chunk` elements of one segment; the chunk table (built on the
 * host by vkl_sumsq_chunk_table) holds (segment, index of the chunk within
 * the segment) per workgroup, in segment order, so chunk c - index is the
 * segment's first chunk. An empty segment has one chunk with no elements.
 *
 * Workspace (uint words): counter[T] (zeroed by the op before the dispatch;
 * the memory-model variants only), then partial[chunks][2] (float bits: x, y).
 *
 * Four kernels from one body (common/sumsq_seg_body.h): sumsq_seg (two
 * dispatches, shared-memory tree), sumsq_seg_sg (two dispatches, subgroup
 * arithmetic), sumsq_seg_mm and sumsq_seg_mm_sg (one dispatch under the Vulkan
 * memory model). */
#ifndef VKLARS_SUMSQ_SEG_H
#define VKLARS_SUMSQ_SEG_H
#include "iface.h"

/* Invocations per workgroup under the CPU geometry; the GPU geometry's is
 * vkl_tuning.reduce_wg. */
#define VKL_SUMSQ_WG 64
/* Invocations that read one contiguous run of vec4s together (128 bytes a load).
 * A performance choice only: any subgroup size gives the same, correct result. */
#define VKL_SUMSQ_TILE 8
/* Elements one workgroup reduces by default: 256 per invocation (64 vec4 loads).
 * Measured on lavapipe (ResNet-18 list, 11.2M floats): 4096 -> 0.46x the copy
 * baseline (per-group overhead dominates), 16384 -> 0.83x, 65536 -> 1.0x. 16384
 * keeps ~700 groups for the ResNet-18 list, enough to fill a large GPU. */
#define VKL_SUMSQ_CHUNK_DEFAULT 16384u

VKL_SPEC_BEGIN(vkl_sumsq_spec)
VKL_SPEC_LOCAL_X(0, wg_size)
VKL_SPEC_U32(1, pair, 0) /* 1: also reduce y into out_y */
VKL_SPEC_U32(2, finish, 0) /* two-dispatch variants: 0 the partials, 1 the segments' sums */
VKL_SPEC_END(vkl_sumsq_spec)

VKL_PUSH_BEGIN(vkl_sumsq_push)
VKL_U32 T;      /* segments */
VKL_U32 chunks; /* entries of the chunk table = workgroups */
VKL_U32 chunk;  /* elements per chunk */
VKL_U32 n;      /* elements of x (and y): reads never go beyond */
VKL_PUSH_END(vkl_sumsq_push)

#endif
