/*
 * Segmented sum of squares reference: out (T) from T segments of one buffer x.
 */
#include "ops/sumsq.h"

#include <stddef.h>

void vkl_sumsq_forward_ref(double *out, const double *x, const vkl_sumsq_segment *segments,
                           uint32_t T) {
  for (uint32_t i = 0; i < T; i++) {
    const double *xi = x + segments[i].offset;
    double sum = 0.0;
    for (uint32_t j = 0; j < segments[i].count; j++) sum += xi[j] * xi[j];
    out[i] = sum;
  }
}
