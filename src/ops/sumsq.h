/*
 * Segmented sum of squares reference: T tensors live in one flat buffer, tensor i being
 * the count_i elements starting at offset_i; out[i] = ||x_i||^2 = sum_j x[offset_i + j]^2.
 * This gives the per-tensor weight and gradient norms that LARS's trust ratios need
 * (You et al. 2017, https://arxiv.org/abs/1708.03888;
 *  https://pytorch.org/docs/stable/generated/torch.linalg.vector_norm.html squared).
 * Segments may be in any order, leave gaps or be empty (out = 0).
 */
#ifndef VKLARS_OPS_SUMSQ_H
#define VKLARS_OPS_SUMSQ_H

#include <stdint.h>

typedef struct vkl_sumsq_segment {
  uint32_t offset, count; /* in elements of the buffer */
} vkl_sumsq_segment;

void vkl_sumsq_forward_ref(double *out /* (T) */, const double *x /* (buffer length) */,
                           const vkl_sumsq_segment *segments /* (T) */, uint32_t T);

#endif
