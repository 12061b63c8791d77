/*
 * Segmented sum of squares reference: T tensors live in one flat buffer, tensor i being
 * the count_i elements starting at offset_i; out[i] = ||x_i||^2 = sum_j x[offset_i + j]^2.
 * This gives the per-tensor weight and gradient norms that LARS's trust ratios need
 * (You et al. 2017, https://arxiv.org/abs/1708.03888;
 *  https://pytorch.org/docs/stable/generated/torch.linalg.vector_norm.html squared).
 * Segments may be in any order, leave gaps, overlap or be empty (out = 0).
 *
 * The device op (shaders/sumsq_seg.comp) computes every segment in ONE dispatch, and
 * optionally the same segments of a second buffer in the same pass (||w|| and ||g||
 * at once). Each workgroup reduces a fixed chunk of one segment; that segment's chunk
 * partials are added in chunk order, by the last group of the segment to finish (an
 * integer atomic counter, release/acquire under the Vulkan memory model) or, on
 * devices without the memory model, by a second dispatch (vkl_tuning.memory_model).
 * Summation order is fixed, so results are bit-identical run to run on each path.
 * Use:
 *   chunks = vkl_sumsq_chunk_count(segs, T, 0);           once per model, on the host
 *   vkl_sumsq_chunk_table(table, segs, T, 0);              upload table (chunks,2) uint32
 *   upload segs as (T,2) uint32; allocate vkl_sumsq_workspace_floats(&sh) floats
 *   vkl_sumsq_forward(cmd, out, NULL, x, NULL, seg_buf, table_buf, &sh, workspace);
 */
#ifndef VKLARS_OPS_SUMSQ_H
#define VKLARS_OPS_SUMSQ_H

#include <stdint.h>

#include "vk/vk.h"

typedef struct vkl_sumsq_segment {
  uint32_t offset, count; /* in elements of the buffer */
} vkl_sumsq_segment;

void vkl_sumsq_forward_ref(double *out /* (T) */, const double *x /* (buffer length) */,
                           const vkl_sumsq_segment *segments /* (T) */, uint32_t T);

/* ---- device recording (see ops/op_util.h for the conventions) ---- */

typedef struct vkl_sumsq_shape {
  uint32_t T;      /* segments */
  uint32_t chunks; /* entries of the chunk table = workgroups of the dispatch */
  uint32_t chunk;  /* elements per chunk; 0 = VKL_SUMSQ_CHUNK_DEFAULT (sumsq_seg.h) */
  uint64_t n;      /* elements of x (and y); reads never go beyond, whatever the tables say */
} vkl_sumsq_shape;

/* Elements per chunk: `chunk`, or the default for 0. Exposed so the three functions
 * below agree; the table must be built with the same chunk as the shape's. */
uint32_t vkl_sumsq_chunk_elems(uint32_t chunk);

/* Entries of the chunk table: sum over segments of max(1, ceil(count / chunk)) (an
 * empty segment still has one chunk, which writes its 0). */
uint64_t vkl_sumsq_chunk_count(const vkl_sumsq_segment *segments /* (T) */, uint32_t T,
                               uint32_t chunk);

/* Writes the chunk table, (segment, index of the chunk within the segment) per entry,
 * segment after segment: what the device reads to know what each workgroup sums. */
void vkl_sumsq_chunk_table(uint32_t *table /* (chunks,2) */,
                           const vkl_sumsq_segment *segments /* (T) */, uint32_t T, uint32_t chunk);

/* Scratch the op needs: T counters + 2 partials per chunk (32-bit words). The op
 * zeroes the counters itself; the contents need no initialisation. */
uint64_t vkl_sumsq_workspace_floats(const vkl_sumsq_shape *sh);

/* out[s] = ||x_s||^2 for each of the T segments; when y and out_y are both given,
 * also out_y[s] = ||y_s||^2 over the same segments, in the same dispatch. segments
 * holds (offset, count) uint32 pairs, chunks the table from vkl_sumsq_chunk_table.
 * Records one fill of the counters and one dispatch of sh->chunks workgroups under the
 * memory model; else two dispatches of sh->chunks workgroups (one when every segment
 * is one chunk). */
vkl_status vkl_sumsq_forward(vkl_cmd *cmd, vkl_buf out /* (T) */, const vkl_buf *out_y /* (T) */,
                             vkl_buf x /* (n) */, const vkl_buf *y /* (n) */,
                             vkl_buf segments /* (T,2) uint32 */, vkl_buf chunks /* (chunks,2) */,
                             const vkl_sumsq_shape *sh, vkl_buf workspace);

#endif
